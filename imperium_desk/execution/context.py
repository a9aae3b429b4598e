"""Working state of a parent order and its children while the stack executes them."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from imperium_desk.domain.enums import Algo, OrderType, ParentStatus, Route, Urgency
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult

# A parent that stopped short for these reasons, with nothing filled, was cancelled rather than failed: nothing
# went wrong, the market did not fill it in time (or the desk stopped).
_ENDS_CANCELLED = frozenset({FailureKind.UNFILLED, FailureKind.INTERRUPTED, FailureKind.EXPIRED})


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a child or parent stopped short: the kind decides the parent's status, the message is its `reason`."""

    kind: FailureKind
    message: str


@dataclass(slots=True)
class ParentContext:
    """One parent's progress, owned by the stack's `execute` coroutine (loop thread only). `failure` is set once,
    by the first child (or the schedule) that stops the parent; `result()` derives the final status from it."""

    parent_id: str
    request: ExecutionRequest
    contract: OptionContract
    algo: Algo
    urgency: Urgency
    arrival_price: float
    children: int = 0  # planned child count (POV: sent so far)
    filled_qty: int = 0
    notional: float = 0.0
    child_order_ids: list[str] = field(default_factory=list)
    failure: Failure | None = None
    # For the parent's end-of-life record (post-trade analysis): when it started, the market's cumulative
    # volume and traded value then (interval VWAP), and the mid when its first child was sent (delay cost).
    started_at: float = 0.0
    start_volume: int = 0
    start_turnover: float = 0.0
    first_sent_mid: float | None = None
    # Worked out once per parent rather than per child: the side's sign, the rate limiter's priority, what its
    # children's route and cost depend on besides the quote and size (the stack's pricing cache key), and the
    # common telemetry keys its records share (built by the tracker on first use; `children` is set again on every
    # use, as POV counts up).
    sign: int = 1
    queue_priority: int = 0
    pricing_key: tuple[Hashable, ...] = ()
    template: dict[str, Any] | None = None

    def result(self) -> ParentResult:
        """The parent's result as it stands: status from the fills and the failure kind, `reason` its message."""
        quantity = self.request.quantity
        filled = self.filled_qty
        failure = self.failure
        if failure is not None and not self.child_order_ids and filled == 0:
            # No order ever reached the broker: refused before any child was planned, or every send failed.
            status = ParentStatus.REJECTED if self.children == 0 else ParentStatus.FAILED
        elif filled >= quantity:
            status = ParentStatus.COMPLETE
        elif filled > 0:
            status = ParentStatus.PARTIALLY_FILLED
        elif failure is None or failure.kind in _ENDS_CANCELLED:
            status = ParentStatus.CANCELLED
        else:
            status = ParentStatus.FAILED
        return ParentResult(
            parent_id=self.parent_id,
            symbol=self.contract.symbol,
            side=self.request.side,
            quantity=quantity,
            status=status,
            filled_qty=filled,
            average_price=round(self.notional / filled, 6) if filled else 0.0,
            child_order_ids=list(self.child_order_ids),
            reason=failure.message if failure is not None else "",
            failure=failure.kind if failure is not None else None,
        )


@dataclass(slots=True)
class ChildContext:
    """One child order across all its attempts (one tag, at most one broker order id). Loop thread only."""

    parent: ParentContext
    index: int
    tag: str
    qty: int
    route: Route
    order_type: OrderType
    limit_price: float | None
    intended_price: float
    template: dict[str, Any]  # this child's common telemetry keys (`FillQualityTracker.child_template`)
    order_id: str | None = None
    acked: bool = False
    sent_at: float = 0.0  # loop time of the current attempt's send
    attempt: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    terminal: bool = False
    failure: Failure | None = None
    waiter: asyncio.Future[None] | None = None  # resolved when the order ends or the child's deadline passes
