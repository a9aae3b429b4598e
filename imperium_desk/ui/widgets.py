"""Small widget builders the panels share: a named, word-wrapping label and a named push button."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QPushButton, QWidget


def wrapped_label(parent: QWidget, name: str) -> QLabel:
    """A label tests and the stylesheet find by `name`, wrapping long messages instead of widening the dock."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def push_button(parent: QWidget, text: str, name: str, action: Callable[[], object]) -> QPushButton:
    """A button named `name` that calls `action` with no arguments (Qt's `checked` flag is dropped)."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.clicked.connect(lambda _checked=False: action())
    return button
