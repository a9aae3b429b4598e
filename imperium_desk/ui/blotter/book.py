"""The blotter's plain state: every parent order and its child orders as Python objects, updated per event.

No Qt here (it is tested in tests/unit): `BlotterModel` (model.py) reads this state and tells the view what changed,
using `take_new`/`take_dirty`. History is capped by the model: `evictable` names the oldest finished parents beyond
the cap, and `forget` drops one for good.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from imperium_desk.domain.enums import ParentStatus
from imperium_desk.domain.protection import ExitReason

if TYPE_CHECKING:
    from imperium_desk.desk import ParentFinished, ParentStarted

WORKING: Final = "working"  # what a parent shows until the desk reports how it finished
FORGET_LIMIT: Final = 1000  # dropped parent ids remembered, so stray late records do not bring them back


class ChildStatus(StrEnum):
    """Where one child order stands, as the blotter shows it (the last record about it decides)."""

    PLACED = "placed"
    ACKED = "acked"
    PARTIAL = "partial"
    FILLED = "filled"
    ERROR = "error"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# A child in one of these states stays there: a late error record does not overwrite a fill.
_CHILD_TERMINAL: Final = frozenset({ChildStatus.FILLED, ChildStatus.CANCELLED, ChildStatus.REJECTED})
# An ack moves a child out of these (an error before the ack was retried, and the retry got through).
_AWAITING_ACK: Final = frozenset({ChildStatus.PLACED, ChildStatus.ERROR})


@dataclass(slots=True, eq=False)
class ChildState:
    """One child order: its identity, fills (summed), latest status and its latest error."""

    tag: str
    position: int  # place in the parent's child list (= its row under the parent)
    index: int | None = None  # the planner's child index
    order_id: str | None = None
    qty: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    slip_weighted: float = 0.0  # sum of fill qty * slippage_bps
    status: ChildStatus = ChildStatus.PLACED
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
            "filled_qty": self.filled_qty, "avg_price": self.avg_price, "status": self.status.value,
            "slippage_bps": self.slippage_bps, "latency_ms": self.latency_ms, "route": self.route,
            "error_bucket": self.error_bucket, "attempt": self.attempt, "error": self.error,
        }


@dataclass(slots=True, eq=False)
class ParentState:
    """One parent order: what was asked, what filled (summed over its children), errors and retries, and how it
    finished (`status` stays None while it works)."""

    serial: int  # creation order; rows are kept sorted by it
    parent_id: str
    symbol: str = ""
    side: str = ""
    algo: str = ""
    source: str = ""
    exit_reason: ExitReason | None = None  # an exit the desk sent itself (a protection, the day's loss limit)
    qty: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    final_avg_price: float | None = None
    slip_weighted: float = 0.0
    slip_qty: int = 0
    status: ParentStatus | None = None
    errors: int = 0
    last_error_bucket: str | None = None
    retries: int = 0
    reason: str = ""
    children: list[ChildState] = field(default_factory=list)
    by_tag: dict[str, ChildState] = field(default_factory=dict)
    shown_children: int = 0  # children the view already knows about
    dirty_children: set[int] = field(default_factory=set)

    @property
    def working(self) -> bool:
        return self.status is None

    @property
    def status_text(self) -> str:
        return WORKING if self.status is None else self.status.value

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
            "source": self.source, "exit_reason": None if self.exit_reason is None else self.exit_reason.value,
            "qty": self.qty, "filled_qty": self.filled_qty, "avg_price": self.avg_price,
            "status": self.status_text, "slippage_bps": self.slippage_bps, "avg_latency_ms": self.avg_latency_ms,
            "errors": self.errors, "retries": self.retries, "errors_text": self.errors_text, "reason": self.reason,
            "children": [c.snapshot() for c in self.children],
        }


class BlotterBook:
    """Parents and children as plain Python objects, updated per event (`started`, `finished`, `record`).

    Remembers what changed since it was last asked, so the model tells the view only about that: `take_new`
    hands over the parents created since its last call, `take_dirty` those changed since its last call. Not
    thread-safe: the window's thread feeds it and reads it.
    """

    def __init__(self, default_algo: str) -> None:
        self._default_algo = default_algo
        self.parents: dict[str, ParentState] = {}  # creation order, oldest first
        self._serial = 0
        self._new: list[ParentState] = []
        self._dirty: dict[int, ParentState] = {}
        # Parents dropped by the history cap: a stray late record must not bring them back as a new row.
        self._forgotten: OrderedDict[str, None] = OrderedDict()

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
        parent.exit_reason = request.metadata.exit_reason
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
        parent.status = result.status
        parent.filled_qty = result.filled_qty
        parent.final_avg_price = result.average_price if result.filled_qty else None
        parent.reason = result.reason
        self._touch(parent)

    def record(self, rec: dict[str, Any]) -> None:
        """Apply one telemetry record (DESIGN §5 shape); records about the desk rather than an order are ignored."""
        if rec.get("parent_id") is None:  # drill events, model switches
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
                parent.status = ParentStatus.REJECTED
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
        if child.status in _AWAITING_ACK:
            child.status = ChildStatus.ACKED
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
        child.status = ChildStatus.FILLED if rec["event"] == "fill" else ChildStatus.PARTIAL
        parent.filled_qty += qty
        parent.notional += qty * price
        parent.slip_weighted += qty * bps
        parent.slip_qty += qty

    def _error(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        if child.status not in _CHILD_TERMINAL:
            child.status = ChildStatus.ERROR
        child.error_bucket = rec.get("error_bucket")
        child.attempt = rec.get("attempt")
        child.error = rec.get("error") or ""
        self._count_error(parent, child.error_bucket)

    def _retry(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        parent.retries += 1
        child.attempt = rec.get("attempt")
        child.error_bucket = rec.get("error_bucket") or child.error_bucket

    def _cancel(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        child.status = ChildStatus.CANCELLED

    def _reject(self, parent: ParentState, child: ChildState, rec: dict[str, Any]) -> None:
        child.status = ChildStatus.REJECTED
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
        """Parents changed since the last call (new ones included), each once."""
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
            if not parent.working:
                out.append(parent)
                if len(out) == excess:
                    break
        return out

    def forget(self, parent: ParentState) -> None:
        """Drop a parent for good: later records about it are ignored."""
        self.parents.pop(parent.parent_id, None)
        self._dirty.pop(parent.serial, None)
        if parent in self._new:
            self._new.remove(parent)
        self._forgotten[parent.parent_id] = None
        if len(self._forgotten) > FORGET_LIMIT:
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
