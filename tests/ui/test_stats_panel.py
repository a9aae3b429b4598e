"""Execution stats panel: the desk's live aggregates in a table, real widgets offscreen and real orders."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Algo, OptionRight, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.stats_panel import COLUMNS, StatsPanel
from tests.ui.conftest import show_sized

FILLS, REJECTS, RETRIES = 1, 9, 10
SESSION = 2  # rows: 1 min, 5 min, session


def make_panel(qtbot: QtBot, desk: Desk) -> StatsPanel:
    return show_sized(qtbot, StatsPanel(desk), 900, 200)


def atm_call(desk: Desk) -> str:
    return desk.contract("NIFTY", desk.expiries("NIFTY", 1)[0], desk.atm_strike("NIFTY"), OptionRight.CE).symbol


def buy_and_sell(desk: Desk, symbol: str) -> None:
    lot = desk.lot_size("NIFTY")
    for side in (Side.BUY, Side.SELL):
        desk.submit(ExecutionRequest(symbol=symbol, side=side, quantity=lot, algo=Algo.IMMEDIATE))


def cells(panel: StatsPanel) -> list[list[str]]:
    model = panel.table_model
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]


def tooltip(panel: StatsPanel, row: int, column: int) -> str:
    model = panel.table_model
    text = model.data(model.index(row, column), Qt.ItemDataRole.ToolTipRole)
    assert isinstance(text, str)
    return text


def test_after_orders_fill_the_table_shows_the_figures_the_aggregates_hold(qtbot: QtBot, desk: Desk) -> None:
    panel = make_panel(qtbot, desk)
    buy_and_sell(desk, atm_call(desk))
    qtbot.waitUntil(lambda: cells(panel)[SESSION][FILLS] == "2", timeout=3000)

    expected = [[column.text(view) for column in COLUMNS] for view in desk.aggregates.views("All")]
    assert cells(panel) == expected
    assert [row[0] for row in expected] == ["1 min", "5 min", "Session"]
    assert all(row[FILLS] == "2" for row in expected)  # all three windows hold both fills
    session = desk.aggregates.snapshot("All", None)
    assert session.latency_n == 2 and session.filled_qty == 2 * desk.lot_size("NIFTY")


def test_switching_the_key_changes_the_rows(qtbot: QtBot, desk: Desk) -> None:
    panel = make_panel(qtbot, desk)
    symbol = atm_call(desk)
    buy_and_sell(desk, symbol)
    qtbot.waitUntil(lambda: panel.key_combo.findData(symbol) >= 0 and cells(panel)[SESSION][FILLS] == "2",
                    timeout=3000)
    keys = [panel.key_combo.itemData(i) for i in range(panel.key_combo.count())]
    assert keys == ["All", "NIFTY", symbol, "BANKNIFTY"]  # the symbol under its underlying

    panel.set_key("BANKNIFTY")
    assert [(v.key, v.window_s) for v in panel.table_model.rows] == [
        ("BANKNIFTY", 60.0), ("BANKNIFTY", 300.0), ("BANKNIFTY", None)]
    assert all(row[FILLS] == "0" and row[2] == "—" for row in cells(panel))

    panel.key_combo.setCurrentIndex(keys.index(symbol))  # as the trader picks it
    assert panel.key == symbol
    assert cells(panel) == [[c.text(v) for c in COLUMNS] for v in desk.aggregates.views(symbol)]
    assert cells(panel)[SESSION][FILLS] == "2"
    with pytest.raises(KeyError, match="key"):
        panel.set_key("NOSUCH24DEC100CE")


def test_refreshes_repaint_in_place_without_a_model_reset(qtbot: QtBot, desk: Desk) -> None:
    panel = make_panel(qtbot, desk)
    resets: list[None] = []
    repaints: list[None] = []
    panel.table_model.modelReset.connect(lambda: resets.append(None))
    panel.table_model.dataChanged.connect(lambda *_: repaints.append(None))
    start = panel.refreshes
    buy_and_sell(desk, atm_call(desk))
    qtbot.waitUntil(lambda: cells(panel)[SESSION][FILLS] == "2" and panel.refreshes >= start + 3, timeout=5000)
    assert resets == []
    assert len(repaints) >= 3


def test_tooltips_break_rejects_retries_and_errors_down_by_bucket(qtbot: QtBot, desk: Desk) -> None:
    panel = make_panel(qtbot, desk)
    symbol = atm_call(desk)
    desk.set_kill_switch(True)  # the risk gate refuses the parent: a real `reject` record, bucket "risk"
    submitted = desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=desk.lot_size("NIFTY")))
    qtbot.waitUntil(submitted.task.done, timeout=3000)
    assert submitted.task.result().status is ParentStatus.REJECTED
    # Retries need a failing broker; their records are fed to the desk's aggregates as the tracker would.
    for event, bucket in (("error", "throttle"), ("retry", "throttle"), ("error", "transient")):
        desk.aggregates.add({"event": event, "asset": symbol, "underlying": "NIFTY", "error_bucket": bucket})
    qtbot.waitUntil(lambda: cells(panel)[SESSION][RETRIES] == "1", timeout=3000)

    assert cells(panel)[SESSION][REJECTS] == "1"
    assert tooltip(panel, SESSION, REJECTS) == "rejects: risk 1"
    assert tooltip(panel, SESSION, RETRIES) == "retries: throttle 1\nerrors: transient 1 · throttle 1"


def test_a_hidden_panel_stops_refreshing_and_catches_up_when_shown(qtbot: QtBot, desk: Desk) -> None:
    panel = make_panel(qtbot, desk)
    qtbot.waitUntil(panel._timer.isActive, timeout=1000)
    panel.hide()
    qtbot.waitUntil(lambda: not panel._timer.isActive(), timeout=2000)  # the next tick finds it hidden
    hidden_at = panel.refreshes
    buy_and_sell(desk, atm_call(desk))
    qtbot.waitUntil(lambda: desk.aggregates.snapshot("All", None).fills == 2, timeout=3000)
    assert panel.refreshes == hidden_at and cells(panel)[SESSION][FILLS] == "0"
    panel.show()
    assert cells(panel)[SESSION][FILLS] == "2"  # shown: refreshed at once
    qtbot.waitUntil(panel._timer.isActive, timeout=1000)


def test_the_window_tabs_the_stats_with_the_charts_and_a_shortcut_brings_it_up(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path
) -> None:
    window = ImperiumMainWindow(desk, bridge, QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    stats = window.docks["stats"]
    assert stats.windowTitle() == "Execution stats"
    assert stats in window.tabifiedDockWidgets(window.docks["charts"])
    assert stats.visibleRegion().isEmpty()  # the charts tab is in front
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)  # a window shortcut needs it
    qtbot.keyClick(window, Qt.Key.Key_E,  # type: ignore[no-untyped-call]
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not stats.visibleRegion().isEmpty(), timeout=2000)
    assert window.stats_panel.isVisible()
