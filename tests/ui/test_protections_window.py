"""Protective exits in the whole window, end to end on the running paper desk: protections typed on the ladder's
ticket reach the position they protect (armed by the desk's protection manager on the entry's fill), and when the
market gaps through the stop, the exit the manager sends shows in the blotter as an exit with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, ParentFinished
from imperium_desk.desk.events import ProtectionView
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.domain.protection import (
    Offset,
    OffsetUnit,
    ProtectionKind,
    ProtectionSpec,
    ProtectionStatus,
    levels,
)
from imperium_desk.execution.request import ParentResult
from imperium_desk.ui.blotter.columns import column_index
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import column_of
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.portfolio import PROTECTION_COLUMN
from imperium_desk.ui.protection_text import UNIT_MARKS, levels_parts
from imperium_desk.ui.quick_order import QuickOrderDialog

SPEC = ProtectionSpec(stop_loss=Offset(value=20, unit=OffsetUnit.PERCENT),
                      target=Offset(value=10, unit=OffsetUnit.POINTS))


@pytest.fixture
def window(qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path) -> ImperiumMainWindow:
    w = ImperiumMainWindow(desk, bridge, QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def key(qtbot: QtBot, widget: QWidget, k: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(widget, k, mods)  # type: ignore[no-untyped-call]


def open_atm_call_ticket(qtbot: QtBot, window: ImperiumMainWindow) -> QuickOrderDialog:
    """Click the ATM call's ask on the ladder: the BUY ticket opens."""
    atm_row = window.ladder.model.atm_row
    assert atm_row is not None
    view = window.ladder.view
    index = window.ladder.model.index(atm_row, column_of(OptionRight.CE, "ask"))
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=view.visualRect(index).center())
    qtbot.waitUntil(lambda: window.quick_order is not None and window.quick_order.isVisible(), timeout=2000)
    assert window.quick_order is not None
    return window.quick_order


def enter_protections(qtbot: QtBot, ticket: QuickOrderDialog) -> None:
    """Stop-loss 20 %, target 10 points, as a trader types them."""
    for kind, text, unit in ((ProtectionKind.STOP_LOSS, "20", OffsetUnit.PERCENT),
                             (ProtectionKind.TARGET, "10", OffsetUnit.POINTS)):
        row = ticket.protection.rows[kind]
        key(qtbot, row.unit, Qt.Key.Key_Home)
        while row.unit.currentText() != UNIT_MARKS[unit]:
            key(qtbot, row.unit, Qt.Key.Key_Down)
        qtbot.keyClicks(row.distance, text)  # type: ignore[no-untyped-call]


def place_protected_entry(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> tuple[ParentResult, float]:
    """Buy the ATM call from the ladder with SPEC on it: the entry's result once it has finished, and the
    contract's tick."""
    finished: list[ParentFinished] = []
    bridge.parent_finished.connect(finished.append)
    ticket = open_atm_call_ticket(qtbot, window)
    click = ticket.click
    tick = desk.contract(click.underlying, click.expiry, click.strike, click.right).tick_size
    enter_protections(qtbot, ticket)
    assert ticket.place_button.isEnabled()
    key(qtbot, ticket, Qt.Key.Key_Return)
    submitted = ticket.submitted
    assert submitted is not None and submitted.request.protection == SPEC
    qtbot.waitUntil(lambda: any(f.result.parent_id == submitted.parent_id for f in finished), timeout=3000)
    result = next(f.result for f in finished if f.result.parent_id == submitted.parent_id)
    assert result.filled_qty > 0
    return result, tick


def protection_of(desk: Desk, entry_parent_id: str) -> ProtectionView:
    return next(p for p in desk.protections if p.entry_parent_id == entry_parent_id)


def protection_text(window: ImperiumMainWindow, symbol: str) -> str | None:
    model = window.positions.model
    row = model.row_of(symbol)
    return None if row is None else str(model.index(row, PROTECTION_COLUMN).data())


def test_protections_entered_on_the_ticket_appear_on_the_position(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> None:
    entry, tick = place_protected_entry(qtbot, window, desk, bridge)
    found = levels(SPEC, Side.BUY, entry.average_price, entry.filled_qty, tick)

    expected = " · ".join([*levels_parts(found.stop_loss, found.target, None), ProtectionStatus.ARMED.value])
    qtbot.waitUntil(lambda: protection_text(window, entry.symbol) == expected, timeout=3000)


def test_a_triggered_stop_shows_in_the_blotter_as_an_exit_with_its_reason(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> None:
    entry, _tick = place_protected_entry(qtbot, window, desk, bridge)
    qtbot.waitUntil(lambda: protection_of(desk, entry.parent_id).status is ProtectionStatus.ARMED, timeout=3000)
    desk.engine.market.jump(desk.engine.catalog.resolve(entry.symbol).underlying, -5.0)  # the ATM call loses > 20%
    qtbot.waitUntil(lambda: protection_of(desk, entry.parent_id).exit_parent_id is not None, timeout=5000)
    triggered = protection_of(desk, entry.parent_id)
    assert triggered.status in (ProtectionStatus.TRIGGERED, ProtectionStatus.EXITED)
    assert triggered.exit_parent_id is not None
    stop_exit = triggered

    model = window.blotter.model
    # complete, and every change so far published to the view (the blotter flushes on its own timer)
    exit_id = stop_exit.exit_parent_id
    qtbot.waitUntil(lambda: (window.blotter.parent_row(exit_id) or {}).get("status") == "complete"
                    and model.index_of(exit_id).isValid() and not model.has_pending_changes, timeout=3000)
    index = model.index_of(exit_id)
    assert model.data(index.siblingAtColumn(column_index("source"))) == "stop-loss exit"
    assert model.data(index.siblingAtColumn(column_index("side"))) == "SELL"
