"""Drills in the desk window: the Drills menu lists the library, the scenario panel shows a drill and runs it
against the live paper session (orders in the blotter, events in the blotter, the status bar and the charts,
the outcome table at the end), Stop ends it, and the desk's refusals show inline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, DrillState
from imperium_desk.domain.enums import ParentStatus
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.main_window import ImperiumMainWindow

# Short drills: the desk runs them on the wall clock. NIFTY slows down from 1 s to 2.5 s of a 4 s drill that
# buys one ATM call every half second.
DRILL = """
id: ui-drill
description: NIFTY slows down for a moment while the drill keeps buying
seed: 5
duration_s: 4
orders:
  - every_s: 0.5
    from_s: 0
    until_s: 3.5
    instrument: {underlying: NIFTY, strike: ATM, right: CE}
    side: buy
    lots: 1
    algo: IMMEDIATE
events:
  - {type: latency_burst, at_s: 1, duration_s: 1.5, underlying: NIFTY, factor: 3}
"""
# A longer event from the start, to stop the drill while it is active.
LONG_DRILL = DRILL.replace("id: ui-drill", "id: ui-long").replace("duration_s: 4", "duration_s: 6").replace(
    "{type: latency_burst, at_s: 1, duration_s: 1.5", "{type: latency_burst, at_s: 0.2, duration_s: 5")
BROKEN = "id: broken\nseed: 1\nduration_s: 10\nevents: [{type: meteor, at_s: 1}]\n"

WindowFactory = Callable[[], ImperiumMainWindow]


def user_drill(desk: Desk, text: str = DRILL, name: str = "ui-drill.yaml") -> Path:
    desk.drills_dir.mkdir(parents=True, exist_ok=True)
    path = desk.drills_dir / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_window(qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path) -> WindowFactory:
    """The window, built after the test wrote its drills (the library is scanned when the window opens)."""

    def make() -> ImperiumMainWindow:
        settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
        window = ImperiumMainWindow(desk, bridge, settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: window.drill_library.loaded, timeout=5000)
        return window

    return make


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def open_drills_menu(qtbot: QtBot, window: ImperiumMainWindow) -> QMenu:
    bar, menu = window.menuBar(), window.drills_menu.menu
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    return menu


def drill_action(qtbot: QtBot, window: ImperiumMainWindow, path: Path) -> QAction:
    qtbot.waitUntil(lambda: window.drills_menu.action_for(path) is not None, timeout=5000)
    action = window.drills_menu.action_for(path)
    assert action is not None
    return action


def pick_in_menu(qtbot: QtBot, window: ImperiumMainWindow, path: Path) -> None:
    menu = open_drills_menu(qtbot, window)
    action = drill_action(qtbot, window, path)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=menu.actionGeometry(action).center())


def open_and_run(qtbot: QtBot, window: ImperiumMainWindow, path: Path) -> None:
    """Pick the drill in the menu, wait for its preview, click Run and wait until the desk runs it."""
    pick_in_menu(qtbot, window, path)
    panel = window.drills
    qtbot.waitUntil(lambda: panel.preview is not None and panel.run_button.isEnabled(), timeout=5000)
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: window.desk.drill is not None, timeout=5000)


def drill_state(desk: Desk) -> DrillState | None:
    return None if desk.drill is None else desk.drill.state


def test_picking_a_drill_in_the_menu_opens_the_panel_with_its_description_and_timeline(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    path = user_drill(desk)
    window = make_window()
    assert window.docks["drills"].visibleRegion().isEmpty()  # tabbed behind the multi-strike panel

    pick_in_menu(qtbot, window, path)
    panel = window.drills
    qtbot.waitUntil(lambda: panel.timeline_model.rowCount() == 1, timeout=5000)

    assert not window.docks["drills"].visibleRegion().isEmpty()
    assert panel.picker.currentData() == str(path)
    assert panel.description.text() == "NIFTY slows down for a moment while the drill keeps buying"
    assert panel.summary.text() == "4 s · 8 orders · 1 events · user: ui-drill.yaml"
    row = [panel.timeline_model.text(0, c) for c in range(6)]
    assert row == ["1", "events.0", "latency_burst", "NIFTY", "1.5", "lane=order factor=3"]
    assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()
    assert desk.drill is None  # picking shows; only Run runs


def test_an_invalid_user_drill_is_listed_disabled_with_its_reason(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    good, broken = user_drill(desk), user_drill(desk, BROKEN, "broken.yaml")
    window = make_window()
    open_drills_menu(qtbot, window)

    action = drill_action(qtbot, window, broken)
    assert not action.isEnabled()
    assert action.text() == "broken (cannot run)"
    assert "events.0" in action.toolTip() and action.statusTip() == action.toolTip()
    assert drill_action(qtbot, window, good).isEnabled()
    # Shipped drills come first, then a separator, then the trader's own (sorted by file name).
    entries = window.drills_menu.menu.actions()
    first_user = entries.index(drill_action(qtbot, window, broken))
    assert entries[first_user - 1].isSeparator()
    assert all(a.data() is None or "configs/scenarios" in str(a.data()) for a in entries[:first_user - 1])


def test_running_a_drill_sends_its_orders_through_the_blotter_and_lists_its_events_there(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    open_and_run(qtbot, window, user_drill(desk))
    book = window.blotter.model.book
    events = window.blotter.drill_events

    def highlighted() -> list[bool]:
        model = events.events
        return [model.data(model.index(i, 0), Qt.ItemDataRole.ForegroundRole) is not None
                for i in range(model.rowCount())]

    qtbot.waitUntil(lambda: highlighted() == [True], timeout=5000)  # the burst, active now
    assert events.isVisible()
    (start,) = events.events.rows  # one row per scenario record: the burst began
    assert (start.scenario_id, start.phase, start.label, start.type, start.target) == (
        "ui-drill", "start", "events.0", "latency_burst", "NIFTY")

    def drill_parents() -> list[ParentStatus | None]:
        return [p.status for p in book.parents.values() if p.source == "drill"]

    qtbot.waitUntil(lambda: drill_parents() == [ParentStatus.COMPLETE] * 8, timeout=10000)
    qtbot.waitUntil(lambda: not window.blotter.model.has_pending_changes, timeout=2000)
    assert window.blotter.model.rowCount() == len(book.parents)  # every parent is a row; no desk records
    qtbot.waitUntil(lambda: len(events.events.rows) == 2, timeout=5000)
    assert [r.phase for r in events.events.rows] == ["end", "start"]  # newest first
    assert highlighted() == [False, False]


def test_the_status_bar_names_the_active_event_while_it_is_active(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    label = window.status.drill_label
    assert not label.isVisible()
    open_and_run(qtbot, window, user_drill(desk))

    qtbot.waitUntil(lambda: label.isVisible() and label.text().startswith("DRILL ui-drill "), timeout=5000)
    qtbot.waitUntil(lambda: "latency_burst NIFTY" in label.text(), timeout=5000)
    assert label.text().split(" · ")[0] in {f"DRILL ui-drill {s}/4 s" for s in range(5)}
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=10000)  # the drill's end clears it
    assert label.text() == "" and drill_state(desk) is DrillState.FINISHED


def test_the_charts_mark_the_events_start_and_end_on_the_fills_time_axis(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    charts = window.charts
    open_and_run(qtbot, window, user_drill(desk))
    qtbot.waitUntil(lambda: drill_state(desk) is DrillState.FINISHED, timeout=10000)
    qtbot.waitUntil(lambda: len(charts.markers.shown) == 2, timeout=3000)

    start, end = charts.markers.shown
    assert (start.start, start.type, end.start) == (True, "latency_burst", False)
    assert end.t - start.t == pytest.approx(1.5, abs=0.3)
    # Same time base as the fills: the burst began after the first fills of the drill and ended before the last.
    fill_times = charts.buffers["All"].latency.view()[0]
    assert fill_times.min() < start.t < end.t < fill_times.max()
    lines = [i for i in charts.latency_plot.items if isinstance(i, pg.InfiniteLine)]
    assert sorted(line.value() for line in lines) == [start.t, end.t]
    labels = [line.label.toPlainText() for line in lines if getattr(line, "label", None) is not None]
    assert labels == ["latency_burst"]  # on the start line only
    assert all(line.pen.width() == 1 for line in lines)

    charts.set_asset("BANKNIFTY")  # a NIFTY event does not mark BANKNIFTY's plots
    qtbot.waitUntil(lambda: charts.markers.shown == [], timeout=2000)


def test_the_outcome_table_fills_when_the_drill_finishes(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    panel = window.drills
    open_and_run(qtbot, window, user_drill(desk))
    assert panel.outcome_model.rowCount() == 0
    qtbot.waitUntil(lambda: "running" in panel.state_label.text(), timeout=3000)
    assert panel.stop_button.isEnabled()

    qtbot.waitUntil(lambda: panel.outcome_model.rowCount() > 0, timeout=10000)
    metrics = {row[0]: row for row in panel.outcome_model.rows}
    assert "fill_rate" in metrics and "latency_ms.p99" in metrics
    with_events, no_events = (float(v) for v in metrics["latency_ms.p99"][1:3])
    assert with_events > no_events  # the burst tripled the latency of the orders inside it
    assert panel.state_label.text().startswith("ui-drill: finished after 4.0 s, 8 orders")
    assert panel.active_list.count() == 0
    assert panel.progress.value() == panel.progress.maximum()
    assert not panel.stop_button.isEnabled()


def test_stop_ends_a_running_drill_and_its_active_events(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    panel = window.drills
    open_and_run(qtbot, window, user_drill(desk, LONG_DRILL, "long.yaml"))
    qtbot.waitUntil(lambda: panel.active_list.count() == 1, timeout=5000)
    assert panel.active_list.item(0).text().startswith("latency_burst NIFTY (events.0)")
    assert window.drills_menu.stop_action.isEnabled()

    click(qtbot, panel.stop_button)
    qtbot.waitUntil(lambda: drill_state(desk) is DrillState.STOPPED, timeout=5000)
    assert desk.drill is not None and desk.drill.view().active == []
    qtbot.waitUntil(lambda: "stopped" in panel.state_label.text(), timeout=3000)
    assert panel.active_list.count() == 0
    assert desk.drill.elapsed_s < 6
    assert not window.status.drill_label.isVisible()
    assert not window.drills_menu.stop_action.isEnabled() and not panel.stop_button.isEnabled()


def test_starting_a_drill_while_one_runs_shows_the_desks_refusal_inline(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    panel = window.drills
    open_and_run(qtbot, window, user_drill(desk, LONG_DRILL, "long.yaml"))
    qtbot.waitUntil(lambda: drill_state(desk) is DrillState.RUNNING and panel.run_button.isEnabled(), timeout=5000)
    running = desk.drill

    click(qtbot, panel.run_button)
    qtbot.waitUntil(panel.error_label.isVisible, timeout=5000)
    assert panel.error_label.text() == "drill 'ui-long' is running: stop it first"
    assert desk.drill is running and drill_state(desk) is DrillState.RUNNING

    click(qtbot, panel.stop_button)  # not left to the teardown: it would announce the stop to a deleted window
    qtbot.waitUntil(lambda: drill_state(desk) is DrillState.STOPPED, timeout=5000)


def test_a_replay_only_drill_shows_why_it_cannot_run_when_picked_in_the_panel(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    path = user_drill(desk, DRILL + "config: {risk: {max_order_lots: 1}}\n", "replay-only.yaml")
    window = make_window()
    window.open_drill(path)
    panel = window.drills
    qtbot.waitUntil(panel.error_label.isVisible, timeout=5000)

    assert "runs only as a replay" in panel.error_label.text()
    assert not panel.run_button.isEnabled() and panel.timeline_model.rowCount() == 0
    assert panel.picker.currentText() == "ui-drill (cannot run)"


def test_the_drills_shortcut_brings_up_the_panel(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_D,  # type: ignore[no-untyped-call]
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.docks["drills"].visibleRegion().isEmpty(), timeout=2000)
    qtbot.waitUntil(lambda: window.drills.picker.count() > 0 and window.drills.preview is not None, timeout=5000)
    assert window.drills.picker.currentIndex() == 0  # the first shipped drill, shown once the panel is seen


def test_a_drill_saved_after_the_window_opened_is_listed_when_the_menu_opens_again(
    qtbot: QtBot, desk: Desk, make_window: WindowFactory
) -> None:
    window = make_window()
    path = user_drill(desk)
    assert window.drills_menu.action_for(path) is None
    open_drills_menu(qtbot, window)  # the menu rescans as it shows; the entry arrives when the scan answers

    action = drill_action(qtbot, window, path)
    assert action.isEnabled() and action.text() == "ui-drill (4 s, 1 events)"
    qtbot.waitUntil(lambda: window.drills.picker.findData(str(path)) >= 0, timeout=2000)
