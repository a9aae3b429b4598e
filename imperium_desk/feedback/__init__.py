"""The feedback interface (DESIGN.md §6): the local REST API, signed webhooks and the adaptive-learning host.

It sits beside `execution`: it knows telemetry records and model configs as data, and reaches the running desk only
through the `FeedbackBackend` protocol that `desk.py` implements.
"""
