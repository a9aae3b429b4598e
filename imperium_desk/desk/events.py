"""What the running desk shows and tells: the views its operations return and the events its listeners receive.

The window's signal bridge (ui/bridge.py) turns each `DeskEvent` into a Qt signal; `serve` and the tests listen
directly. Every view and event is frozen: a listener may keep what it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from imperium_desk.domain.enums import OptionRight, Product, Side
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.domain.protection import ExitReason, ProtectionStatus
from imperium_desk.execution.request import ExecutionRequest, ParentResult, PreTradeEstimate
from imperium_desk.execution.tracker import Record
from imperium_desk.market.port import Quote
from imperium_desk.models.resolver import ModelSwitch
from imperium_desk.scenarios.library import DrillInfo
from imperium_desk.scenarios.live import DrillView


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of the ladder: its call and put quotes."""

    strike: float
    atm: bool
    call: Quote
    put: Quote


@dataclass(frozen=True, slots=True)
class LegPreview:
    """One strike of a multi-strike action, as the confirmation lists it."""

    contract: OptionContract
    request: ExecutionRequest
    estimate: PreTradeEstimate


@dataclass(frozen=True, slots=True)
class PositionView:
    """One open (or closed today) position as the Positions table shows it: net signed quantity in units, P&L in
    rupees at the feed's last price."""

    symbol: str
    underlying: str
    right: OptionRight
    quantity: int  # net, signed
    average_price: float
    ltp: float
    realised_pnl: float
    unrealised_pnl: float


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account as the broker reports it (capital and margin, rupees), with the day's P&L of the positions, and
    the day's P&L limits (`risk.daily_loss_limit`, `risk.profit_lock`; None: off) with the P&L they are measured on
    and the one that fired today (None: none has)."""

    capital: float
    margin_used: float
    margin_available: float
    realised_pnl: float
    unrealised_pnl: float
    daily_loss_limit: float | None = None
    profit_lock: float | None = None
    day_pnl: float = 0.0
    limit_fired: ExitReason | None = None


@dataclass(frozen=True, slots=True)
class ProtectionView:
    """One entry's protections as the Positions table shows them: the levels now (the trailing stop where it has
    moved to), what is protected, and how it stands (`status.unprotected`: shown in red)."""

    entry_parent_id: str
    symbol: str
    product: Product | None
    side: Side  # the entry's: BUY protects a long
    quantity: int  # units protected: what the entry filled, less what an exit closed
    entry_price: float  # the entry's average fill price (0.0 while PENDING)
    stop_loss: float | None
    target: float | None
    trailing_stop: float | None
    status: ProtectionStatus
    exit_parent_id: str | None
    reason: str  # why it stands so, for the trader ("stop 76.85 crossed at 76.80", "restore: no position")


@dataclass(frozen=True, slots=True)
class Submitted:
    """A parent the desk accepted: its id at once, its result when the task ends."""

    parent_id: str
    request: ExecutionRequest
    task: asyncio.Task[ParentResult]


# What the desk tells its listeners (the UI bridge turns each into a Qt signal).
@dataclass(frozen=True, slots=True)
class RecordEvent:
    """A telemetry record the desk just wrote (the blotter, charts and stats read them)."""

    record: Record


@dataclass(frozen=True, slots=True)
class TicksEvent:
    """Quotes that just ticked (the ladder and the tickets reprice from them)."""

    quotes: Sequence[Quote]


@dataclass(frozen=True, slots=True)
class ParentStarted:
    """A parent the desk accepted and started on the stack."""

    parent_id: str
    request: ExecutionRequest


@dataclass(frozen=True, slots=True)
class ParentFinished:
    """A parent ended: its result (status, fills, failure kind and reason)."""

    result: ParentResult


@dataclass(frozen=True, slots=True)
class PortfolioEvent:
    """Positions and the account, refreshed from the broker (every second and after fills)."""

    positions: list[PositionView]
    account: AccountView


@dataclass(frozen=True, slots=True)
class ProtectionsEvent:
    """Every protection the desk holds (all of them, newest entry last), sent whenever one changes."""

    protections: tuple[ProtectionView, ...]


@dataclass(frozen=True, slots=True)
class StateEvent:
    """The desk's state for the header and status bar: kill switch, work in flight, feed running, market time."""

    kill_switch: bool
    parents_in_flight: int
    children_in_flight: int
    feed_running: bool
    market_time: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class ModelsChanged:
    """Models switched (panel, REST, config reload or a scenario): the panel refreshes its table."""

    switches: list[ModelSwitch]


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A line for the trader (the status bar), e.g. a config reload's result."""

    text: str


@dataclass(frozen=True, slots=True)
class ModelRow:
    """The model an asset uses for one kind and lane, and the scope it was resolved from."""

    asset: str
    kind: str  # latency | slippage
    lane: str  # order | insert | report | cancel | market_data
    scope: str  # the key that matched: a trading symbol, an underlying or "global"
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DrillEvent:
    """A drill started, one of its events began or ended, or the drill ended (`phase`), and how it stands."""

    phase: str  # started | event_start | event_end | finished | stopped | failed
    view: DrillView


@dataclass(frozen=True, slots=True)
class DrillPreview:
    """A drill before it runs: what the scenario panel shows when one is picked."""

    info: DrillInfo
    timeline: list[dict[str, Any]]  # {at_s, event, type, target, duration_s, params}, in firing order
    orders: int  # parents the drill will place


class SessionState(StrEnum):
    """Where the broker login stands (live and paper-on-live-data modes)."""

    VALID = "valid"
    EXPIRING = "expiring"  # valid, but the access token dies soon (06:00 IST): the trader is told ahead of time
    EXPIRED = "expired"  # the broker refused the token: nothing is sent until the trader logs in again


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """The broker session changed: the window warns (EXPIRING) or opens the login dialog (EXPIRED)."""

    state: SessionState
    expires_at: float | None  # epoch seconds, when known
    message: str


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """The live quote feed's health changed (the status bar shows it): connected or reconnecting, and whether
    quotes are stale (no tick for `stale_after_s`)."""

    connected: bool
    stale: bool
    seconds_since_tick: float | None
    reconnects: int  # since the desk started


DeskEvent = (
    RecordEvent | TicksEvent | ParentStarted | ParentFinished | PortfolioEvent | StateEvent | ModelsChanged
    | MessageEvent | DrillEvent | SessionEvent | FeedEvent | ProtectionsEvent
)
DeskListener = Callable[[DeskEvent], None]



class DeskEmitter:
    """The desk's listeners, and the one way to tell them something. Called on the loop only; a listener must
    not raise (the window's bridge only re-emits)."""

    def __init__(self) -> None:
        self._listeners: list[DeskListener] = []

    def add_listener(self, listener: DeskListener) -> None:
        self._listeners.append(listener)

    def emit(self, event: DeskEvent) -> None:
        for listener in self._listeners:
            listener(event)
