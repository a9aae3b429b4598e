"""Positions and account panels follow the desk's portfolio after real fills."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, PositionView
from imperium_desk.desk.events import ProtectionsEvent, ProtectionView
from imperium_desk.domain.enums import OptionRight, Product, Side
from imperium_desk.domain.protection import ProtectionStatus
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.portfolio import (
    COLOURS,
    NET_QTY_COLUMN,
    POSITION_COLUMNS,
    PROTECTION_COLUMN,
    AccountSummary,
    PositionsTable,
    money,
)

UNREALISED_COLUMN = next(i for i, c in enumerate(POSITION_COLUMNS) if c.title == "Unrealised P&L")


def atm_call(desk: Desk) -> str:
    return desk.contract("NIFTY", desk.expiries("NIFTY", 1)[0], desk.atm_strike("NIFTY"), OptionRight.CE).symbol


def buy(desk: Desk, symbol: str, lots: int = 1) -> None:
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=lots * desk.lot_size("NIFTY"),
                                 metadata=RequestMetadata(source="ladder")))


def desk_position(desk: Desk, symbol: str) -> PositionView | None:
    return next((p for p in desk.last_portfolio.positions if p.symbol == symbol), None)


def shown_qty(table: PositionsTable, symbol: str) -> int | None:
    position = table.model.position(symbol)
    return None if position is None else position.quantity


def test_a_bought_position_shows_its_net_qty_and_pnl(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    table = PositionsTable(desk, bridge)
    qtbot.addWidget(table)
    symbol = atm_call(desk)
    lot = desk.lot_size("NIFTY")
    buy(desk, symbol)
    qtbot.waitUntil(lambda: shown_qty(table, symbol) == lot, timeout=2000)

    assert table.proxy.rowCount() == 1
    row = table.proxy.index(0, 0)
    assert table.proxy.data(row) == symbol
    assert table.proxy.data(row.siblingAtColumn(NET_QTY_COLUMN)) == str(lot)
    expected = desk_position(desk, symbol)
    assert expected is not None and expected.average_price > 0
    assert table.proxy.data(row.siblingAtColumn(UNREALISED_COLUMN)) == money(expected.unrealised_pnl)


def test_a_new_table_starts_from_the_desks_last_portfolio(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    symbol = atm_call(desk)
    buy(desk, symbol)
    qtbot.waitUntil(lambda: desk_position(desk, symbol) is not None, timeout=2000)

    table = PositionsTable(desk, bridge)
    qtbot.addWidget(table)
    assert shown_qty(table, symbol) == desk.lot_size("NIFTY")


def test_the_account_summary_shows_margin_used_after_a_fill(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    summary = AccountSummary(desk, bridge)
    qtbot.addWidget(summary)
    margin_used = summary.findChild(QLabel, "marginUsed")
    assert margin_used is not None and float(margin_used.text().replace(",", "")) == 0
    buy(desk, atm_call(desk))
    qtbot.waitUntil(lambda: float(margin_used.text().replace(",", "")) > 0, timeout=2000)

    account = desk.last_portfolio.account
    assert summary.values["marginAvailable"].text() == money(account.margin_available)
    assert summary.values["totalPnl"].text() == money(account.realised_pnl + account.unrealised_pnl)


def test_positions_update_in_place(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    table = PositionsTable(desk, bridge)
    qtbot.addWidget(table)
    symbol = atm_call(desk)
    lot = desk.lot_size("NIFTY")
    buy(desk, symbol)
    qtbot.waitUntil(lambda: shown_qty(table, symbol) == lot, timeout=2000)
    structural: list[str] = []
    table.model.rowsInserted.connect(lambda *_: structural.append("insert"))
    table.model.rowsRemoved.connect(lambda *_: structural.append("remove"))
    table.model.modelReset.connect(lambda: structural.append("reset"))
    changed: list[int] = []
    table.model.dataChanged.connect(lambda top, bottom, roles=(): changed.append(top.row()))

    buy(desk, symbol)
    qtbot.waitUntil(lambda: shown_qty(table, symbol) == 2 * lot, timeout=2000)

    assert structural == []
    assert table.model.rowCount() == 1 and changed and set(changed) == {0}
    assert table.proxy.data(table.proxy.index(0, NET_QTY_COLUMN)) == str(2 * lot)


def test_unticking_show_flat_hides_a_closed_position(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    table = PositionsTable(desk, bridge)
    qtbot.addWidget(table)
    table.show()
    symbol = atm_call(desk)
    buy(desk, symbol)
    qtbot.waitUntil(lambda: bool(shown_qty(table, symbol)), timeout=2000)
    desk.start_exit()
    qtbot.waitUntil(lambda: shown_qty(table, symbol) == 0, timeout=2000)
    assert table.proxy.rowCount() == 1
    flat = table.proxy.data(table.proxy.index(0, 0), Qt.ItemDataRole.ForegroundRole)
    assert flat.color().name() == COLOURS["flat"]

    qtbot.mouseClick(table.show_flat, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]

    assert not table.show_flat.isChecked()
    assert table.proxy.rowCount(QModelIndex()) == 0 and table.model.rowCount() == 1


# -- protections -------------------------------------------------------------------------------------------------
def armed(symbol: str, **fields: object) -> ProtectionView:
    view = ProtectionView(entry_parent_id="P-1", symbol=symbol, product=Product.NRML, side=Side.BUY, quantity=65,
                          entry_price=80.0, stop_loss=70.10, target=95.0, trailing_stop=75.0,
                          status=ProtectionStatus.ARMED, exit_parent_id=None, reason="")
    return replace(view, **fields)  # type: ignore[arg-type]


def protection_cell(table: PositionsTable, symbol: str, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> object:
    row = table.model.row_of(symbol)
    assert row is not None
    return table.model.index(row, PROTECTION_COLUMN).data(role)


def bought_table(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> tuple[PositionsTable, str]:
    table = PositionsTable(desk, bridge)
    qtbot.addWidget(table)
    symbol = atm_call(desk)
    buy(desk, symbol)
    qtbot.waitUntil(lambda: shown_qty(table, symbol) == desk.lot_size("NIFTY"), timeout=2000)
    return table, symbol


def test_a_protections_event_shows_the_levels_and_status_on_its_position(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    table, symbol = bought_table(qtbot, desk, bridge)
    assert table.model.headerData(PROTECTION_COLUMN, Qt.Orientation.Horizontal) == "Protection"
    assert protection_cell(table, symbol) == ""

    desk.events.emit(ProtectionsEvent((armed(symbol), armed("NIFTY-OTHER"))))

    qtbot.waitUntil(lambda: protection_cell(table, symbol) == "SL 70.10 · TG 95.00 · TR 75.00 · armed", timeout=1000)
    assert protection_cell(table, symbol, Qt.ItemDataRole.ForegroundRole) is None


@pytest.mark.parametrize("status", [ProtectionStatus.FAILED, ProtectionStatus.UNRESTORED])
def test_an_unprotected_position_shows_red_with_its_reason_as_tooltip(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, status: ProtectionStatus
) -> None:
    table, symbol = bought_table(qtbot, desk, bridge)
    desk.events.emit(ProtectionsEvent((armed(symbol, status=status, reason="exit rejected: re-arm or close"),)))
    qtbot.waitUntil(lambda: protection_cell(table, symbol) == f"SL 70.10 · TG 95.00 · TR 75.00 · {status.value}",
                    timeout=1000)

    brush = protection_cell(table, symbol, Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush) and brush.color().name() == palette.ERROR
    assert protection_cell(table, symbol, Qt.ItemDataRole.ToolTipRole) == (
        f"P-1 NRML: BUY 65 @ 80.00: {status.value}: exit rejected: re-arm or close")


def test_a_finished_protection_leaves_the_position(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    table, symbol = bought_table(qtbot, desk, bridge)
    desk.events.emit(ProtectionsEvent((armed(symbol),)))
    qtbot.waitUntil(lambda: protection_cell(table, symbol) != "", timeout=1000)

    desk.events.emit(ProtectionsEvent((armed(symbol, status=ProtectionStatus.EXITED, exit_parent_id="P-2"),)))

    qtbot.waitUntil(lambda: protection_cell(table, symbol) == "", timeout=1000)
