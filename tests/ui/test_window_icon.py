"""The desk's icon: the shipped SVG loads in Qt (its SVG icon engine), so the window and the dock show it."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from imperium_desk.shipped import icon_file


def test_the_shipped_icon_renders_at_the_sizes_a_desktop_asks_for(qapp: QApplication) -> None:
    icon = QIcon(str(icon_file()))
    assert not icon.isNull()
    for size in (16, 48, 256):
        assert icon.pixmap(size, size).width() == size
