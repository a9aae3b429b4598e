"""Shared widgets: a label for live figures lays the window out again only when it needs more room."""

from __future__ import annotations

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
