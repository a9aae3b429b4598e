"""The blotter's Qt item model over `BlotterBook`, and the status filter in front of it.

Each telemetry record is applied to the book at once (a few dict lookups and additions); the model learns about it
on a ~10 Hz timer, as row inserts for new parents/children and `dataChanged` for rows that moved. The model is
never reset, so selections, expansion and scrolling survive a busy session. History is capped: beyond
`max_parents`, the oldest *finished* parents are dropped (working ones always stay).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from functools import cache
from typing import Any, Final, override

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from imperium_desk.desk import Desk, ParentFinished, ParentStarted
from imperium_desk.ui.blotter.book import BlotterBook, ChildState, ParentState
from imperium_desk.ui.blotter.columns import COLUMNS
from imperium_desk.ui.paint_turns import PaintTurns
from imperium_desk.ui.text_delegate import CellLook

# Parents the blotter keeps (older ones leave it; telemetry and `report` keep everything). After each flush that
# adds parents the tree lays out every top-level row, one Python call each: 3-8 ms per 1,000 rows on the CI VM.
# With paint turns the layout and the repaint after it take separate turns (`OrdersBlotter`), so each pause stays
# well under the 30 ms the window allows itself (benchmarks/ui_responsiveness.py); the cap bounds it, and memory.
MAX_PARENTS = 1000
FLUSH_INTERVAL_MS = 100
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_DISPLAY = Qt.ItemDataRole.DisplayRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_ROLES = frozenset({_DISPLAY, _FOREGROUND, _TOOLTIP})
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_RIGHT_INT = _RIGHT.value
_LEFT_INT = (Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value
_TOP = 0  # internalId of top-level rows; child rows carry their parent's serial (>= 1)
_LAST_COLUMN: Final = len(COLUMNS) - 1


@cache
def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))


@cache
def _colour(colour: str) -> QColor:
    return QColor(colour)


class BlotterModel(QAbstractItemModel):
    """Parents as top-level rows (newest first), children under them. `flush` publishes pending changes, between
    `flushing` and `flushed`."""

    flushing = Signal()
    flushed = Signal()

    def __init__(self, desk: Desk, parent: QObject | None = None, *, max_parents: int = MAX_PARENTS,
                 flush_interval_ms: int = FLUSH_INTERVAL_MS, turns: PaintTurns | None = None) -> None:
        super().__init__(parent)
        self.book = BlotterBook(desk.config.execution.algo.value)
        self.max_parents = max_parents
        self._rows: list[ParentState] = []  # shown parents, oldest first (display row = len - 1 - position)
        self._serials: list[int] = []
        self._shown: dict[int, ParentState] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(flush_interval_ms)
        self._turns = turns
        self._awaiting_turn = False  # the timer fired; the flush waits for its paint turn
        self._timer.timeout.connect(self._flush_due)

    # -- inputs (bridge slots) -------------------------------------------------------------------------------
    def on_record(self, record: dict[str, Any]) -> None:
        self.book.record(record)
        self._schedule()

    def on_parent_started(self, event: ParentStarted) -> None:
        self.book.started(event)
        self._schedule()

    def on_parent_finished(self, event: ParentFinished) -> None:
        self.book.finished(event)
        self._schedule()

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    # -- publishing -------------------------------------------------------------------------------------------
    def _flush_due(self) -> None:
        if self._turns is None:
            self.flush()
            return
        self._awaiting_turn = True
        self._turns.run(self.flush)

    def flush(self) -> None:
        """Tell the view what changed since the last flush: removed, new and changed rows."""
        self._awaiting_turn = False
        self.flushing.emit()
        self._evict()
        self._insert_new()
        self._publish_changes()
        self.flushed.emit()

    def _evict(self) -> None:
        positions: list[int] = []
        for parent in self.book.evictable(self.max_parents):
            self.book.forget(parent)
            if parent.serial in self._shown:
                positions.append(bisect_left(self._serials, parent.serial))
        # Contiguous runs, highest first, so earlier positions stay valid. The rows stay answerable until
        # beginRemoveRows has run (Qt walks parent() of persistent child indexes there).
        positions.sort(reverse=True)
        while positions:
            last = first = positions.pop(0)
            while positions and positions[0] == first - 1:
                first = positions.pop(0)
            n = len(self._rows)
            self.beginRemoveRows(QModelIndex(), n - 1 - last, n - 1 - first)
            for serial in self._serials[first:last + 1]:
                del self._shown[serial]
            del self._rows[first:last + 1]
            del self._serials[first:last + 1]
            self.endRemoveRows()

    def _insert_new(self) -> None:
        new = self.book.take_new()
        if not new:
            return
        for parent in new:
            parent.shown_children = len(parent.children)
            parent.dirty_children.clear()
        self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
        self._rows.extend(new)
        self._serials.extend(p.serial for p in new)
        self._shown.update((p.serial, p) for p in new)
        self.endInsertRows()

    def _publish_changes(self) -> None:
        for parent in self.book.take_dirty():
            row = self._row_of(parent)
            if row is None:
                continue
            self.dataChanged.emit(self.createIndex(row, 0, _TOP), self.createIndex(row, _LAST_COLUMN, _TOP))
            shown = parent.shown_children
            changed = [i for i in parent.dirty_children if i < shown]
            parent.dirty_children.clear()
            if changed:
                self.dataChanged.emit(self.createIndex(min(changed), 0, parent.serial),
                                      self.createIndex(max(changed), _LAST_COLUMN, parent.serial))
            if len(parent.children) > shown:
                self.beginInsertRows(self.createIndex(row, 0, _TOP), shown, len(parent.children) - 1)
                parent.shown_children = len(parent.children)
                self.endInsertRows()

    @property
    def has_pending_changes(self) -> bool:
        """True while changes wait for the next flush (the view's rows lag the plain state until then)."""
        return self._timer.isActive() or self._awaiting_turn

    # -- lookups ----------------------------------------------------------------------------------------------
    def _row_of(self, parent: ParentState) -> int | None:
        if parent.serial not in self._shown:
            return None
        return len(self._rows) - 1 - bisect_left(self._serials, parent.serial)

    def _parent_at(self, row: int) -> ParentState:
        return self._rows[len(self._rows) - 1 - row]

    def index_of(self, parent_id: str) -> QModelIndex:
        """The top-level index of a parent the view shows (invalid if not shown yet, or dropped)."""
        parent = self.book.parents.get(parent_id)
        row = self._row_of(parent) if parent is not None else None
        return QModelIndex() if row is None else self.createIndex(row, 0, _TOP)

    def working_at(self, row: int) -> bool:
        """Whether the parent shown at top-level `row` still works (the status filter asks)."""
        return self._parent_at(row).working

    def parent_row(self, parent_id: str) -> dict[str, Any] | None:
        parent = self.book.parents.get(parent_id)
        return parent.snapshot() if parent is not None else None

    # -- QAbstractItemModel ---------------------------------------------------------------------------------
    # The tree view lays out every top-level row after a root insert, calling index() and hasChildren() per row:
    # these stay free of further Python round trips (no hasIndex, which would call rowCount/columnCount back).
    @override
    def index(self, row: int, column: int, parent: Index = _ROOT) -> QModelIndex:
        if not 0 <= column < len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _TOP) if row < len(self._rows) else QModelIndex()
        if parent.internalId() != _TOP or parent.column() != 0:
            return QModelIndex()
        owner = self._rows[len(self._rows) - 1 - parent.row()]
        return self.createIndex(row, column, owner.serial) if row < owner.shown_children else QModelIndex()

    @override
    def hasChildren(self, parent: Index = _ROOT) -> bool:
        if not parent.isValid():
            return bool(self._rows)
        if parent.internalId() != _TOP or parent.column() != 0:
            return False
        return self._rows[len(self._rows) - 1 - parent.row()].shown_children > 0

    @override
    def parent(self, child: Index = _ROOT) -> QModelIndex:  # type: ignore[override]
        if not child.isValid() or child.internalId() == _TOP:
            return QModelIndex()
        owner = self._shown.get(child.internalId())
        row = self._row_of(owner) if owner is not None else None
        return QModelIndex() if row is None else self.createIndex(row, 0, _TOP)

    @override
    def rowCount(self, parent: Index = _ROOT) -> int:
        if not parent.isValid():
            return len(self._rows)
        if parent.internalId() != _TOP or parent.column() != 0:
            return 0
        return self._parent_at(parent.row()).shown_children

    @override
    def columnCount(self, parent: Index = _ROOT) -> int:
        return len(COLUMNS)

    @override
    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        # The delegate asks ~9 roles per cell on every repaint: settle the unused ones before touching any state.
        if role == _ALIGN:
            return _RIGHT if index.isValid() and COLUMNS[index.column()].numeric else None
        if role not in _ROLES or not index.isValid():
            return None
        column = COLUMNS[index.column()]
        if role == _TOOLTIP and not column.tooltip:
            return None
        item = self._item(index)
        if item is None:
            return None
        if role == _FOREGROUND:
            colour = column.colour(item)
            return _brush(colour) if colour is not None else None
        text = column.text(item)
        return text if role == _DISPLAY else (text or None)

    def row_looks(self, index: Index, columns: list[int]) -> list[CellLook] | None:
        """The row's cells in `columns` as `BlotterView` paints them: the same texts, alignments and colours as
        `data()` gives."""
        item = self._item(index)
        if item is None:
            return None
        looks: list[CellLook] = []
        for col in columns:
            column = COLUMNS[col]
            colour = column.colour(item)
            looks.append((column.text(item), _RIGHT_INT if column.numeric else _LEFT_INT,
                          _colour(colour) if colour is not None else None, None, False))
        return looks

    @staticmethod
    def is_child(index: Index) -> bool:
        """An order row (under its parent), not a parent row."""
        return index.internalId() != _TOP

    def _item(self, index: Index) -> ParentState | ChildState | None:
        if index.internalId() == _TOP:
            return self._parent_at(index.row())
        owner = self._shown.get(index.internalId())
        return None if owner is None else owner.children[index.row()]

    @override
    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        return None


# The filter combo's choices: which parents each shows, given whether the parent still works.
FILTERS: dict[str, Callable[[bool], bool]] = {
    "all": lambda working: True,
    "working": lambda working: working,
    "done": lambda working: not working,
}


class BlotterFilter(QSortFilterProxyModel):
    """Shows all parents, only working ones, or only finished ones (children always follow their parent)."""

    def __init__(self, source: BlotterModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._accepts = FILTERS["all"]
        self.setSourceModel(source)

    def set_mode(self, mode: str) -> None:
        self.beginFilterChange()
        self._accepts = FILTERS[mode]
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @override
    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        return source_parent.isValid() or self._accepts(self._source.working_at(source_row))
