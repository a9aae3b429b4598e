"""The signal bridge carries engine events to Qt while the desk runs on the qasync loop."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, ParentFinished
from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.ui.bridge import DeskBridge


def test_ticks_arrive_as_signals(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    desk.chain("NIFTY", desk.expiries("NIFTY", 1)[0], 2)
    with qtbot.waitSignal(bridge.ticks, timeout=2000) as blocker:
        pass
    assert blocker.args and len(blocker.args[0]) > 0


def test_an_order_fills_and_its_parent_finishes(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    fills: list[dict[str, object]] = []
    bridge.record.connect(lambda r: fills.append(r) if r["event"] == "fill" else None)
    with qtbot.waitSignal(bridge.parent_finished, timeout=3000) as blocker:
        desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=65))
    event = blocker.args[0]
    assert isinstance(event, ParentFinished) and event.result.status is ParentStatus.COMPLETE
    assert fills and fills[0]["asset"] == symbol
