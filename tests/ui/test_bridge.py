"""The signal bridge carries engine events to Qt while the desk runs on the qasync loop."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, ParentFinished, PortfolioEvent, StateEvent
from imperium_desk.desk.events import ProtectionsEvent
from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.ui.bridge import DeskBridge, LatestOnly


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


class _Values(QObject):
    changed = Signal(object)


@dataclass
class Coalesced:
    source: _Values  # the QObject that owns `latest`: held here for the test's length
    latest: LatestOnly
    seen: list[object]


@pytest.fixture
def coalesced(qtbot: QtBot) -> Coalesced:
    source = _Values()
    seen: list[object] = []
    source.changed.connect(seen.append)
    return Coalesced(source, LatestOnly(source.changed, 50, parent=source), seen)


def test_a_value_after_a_quiet_spell_is_emitted_at_once(coalesced: Coalesced) -> None:
    coalesced.latest.push(1)
    assert coalesced.seen == [1]


def test_a_burst_emits_its_first_value_at_once_and_its_newest_after_the_interval(
    qtbot: QtBot, coalesced: Coalesced
) -> None:
    latest, seen = coalesced.latest, coalesced.seen
    for value in range(1, 101):
        latest.push(value)
    assert seen == [1] and latest.pending
    qtbot.waitUntil(lambda: seen == [1, 100], timeout=1000)
    qtbot.wait(150)
    assert seen == [1, 100]  # nothing pending: the timer ran out without emitting again
    latest.push(101)
    assert seen == [1, 100, 101]


def test_none_is_a_value_like_any_other(qtbot: QtBot, coalesced: Coalesced) -> None:
    coalesced.latest.push(1)
    coalesced.latest.push(None)
    qtbot.waitUntil(lambda: coalesced.seen == [1, None], timeout=1000)


def test_state_and_portfolio_come_coalesced_and_the_last_one_is_the_desks_state(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    events: list[object] = []
    desk.add_listener(lambda e: events.append(e) if isinstance(e, StateEvent | PortfolioEvent) else None)
    states: list[StateEvent] = []
    portfolios: list[PortfolioEvent] = []
    bridge.state.connect(states.append)
    bridge.portfolio.connect(portfolios.append)
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    for _ in range(10):
        desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=65))
    qtbot.waitUntil(lambda: desk.parents_in_flight == 0 and bool(states) and states[-1].parents_in_flight == 0
                    and not bridge._state.pending and not bridge._portfolio.pending, timeout=5000)
    assert len(states) + len(portfolios) < len(events)
    assert states[-1].children_in_flight == 0
    assert portfolios[-1] is desk.last_portfolio


def test_protections_come_coalesced_and_the_last_one_is_the_newest(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    seen: list[ProtectionsEvent] = []
    bridge.protections.connect(seen.append)
    events = [ProtectionsEvent(()) for _ in range(5)]
    for event in events:
        desk.events.emit(event)
    qtbot.waitUntil(lambda: not bridge._protections.pending and bool(seen) and seen[-1] is events[-1], timeout=1000)
    assert seen[0] is events[0] and len(seen) == 2
