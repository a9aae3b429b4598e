"""The dark theme: a QSS file shipped in the package (imperium_desk/resources/theme.qss), plus a matching palette
for what QSS does not reach."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from imperium_desk.shipped import theme_file

THEME_FILE = theme_file()


def apply_theme(app: QApplication, path: Path = THEME_FILE) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#15181d"), (QPalette.ColorRole.WindowText, "#d7dce2"),
        (QPalette.ColorRole.Base, "#111418"), (QPalette.ColorRole.AlternateBase, "#161a1f"),
        (QPalette.ColorRole.Text, "#d7dce2"), (QPalette.ColorRole.Button, "#232830"),
        (QPalette.ColorRole.ButtonText, "#d7dce2"), (QPalette.ColorRole.Highlight, "#2d5b8a"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#1d2128"),
        (QPalette.ColorRole.ToolTipText, "#d7dce2"),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(path.read_text(encoding="utf-8"))
    pg.setConfigOptions(antialias=False, background="#111418", foreground="#9aa5b1")
