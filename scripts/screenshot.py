"""Drives the real desk window on the X display it is given (scripts/screenshot runs it under Xvfb) and saves
screenshots: a few single-strike orders, a multi-strike PUT buy and a TWAP, then ~6 s of ticks.

    screenshot.py [OUT.png]      the whole screen (default docs/images/window.png, the README's picture)
    screenshot.py --docs [DIR]   the documentation's images (default docs/images/): window.png, then one PNG per
                                 panel the tour of the window shows (DOCS_IMAGES), each taken from the same session

Re-run `./scripts/screenshot --docs` after a change to the window, so the tour shows the window as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QTabWidget, QWidget

from imperium_desk.config import config_from_mapping
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Algo, OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.scenarios.library import shipped_scenarios_dir
from imperium_desk.ui.app import open_window
from imperium_desk.ui.ladder import LadderClick
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.theme import apply_theme

DOCS_DIR = Path("docs/images")
# The images docs/guides/window.md shows, by file name: the dock each one is a picture of and the size it is given
# for the picture (floated out of the window, so a panel that shares the window's bottom row is shown readable).
DOCS_IMAGES = {
    "multi-strike.png": ("multi_strike", (640, 620)),
    "blotter.png": ("blotter", (1280, 520)),
    "charts.png": ("charts", (1200, 720)),
    "models.png": ("models", (1100, 640)),
    "stats.png": ("stats", (1100, 520)),
    "feedback.png": ("feedback", (1100, 620)),
    "drills.png": ("drills", (760, 760)),
}
TICKET_IMAGE = "quick-order.png"


async def _work_orders(desk: Desk) -> None:
    expiry = desk.expiries("NIFTY", 1)[0]
    atm = desk.atm_strike("NIFTY")
    await asyncio.sleep(0.5)
    for k, side in ((0, Side.BUY), (1, Side.BUY), (-1, Side.SELL), (2, Side.BUY)):
        symbol = desk.contract("NIFTY", expiry, atm + 50 * k, OptionRight.CE).symbol
        desk.submit(ExecutionRequest(symbol=symbol, side=side, quantity=65 * (2 + k % 2),
                                     metadata=RequestMetadata(source="ladder")))
        await asyncio.sleep(0.2)
    legs = desk.multi_strike_legs(underlying="NIFTY", expiry=expiry, right=OptionRight.PE, strikes_below=2,
                                  strikes_above=1, lots=3, group=desk.new_group("MS"))
    desk.submit_many([leg.request for leg in legs])
    twap = desk.contract("NIFTY", expiry, atm - 100, OptionRight.CE).symbol
    desk.submit(ExecutionRequest(symbol=twap, side=Side.BUY, quantity=650, algo=Algo.TWAP,
                                 max_child_orders=10, horizon_s=5))
    for i in range(40):  # a stream of small fills so the charts have a shape
        await asyncio.sleep(0.12)
        symbol = desk.contract("NIFTY", expiry, atm + 50 * (i % 5 - 2), OptionRight.PE).symbol
        desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY if i % 3 else Side.SELL, quantity=65))
    await asyncio.sleep(2.0)


def _save(widget: QWidget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise SystemExit(f"screenshot: could not write {path}")
    print(f"screenshot: {path}")


async def _docs_images(window: ImperiumMainWindow, folder: Path) -> None:
    """The panels one by one (each dock brought to the front), then the ticket a click on an ask opens."""
    desk = window.desk
    drill = shipped_scenarios_dir() / "news-gap.yaml"
    if drill.is_file():
        window.open_drill(drill)
    _save(window.ladder, folder / "ladder.png")
    for tabs in window.feedback.findChildren(QTabWidget):
        tabs.setCurrentIndex(0)
    for name, (key, (width, height)) in DOCS_IMAGES.items():
        dock = window.docks[key]
        window.show_dock(key)
        dock.setFloating(True)
        dock.resize(width, height)
        dock.move(0, 0)
        await asyncio.sleep(0.8)  # a redraw or two, and a panel that was hidden catches up
        _save(dock, folder / name)
        dock.setFloating(False)
    expiry = desk.expiries("NIFTY", 1)[0]
    strike = desk.atm_strike("NIFTY")
    contract = desk.contract("NIFTY", expiry, strike, OptionRight.CE)
    click = LadderClick(contract.symbol, "NIFTY", expiry, strike, OptionRight.CE, Side.BUY,
                        desk.quote(contract.symbol).ask)
    ticket = window.open_quick_order(click)
    await asyncio.sleep(0.6)
    _save(ticket, folder / TICKET_IMAGE)
    ticket.close()


def main(out: Path, docs: bool) -> None:
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # port 0: any free port, so a desk already running on this machine does not keep the API from starting
    config = config_from_mapping({"broker": {"rate_limit_per_s": None}, "feedback": {"port": 0}}, "screenshot")
    folder = out if docs else out.parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        window = open_window(config, Path(home), loop)
        desk = window.desk
        window.show()  # a first start (an empty home): the window fills the screen, as a new user sees it
        desk.start()

        async def drive() -> None:
            server = window.feedback.start_server()
            if server is not None:
                await server
            await _work_orders(desk)
            screen = app.primaryScreen()
            screen.grabWindow(0).save(str(folder / "window.png" if docs else out))
            print(f"screenshot: {folder / 'window.png' if docs else out}")
            if docs:
                await _docs_images(window, folder)
            await desk.stop()

        with loop:
            loop.run_until_complete(drive())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="screenshots of the desk window (run under Xvfb)")
    parser.add_argument("out", nargs="?", type=Path, help="the PNG (default docs/images/window.png), or with --docs "
                                                          "the folder (default docs/images/)")
    parser.add_argument("--docs", action="store_true", help="write the documentation's images into the folder")
    args = parser.parse_args()
    main(args.out or (DOCS_DIR if args.docs else DOCS_DIR / "window.png"), args.docs)
