"""The scenario panel: pick a drill, read what it does, run it against the live paper session, stop it, and read
its outcome (the drill against the same orders with no events).

Everything it asks the desk is a coroutine (`drill_library`, `drill_preview`, `start_drill`, `stop_drill`: file
reads and a baseline replay happen off the loop), scheduled on the desk's loop from the slot; the answer comes back
in the task's done callback on the Qt thread, so the window never waits. A `ConfigError` (a file that cannot run
here, a drill already running) is shown line by line in the panel; the desk is the one that decides.

The run section follows `desk.drill` (the drill running now, or the last one): `DeskBridge.drill` says when it
started, an event began or ended, or it ended, and a 1 Hz timer moves the progress bar in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, Final

import shiboken6
from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.config import ConfigError
from imperium_desk.desk import Desk, DrillEvent, DrillInfo, DrillPreview, DrillState, DrillView
from imperium_desk.scenarios.outcome import outcome_rows
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_live import params_text, target_text
from imperium_desk.ui.row_table_model import RowTableModel
from imperium_desk.ui.widgets import push_button, row_table, wrapped_label

REFRESH_MS: Final = 1000
PROGRESS_STEPS_PER_S: Final = 10  # QProgressBar counts in integers: tenths of a second


def _schedule[T](desk: Desk, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    # The desk's loop (qasync in the app and in tests): the call returns at once, the answer arrives through the
    # task's done callback on the Qt thread.
    return desk.clock.loop.create_task(coro)


def _errors_of(exc: BaseException) -> list[str]:
    return exc.errors if isinstance(exc, ConfigError) else [f"{type(exc).__name__}: {exc}"]


# -- the library -------------------------------------------------------------------------------------------
class DrillLibrary(QObject):
    """The drills this desk offers (shipped first, then the trader's), rescanned on request without blocking.
    The Drills menu and the panel's picker both follow `changed`; it fires only when the list really changed."""

    changed = Signal(object)  # list[DrillInfo]
    failed = Signal(str)

    def __init__(self, desk: Desk, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._desk = desk
        self.drills: list[DrillInfo] = []
        self.loaded = False  # a scan has answered at least once
        self._task: asyncio.Task[list[DrillInfo]] | None = None
        self._again = False

    def reload(self) -> asyncio.Task[list[DrillInfo]]:
        """Rescan the drill folders; a request during a scan gets one more scan after it (the file may have been
        saved after the first one read the folder)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return self._task
        task = _schedule(self._desk, self._desk.drill_library())
        task.add_done_callback(self._on_scanned)
        self._task = task
        return task

    def _on_scanned(self, task: asyncio.Task[list[DrillInfo]]) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # retrieved even when nobody is left to show it: asyncio would log it as lost
        if not shiboken6.isValid(self):
            return
        self._task = None
        if exc is not None:
            self.failed.emit("drill list: " + "; ".join(_errors_of(exc)))
        else:
            drills = task.result()
            first = not self.loaded
            self.loaded = True
            if first or drills != self.drills:
                self.drills = drills
                self.changed.emit(drills)
        if self._again:
            self._again = False
            self.reload()


# -- tables --------------------------------------------------------------------------------------------------
def _number(value: Any) -> str:
    return "" if value is None else f"{value:g}"


class TimelineModel(RowTableModel[dict[str, Any]]):
    """A drill's events in firing order (random ones as its seed draws them)."""

    HEADERS = ("At s", "Event", "Type", "Target", "Duration s", "Params")

    def set_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self._replace_rows(list(rows), False, self._commit)

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def text(self, row: int, column: int) -> str:
        entry = self._rows[row]
        return (_number(entry.get("at_s")), str(entry.get("event", "")), str(entry.get("type", "")),
                target_text(entry.get("target")), _number(entry.get("duration_s")),
                params_text(entry.get("params") or {}))[column]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == len(self.HEADERS) - 1:
            return self.text(index.row(), index.column()) or None
        return None


class OutcomeModel(RowTableModel[tuple[str, str, str, str]]):
    """The outcome comparison: one metric per row, the drill's figure, the calm run's and the change."""

    HEADERS = ("Metric", "With events", "No events", "Change")

    def set_outcome(self, outcome: dict[str, Any] | None) -> None:
        rows = outcome_rows(outcome) if outcome is not None else []
        self._replace_rows(rows, False, self._commit)

    def _commit(self, rows: list[tuple[str, str, str, str]]) -> None:
        self._rows = rows

    @property
    def rows(self) -> list[tuple[str, str, str, str]]:
        return list(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None


# -- text ----------------------------------------------------------------------------------------------------
def summary_text(preview: DrillPreview) -> str:
    info = preview.info
    return (f"{info.duration_s:g} s · {preview.orders} orders · {len(preview.timeline)} events · "
            f"{info.source}: {info.path.name}")


def state_text(view: DrillView) -> str:
    """ "news-gap: running, 12 / 60 s, 5 orders placed" or "news-gap: stopped after 3.2 s, 2 orders" """
    if view.state is DrillState.RUNNING:
        text = f"{view.id}: running, {view.elapsed_s:.0f} / {view.duration_s:g} s, {view.parents} orders placed"
    else:
        text = f"{view.id}: {view.state.value} after {view.elapsed_s:.1f} s, {view.parents} orders"
        if view.outcome is None and view.error is None:
            text += " (outcome pending)"
    return f"{text} · {view.error}" if view.error else text


def active_item_text(view: DrillView) -> list[str]:
    return [f"{a.type} {target_text(a.target)} ({a.label}) since {a.started_s:.1f} s"
            + (f" until {a.ends_s:.1f} s" if a.ends_s is not None else " until the drill ends")
            for a in view.active]


def picker_text(info: DrillInfo) -> str:
    return info.id if info.runnable else f"{info.id} (cannot run)"


# -- the panel -----------------------------------------------------------------------------------------------
class DrillsPanel(QWidget):
    """Picker, description, timeline and order count of the chosen drill; Run / Stop, progress, the events active
    now, the end state and the outcome table of the desk's drill. `select(path)`, `run()` and `stop()` are what
    the menu and the buttons do; the latter two return the scheduled task (None when there is nothing to do)."""

    def __init__(self, desk: Desk, bridge: DeskBridge, library: DrillLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drillsPanel")
        self._desk = desk
        self._library = library
        self.selected: Path | None = None
        self.preview: DrillPreview | None = None  # of `selected`, once the desk answered
        self._preview_seq = 0  # only the newest preview may fill the panel
        self._busy = False  # a start or stop is in flight
        self._outcome: dict[str, Any] | None = None  # what the outcome table holds

        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_run)
        library.changed.connect(self._on_library)
        library.failed.connect(self._on_library_failed)
        bridge.drill.connect(self._on_drill)
        self._on_library(library.drills)
        self.refresh_run()

    def _build(self) -> None:
        self.picker = QComboBox(self)
        self.picker.setObjectName("drillsPicker")
        self.picker.setPlaceholderText("loading drills…")
        self.picker.activated.connect(self._on_picked)
        self.description = wrapped_label(self, "drillsDescription")
        self.summary = wrapped_label(self, "drillsSummary")
        self.error_label = wrapped_label(self, "drillsError")
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)

        self.timeline_model = TimelineModel(self)
        self.timeline = row_table(QTableView(self), self.timeline_model, "drillsTimeline", word_wrap=False)
        self.run_button = push_button(self, "Run", "drillsRunButton", self.run)
        self.stop_button = push_button(self, "Stop", "drillsStopButton", self.stop)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("drillsProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no drill running")
        self.state_label = wrapped_label(self, "drillsState")
        self.active_list = QListWidget(self)
        self.active_list.setObjectName("drillsActive")
        self.outcome_model = OutcomeModel(self)
        self.outcome = row_table(QTableView(self), self.outcome_model, "drillsOutcome", word_wrap=False)

        top = QHBoxLayout()
        top.addWidget(QLabel("Drill", self))
        top.addWidget(self.picker, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.progress, 1)

        run_box = QWidget(self)
        column = QVBoxLayout(run_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(buttons)
        column.addWidget(self.state_label)
        # While a drill runs its active events matter, once it ended its outcome: each box shows only then, so
        # the other gets the room.
        self.active_box = self._titled("Active events", self.active_list, run_box)
        self.outcome_box = self._titled("Outcome (drill vs. the same orders with no events)", self.outcome, run_box)
        column.addWidget(self.active_box, 1)
        column.addWidget(self.outcome_box, 1)
        column.addStretch(0)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setObjectName("drillsSplitter")
        splitter.addWidget(self.timeline)
        splitter.addWidget(run_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([100, 300])  # proportions: a drill has a few events, the outcome has ~20 metrics
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.description)
        layout.addWidget(self.summary)
        layout.addWidget(self.error_label)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    @staticmethod
    def _titled(title: str, content: QWidget, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel(title, box))
        column.addWidget(content, 1)
        box.setVisible(False)
        return box

    def _show_errors(self, errors: Sequence[str]) -> None:
        self.error_label.setText("\n".join(errors))
        self.error_label.setVisible(bool(errors))

    def _running(self) -> bool:
        drill = self._desk.drill
        return drill is not None and drill.state is DrillState.RUNNING

    def _update_buttons(self) -> None:
        # Run stays enabled while a drill runs: the desk refuses a second one and the panel shows why.
        self.run_button.setEnabled(self.preview is not None and not self._busy)
        self.stop_button.setEnabled(self._running() and not self._busy)

    # -- choosing a drill ------------------------------------------------------------------------------------
    def _on_library(self, drills: list[DrillInfo]) -> None:
        self.picker.clear()
        for group in ([d for d in drills if d.source == "shipped"], [d for d in drills if d.source != "shipped"]):
            if group and self.picker.count():
                self.picker.insertSeparator(self.picker.count())
            for info in group:
                self.picker.addItem(picker_text(info), str(info.path))
                self.picker.setItemData(self.picker.count() - 1, info.problem or info.description,
                                        Qt.ItemDataRole.ToolTipRole)
        if self._library.loaded and not drills:
            self.picker.setPlaceholderText("no drills found")
        if self.selected is not None:
            self._show_selected()
        elif self.isVisible():
            self._select_first()

    def _on_library_failed(self, text: str) -> None:
        self._show_errors([text])

    def _select_first(self) -> None:
        # Only once the panel is seen: a preview reads the file, which a hidden panel has no use for.
        first = self.picker.itemData(0)
        if self.selected is None and isinstance(first, str):
            self.select(Path(first))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._select_first()
        self.refresh_run()

    def _show_selected(self) -> None:
        index = self.picker.findData(str(self.selected))
        self.picker.setCurrentIndex(index)  # -1 (placeholder) for a file the library does not list (yet)

    def _on_picked(self, index: int) -> None:
        data = self.picker.itemData(index)
        if isinstance(data, str):
            self.select(Path(data))

    def select(self, path: Path) -> asyncio.Task[DrillPreview]:
        """Show this drill: its description, timeline and order count, as the desk reads them."""
        self.selected = path
        self.preview = None
        self._show_selected()
        self._show_errors([])
        self.description.setText("")  # the previous drill's text must not pass for this one's
        self.summary.setText(f"reading {path.name}…")
        self.timeline_model.set_rows([])
        self._update_buttons()
        self._preview_seq += 1
        seq = self._preview_seq
        task = _schedule(self._desk, self._desk.drill_preview(path))
        task.add_done_callback(lambda t: self._on_preview(t, seq))
        return task

    def _on_preview(self, task: asyncio.Task[DrillPreview], seq: int) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if not shiboken6.isValid(self) or seq != self._preview_seq:
            return  # closed, or another drill was picked meanwhile
        if exc is not None:
            self.preview = None
            info = next((d for d in self._library.drills if d.path == self.selected), None)
            self.description.setText(info.description if info is not None else "")
            self.summary.setText("")
            self.timeline_model.set_rows([])
            self._show_errors(_errors_of(exc))
        else:
            preview = self.preview = task.result()
            self.description.setText(preview.info.description.strip())
            self.summary.setText(summary_text(preview))
            self.timeline_model.set_rows(preview.timeline)
        self._update_buttons()

    # -- Run / Stop ------------------------------------------------------------------------------------------
    def run(self) -> asyncio.Task[DrillView] | None:
        """Start the selected drill on the live session."""
        if self.selected is None:
            self._show_errors(["pick a drill first"])
            return None
        return self._request(self._desk.start_drill(self.selected))

    def stop(self) -> asyncio.Task[DrillView | None] | None:
        """Stop the running drill: its events undone, its working orders cancelled; the outcome covers what ran."""
        if not self._running():
            return None
        return self._request(self._desk.stop_drill())

    def _request[T](self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        self._busy = True
        self._show_errors([])
        self._update_buttons()
        task = _schedule(self._desk, coro)
        task.add_done_callback(self._on_answer)
        return task

    def _on_answer(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if not shiboken6.isValid(self):
            return
        self._busy = False
        if exc is not None:
            self._show_errors(_errors_of(exc))
        self.refresh_run()

    # -- the desk's drill ------------------------------------------------------------------------------------
    def _on_drill(self, event: DrillEvent) -> None:
        self.show_run(event.view)

    def refresh_run(self) -> None:
        drill = self._desk.drill
        self.show_run(drill.view() if drill is not None else None)

    def show_run(self, view: DrillView | None) -> None:
        """Progress, state line, active events and (once it ended) the outcome of the desk's drill."""
        if view is None:
            self._timer.stop()
            self.state_label.setText("No drill has run in this session.")
            self._update_buttons()
            return
        running = view.state is DrillState.RUNNING
        steps = max(1, round(view.duration_s * PROGRESS_STEPS_PER_S))
        self.progress.setRange(0, steps)
        self.progress.setValue(min(steps, round(view.elapsed_s * PROGRESS_STEPS_PER_S)))
        self.progress.setFormat(f"{view.id} {view.elapsed_s:.0f} / {view.duration_s:g} s")
        self.state_label.setText(state_text(view))
        self.active_list.clear()
        self.active_list.addItems(active_item_text(view))
        outcome = None if running else view.outcome
        if outcome is not self._outcome:  # a reset only when it changed: the trader may be reading the table
            self._outcome = outcome
            self.outcome_model.set_outcome(outcome)
        self.active_box.setVisible(running)
        self.outcome_box.setVisible(outcome is not None)
        if running and not self._timer.isActive():
            self._timer.start()
        elif not running:
            self._timer.stop()
        self._update_buttons()
