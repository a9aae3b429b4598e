"""Imperium Desk: an execution desk for index-options traders."""

__version__ = "0.1.0"
