"""The quick order ticket: pre-filled from the book, live estimate, Enter places, Esc cancels, bad input stays home."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, ParentStarted, Submitted
from imperium_desk.domain.enums import Algo, OptionRight, OrderType, Side
from imperium_desk.domain.protection import Offset, OffsetUnit, ProtectionKind, ProtectionSpec
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import LadderClick
from imperium_desk.ui.protection_text import UNIT_MARKS
from imperium_desk.ui.quick_order import QuickOrderDialog


def atm_click(desk: Desk, side: Side = Side.BUY, right: OptionRight = OptionRight.CE) -> LadderClick:
    expiry = desk.expiries("NIFTY", 1)[0]
    strike = desk.atm_strike("NIFTY")
    contract = desk.contract("NIFTY", expiry, strike, right)
    quote = desk.quote(contract.symbol)
    price = quote.ask if side is Side.BUY else quote.bid
    return LadderClick(contract.symbol, "NIFTY", expiry, strike, right, side, price)


def open_ticket(qtbot: QtBot, dialog: QuickOrderDialog) -> QuickOrderDialog:
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    return dialog


def make_ticket(qtbot: QtBot, desk: Desk, bridge: DeskBridge, side: Side = Side.BUY, lots: int = 1) -> QuickOrderDialog:
    return open_ticket(qtbot, QuickOrderDialog(desk, atm_click(desk, side), lots, bridge=bridge))


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key) -> None:
    qtbot.keyClick(widget, key)  # type: ignore[no-untyped-call]


def click(qtbot: QtBot, button: QWidget) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def type_into(qtbot: QtBot, spin: QAbstractSpinBox, text: str) -> None:
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    qtbot.keyClicks(spin, text)  # type: ignore[no-untyped-call]


def recorded(bridge: DeskBridge) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    bridge.record.connect(records.append)
    return records


def test_limit_price_is_prefilled_from_the_book_and_flips_with_the_side(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    ladder_click = atm_click(desk, Side.BUY)
    book = desk.quote(ladder_click.symbol)
    dialog = QuickOrderDialog(desk, ladder_click, 1, bridge=bridge)
    assert dialog.buy_button.isChecked() and not dialog.sell_button.isChecked()
    assert dialog.limit_spin.value() == pytest.approx(book.ask)
    assert not dialog.limit_spin.isEnabled()  # MARKET by default
    open_ticket(qtbot, dialog)

    book = desk.quote(ladder_click.symbol)
    click(qtbot, dialog.sell_button)
    assert dialog.side is Side.SELL and not dialog.buy_button.isChecked()
    assert dialog.limit_spin.value() == pytest.approx(book.bid)


def test_an_edited_limit_price_survives_a_side_flip(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    press(qtbot, dialog.order_type_combo, Qt.Key.Key_Down)
    assert dialog.order_type is OrderType.LIMIT and dialog.limit_spin.isEnabled()
    type_into(qtbot, dialog.limit_spin, "12.35")
    click(qtbot, dialog.sell_button)
    assert dialog.side is Side.SELL
    assert dialog.limit_spin.value() == pytest.approx(12.35)


def test_lots_show_the_lot_size_and_units(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge, lots=3)
    lot = desk.lot_size("NIFTY")
    assert dialog.units_label.text() == f"x {lot} = {3 * lot:,} units"


def test_estimate_label_updates_when_lots_change(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    before = dialog.estimate_label.text()
    assert before.startswith("est. ") and "bps" in before and "premium" in before
    press(qtbot, dialog.lots_spin, Qt.Key.Key_Up)
    assert dialog.lots == 2
    text = dialog.estimate_label.text()
    assert text != before
    assert f"premium {desk.preview(dialog.build_request()).premium:,.2f}" in text


def test_estimate_label_follows_ticks_of_its_symbol(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    before = dialog.estimate_label.text()
    qtbot.waitUntil(lambda: dialog.estimate_label.text() != before, timeout=1500)


def test_algo_parameters_show_only_when_relevant(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    params = [dialog.horizon_spin, dialog.children_spin, dialog.participation_spin, dialog.urgency_combo]
    assert dialog.algo is Algo.IMMEDIATE
    assert [w.isVisibleTo(dialog) for w in params] == [False, False, False, False]
    press(qtbot, dialog.algo_combo, Qt.Key.Key_Down)
    assert dialog.algo_combo.currentText() == Algo.IS.value
    assert [w.isVisibleTo(dialog) for w in params] == [True, True, False, True]
    press(qtbot, dialog.algo_combo, Qt.Key.Key_Down)
    assert dialog.algo_combo.currentText() == Algo.TWAP.value
    assert [w.isVisibleTo(dialog) for w in params] == [True, True, False, False]
    press(qtbot, dialog.algo_combo, Qt.Key.Key_End)
    assert dialog.algo_combo.currentText() == Algo.POV.value
    assert [w.isVisibleTo(dialog) for w in params] == [True, False, True, False]
    assert dialog.participation_spin.value() == pytest.approx(desk.config.execution.participation_rate * 100)


def test_enter_places_an_order_that_the_desk_fills(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    records = recorded(bridge)
    started: list[ParentStarted] = []
    bridge.parent_started.connect(started.append)
    dialog = make_ticket(qtbot, desk, bridge, lots=2)
    placed: list[Submitted] = []
    dialog.placed.connect(placed.append)

    press(qtbot, dialog.lots_spin, Qt.Key.Key_Return)

    submitted = dialog.submitted
    assert submitted is not None and placed == [submitted]
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    symbol = dialog.click.symbol
    qtbot.waitUntil(
        lambda: any(r["event"] == "fill" and r["asset"] == symbol and r["parent_id"] == submitted.parent_id
                    for r in records),
        timeout=1500,
    )
    assert [s.parent_id for s in started] == [submitted.parent_id]
    request = started[0].request
    assert request.metadata.source == "ladder"
    assert (request.symbol, request.side, request.quantity) == (symbol, Side.BUY, 2 * desk.lot_size("NIFTY"))
    assert request.order_type is OrderType.MARKET and request.limit_price is None


def test_escape_closes_without_sending(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    records = recorded(bridge)
    dialog = make_ticket(qtbot, desk, bridge)
    press(qtbot, dialog.lots_spin, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and dialog.result() == QDialog.DialogCode.Rejected
    qtbot.wait(100)
    assert dialog.submitted is None
    assert desk.parents_in_flight == 0
    assert not [r for r in records if r["event"] == "placed"]


def test_a_limit_price_of_zero_shows_an_inline_error_and_sends_nothing(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    records = recorded(bridge)
    dialog = make_ticket(qtbot, desk, bridge)
    assert dialog.error_label.text() == "" and dialog.place_button.isEnabled()
    press(qtbot, dialog.order_type_combo, Qt.Key.Key_Down)
    type_into(qtbot, dialog.limit_spin, "0")
    assert dialog.limit_spin.value() == 0.0

    assert dialog.error_label.text().startswith("limit_price: ")
    assert not dialog.place_button.isEnabled()
    press(qtbot, dialog.limit_spin, Qt.Key.Key_Return)
    click(qtbot, dialog.place_button)
    qtbot.wait(100)
    assert dialog.isVisible() and dialog.submitted is None
    assert desk.parents_in_flight == 0
    assert not [r for r in records if r["event"] == "placed"]

    type_into(qtbot, dialog.limit_spin, "10")  # fixed: the error clears and Place comes back
    assert dialog.error_label.text() == "" and dialog.place_button.isEnabled()


def test_a_limit_price_off_the_tick_grid_shows_the_desk_error(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    press(qtbot, dialog.order_type_combo, Qt.Key.Key_Down)
    type_into(qtbot, dialog.limit_spin, "10.03")
    assert "tick grid" in dialog.error_label.text() and dialog.error_label.text().startswith("limit_price: ")
    assert not dialog.place_button.isEnabled()


@pytest.mark.parametrize(
    ("algo_keys", "spin_name", "field"),
    [
        ([Qt.Key.Key_End], "participation_spin", "participation_rate"),  # POV participation 0 %
        ([Qt.Key.Key_Down, Qt.Key.Key_Down], "horizon_spin", "horizon_s"),  # TWAP horizon 0 s
    ],
)
def test_a_zero_algo_parameter_shows_an_inline_error(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, algo_keys: list[Qt.Key], spin_name: str, field: str
) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    for key in algo_keys:
        press(qtbot, dialog.algo_combo, key)
    type_into(qtbot, getattr(dialog, spin_name), "0")
    assert dialog.error_label.text().startswith(f"{field}: ")
    assert not dialog.place_button.isEnabled()
    press(qtbot, dialog.lots_spin, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.submitted is None and desk.parents_in_flight == 0


# -- protections -----------------------------------------------------------------------------------------------
def type_line(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    qtbot.keyClick(edit, Qt.Key.Key_Delete)  # type: ignore[no-untyped-call]
    qtbot.keyClicks(edit, text)  # type: ignore[no-untyped-call]


def choose_unit(qtbot: QtBot, combo: QComboBox, unit: OffsetUnit) -> None:
    press(qtbot, combo, Qt.Key.Key_Home)
    while combo.currentText() != UNIT_MARKS[unit]:
        press(qtbot, combo, Qt.Key.Key_Down)


def protect(qtbot: QtBot, dialog: QuickOrderDialog, kind: ProtectionKind, text: str,
            unit: OffsetUnit = OffsetUnit.POINTS) -> None:
    row = dialog.protection.rows[kind]
    choose_unit(qtbot, row.unit, unit)
    type_line(qtbot, row.distance, text)


def level_text(dialog: QuickOrderDialog, kind: ProtectionKind) -> str:
    return dialog.protection.rows[kind].level.text()


def limit_ticket(qtbot: QtBot, desk: Desk, bridge: DeskBridge, side: Side, limit: str) -> QuickOrderDialog:
    """A one-lot LIMIT ticket at `limit`: the entry price the levels are worked out from."""
    dialog = make_ticket(qtbot, desk, bridge, side)
    press(qtbot, dialog.order_type_combo, Qt.Key.Key_Down)
    assert dialog.order_type is OrderType.LIMIT
    type_into(qtbot, dialog.limit_spin, limit)
    return dialog


def test_protections_entered_on_the_ticket_go_into_the_request(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    started: list[ParentStarted] = []
    bridge.parent_started.connect(started.append)
    dialog = make_ticket(qtbot, desk, bridge)
    protect(qtbot, dialog, ProtectionKind.STOP_LOSS, "20", OffsetUnit.PERCENT)
    protect(qtbot, dialog, ProtectionKind.TARGET, "15")
    protect(qtbot, dialog, ProtectionKind.TRAILING_STOP, "1300", OffsetUnit.RUPEES)
    assert dialog.error_label.text() == "" and dialog.place_button.isEnabled()

    press(qtbot, dialog.lots_spin, Qt.Key.Key_Return)

    assert dialog.submitted is not None
    qtbot.waitUntil(lambda: bool(started), timeout=1000)
    assert started[0].request.protection == ProtectionSpec(
        stop_loss=Offset(value=20, unit=OffsetUnit.PERCENT),
        target=Offset(value=15, unit=OffsetUnit.POINTS),
        trailing_stop=Offset(value=1300, unit=OffsetUnit.RUPEES),
    )


def test_a_ticket_without_protections_sends_none(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    assert all(level_text(dialog, kind) == "" for kind in ProtectionKind)
    assert dialog.build_request().protection is None


@pytest.mark.parametrize(
    ("unit", "distance", "below", "above"),
    [
        (OffsetUnit.POINTS, "2", "8.00", "12.00"),
        (OffsetUnit.RUPEES, "65", "9.00", "11.00"),  # ₹65 on one NIFTY lot of 65 units: one point
        (OffsetUnit.PERCENT, "50", "5.00", "15.00"),
    ],
)
def test_each_protection_shows_the_price_it_would_trigger_at_in_each_unit(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, unit: OffsetUnit, distance: str, below: str, above: str
) -> None:
    dialog = limit_ticket(qtbot, desk, bridge, Side.BUY, "10")
    for kind in ProtectionKind:
        protect(qtbot, dialog, kind, distance, unit)
    assert level_text(dialog, ProtectionKind.STOP_LOSS) == f"→ {below}"
    assert level_text(dialog, ProtectionKind.TARGET) == f"→ {above}"
    assert level_text(dialog, ProtectionKind.TRAILING_STOP) == f"→ {below}"  # where it starts; it follows the bid
    assert dialog.error_label.text() == "" and dialog.place_button.isEnabled()


def test_a_sell_entry_is_stopped_above_and_takes_profit_below(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    dialog = limit_ticket(qtbot, desk, bridge, Side.SELL, "10")
    protect(qtbot, dialog, ProtectionKind.STOP_LOSS, "2")
    protect(qtbot, dialog, ProtectionKind.TARGET, "2")
    assert level_text(dialog, ProtectionKind.STOP_LOSS) == "→ 12.00"
    assert level_text(dialog, ProtectionKind.TARGET) == "→ 8.00"


@pytest.mark.parametrize(
    ("kind", "distance", "unit"),
    [
        (ProtectionKind.STOP_LOSS, "10", OffsetUnit.POINTS),  # the stop at 0.00
        (ProtectionKind.STOP_LOSS, "100", OffsetUnit.PERCENT),  # the stop at 0.00
        (ProtectionKind.STOP_LOSS, "0", OffsetUnit.POINTS),  # no distance at all
        (ProtectionKind.TRAILING_STOP, "0.01", OffsetUnit.POINTS),  # narrower than the 0.05 tick
        (ProtectionKind.TARGET, "0.01", OffsetUnit.POINTS),  # the target on the entry price
    ],
)
def test_an_invalid_protection_is_refused_inline_and_nothing_is_sent(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, kind: ProtectionKind, distance: str, unit: OffsetUnit
) -> None:
    records = recorded(bridge)
    dialog = limit_ticket(qtbot, desk, bridge, Side.BUY, "10")
    protect(qtbot, dialog, kind, distance, unit)

    assert dialog.error_label.text().startswith(f"{kind.value}: ")
    assert not dialog.place_button.isEnabled()
    press(qtbot, dialog.lots_spin, Qt.Key.Key_Return)
    qtbot.wait(100)
    assert dialog.isVisible() and dialog.submitted is None
    assert desk.parents_in_flight == 0
    assert not [r for r in records if r["event"] == "placed"]

    type_line(qtbot, dialog.protection.rows[kind].distance, "")  # emptied: that protection is off again
    assert dialog.error_label.text() == "" and dialog.place_button.isEnabled()


def test_enter_in_a_protection_field_places_and_escape_there_cancels(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    dialog = make_ticket(qtbot, desk, bridge)
    protect(qtbot, dialog, ProtectionKind.STOP_LOSS, "20", OffsetUnit.PERCENT)
    press(qtbot, dialog.protection.rows[ProtectionKind.STOP_LOSS].distance, Qt.Key.Key_Return)
    assert dialog.submitted is not None and dialog.result() == QDialog.DialogCode.Accepted

    other = make_ticket(qtbot, desk, bridge)
    protect(qtbot, other, ProtectionKind.TARGET, "5")
    press(qtbot, other.protection.rows[ProtectionKind.TARGET].distance, Qt.Key.Key_Escape)
    assert other.submitted is None and other.result() == QDialog.DialogCode.Rejected and not other.isVisible()
