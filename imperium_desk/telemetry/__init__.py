"""Telemetry: the record schema (DESIGN.md §5) and its sinks."""
