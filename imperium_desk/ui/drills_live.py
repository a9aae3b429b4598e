"""A running drill seen outside its panel: the blotter's "Drill events" table and the status bar's drill label.

Both are fed by the desk, never by the panel: the events table by the `scenario` telemetry records (one per event
start and end, written by the event injector), the label by `DeskBridge.drill` plus a 1 Hz refresh of the elapsed
time while a drill runs (progress needs no per-tick work: nobody reads seconds faster than that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QTableView, QWidget

from imperium_desk.desk import Desk, DrillEvent, DrillState, DrillView
from imperium_desk.domain.instruments import IST
from imperium_desk.scenarios.live import ActiveEventView
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.row_table_model import RowTableModel
from imperium_desk.ui.widgets import SteadyLabel, row_table

MAX_EVENT_ROWS: Final = 500
REFRESH_MS: Final = 1000
ALL_ASSETS: Final = "all"  # an event without an underlying or symbol acts on every asset


# -- text (shared with the scenario panel) -------------------------------------------------------------------
def target_text(target: str | None) -> str:
    return target or ALL_ASSETS


def active_text(active: Sequence[ActiveEventView]) -> str:
    """ "latency_burst NIFTY, liquidity_drop all" """
    return ", ".join(f"{a.type} {target_text(a.target)}" for a in active)


def params_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def clock_text(timestamp: object) -> str:
    """A record's ISO UTC timestamp as the desk's wall clock (IST), HH:MM:SS."""
    try:
        return datetime.fromisoformat(str(timestamp)).astimezone(IST).strftime("%H:%M:%S")
    except ValueError:
        return ""


# -- the blotter's drill events ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventRow:
    """One `scenario` record: an event of a drill began or ended."""

    clock: str
    scenario_id: str
    at_s: float
    phase: str  # start | end
    label: str  # events.N or events.N[k]
    type: str
    target: str | None
    params: str

    @property
    def key(self) -> tuple[str, str]:
        return self.scenario_id, self.label

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> EventRow:
        entry = record.get("scenario") or {}
        return cls(
            clock=clock_text(record.get("timestamp")),
            scenario_id=str(record.get("scenario_id") or ""),
            at_s=float(entry.get("at_s", 0.0)),
            phase=str(entry.get("phase", "")),
            label=str(entry.get("event", "")),
            type=str(entry.get("type", "")),
            target=entry.get("target"),
            params=params_text(entry.get("params") or {}),
        )


class DrillEventsModel(RowTableModel[EventRow]):
    """Scenario records, newest first; the start rows of events still active are bold in the warning tone."""

    HEADERS = ("Time", "Drill", "Drill s", "Phase", "Event", "Type", "Target", "Params")

    def __init__(self, parent: Any = None, max_rows: int = MAX_EVENT_ROWS) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self.active: set[tuple[str, str]] = set()
        self._brush = QBrush(QColor(palette.WARN))
        self._bold = QFont()
        self._bold.setBold(True)

    def add(self, row: EventRow) -> None:
        if row.phase == "start" and row.type != "model_switch":  # a model switch is permanent: never "active"
            self.active.add(row.key)
        elif row.phase == "end":
            self.active.discard(row.key)
            self._repaint_start_of(row.key)
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, row)
        self.endInsertRows()
        if len(self._rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
            del self._rows[self.max_rows:]
            self.endRemoveRows()

    def _repaint_start_of(self, key: tuple[str, str]) -> None:
        for i, row in enumerate(self._rows):
            if row.key == key and row.phase == "start":
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.HEADERS) - 1))
                return

    @property
    def rows(self) -> list[EventRow]:
        return list(self._rows)

    def is_active(self, row: EventRow) -> bool:
        return row.phase == "start" and row.key in self.active

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.clock, row.scenario_id, f"{row.at_s:.1f}", row.phase, row.label, row.type,
                    target_text(row.target), row.params)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == len(self.HEADERS) - 1:
            return row.params or None
        if self.is_active(row):
            if role == Qt.ItemDataRole.ForegroundRole:
                return self._brush
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
        return None


class DrillEventsTable(QTableView):
    """The drill events under the orders: hidden until a drill has injected something, so a session without
    drills looks as before."""

    def __init__(self, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = DrillEventsModel(self)
        # One line per record: params are in the tooltip when cut.
        row_table(self, self.events, "drillEventsTable", word_wrap=False)
        self.setVisible(False)
        bridge.record.connect(self.on_record)

    def on_record(self, record: Mapping[str, Any]) -> None:
        if record.get("event") != "scenario":
            return
        self.events.add(EventRow.of(record))
        if self.isHidden():
            self.setVisible(True)


# -- the status bar's drill label ----------------------------------------------------------------------------
def drill_status_text(view: DrillView) -> str:
    """ "DRILL news-gap 12/60 s · news_shock NIFTY, latency_burst all" """
    text = f"DRILL {view.id} {view.elapsed_s:.0f}/{view.duration_s:g} s"
    return f"{text} · {active_text(view.active)}" if view.active else text


class DrillStatusLabel(SteadyLabel):
    """Shown only while a drill runs: its id, elapsed / duration and the events active now."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusDrill")
        self.setStyleSheet(f"color: {palette.WARN}; font-weight: bold;")
        self._desk = desk
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        bridge.drill.connect(self.on_drill)
        self.refresh()

    def on_drill(self, event: DrillEvent) -> None:
        self.show_view(event.view)

    def refresh(self) -> None:
        drill = self._desk.drill
        self.show_view(drill.view() if drill is not None else None)

    def show_view(self, view: DrillView | None) -> None:
        if view is None or view.state is not DrillState.RUNNING:
            self._timer.stop()
            self.clear()
            self.setVisible(False)
            return
        self.setText(drill_status_text(view))
        self.setVisible(True)
        if not self._timer.isActive():
            self._timer.start()
