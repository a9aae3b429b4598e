"""Renders the desk's icon (imperium_desk/resources/imperium-desk.svg, the window's own) into the committed PNGs of
packaging/icons/ (imperium-desk-<N>.png, N in SIZES), with
Qt's own SVG renderer on the offscreen platform, so no display and no other tool is needed and the same Qt gives
the same pixels. `--check` renders in memory and exits 1 naming every PNG whose pixels differ from the SVG's
(a test runs it, so an edited SVG cannot ship with stale PNGs).

    .venv/bin/python packaging/render_icons.py [--check]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent / "icons"
SVG = ICONS.parents[1] / "imperium_desk" / "resources" / "imperium-desk.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def png_path(size: int) -> Path:
    return ICONS / f"imperium-desk-{size}.png"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the icon's PNGs from its SVG (or --check them).")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed PNG differs from the SVG")
    args = parser.parse_args(argv)
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"{SVG}: not a valid SVG", file=sys.stderr)
        return 1
    stale = []
    for size in SIZES:
        image = render(renderer, size)
        if args.check:
            committed = QImage(str(png_path(size))).convertToFormat(image.format())
            if committed != image:
                stale.append(png_path(size))
        elif not image.save(str(png_path(size))):  # the format follows the .png suffix
            print(f"{png_path(size)}: cannot write", file=sys.stderr)
            return 1
    for path in stale:
        print(f"{path}: differs from {SVG.name}; run packaging/render_icons.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
