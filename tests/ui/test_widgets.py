"""Shared widgets: a label for live figures lays the window out again only when it needs more room."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar
from pytestqt.qtbot import QtBot

from imperium_desk.ui.widgets import SteadyLabel


def test_a_steady_label_grows_to_its_widest_text_and_keeps_that_size(qtbot: QtBot) -> None:
    label = SteadyLabel()
    qtbot.addWidget(label)
    label.setText("1,234")
    narrow = label.width()
    label.setText("123,456,789")
    wide = label.width()
    label.setText("1")
    assert wide > narrow
    assert (label.minimumWidth(), label.maximumWidth(), label.width()) == (wide, wide, wide)
    assert label.text() == "1"


def test_a_steady_label_fits_the_stylesheet_it_meets_in_the_window(qtbot: QtBot) -> None:
    # Sized before it is styled, a label fixed to its first text would clip it once the padding arrives.
    bar = QStatusBar()
    bar.setStyleSheet("QLabel { padding: 0 30px; }")
    qtbot.addWidget(bar)
    label = SteadyLabel()
    label.setText("PAPER · paper")
    unstyled = label.width()
    plain = QLabel("PAPER · paper")
    bar.addPermanentWidget(label)
    bar.addPermanentWidget(plain)
    bar.show()
    qtbot.waitExposed(bar)
    qtbot.waitUntil(lambda: label.width() == plain.sizeHint().width())
    assert label.width() >= unstyled + 60
