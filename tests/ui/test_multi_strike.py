"""The multi-strike Buy/Exit panel, driven by real clicks and keys against a real desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, LegPreview, ParentStarted
from imperium_desk.domain.enums import OptionRight, OrderType, Side
from imperium_desk.domain.protection import Offset, OffsetUnit, ProtectionKind, ProtectionSpec, levels
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.multi_strike import MultiStrikeConfirmDialog, MultiStrikePanel
from imperium_desk.ui.protection_text import UNIT_MARKS, levels_text

NIFTY_STEP = 50
NIFTY_LOT = 65


class Recorder:
    """What the desk really did, as the bridge reported it."""

    def __init__(self, bridge: DeskBridge) -> None:
        self.records: list[dict[str, Any]] = []
        self.started: list[ParentStarted] = []
        bridge.record.connect(self.records.append)
        bridge.parent_started.connect(self.started.append)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]

    def filled_parents(self) -> set[str]:
        return {r["parent_id"] for r in self.records if r["event"] in {"fill", "partial_fill"}}


@pytest.fixture
def recorder(bridge: DeskBridge) -> Recorder:
    return Recorder(bridge)


@pytest.fixture
def panel(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> MultiStrikePanel:
    widget = MultiStrikePanel(desk, bridge)
    qtbot.addWidget(widget)
    widget.set_instrument("NIFTY", desk.expiries("NIFTY", 1)[0])
    widget.show()
    return widget


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def set_spin(qtbot: QtBot, spin: QSpinBox, value: int) -> None:
    while spin.value() != value:
        key = Qt.Key.Key_Up if spin.value() < value else Qt.Key.Key_Down
        qtbot.keyClick(spin, key)  # type: ignore[no-untyped-call]


def choose(qtbot: QtBot, combo: QComboBox, text: str) -> None:
    while combo.currentText() != text:
        qtbot.keyClick(combo, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]


def preview_legs(panel: MultiStrikePanel) -> list[LegPreview]:
    model = panel.preview_model
    return [model.leg(row) for row in range(model.rowCount())]


def column_texts(panel: MultiStrikePanel, column: int) -> list[str]:
    model = panel.preview_model
    return [model.index(row, column).data() for row in range(model.rowCount())]


def open_confirm(qtbot: QtBot, panel: MultiStrikePanel) -> MultiStrikeConfirmDialog:
    click(qtbot, panel.buy_button)
    dialog = panel.confirm_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def buy(qtbot: QtBot, panel: MultiStrikePanel, recorder: Recorder) -> set[str]:
    """BUY and Confirm; returns the parent ids once every one of them has filled."""
    dialog = open_confirm(qtbot, panel)
    with qtbot.waitSignal(panel.submitted, timeout=1000) as sent:
        click(qtbot, dialog.confirm_button)
    ids = {s.parent_id for s in sent.args[0]}
    qtbot.waitUntil(lambda: ids <= recorder.filled_parents(), timeout=2000)
    return ids


def wait_for_positions(qtbot: QtBot, desk: Desk, done: Callable[[dict[str, int]], bool]) -> None:
    qtbot.waitUntil(lambda: done({p.symbol: p.quantity for p in desk.last_portfolio.positions}), timeout=2500)


def test_preview_lists_the_band_of_strikes_centred_on_atm_with_the_chosen_option_type(
    qtbot: QtBot, desk: Desk, panel: MultiStrikePanel
) -> None:
    click(qtbot, panel.put_button)
    set_spin(qtbot, panel.strikes_below_spin, 2)
    set_spin(qtbot, panel.strikes_above_spin, 3)

    legs = preview_legs(panel)
    atm = desk.atm_strike("NIFTY")
    assert [leg.contract.strike for leg in legs] == [atm + k * NIFTY_STEP for k in range(-2, 4)]
    assert all(leg.contract.right is OptionRight.PE and leg.request.symbol.endswith("PE") for leg in legs)
    assert column_texts(panel, panel.preview_model.SYMBOL) == [leg.request.symbol for leg in legs]
    assert column_texts(panel, panel.preview_model.STRIKE)[2] == f"{atm:g}"


def test_totals_equal_the_sum_of_the_legs(qtbot: QtBot, panel: MultiStrikePanel) -> None:
    set_spin(qtbot, panel.strikes_above_spin, 2)
    set_spin(qtbot, panel.lots_spin, 2)

    legs = preview_legs(panel)
    quantity = sum(leg.request.quantity for leg in legs)
    premium = sum(leg.estimate.premium for leg in legs)
    cost = sum((leg.estimate.expected_price - leg.estimate.arrival_price) * leg.request.quantity for leg in legs)
    bps = sum(leg.estimate.cost_bps * leg.estimate.premium for leg in legs) / premium
    totals = panel.totals_label.text()
    assert len(legs) == 4 and quantity == 4 * 2 * NIFTY_LOT
    assert f"{quantity:,} units (8 lots)" in totals
    assert f"est. premium ₹{premium:,.2f}" in totals
    assert f"est. cost ₹{cost:,.2f} ({bps:.1f} bps)" in totals
    assert cost > 0  # buying pays half the spread at least


def test_header_lots_set_the_lots_of_every_leg(panel: MultiStrikePanel) -> None:
    panel.set_lots(3)
    assert panel.lots_spin.value() == 3
    assert {leg.request.quantity for leg in preview_legs(panel)} == {3 * NIFTY_LOT}


def test_buy_opens_a_confirmation_listing_every_strike_and_sends_nothing(
    qtbot: QtBot, desk: Desk, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    set_spin(qtbot, panel.strikes_below_spin, 2)
    dialog = open_confirm(qtbot, panel)

    listed = [dialog.legs_model.index(r, dialog.legs_model.SYMBOL).data() for r in range(dialog.legs_model.rowCount())]
    assert listed == [leg.request.symbol for leg in preview_legs(panel)] and len(listed) == 4
    assert dialog.totals_label.text().startswith(f"Total {4 * NIFTY_LOT:,} units")
    qtbot.wait(300)  # the engine runs meanwhile: still nothing may be sent
    assert recorder.events("placed") == [] and recorder.started == []
    assert desk.parents_in_flight == 0


def test_confirm_sends_one_parent_per_strike_through_the_stack_under_one_group(
    qtbot: QtBot, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    symbols = [leg.request.symbol for leg in preview_legs(panel)]
    ids = buy(qtbot, panel, recorder)

    assert len(ids) == len(symbols) == 3
    assert {e.parent_id for e in recorder.started} == ids
    assert sorted(e.request.symbol for e in recorder.started) == sorted(symbols)
    groups = {e.request.metadata.group for e in recorder.started}
    assert len(groups) == 1 and (next(iter(groups)) or "").startswith("MS-")
    assert {e.request.metadata.source for e in recorder.started} == {"multi_strike"}
    assert {r["parent_id"] for r in recorder.events("placed")} == ids
    assert panel.confirm_dialog is None


def test_cancel_sends_nothing(qtbot: QtBot, desk: Desk, panel: MultiStrikePanel, recorder: Recorder) -> None:
    dialog = open_confirm(qtbot, panel)
    click(qtbot, dialog.cancel_button)
    assert not dialog.isVisible() and panel.confirm_dialog is None

    qtbot.wait(300)
    assert recorder.events("placed") == [] and recorder.started == []
    assert desk.parents_in_flight == 0


def test_exit_with_the_kill_switch_on_closes_the_chosen_option_type_only(
    qtbot: QtBot, desk: Desk, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    set_spin(qtbot, panel.strikes_below_spin, 0)
    set_spin(qtbot, panel.strikes_above_spin, 0)
    buy(qtbot, panel, recorder)  # one ATM call
    click(qtbot, panel.put_button)
    set_spin(qtbot, panel.strikes_below_spin, 1)
    set_spin(qtbot, panel.strikes_above_spin, 1)
    puts = [leg.request.symbol for leg in preview_legs(panel)]
    buy(qtbot, panel, recorder)  # three puts
    wait_for_positions(qtbot, desk, lambda q: all(q.get(s, 0) > 0 for s in puts) and len(q) == 4)
    call = next(s for s in {p.symbol for p in desk.last_portfolio.positions} if s.endswith("CE"))

    desk.set_kill_switch(True)
    assert panel.exit_button.isEnabled() and panel.exit_button.text() == "EXIT all NIFTY PE"
    with qtbot.waitSignal(panel.exit_started, timeout=500):
        click(qtbot, panel.exit_button)

    wait_for_positions(qtbot, desk, lambda q: all(q[s] == 0 for s in puts))
    assert {p.symbol: p.quantity for p in desk.last_portfolio.positions}[call] == NIFTY_LOT
    exits = [e.request for e in recorder.started if e.request.metadata.source == "multi_strike_exit"]
    assert sorted(r.symbol for r in exits) == sorted(puts) and all(r.metadata.is_exit for r in exits)


def test_exit_button_says_which_positions_it_closes(qtbot: QtBot, desk: Desk, panel: MultiStrikePanel) -> None:
    assert panel.exit_button.text() == "EXIT all NIFTY CE"
    click(qtbot, panel.put_button)
    assert panel.exit_button.text() == "EXIT all NIFTY PE"
    panel.set_instrument("BANKNIFTY", desk.expiries("BANKNIFTY", 1)[0])
    assert panel.exit_button.text() == "EXIT all BANKNIFTY PE"


def test_limit_legs_are_priced_at_their_own_touch(
    qtbot: QtBot, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    set_spin(qtbot, panel.strikes_above_spin, 2)
    choose(qtbot, panel.order_type_combo, "LIMIT")

    legs = preview_legs(panel)
    assert all(leg.request.order_type is OrderType.LIMIT for leg in legs)
    assert [leg.request.limit_price for leg in legs] == [leg.request.ask for leg in legs]
    assert column_texts(panel, panel.preview_model.LIMIT) == [f"{leg.request.ask:.2f}" for leg in legs]
    assert len({leg.request.limit_price for leg in legs}) == len(legs)  # each strike its own book

    ids = buy(qtbot, panel, recorder)
    sent = [e.request for e in recorder.started if e.parent_id in ids]
    assert len(sent) == 4
    assert all(r.order_type is OrderType.LIMIT and r.limit_price == r.ask for r in sent)
    placed = {r["parent_id"]: r["limit_price"] for r in recorder.events("placed")}
    assert all(placed[e.parent_id] == e.request.limit_price for e in recorder.started)


def _nifty_weekly_that_is_not_a_monthly(desk: Desk) -> date:
    monthly = set(desk.expiries("BANKNIFTY", 4))
    return next(d for d in desk.expiries("NIFTY", 4) if d not in monthly)


def test_an_expiry_the_underlying_does_not_list_shows_inline_and_disables_buy(
    qtbot: QtBot, desk: Desk, panel: MultiStrikePanel
) -> None:
    # The header can hand over an underlying with the previous underlying's expiry: BANKNIFTY is monthly only.
    panel.set_instrument("BANKNIFTY", _nifty_weekly_that_is_not_a_monthly(desk))

    error = panel.findChild(QWidget, "multiStrikeError")
    assert error is panel.error_label and error.isVisible()
    assert "BANKNIFTY has monthly expiries only" in panel.error_label.text()
    assert not panel.buy_button.isEnabled() and panel.preview_model.rowCount() == 0
    assert panel.exit_button.isEnabled()

    panel.set_instrument("BANKNIFTY", desk.expiries("BANKNIFTY", 1)[0])
    assert not error.isVisible() and panel.buy_button.isEnabled() and panel.preview_model.rowCount() == 3


# -- protections -----------------------------------------------------------------------------------------------
def type_line(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    qtbot.keyClick(edit, Qt.Key.Key_Delete)  # type: ignore[no-untyped-call]
    qtbot.keyClicks(edit, text)  # type: ignore[no-untyped-call]


def protect(qtbot: QtBot, panel: MultiStrikePanel, kind: ProtectionKind, text: str, unit: OffsetUnit) -> None:
    row = panel.protection.rows[kind]
    choose(qtbot, row.unit, UNIT_MARKS[unit])
    type_line(qtbot, row.distance, text)


def test_protections_show_each_strikes_levels_and_go_with_every_confirmed_parent(
    qtbot: QtBot, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    protect(qtbot, panel, ProtectionKind.STOP_LOSS, "20", OffsetUnit.PERCENT)
    protect(qtbot, panel, ProtectionKind.TARGET, "5", OffsetUnit.POINTS)
    spec = ProtectionSpec(stop_loss=Offset(value=20, unit=OffsetUnit.PERCENT),
                          target=Offset(value=5, unit=OffsetUnit.POINTS))

    legs = preview_legs(panel)
    expected = [levels_text(levels(spec, Side.BUY, leg.estimate.expected_price, leg.request.quantity,
                                   leg.contract.tick_size)) for leg in legs]
    assert column_texts(panel, panel.preview_model.PROTECTION) == expected
    assert all(text.startswith("SL ") and " · TG " in text for text in expected)
    assert panel.buy_button.isEnabled()

    ids = buy(qtbot, panel, recorder)
    assert len(ids) == 3
    assert [e.request.protection for e in recorder.started] == [spec] * 3


def test_without_protections_the_preview_shows_no_levels_and_sends_none(
    qtbot: QtBot, panel: MultiStrikePanel, recorder: Recorder
) -> None:
    assert column_texts(panel, panel.preview_model.PROTECTION) == ["", "", ""]
    buy(qtbot, panel, recorder)
    assert [e.request.protection for e in recorder.started] == [None] * 3


def test_a_stop_at_or_below_zero_on_any_strike_is_refused_inline_and_buy_is_disabled(
    qtbot: QtBot, desk: Desk, panel: MultiStrikePanel
) -> None:
    protect(qtbot, panel, ProtectionKind.STOP_LOSS, "100", OffsetUnit.PERCENT)  # the stop at 0.00 on every strike
    assert panel.error_label.isVisible() and panel.error_label.text().startswith("stop_loss: ")
    assert not panel.buy_button.isEnabled()
    click(qtbot, panel.buy_button)
    assert panel.confirm_dialog is None and desk.parents_in_flight == 0

    type_line(qtbot, panel.protection.rows[ProtectionKind.STOP_LOSS].distance, "")
    assert not panel.error_label.isVisible() and panel.buy_button.isEnabled()
