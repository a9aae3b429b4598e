"""The whole window end to end: both order flows with real clicks and keys, EXIT with the kill switch on,
shortcuts that cannot fire while typing, layout persistence and a clean stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import column_of
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.shortcuts import SHORTCUTS


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def key(qtbot: QtBot, widget: QWidget, k: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(widget, k, mods)  # type: ignore[no-untyped-call]


def recorded(bridge: DeskBridge) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    bridge.record.connect(records.append)
    return records


@pytest.fixture
def window(qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path) -> ImperiumMainWindow:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    w = ImperiumMainWindow(desk, bridge, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def click_ladder_cell(qtbot: QtBot, window: ImperiumMainWindow, row: int, column: int) -> None:
    view = window.ladder.view
    index = window.ladder.model.index(row, column)
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=view.visualRect(index).center())


def test_a_ladder_click_places_an_order_whose_fill_reaches_the_blotter_and_the_charts(
    qtbot: QtBot, window: ImperiumMainWindow, bridge: DeskBridge
) -> None:
    records = recorded(bridge)
    atm_row = window.ladder.model.atm_row
    assert atm_row is not None
    click_ladder_cell(qtbot, window, atm_row, column_of(OptionRight.CE, "ask"))
    qtbot.waitUntil(lambda: window.quick_order is not None and window.quick_order.isVisible(), timeout=2000)
    ticket = window.quick_order
    assert ticket is not None
    key(qtbot, ticket, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(r["event"] == "fill" for r in records), timeout=3000)
    fill = next(r for r in records if r["event"] == "fill")
    assert fill["side"] == "buy" and fill["asset"].endswith("CE")
    qtbot.waitUntil(lambda: (window.blotter.parent_row(fill["parent_id"]) or {}).get("status") == "complete",
                    timeout=3000)
    qtbot.waitUntil(lambda: window.charts.points("All") == 1, timeout=2000)
    assert window.charts.buffers["All"].slippage.view()[1][-1] == pytest.approx(fill["slippage_bps"])


def test_the_multi_strike_panel_sends_one_parent_per_strike_after_confirmation(
    qtbot: QtBot, window: ImperiumMainWindow, bridge: DeskBridge
) -> None:
    records = recorded(bridge)
    panel = window.multi_strike
    panel.refresh_preview()
    legs = panel.preview_model.rowCount()
    assert legs == 3  # one strike below ATM, ATM, one above (the panel defaults)
    click(qtbot, panel.buy_button)
    qtbot.waitUntil(lambda: panel.confirm_dialog is not None and panel.confirm_dialog.isVisible(), timeout=2000)
    assert not records  # nothing before Confirm
    dialog = panel.confirm_dialog
    assert dialog is not None
    click(qtbot, dialog.confirm_button)

    def parents_filled() -> set[str]:
        return {r["parent_id"] for r in records if r["event"] == "fill"}

    qtbot.waitUntil(lambda: len(parents_filled()) == legs, timeout=4000)
    placed_assets = {r["asset"] for r in records if r["event"] == "placed"}
    assert len(placed_assets) == legs


def test_exit_all_closes_positions_with_the_kill_switch_on(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk, bridge: DeskBridge
) -> None:
    records = recorded(bridge)
    expiry = desk.expiries("NIFTY", 1)[0]
    from imperium_desk.domain.enums import Side
    from imperium_desk.execution.request import ExecutionRequest

    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.PE).symbol
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=130))
    qtbot.waitUntil(lambda: any(p.quantity == 130 for p in desk.last_portfolio.positions), timeout=4000)
    click(qtbot, window.header.kill_switch)
    assert desk.kill_switch
    click(qtbot, window.header.exit_all)
    qtbot.waitUntil(lambda: any(r["event"] == "fill" and r["side"] == "sell" for r in records), timeout=3000)
    qtbot.waitUntil(lambda: all(p.quantity == 0 for p in desk.last_portfolio.positions), timeout=4000)
    assert not any(r["event"] == "reject" for r in records)


def test_the_kill_switch_blocks_new_orders_from_the_ticket(
    qtbot: QtBot, window: ImperiumMainWindow, bridge: DeskBridge
) -> None:
    records = recorded(bridge)
    key(qtbot, window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.header.kill_switch.isChecked()
    atm_row = window.ladder.model.atm_row
    assert atm_row is not None
    click_ladder_cell(qtbot, window, atm_row, column_of(OptionRight.CE, "ask"))
    qtbot.waitUntil(lambda: window.quick_order is not None, timeout=2000)
    assert window.quick_order is not None
    key(qtbot, window.quick_order, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(r["event"] == "reject" for r in records), timeout=3000)
    assert "kill switch" in next(r for r in records if r["event"] == "reject")["error"]
    assert not any(r["event"] == "placed" for r in records)


def test_underlying_buttons_and_the_expiry_picker_drive_the_ladder(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk
) -> None:
    click(qtbot, window.header.underlying_buttons["BANKNIFTY"])
    assert window.ladder.model.underlying == "BANKNIFTY"
    assert window.multi_strike.inputs().underlying == "BANKNIFTY"
    window.header.expiry_combo.setCurrentIndex(1)
    assert window.ladder.model.expiry == desk.expiries("BANKNIFTY", 2)[1]
    assert not window.header.underlying_buttons["SENSEX"].isEnabled()  # not in this config's market


def test_single_letter_trading_keys_need_focus_mode_and_never_fire_while_typing(
    qtbot: QtBot, window: ImperiumMainWindow
) -> None:
    atm_row = window.ladder.model.atm_row
    assert atm_row is not None
    window.ladder.view.setCurrentIndex(window.ladder.model.index(atm_row, column_of(OptionRight.CE, "ltp")))
    window.ladder.view.setFocus()
    key(qtbot, window.ladder.view, Qt.Key.Key_B)
    assert window.quick_order is None  # focus mode is off
    window.set_focus_mode(True)
    window.header.lots_spin.setFocus()
    key(qtbot, window.header.lots_spin, Qt.Key.Key_B)
    assert window.quick_order is None  # typing in a field
    window.ladder.view.setFocus()
    key(qtbot, window.ladder.view, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: window.quick_order is not None, timeout=2000)


def test_no_order_action_sits_on_a_bare_key_outside_focus_mode() -> None:
    for spec in SHORTCUTS.values():
        bare = "+" not in spec.key and not spec.key.startswith("F")
        assert not bare or spec.focus_mode_only, spec


def test_the_help_dialog_lists_every_shortcut(qtbot: QtBot, window: ImperiumMainWindow) -> None:
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    listed = {item.text() for i in range(dialog.table.rowCount()) if (item := dialog.table.item(i, 0)) is not None}
    assert {s.key for s in SHORTCUTS.values()} <= listed


def test_the_status_bar_shows_orders_in_flight(qtbot: QtBot, window: ImperiumMainWindow, desk: Desk) -> None:
    from imperium_desk.domain.enums import Algo, Side
    from imperium_desk.execution.request import ExecutionRequest

    symbol = desk.contract("NIFTY", desk.expiries("NIFTY", 1)[0], desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=195, algo=Algo.TWAP, max_child_orders=3,
                                 horizon_s=3))
    qtbot.waitUntil(lambda: "1 parents" in window.status.stack_label.text(), timeout=2000)
    assert "feed live" in window.status.feed_label.text()


def test_closing_the_window_stops_the_desk_and_saves_the_layout(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path
) -> None:
    ini = tmp_path / "layout.ini"
    first = ImperiumMainWindow(desk, bridge, QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.docks["charts"].hide()
    with qtbot.waitSignal(first.closed, timeout=5000):
        first.close()
    assert desk.stopped and not first.isVisible()
    assert desk.telemetry_path.exists()
    second = ImperiumMainWindow(desk, bridge, QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert second.docks["charts"].isHidden()
    assert not second.docks["blotter"].isHidden()


def test_the_models_shortcut_brings_up_the_models_panel(qtbot: QtBot, window: ImperiumMainWindow) -> None:
    window.docks["charts"].raise_()
    key(qtbot, window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.docks["models"].visibleRegion().isEmpty())
    assert window.models.table_model.rowCount() > 0


def test_a_tabbed_away_panel_pauses_and_catches_up_when_its_tab_comes_back(
    qtbot: QtBot, window: ImperiumMainWindow
) -> None:
    stats, charts = window.stats_panel, window.charts
    window.docks["charts"].raise_()
    qtbot.waitUntil(lambda: not stats.isVisible())  # Qt only moves a tabbed-away dock out of the window
    assert not stats._timer.isActive()
    refreshes, geometry = stats.refreshes, window.docks["charts"].geometry()

    window.docks["stats"].raise_()
    qtbot.waitUntil(lambda: stats.isVisible() and stats.refreshes > refreshes)
    assert stats._timer.isActive() and not charts.isVisible()
    assert window.docks["stats"].geometry() == geometry  # the hidden content kept the tab group's size


def test_the_window_fits_a_1080p_screen_with_room_for_a_taskbar(window: ImperiumMainWindow) -> None:
    minimum = window.minimumSizeHint()
    assert minimum.width() <= 1920 and minimum.height() <= 1000


def test_reload_config_is_offered_only_when_the_desk_has_a_config_file(window: ImperiumMainWindow) -> None:
    assert window.desk.config_path is None
    assert not window.actions_by_key["reload_config"].isEnabled()


def test_a_model_switch_is_announced_in_the_status_bar(
    qtbot: QtBot, window: ImperiumMainWindow, desk: Desk
) -> None:
    desk.clock.loop.create_task(desk.switch_model("latency", "NIFTY", {"type": "constant", "value_ms": 9}))
    qtbot.waitUntil(lambda: "NIFTY latency model" in window.status.currentMessage())
