"""The strike ladder: rows centred on ATM, tick updates that keep the selection, clicks that start orders."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.ui.ladder import (
    ATM_ROLE,
    COLUMNS,
    STRIKE_COLUMN,
    LadderClick,
    StrikeLadder,
    column_of,
)

WIDTH = 5  # strikes each side in the UI test config


def click_cell(qtbot: QtBot, ladder: StrikeLadder, index: QModelIndex) -> None:
    ladder.view.scrollTo(index)
    pos = ladder.view.visualRect(index).center()
    qtbot.mouseClick(ladder.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)  # type: ignore[no-untyped-call]


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key) -> None:
    qtbot.keyClick(widget, key)  # type: ignore[no-untyped-call]


def collect_clicks(ladder: StrikeLadder) -> list[LadderClick]:
    clicks: list[LadderClick] = []
    ladder.price_clicked.connect(clicks.append)
    return clicks


def cell_texts(ladder: StrikeLadder) -> list[str]:
    model = ladder.model
    return [model.data(model.index(r, c)) for r in range(model.rowCount()) for c in range(model.columnCount())]


def test_rows_are_centred_on_atm_with_the_atm_row_marked(ladder: StrikeLadder, desk: Desk) -> None:
    expiry = desk.expiries("BANKNIFTY", 1)[0]
    ladder.set_instrument("BANKNIFTY", expiry)
    model = ladder.model
    strikes = [model.strike_at(r) for r in range(model.rowCount())]
    assert len(strikes) == 2 * WIDTH + 1
    assert strikes == sorted(strikes)
    assert model.atm_row == WIDTH
    assert strikes[WIDTH] == desk.atm_strike("BANKNIFTY")
    atm = model.index(WIDTH, STRIKE_COLUMN)
    assert model.data(atm, ATM_ROLE) is True
    assert model.data(atm, Qt.ItemDataRole.FontRole).bold()
    assert model.data(model.index(WIDTH, 0), Qt.ItemDataRole.BackgroundRole) is not None
    other = model.index(0, 0)
    assert model.data(other, ATM_ROLE) is False
    assert model.data(other, Qt.ItemDataRole.FontRole) is None
    assert model.data(other, Qt.ItemDataRole.BackgroundRole) is None
    assert model.data(model.index(0, STRIKE_COLUMN), Qt.ItemDataRole.BackgroundRole) is not None  # strike column
    assert "BANKNIFTY" in ladder.info.text() and f"{expiry:%d %b %Y}" in ladder.info.text()


def test_cells_are_formatted_right_aligned_with_the_symbol_as_tooltip(ladder: StrikeLadder, desk: Desk) -> None:
    model = ladder.model
    row = model.atm_row
    assert row is not None
    quote = model.quote_at(row, OptionRight.PE)
    oi = model.index(row, column_of(OptionRight.PE, "oi"))
    bid = model.index(row, column_of(OptionRight.PE, "bid"))
    assert model.data(oi) == f"{quote.oi:,}" and "," in model.data(oi)
    assert model.data(bid) == f"{quote.bid:.2f}"
    assert model.data(bid, Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert model.data(bid, Qt.ItemDataRole.ToolTipRole) == quote.symbol
    assert [c.title for c in COLUMNS][STRIKE_COLUMN] == "STRIKE"


def test_ticks_update_cells_without_reset_or_losing_the_selection(
    qtbot: QtBot, ladder: StrikeLadder, desk: Desk
) -> None:
    model, view = ladder.model, ladder.view
    resets: list[int] = []
    recentres: list[int] = []
    ranges: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.recentred.connect(lambda: recentres.append(1))
    model.dataChanged.connect(lambda top_left, bottom_right, *_: ranges.append((top_left.row(), bottom_right.row())))
    row = model.atm_row
    assert row is not None
    selected_strike = model.strike_at(row)
    click_cell(qtbot, ladder, model.index(row, column_of(OptionRight.CE, "oi")))
    before = cell_texts(ladder)

    qtbot.waitUntil(lambda: bool(ranges) and cell_texts(ladder) != before, timeout=1500)

    assert resets == []
    selected = view.selectionModel().selectedIndexes()
    assert len(selected) == 1
    assert model.strike_at(selected[0].row()) == selected_strike
    assert selected[0].column() == column_of(OptionRight.CE, "oi")
    if not recentres:  # tick repaints cover single rows, never the whole table
        assert all(top == bottom for top, bottom in ranges)
    row_now = model.row_of_strike(selected_strike)
    assert row_now is not None
    symbol = model.quote_at(row_now, OptionRight.CE).symbol
    assert model.data(model.index(row_now, column_of(OptionRight.CE, "ltp"))) == f"{desk.quote(symbol).ltp:.2f}"


def test_strikes_each_side_changes_the_row_count(qtbot: QtBot, ladder: StrikeLadder) -> None:
    press(qtbot, ladder.strikes_spin, Qt.Key.Key_Up)
    assert ladder.model.rowCount() == 2 * (WIDTH + 1) + 1
    ladder.set_strikes_each_side(2)
    assert ladder.model.rowCount() == 5
    assert ladder.model.atm_row == 2


def test_clicking_a_ce_ask_cell_emits_buy_at_the_ask(qtbot: QtBot, ladder: StrikeLadder, desk: Desk) -> None:
    model = ladder.model
    clicks = collect_clicks(ladder)
    row = model.atm_row
    assert row is not None
    click_cell(qtbot, ladder, model.index(row, column_of(OptionRight.CE, "ask")))
    assert len(clicks) == 1
    click = clicks[0]
    assert (click.right, click.side, click.strike) == (OptionRight.CE, Side.BUY, model.strike_at(row))
    assert click.price == desk.quote(click.symbol).ask
    assert click.underlying == "NIFTY" and click.expiry == model.expiry


def test_clicking_a_pe_bid_cell_emits_sell_at_the_bid(qtbot: QtBot, ladder: StrikeLadder, desk: Desk) -> None:
    model = ladder.model
    clicks = collect_clicks(ladder)
    click_cell(qtbot, ladder, model.index(1, column_of(OptionRight.PE, "bid")))
    assert len(clicks) == 1
    click = clicks[0]
    assert (click.right, click.side, click.strike) == (OptionRight.PE, Side.SELL, model.strike_at(1))
    assert click.price == desk.quote(click.symbol).bid
    assert click.symbol.endswith("PE")


def test_clicking_strike_or_oi_cells_emits_nothing(qtbot: QtBot, ladder: StrikeLadder) -> None:
    model = ladder.model
    clicks = collect_clicks(ladder)
    click_cell(qtbot, ladder, model.index(WIDTH, STRIKE_COLUMN))
    click_cell(qtbot, ladder, model.index(WIDTH, column_of(OptionRight.CE, "oi")))
    click_cell(qtbot, ladder, model.index(WIDTH, column_of(OptionRight.PE, "oi")))
    assert clicks == []


def test_enter_on_a_selected_ltp_cell_emits_buy_at_the_ask(qtbot: QtBot, ladder: StrikeLadder, desk: Desk) -> None:
    model, view = ladder.model, ladder.view
    clicks = collect_clicks(ladder)
    click_cell(qtbot, ladder, model.index(WIDTH, STRIKE_COLUMN))  # selects; a strike cell sends nothing
    press(qtbot, view, Qt.Key.Key_Right)  # keyboard only from here: STRIKE -> PE LTP
    assert view.currentIndex().column() == column_of(OptionRight.PE, "ltp")
    assert clicks == []
    press(qtbot, view, Qt.Key.Key_Return)
    assert len(clicks) == 1
    click = clicks[0]
    assert (click.right, click.side) == (OptionRight.PE, Side.BUY)
    assert click.price == desk.quote(click.symbol).ask


def test_an_atm_move_recentres_without_reset_keeping_the_selection(
    qtbot: QtBot, ladder: StrikeLadder, desk: Desk
) -> None:
    model, view = ladder.model, ladder.view
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    old_atm = model.atm_strike
    assert old_atm is not None
    step = model.strike_at(1) - model.strike_at(0)
    selected_strike = model.strike_at(WIDTH + 2)
    click_cell(qtbot, ladder, model.index(WIDTH + 2, column_of(OptionRight.PE, "oi")))

    target = old_atm + step  # exactly on the next strike: the ATM moves up by one
    simulator = desk.engine.simulator
    assert simulator is not None  # the paper desk's market is simulated
    simulator.jump("NIFTY", (target / desk.spot("NIFTY") - 1.0) * 100.0)
    qtbot.waitUntil(lambda: model.atm_strike == target, timeout=1000)

    assert resets == []
    assert model.rowCount() == 2 * WIDTH + 1
    assert model.atm_row == WIDTH and model.strike_at(WIDTH) == target
    selected = view.selectionModel().selectedIndexes()
    assert len(selected) == 1 and model.strike_at(selected[0].row()) == selected_strike
    atm_rect = view.visualRect(model.index(WIDTH, STRIKE_COLUMN))
    assert view.viewport().rect().intersects(atm_rect)


def test_selected_click_is_a_ticket_for_the_selected_option_at_the_touch(
    qtbot: QtBot, ladder: StrikeLadder, desk: Desk
) -> None:
    model = ladder.model
    assert ladder.selected_click(Side.SELL) is None  # nothing selected yet
    click_cell(qtbot, ladder, model.index(WIDTH, column_of(OptionRight.CE, "oi")))
    click = ladder.selected_click(Side.SELL)
    assert click is not None
    assert (click.right, click.side, click.strike) == (OptionRight.CE, Side.SELL, model.strike_at(WIDTH))
    assert click.price == desk.quote(click.symbol).bid
    click_cell(qtbot, ladder, model.index(WIDTH, STRIKE_COLUMN))
    assert ladder.selected_click(Side.BUY) is None  # the strike column names no option
