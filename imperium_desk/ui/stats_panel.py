"""Execution stats: a compact table of the desk's live aggregates for one key (all fills, an underlying or a symbol).

One row per window the desk aggregates over (1 min, 5 min, session), one column per figure. The figures are
`Desk.aggregates` views (`AggregateView`), read by a QTimer at `refresh_hz` (2 Hz) while the panel is visible:
rolling windows change as time passes even without new records, so the panel polls rather than listening to
records. A refresh that keeps the same rows (same key, same windows) repaints in place (`dataChanged`), so the
selection and scroll position stay; choosing another key replaces the rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, override

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import AggregateView, Desk
from imperium_desk.ui.row_table_model import RowTableModel
from imperium_desk.ui.widgets import row_table

ALL: Final = "All"
DASH: Final = "—"


# -- text ----------------------------------------------------------------------------------------------------
def window_label(window_s: float | None) -> str:
    """60 -> "1 min", 300 -> "5 min", 30 -> "30 s", None -> "Session"."""
    if window_s is None:
        return "Session"
    if window_s >= 60 and window_s % 60 == 0:
        return f"{window_s / 60:g} min"
    return f"{window_s:g} s"


def _fixed(value: float, fmt: str) -> str:
    return DASH if math.isnan(value) else format(value, fmt)


def _percent(share: float) -> str:
    return DASH if math.isnan(share) else f"{100.0 * share:.1f}"


def bucket_text(counts: Mapping[str, int]) -> str:
    """"throttle 3 · risk 1" (the view's bucket order); "none" when empty."""
    return " · ".join(f"{bucket} {count}" for bucket, count in counts.items()) or "none"


@dataclass(frozen=True, slots=True)
class StatsColumn:
    """One execution-stats column: its title, a row's text, the header's tooltip and an optional cell tooltip."""

    title: str
    text: Callable[[AggregateView], str]
    about: str  # the header's tooltip
    tooltip: Callable[[AggregateView], str] | None = None


COLUMNS: Final[tuple[StatsColumn, ...]] = (
    StatsColumn("Window", lambda v: window_label(v.window_s),
                "Rolling windows of 1 s slots (the current second included); Session: since the desk started"),
    StatsColumn("Fills", lambda v: f"{v.fills:,}", "fill + partial_fill records"),
    StatsColumn("Lat p50 ms", lambda v: _fixed(v.latency_p50_ms, ".1f"),
                "Fill latency percentiles (log-binned: within 1% of the exact value)"),
    StatsColumn("Lat p95 ms", lambda v: _fixed(v.latency_p95_ms, ".1f"), "Fill latency, 95th percentile"),
    StatsColumn("Lat p99 ms", lambda v: _fixed(v.latency_p99_ms, ".1f"), "Fill latency, 99th percentile"),
    StatsColumn("Slip mean bps", lambda v: _fixed(v.slippage_mean_bps, "+.2f"),
                "Realised slippage vs the intended price, adverse positive (exact mean)"),
    StatsColumn("Slip p95 bps", lambda v: _fixed(v.slippage_p95_bps, "+.2f"),
                "Realised slippage, 95th percentile (within 1% or 0.01 bps)"),
    StatsColumn("Fill rate %", lambda v: _percent(v.fill_rate),
                "Filled qty / placed qty in the window (can pass 100% while older orders fill)",
                lambda v: f"{v.filled_qty:,} filled of {v.placed_qty:,} placed ({v.placed:,} children)"),
    StatsColumn("Partial %", lambda v: _percent(v.partial_share),
                "partial_fill records / all fill records",
                lambda v: f"{v.partial_fills:,} partial of {v.fills:,} fills"),
    StatsColumn("Rejects", lambda v: f"{v.rejects_total:,}", "reject records; per error bucket in the cell tooltip",
                lambda v: f"rejects: {bucket_text(v.rejects)}"),
    StatsColumn("Retries", lambda v: f"{v.retries_total:,}",
                "retry records; retries and errors per bucket in the cell tooltip",
                lambda v: f"retries: {bucket_text(v.retries)}\nerrors: {bucket_text(v.errors)}"),
)
_RIGHT: Final = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


# -- table ---------------------------------------------------------------------------------------------------
class StatsRowsModel(RowTableModel[AggregateView]):
    """One row per window of one key."""

    HEADERS = tuple(c.title for c in COLUMNS)

    def set_rows(self, views: Sequence[AggregateView]) -> None:
        rows = list(views)
        same_keys = [(v.key, v.window_s) for v in rows] == [(v.key, v.window_s) for v in self._rows]
        self._replace_rows(rows, same_keys, self._commit)

    def _commit(self, rows: list[AggregateView]) -> None:
        self._rows = rows

    @property
    def rows(self) -> list[AggregateView]:
        return list(self._rows)

    def text(self, row: int, column: int) -> str:
        return COLUMNS[column].text(self._rows[row])

    @override
    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(self._rows[index.row()])
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(self._rows[index.row()])
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return _RIGHT
        return None

    @override
    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section].about
        return super().headerData(section, orientation, role)


# -- the panel -----------------------------------------------------------------------------------------------
class StatsPanel(QWidget):
    """The live aggregates of the chosen key, one row per window. `refreshes` counts refreshes (tests)."""

    def __init__(self, desk: Desk, parent: QWidget | None = None, refresh_hz: float = 2.0) -> None:
        super().__init__(parent)
        if not 0 < refresh_hz <= 30:
            raise ValueError(f"refresh_hz: {refresh_hz} must be in (0, 30]")
        self.setObjectName("statsPanel")
        self._aggregates = desk.aggregates
        self._underlyings = list(desk.underlyings)
        self._key = ALL
        self.refreshes = 0

        self.key_combo = QComboBox(self)
        self.key_combo.setObjectName("statsKey")
        self.key_combo.setToolTip("All fills, one underlying or one symbol traded so far")
        self._set_combo_keys(self._combo_keys())
        self.key_combo.currentIndexChanged.connect(self._on_key_changed)
        self.table_model = StatsRowsModel(self)
        self.table = row_table(QTableView(self), self.table_model, "statsTable",
                               selection=QAbstractItemView.SelectionMode.NoSelection)

        top = QHBoxLayout()
        top.addWidget(QLabel("Key", self))
        top.addWidget(self.key_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

        self._timer = QTimer(self)
        self._timer.setObjectName("statsRefreshTimer")
        self._timer.setInterval(max(1, round(1000.0 / refresh_hz)))
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    # -- keys ------------------------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self._key

    def set_key(self, key: str) -> None:
        """Show "All", an underlying of the desk or a symbol traded so far."""
        self._sync_keys()
        index = self.key_combo.findData(key)
        if index < 0:
            raise KeyError(f"key: {key!r} has no records yet and is not an underlying of the desk")
        self.key_combo.setCurrentIndex(index)

    def _combo_keys(self) -> list[tuple[str, str]]:
        """(key, label): All, each underlying (the desk's first, then any other seen), its symbols indented."""
        aggregates = self._aggregates
        seen = aggregates.keys()
        underlyings = [*self._underlyings, *(k for k in seen if k != ALL and k not in self._underlyings
                                             and aggregates.underlying_of(k) is None)]
        items = [(ALL, ALL)]
        for underlying in underlyings:
            items.append((underlying, underlying))
            items += [(k, f"    {k}") for k in seen if aggregates.underlying_of(k) == underlying]
        return items

    def _set_combo_keys(self, items: list[tuple[str, str]]) -> None:
        combo = self.key_combo
        combo.blockSignals(True)  # rebuilding is not a choice of the trader's
        try:
            combo.clear()
            for key, label in items:
                combo.addItem(label, key)
            combo.setCurrentIndex(max(0, combo.findData(self._key)))
        finally:
            combo.blockSignals(False)

    def _sync_keys(self) -> None:
        items = self._combo_keys()
        combo = self.key_combo
        if len(items) != combo.count() or any(combo.itemData(i) != key for i, (key, _) in enumerate(items)):
            self._set_combo_keys(items)

    def _on_key_changed(self, index: int) -> None:
        key = self.key_combo.itemData(index)
        if isinstance(key, str) and key != self._key:
            self._key = key
            self.refresh()

    # -- refreshing ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the chosen key's windows (and any new keys for the selector)."""
        self._sync_keys()
        self.table_model.set_rows(self._aggregates.views(self._key))
        self.refreshes += 1

    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # catch up on what happened while hidden
        self._timer.start()

    @override
    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()  # a hidden panel (a closed or tabbed-away dock) costs nothing
