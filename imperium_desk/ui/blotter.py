"""Orders blotter: every parent order the desk runs, its child orders underneath, newest parent on top.

Each telemetry record is applied to plain Python state at once (a few dict lookups and additions); the Qt model
learns about it on a ~10 Hz timer, as row inserts for new parents/children and `dataChanged` for rows that moved.
The model is never reset, so selections, expansion and scrolling survive a busy session. History is capped:
beyond `max_parents`, the oldest *finished* parents are dropped (working ones always stay).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, override

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
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QTreeView, QVBoxLayout, QWidget

from imperium_desk.desk import Desk, ParentFinished, ParentStarted
from imperium_desk.ui.blotter_view import BlotterView
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_live import DrillEventsTable
from imperium_desk.ui.paint_turns import PaintTurns
from imperium_desk.ui.text_delegate import CellLook

# Semantic colours only (the theme owns the rest).
COLOURS: dict[str, str] = {"good": "#3fb950", "bad": "#f85149", "warn": "#d29922", "buy": "#3fb950", "sell": "#f85149"}
_BRUSHES = {name: QBrush(QColor(hex_)) for name, hex_ in COLOURS.items()}
_COLOURS = {name: brush.color() for name, brush in _BRUSHES.items()}
_STATUS_TONE = {
    "complete": "good", "filled": "good",
    "rejected": "bad", "failed": "bad", "error": "bad",
    "partially_filled": "warn", "partial": "warn", "cancelled": "warn",
}
_CHILD_TERMINAL = frozenset({"filled", "cancelled", "rejected"})

WORKING = "working"
# Parents the blotter keeps (older ones leave it; telemetry and `report` keep everything). After each flush that
# adds parents the tree lays out every top-level row, one Python call each: 3-8 ms per 1,000 rows on the CI VM.
# With paint turns the layout and the repaint after it take separate turns (`OrdersBlotter`), so each pause stays
# well under the 30 ms the window allows itself (benchmarks/ui_responsiveness.py); the cap bounds it, and memory.
MAX_PARENTS = 1000
FLUSH_INTERVAL_MS = 100
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


# -- plain state ---------------------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class ChildState:
    tag: str
    position: int  # place in the parent's child list (= its row under the parent)
    index: int | None = None  # the planner's child index
    order_id: str | None = None
    qty: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    slip_weighted: float = 0.0  # sum of fill qty * slippage_bps
    status: str = "placed"
    latency_ms: float | None = None
    route: str = ""
    error_bucket: str | None = None
    attempt: int | None = None
    error: str = ""

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled_qty if self.filled_qty else None

    @property
    def slippage_bps(self) -> float | None:
        return self.slip_weighted / self.filled_qty if self.filled_qty else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "client_tag": self.tag, "child_index": self.index, "order_id": self.order_id, "qty": self.qty,
            "filled_qty": self.filled_qty, "avg_price": self.avg_price, "status": self.status,
            "slippage_bps": self.slippage_bps, "latency_ms": self.latency_ms, "route": self.route,
            "error_bucket": self.error_bucket, "attempt": self.attempt, "error": self.error,
        }


@dataclass(slots=True, eq=False)
class ParentState:
    serial: int  # creation order; rows are kept sorted by it
    parent_id: str
    symbol: str = ""
    side: str = ""
    algo: str = ""
    source: str = ""
    qty: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    final_avg_price: float | None = None
    slip_weighted: float = 0.0
    slip_qty: int = 0
    status: str = WORKING
    errors: int = 0
    last_error_bucket: str | None = None
    retries: int = 0
    reason: str = ""
    children: list[ChildState] = field(default_factory=list)
    by_tag: dict[str, ChildState] = field(default_factory=dict)
    shown_children: int = 0  # children the view already knows about
    dirty_children: set[int] = field(default_factory=set)

    @property
    def avg_price(self) -> float | None:
        if self.final_avg_price is not None:
            return self.final_avg_price
        return self.notional / self.filled_qty if self.filled_qty else None

    @property
    def slippage_bps(self) -> float | None:
        return self.slip_weighted / self.slip_qty if self.slip_qty else None

    @property
    def avg_latency_ms(self) -> float | None:
        latencies = [c.latency_ms for c in self.children if c.latency_ms is not None]
        return sum(latencies) / len(latencies) if latencies else None

    @property
    def errors_text(self) -> str:
        parts: list[str] = []
        if self.errors:
            parts.append(f"{self.errors} err ({self.last_error_bucket})" if self.last_error_bucket else
                         f"{self.errors} err")
        if self.retries:
            parts.append(f"{self.retries} {'retry' if self.retries == 1 else 'retries'}")
        return " / ".join(parts)

    def snapshot(self) -> dict[str, Any]:
        return {
            "parent_id": self.parent_id, "symbol": self.symbol, "side": self.side, "algo": self.algo,
            "source": self.source, "qty": self.qty, "filled_qty": self.filled_qty, "avg_price": self.avg_price,
            "status": self.status, "slippage_bps": self.slippage_bps, "avg_latency_ms": self.avg_latency_ms,
            "errors": self.errors, "retries": self.retries, "errors_text": self.errors_text, "reason": self.reason,
            "children": [c.snapshot() for c in self.children],
        }


class BlotterBook:
    """Parents and children as plain Python objects, updated per event; remembers what changed since the last
    `take_changes` so the model can tell the view only about that."""

    def __init__(self, default_algo: str) -> None:
        self._default_algo = default_algo
        self.parents: dict[str, ParentState] = {}  # creation order, oldest first
        self._serial = 0
        self._new: list[ParentState] = []
        self._dirty: dict[int, ParentState] = {}
        # Parents dropped by the history cap: a stray late record must not bring them back as a new row.
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self._forget_limit = 1000

    # -- events ------------------------------------------------------------------------------------------------
    def started(self, event: ParentStarted) -> None:
        request = event.request
        parent = self._parent(event.parent_id)
        if parent is None:
            return
        parent.symbol = request.symbol
        parent.side = request.side.value
        parent.algo = parent.algo or (request.algo.value if request.algo is not None else self._default_algo)
        parent.source = request.metadata.source
        parent.qty = request.quantity
        self._touch(parent)

    def finished(self, event: ParentFinished) -> None:
        result = event.result
        parent = self._parent(result.parent_id)
        if parent is None:
            return
        parent.symbol = parent.symbol or result.symbol
        parent.side = parent.side or result.side.value
        parent.qty = parent.qty or result.quantity
        parent.status = result.status.value
        parent.filled_qty = result.filled_qty
        parent.final_avg_price = result.average_price if result.filled_qty else None
        parent.reason = result.reason
        self._touch(parent)

    def record(self, rec: dict[str, Any]) -> None:
        if rec.get("parent_id") is None:  # about the desk, not an order (drill events, model switches)
            return
        parent = self._parent(rec["parent_id"])
        if parent is None:
            return
        if not parent.symbol:  # a parent that started before the blotter existed
            parent.symbol, parent.side = rec["asset"], rec["side"]
        if rec.get("execution_algo"):
            parent.algo = rec["execution_algo"]
        self._touch(parent)
        event = rec["event"]
        tag = rec["client_tag"]
        if tag is None:
            if event == "reject":  # refused by the risk gate before any child was sent
                parent.status = "rejected"
                parent.reason = rec.get("error") or ""
                parent.qty = parent.qty or rec["qty"]
                self._count_error(parent, rec.get("error_bucket"))
            return
        child = parent.by_tag.get(tag)
        if child is None:
            child = ChildState(tag, len(parent.children), rec["child_index"])
            parent.children.append(child)
            parent.by_tag[tag] = child
        parent.dirty_children.add(child.position)
        if rec["order_id"] is not None:
            child.order_id = rec["order_id"]
        handler = _CHILD_HANDLERS.get(event)
        if handler is not None:
            handler(self, parent, child, rec)

    # -- child events ----------------------------------------------------------------------------------------
    def _placed(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        child.qty = rec["qty"]
        child.route = rec["route"] or ""

    def _ack(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        if child.status in {"placed", "error"}:
            child.status = "acked"
        if child.latency_ms is None:  # a fill's own latency (the model's round trip) wins once it arrives
            child.latency_ms = rec.get("latency_ms")

    def _fill(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        qty: int = rec["qty"]
        price: float = rec["executed_price"]
        bps: float = rec["slippage_bps"]
        child.filled_qty += qty
        child.notional += qty * price
        child.slip_weighted += qty * bps
        if rec.get("latency_ms") is not None:
            child.latency_ms = rec["latency_ms"]
        child.status = "filled" if rec["event"] == "fill" else "partial"
        parent.filled_qty += qty
        parent.notional += qty * price
        parent.slip_weighted += qty * bps
        parent.slip_qty += qty

    def _error(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        if child.status not in _CHILD_TERMINAL:
            child.status = "error"
        child.error_bucket = rec.get("error_bucket")
        child.attempt = rec.get("attempt")
        child.error = rec.get("error") or ""
        self._count_error(parent, child.error_bucket)

    def _retry(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        parent.retries += 1
        child.attempt = rec.get("attempt")
        child.error_bucket = rec.get("error_bucket") or child.error_bucket

    def _cancel(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        child.status = "cancelled"

    def _reject(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        child.status = "rejected"
        child.error_bucket = rec.get("error_bucket")
        child.error = rec.get("error") or ""
        self._count_error(parent, child.error_bucket)

    @staticmethod
    def _count_error(parent: ParentState, bucket: str | None) -> None:
        parent.errors += 1
        parent.last_error_bucket = bucket or parent.last_error_bucket

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def _parent(self, parent_id: str) -> ParentState | None:
        parent = self.parents.get(parent_id)
        if parent is None:
            if parent_id in self._forgotten:
                return None
            self._serial += 1
            parent = ParentState(self._serial, parent_id)
            self.parents[parent_id] = parent
            self._new.append(parent)
        return parent

    def _touch(self, parent: ParentState) -> None:
        self._dirty[parent.serial] = parent

    def take_new(self) -> list[ParentState]:
        """Parents created since the last call, oldest first."""
        new, self._new = self._new, []
        return new

    def take_dirty(self) -> list[ParentState]:
        dirty = list(self._dirty.values())
        self._dirty.clear()
        return dirty

    def evictable(self, cap: int) -> list[ParentState]:
        """The oldest finished parents beyond `cap` (working parents are never dropped)."""
        excess = len(self.parents) - cap
        if excess <= 0:
            return []
        out: list[ParentState] = []
        for parent in self.parents.values():
            if parent.status != WORKING:
                out.append(parent)
                if len(out) == excess:
                    break
        return out

    def forget(self, parent: ParentState) -> None:
        self.parents.pop(parent.parent_id, None)
        self._dirty.pop(parent.serial, None)
        if parent in self._new:
            self._new.remove(parent)
        self._forgotten[parent.parent_id] = None
        if len(self._forgotten) > self._forget_limit:
            self._forgotten.popitem(last=False)


_ChildHandler = Callable[[BlotterBook, ParentState, ChildState, dict[str, Any]], None]
_CHILD_HANDLERS: dict[str, _ChildHandler] = {
    "placed": BlotterBook._placed,
    "ack": BlotterBook._ack,
    "fill": BlotterBook._fill,
    "partial_fill": BlotterBook._fill,
    "error": BlotterBook._error,
    "retry": BlotterBook._retry,
    "cancel": BlotterBook._cancel,
    "reject": BlotterBook._reject,
}


# -- columns ---------------------------------------------------------------------------------------------------
def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _child_error(c: ChildState) -> str:
    if c.error_bucket is None:
        return ""
    return f"{c.error_bucket} #{c.attempt}" if c.attempt is not None else c.error_bucket


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    parent: Callable[[ParentState], str]
    child: Callable[[ChildState], str]
    numeric: bool = False


# Parent and child rows share columns where the meaning matches (qty under qty, route under algo...).
COLUMNS: tuple[Column, ...] = (
    Column("Parent / #", lambda p: p.parent_id, lambda c: f"#{c.index}" if c.index is not None else c.tag),
    Column("Symbol / order", lambda p: p.symbol, lambda c: c.order_id or ""),
    Column("Side", lambda p: p.side.upper(), lambda c: ""),
    Column("Algo / route", lambda p: p.algo, lambda c: c.route),
    Column("Source", lambda p: p.source, lambda c: ""),
    Column("Qty", lambda p: str(p.qty) if p.qty else "", lambda c: str(c.qty), numeric=True),
    Column("Filled", lambda p: str(p.filled_qty), lambda c: str(c.filled_qty), numeric=True),
    Column("Avg px", lambda p: _num(p.avg_price), lambda c: _num(c.avg_price), numeric=True),
    Column("Status", lambda p: p.status, lambda c: c.status),
    Column("Slip bps", lambda p: _num(p.slippage_bps), lambda c: _num(c.slippage_bps), numeric=True),
    Column("Latency ms", lambda p: _num(p.avg_latency_ms, 1), lambda c: _num(c.latency_ms, 1), numeric=True),
    Column("Errors", lambda p: p.errors_text, _child_error),
    Column("Reason", lambda p: p.reason, lambda c: c.error),
)
STATUS_COLUMN = 8
SIDE_COLUMN = 2
REASON_COLUMN = len(COLUMNS) - 1
_COLUMN_WIDTHS = (110, 190, 50, 80, 90, 70, 70, 80, 110, 70, 80, 150, 260)
_DISPLAY = Qt.ItemDataRole.DisplayRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_ROLES = frozenset({_DISPLAY, _FOREGROUND, _TOOLTIP})
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_RIGHT_INT = _RIGHT.value
_LEFT_INT = (Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value
_TOP = 0  # internalId of top-level rows; child rows carry their parent's serial (>= 1)


def _tone(item: ParentState | ChildState, col: int) -> str | None:
    """The semantic colour of a cell (a key of COLOURS), if it has one: status, and a parent's side."""
    if col == STATUS_COLUMN:
        return _STATUS_TONE.get(item.status)
    if col == SIDE_COLUMN and isinstance(item, ParentState) and item.side in COLOURS:
        return item.side
    return None


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
        last_column = len(COLUMNS) - 1
        for parent in self.book.take_dirty():
            row = self._row_of(parent)
            if row is None:
                continue
            self.dataChanged.emit(self.createIndex(row, 0, _TOP), self.createIndex(row, last_column, _TOP))
            shown = parent.shown_children
            changed = [i for i in parent.dirty_children if i < shown]
            parent.dirty_children.clear()
            if changed:
                self.dataChanged.emit(self.createIndex(min(changed), 0, parent.serial),
                                      self.createIndex(max(changed), last_column, parent.serial))
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

    def status_at(self, row: int) -> str:
        return self._parent_at(row).status

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
        col = index.column()
        if role == _TOOLTIP and col != REASON_COLUMN:
            return None
        item = self._item(index)
        if item is None:
            return None
        if role == _FOREGROUND:
            tone = _tone(item, col)
            return _BRUSHES[tone] if tone is not None else None
        column = COLUMNS[col]
        text = column.parent(item) if isinstance(item, ParentState) else column.child(item)
        return text if role == _DISPLAY else (text or None)

    def row_looks(self, index: Index, columns: list[int]) -> list[CellLook] | None:
        """The row's cells in `columns` as `BlotterView` paints them: the same texts, alignments and colours as
        `data()` gives."""
        item = self._item(index)
        if item is None:
            return None
        if isinstance(item, ParentState):
            texts = [COLUMNS[col].parent(item) for col in columns]
        else:
            texts = [COLUMNS[col].child(item) for col in columns]
        looks: list[CellLook] = []
        for col, text in zip(columns, texts, strict=True):
            tone = _tone(item, col)
            looks.append((text, _RIGHT_INT if COLUMNS[col].numeric else _LEFT_INT,
                          _COLOURS[tone] if tone else None, None, False))
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


FILTERS: dict[str, Callable[[str], bool]] = {
    "all": lambda status: True,
    "working": lambda status: status == WORKING,
    "done": lambda status: status != WORKING,
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
        return source_parent.isValid() or self._accepts(self._source.status_at(source_row))


class OrdersBlotter(QWidget):
    """The orders and fills panel. `model` holds the data; `view` shows it directly ("all") or through a status
    filter (`proxy`, only while one is chosen: a proxy maps every row again after each insert, doubling the cost)."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None, *,
                 max_parents: int = MAX_PARENTS, flush_interval_ms: int = FLUSH_INTERVAL_MS,
                 turns: PaintTurns | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ordersBlotter")
        self.desk = desk
        self.model = BlotterModel(desk, self, max_parents=max_parents, flush_interval_ms=flush_interval_ms,
                                  turns=turns)
        self.proxy: BlotterFilter | None = None

        self.filter = QComboBox()
        self.filter.setObjectName("blotterFilter")
        self.filter.addItems(list(FILTERS))
        self.filter.currentTextChanged.connect(self.set_filter)

        self.view = BlotterView(self.model)
        self.view.setObjectName("blotterView")
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)  # lets the view skip measuring every row
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        self.view.setAllColumnsShowFocus(True)
        header = self.view.header()
        header.setStretchLastSection(True)
        for column, width in enumerate(_COLUMN_WIDTHS):
            header.resizeSection(column, width)

        # Injected drill events under the orders they hit (the table appears with a drill's first event).
        self.drill_events = DrillEventsTable(bridge)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("blotterSplitter")
        split.addWidget(self.view)
        split.addWidget(self.drill_events)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.filter)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split)

        if turns is not None:
            # A flush that adds rows makes the tree lay out every row, then repaint: 3-8 ms and 3-6 ms at a
            # thousand parents. Back to back they were the window's longest pause; here the layout runs in the
            # flush's turn and the repaint waits for the next one.
            self.model.flushing.connect(self.view.hold_paint)
            self.model.flushed.connect(lambda: self._lay_out_and_paint_next_turn(turns))
        bridge.record.connect(self.model.on_record)
        bridge.parent_started.connect(self.model.on_parent_started)
        bridge.parent_finished.connect(self.model.on_parent_finished)

    def _lay_out_and_paint_next_turn(self, turns: PaintTurns) -> None:
        self.view.lay_out_now()
        turns.run(self.view.release_paint)

    def set_filter(self, mode: str) -> None:
        """"all", "working" or "done" (the combo calls this)."""
        if mode == "all":
            if self.proxy is not None:
                self._show(self.model)
                self.proxy.deleteLater()
                self.proxy = None
            return
        if self.proxy is None:
            self.proxy = BlotterFilter(self.model, self)
            self.proxy.set_mode(mode)
            self._show(self.proxy)
        else:
            self.proxy.set_mode(mode)

    def _show(self, model: QAbstractItemModel) -> None:
        header_state = self.view.header().saveState()  # a new model would reset the column widths
        old_selection = self.view.selectionModel()
        self.view.setModel(model)
        self.view.header().restoreState(header_state)
        if old_selection is not None:
            old_selection.deleteLater()

    def parent_row(self, parent_id: str) -> dict[str, Any] | None:
        """A snapshot of one parent's values (raw numbers) and its children, or None if unknown/dropped."""
        return self.model.parent_row(parent_id)
