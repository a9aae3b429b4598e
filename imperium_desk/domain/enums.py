"""Enumerations shared by every layer. String values are the wire/telemetry spellings."""

from enum import StrEnum


class Side(StrEnum):
    """Which way an order trades; `sign` puts buys and sells on one scale, so slippage is positive when adverse for
    either."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: adverse price moves are `sign * (executed - intended)`."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OptionRight(StrEnum):
    """Call (CE) or put (PE), as NSE and BSE trading symbols spell them."""

    CE = "CE"
    PE = "PE"


class OrderType(StrEnum):
    """The order types the desk sends, as Kite Connect spells them. A take with market protection goes out as a LIMIT
    through the touch; the stop-loss types are not used."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class Product(StrEnum):
    """The Kite product of an order: NRML carries the position overnight, MIS is intraday and the broker squares it off
    before the close."""

    NRML = "NRML"
    MIS = "MIS"


class OrderStatus(StrEnum):
    """Broker order statuses, spelled as Kite Connect spells them."""

    OPEN = "OPEN"
    COMPLETE = "COMPLETE"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self is not OrderStatus.OPEN


class Algo(StrEnum):
    """How a parent is cut into child orders (execution/planner.py): IMMEDIATE now, split only by the freeze quantity;
    IS front-loaded by urgency (Almgren-Chriss); TWAP evenly over the horizon; VWAP along the intraday volume profile;
    POV a share of the volume the market actually trades."""

    IMMEDIATE = "IMMEDIATE"
    IS = "IS"
    TWAP = "TWAP"
    VWAP = "VWAP"
    POV = "POV"


class Urgency(StrEnum):
    """How hard a parent pushes: the router crosses the spread always at HIGH, at NORMAL only while the spread is narrow
    (`take_max_spread_ticks`), never at LOW; IS front-loads more the higher it is; the order rate limiter serves higher
    urgency first."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def queue_priority(self) -> int:
        """Lower is served first by the order rate limiter."""
        return _QUEUE_PRIORITY[self.value]


_QUEUE_PRIORITY = {"high": 0, "normal": 1, "low": 2}


class Route(StrEnum):
    """Where the router places one child against the book (execution/router.py); the cost model charges half the spread
    for every route but JOIN."""

    TAKE = "take"  # cross the spread: buy at the ask, sell at the bid
    JOIN = "join"  # rest at the near touch: buy at the bid, sell at the ask
    NEUTRAL = "neutral"  # keep the request's own order type and price


class ErrorBucket(StrEnum):
    """What a failed broker call means for the stack (`RetryPolicy.classify`): TRANSIENT and THROTTLE are retried, each
    with its own attempt limit and backoff; RISK (margin, limits) and FATAL (a malformed order, an expired session) are
    not."""

    TRANSIENT = "transient"
    THROTTLE = "throttle"
    RISK = "risk"
    FATAL = "fatal"


class ParentStatus(StrEnum):
    """How a parent order ended (`ParentResult.status`; `FailureKind` says why): COMPLETE, its whole quantity filled;
    PARTIALLY_FILLED, some of it; CANCELLED, none, because the horizon ran out or the desk stopped; REJECTED, refused
    before any child was planned; FAILED, none, because an error ended it."""

    COMPLETE = "complete"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REJECTED = "rejected"


class Mode(StrEnum):
    """What the desk trades against: PAPER, the simulated exchange on the wall clock; LIVE, the real broker; REPLAY, a
    scenario on the virtual clock. Every telemetry record carries it."""

    PAPER = "paper"
    PAPER_LIVE_DATA = "paper-live-data"  # the paper exchange filling against the broker's real quotes: no money at risk
    LIVE = "live"
    REPLAY = "replay"
