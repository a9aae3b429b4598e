"""Opens the desk window on the offscreen screen the parent configured (`QT_QPA_PLATFORM=offscreen:configfile=...`),
lets the first-start layout settle, prints what tests/ui/test_window_defaults.py checks as one JSON line, then
closes the window (which saves its layout to the given file). Run as `python window_layout_child.py LAYOUT.ini
[X,Y,WIDTH,HEIGHT]`: with the geometry, the window is un-maximised and moved there before it closes (and saves)."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from imperium_desk.config import config_from_mapping
from imperium_desk.ui.app import open_window
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.theme import apply_theme

SETTLE_S = 1.0  # the first-start dock sizes apply after the first show; a few ticks draw the charts once


def measure(window: ImperiumMainWindow) -> dict[str, Any]:
    area = window.screen().availableGeometry()
    charts = window.charts
    plots = {"latency": charts.latency_plot, "latency_hist": charts.latency_hist_plot,
             "slippage": charts.slippage_plot, "slippage_hist": charts.slippage_hist_plot, "rate": charts.rate_plot}
    preview = window.multi_strike.preview_view
    rows = window.multi_strike.preview_model.rowCount()
    return {
        "available": [area.x(), area.y(), area.width(), area.height()],
        "frame": [window.frameGeometry().x(), window.frameGeometry().y(), window.frameGeometry().width(),
                  window.frameGeometry().height()],
        "maximized": window.isMaximized(),
        "plot_heights": {name: plot.sceneBoundingRect().height() for name, plot in plots.items()},
        "charts_height": charts.height(),
        "ladder_height": window.ladder.height(),
        "preview_rows": rows,
        "preview_rows_shown": sum(1 for r in range(rows) if preview.viewport().rect().contains(
            preview.visualRect(preview.model().index(r, 0)))),
        "preview_scroll_max": preview.verticalScrollBar().maximum(),
    }


def main(layout_file: Path, geometry: tuple[int, ...] | None) -> None:
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    config = config_from_mapping({"market": {"tick_interval_ms": 100}, "telemetry": {"fsync": False}}, "layout")
    with tempfile.TemporaryDirectory() as home:
        settings = QSettings(str(layout_file), QSettings.Format.IniFormat)
        window = open_window(config, Path(home), loop, settings)
        window.show()
        window.desk.start()

        async def run() -> None:
            await asyncio.sleep(SETTLE_S)
            print(json.dumps(measure(window)), flush=True)
            if geometry is not None:
                window.showNormal()
                window.setGeometry(*geometry)
                await asyncio.sleep(0.2)
            closed = asyncio.Event()
            window.closed.connect(closed.set)
            window.close()
            await closed.wait()

        with loop:
            loop.run_until_complete(run())


if __name__ == "__main__":
    main(Path(sys.argv[1]), tuple(int(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else None)
