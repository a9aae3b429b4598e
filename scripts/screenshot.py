"""Drives the real desk window on the X display it is given (scripts/screenshot runs it under Xvfb) and saves a
screenshot of the whole screen: a few single-strike orders, a multi-strike PUT buy and a TWAP, then ~6 s of ticks."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

from imperium_desk.config import config_from_mapping
from imperium_desk.domain.enums import Algo, OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.ui.app import open_window
from imperium_desk.ui.theme import apply_theme


def main(out: Path) -> None:
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    config = config_from_mapping({"broker": {"rate_limit_per_s": None}}, "screenshot")
    with tempfile.TemporaryDirectory() as home:
        window = open_window(config, Path(home), loop)
        desk = window.desk
        window.resize(1600, 930)
        window.move(0, 0)
        window.show()
        desk.start()

        async def drive() -> None:
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
            for _ in range(40):  # a stream of small fills so the charts have a shape
                await asyncio.sleep(0.12)
                symbol = desk.contract("NIFTY", expiry, atm + 50 * (_ % 5 - 2), OptionRight.PE).symbol
                desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY if _ % 3 else Side.SELL, quantity=65))
            await asyncio.sleep(2.0)
            out.parent.mkdir(parents=True, exist_ok=True)
            screen = app.primaryScreen()
            screen.grabWindow(0).save(str(out))
            await desk.stop()

        with loop:
            loop.run_until_complete(drive())
    print(f"screenshot: {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("resources/screenshot.png"))
