"""Protective exits in the whole window: protections typed on the ladder's ticket reach the position they protect,
and an exit the desk sent for a triggered stop shows in the blotter as an exit with its reason.

Until the protection manager is part of the desk (`Desk.protections`), the tests stand in for it where it would act:
they emit the ProtectionsEvent it would emit for the filled entry, and send the exit a triggered stop sends. With
the manager in the desk, the first test runs end to end and checks what the manager reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, ParentFinished
from imperium_desk.desk.events import ProtectionsEvent, ProtectionView
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.domain.protection import (
    ExitReason,
    Offset,
    OffsetUnit,
    ProtectionKind,
    ProtectionSpec,
    ProtectionStatus,
    levels,
)
from imperium_desk.execution.request import ExecutionRequest, ParentResult, RequestMetadata
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


def protection_text(window: ImperiumMainWindow, symbol: str) -> str | None:
    model = window.positions.model
    row = model.row_of(symbol)
    return None if row is None else str(model.index(row, PROTECTION_COLUMN).data())


def test_protections_entered_on_the_ticket_appear_on_the_position(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> None:
    entry, tick = place_protected_entry(qtbot, window, desk, bridge)
    found = levels(SPEC, Side.BUY, entry.average_price, entry.filled_qty, tick)
    if not hasattr(desk, "protections"):  # no protection manager in the desk yet: emit what it would
        desk.events.emit(ProtectionsEvent((ProtectionView(
            entry_parent_id=entry.parent_id, symbol=entry.symbol, product=None, side=Side.BUY,
            quantity=entry.filled_qty, entry_price=entry.average_price, stop_loss=found.stop_loss,
            target=found.target, trailing_stop=None, status=ProtectionStatus.ARMED, exit_parent_id=None, reason=""),)))

    expected = " · ".join([*levels_parts(found.stop_loss, found.target, None), ProtectionStatus.ARMED.value])
    qtbot.waitUntil(lambda: protection_text(window, entry.symbol) == expected, timeout=3000)


def test_a_triggered_stop_shows_in_the_blotter_as_an_exit_with_its_reason(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> None:
    entry, _tick = place_protected_entry(qtbot, window, desk, bridge)
    # The exit the protection manager sends when the stop triggers: the filled quantity, at market, as an exit.
    stop_exit = desk.submit(ExecutionRequest(
        symbol=entry.symbol, side=Side.SELL, quantity=entry.filled_qty,
        metadata=RequestMetadata(source="protection", is_exit=True, exit_reason=ExitReason.STOP_LOSS)))

    model = window.blotter.model
    # complete, and every change so far published to the view (the blotter flushes on its own timer)
    qtbot.waitUntil(lambda: (window.blotter.parent_row(stop_exit.parent_id) or {}).get("status") == "complete"
                    and model.index_of(stop_exit.parent_id).isValid() and not model.has_pending_changes, timeout=3000)
    index = model.index_of(stop_exit.parent_id)
    assert model.data(index.siblingAtColumn(column_index("source"))) == "stop-loss exit"
    assert model.data(index.siblingAtColumn(column_index("side"))) == "SELL"
