"""Working state of a parent order and its children while the stack executes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imperium_desk.domain.enums import Algo, OrderType, Route, Urgency
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.request import ExecutionRequest


@dataclass(slots=True)
class ParentContext:
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
    failure: str = ""
    # For the parent's end-of-life record (post-trade analysis): when it started, the market's cumulative
    # volume and traded value then (interval VWAP), and the mid when its first child was sent (delay cost).
    started_at: float = 0.0
    start_volume: int = 0
    start_turnover: float = 0.0
    first_sent_mid: float | None = None


@dataclass(slots=True)
class ChildContext:
    parent: ParentContext
    index: int
    tag: str
    qty: int
    route: Route
    order_type: OrderType
    limit_price: float | None
    intended_price: float
    order_id: str | None = None
    acked: bool = False
    sent_at: float = 0.0  # loop time of the current attempt's send
    template: dict[str, Any] = field(default_factory=dict)  # this child's common telemetry keys
    attempt: int = 0
    filled_qty: int = 0
    notional: float = 0.0
    terminal: bool = False
    failure: str = ""
    waiter: Any = None  # future resolved when the order ends or the child's deadline passes
