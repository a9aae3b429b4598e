"""What a ticket asks the stack to do, and what the stack answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from imperium_desk.domain.enums import Algo, OrderType, ParentStatus, Product, Route, Side, Urgency
from imperium_desk.domain.protection import ExitReason, ProtectionSpec


class RequestMetadata(BaseModel):
    """Where a request came from (the flow, a multi-strike group) and whether it is an exit, which the risk gate
    never blocks."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    source: str = Field(default="api", description="the flow that sent it: ladder, multi_strike, replay, api")
    group: str | None = Field(default=None, description="groups the parents of one multi-strike action")
    is_exit: bool = Field(default=False, description="exits reduce risk and are never blocked by limits")
    exit_reason: ExitReason | None = Field(
        default=None, description="an exit the desk sent itself: the protection that triggered, or the daily limit")


class ExecutionRequest(BaseModel):
    """One parent order. Unset execution fields take the desk config's `execution` defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbol: str = Field(min_length=1)
    side: Side
    quantity: int = Field(gt=0, description="units; a multiple of the contract's lot size")
    order_type: OrderType = OrderType.MARKET
    product: Product | None = Field(
        default=None, description="NRML or MIS; null: the venue's own default (the paper exchange: NRML, Kite: "
        "broker.kite.product). An exit carries the product of the position it closes")
    ltp: float | None = Field(default=None, gt=0)
    bid: float | None = Field(default=None, gt=0)
    ask: float | None = Field(default=None, gt=0)
    algo: Algo | None = None
    urgency: Urgency | None = None
    max_child_orders: int | None = Field(default=None, ge=1, le=1000)
    participation_rate: float | None = Field(default=None, gt=0, le=1)
    randomize_slices: bool | None = None
    horizon_s: float | None = Field(default=None, gt=0)
    limit_price: float | None = Field(default=None, gt=0)
    protection: ProtectionSpec | None = Field(
        default=None, description="stop-loss, target and trailing stop armed on what this entry fills (not on exits)")
    metadata: RequestMetadata = Field(default_factory=RequestMetadata)


class FailureKind(StrEnum):
    """Why a parent (or one of its children) stopped short. `ParentResult.status` is derived from it; the human
    `reason` text says the details."""

    RISK_REFUSED = "risk_refused"  # the desk's own pre-trade risk gate refused the parent: nothing was sent
    REJECTED = "rejected"  # the broker or exchange refused a child (risk or fatal bucket), on sending or later
    UNKNOWN_OUTCOME = "unknown_outcome"  # a send's outcome stayed unknown: the tag lookup could not be completed
    GAVE_UP = "gave_up"  # retryable errors (transient, throttle) until the bucket's attempt limit
    CANCEL_FAILED = "cancel_failed"  # the cancel of a child still working at its deadline failed
    UNFILLED = "unfilled"  # every child ended, part of the quantity never filled (the horizon ended)
    INTERRUPTED = "interrupted"  # the desk stopped (or the caller gave up) before the schedule ended
    INVALID = "invalid"  # the request could not be formed or failed validation: nothing was sent
    EXPIRED = "expired"  # the contract had expired: refused up front, or a child came due after its expiry


@dataclass(slots=True)
class ParentResult:
    """How a parent ended: its status, what filled at what average price, its broker order ids, and, when it
    stopped short, the `failure` kind (to branch on) and the `reason` (to show)."""

    parent_id: str
    symbol: str
    side: Side
    quantity: int
    status: ParentStatus
    filled_qty: int = 0
    average_price: float = 0.0
    child_order_ids: list[str] = field(default_factory=list)
    reason: str = ""
    failure: FailureKind | None = None

    @property
    def unfilled_qty(self) -> int:
        return self.quantity - self.filled_qty


class InvalidOrder(ValueError):
    """The request cannot be executed as written; the message names the field and value."""


class ContractExpired(InvalidOrder):
    """The request's contract has expired (its expiry instant has passed): it takes no more orders. The message
    names the contract and its expiry."""


@dataclass(frozen=True, slots=True)
class PreTradeEstimate:
    """What the stack expects an order to cost if sent now (the ticket shows it live)."""

    symbol: str
    route: Route
    intended_price: float  # the first child's expected trade price (touch for take, near side for join)
    arrival_price: float
    expected_price: float  # arrival +/- half spread + impact (adverse)
    half_spread: float
    impact: float
    cost_bps: float  # of the arrival price
    premium: float  # expected_price * quantity
