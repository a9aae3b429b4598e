"""Enumerations shared by every layer. String values are the wire/telemetry spellings."""

from enum import StrEnum


class Side(StrEnum):
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
    CE = "CE"
    PE = "PE"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class Product(StrEnum):
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
    IMMEDIATE = "IMMEDIATE"
    IS = "IS"
    TWAP = "TWAP"
    VWAP = "VWAP"
    POV = "POV"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def queue_priority(self) -> int:
        """Lower is served first by the order rate limiter."""
        return _QUEUE_PRIORITY[self.value]


_QUEUE_PRIORITY = {"high": 0, "normal": 1, "low": 2}


class Route(StrEnum):
    TAKE = "take"  # cross the spread: buy at the ask, sell at the bid
    JOIN = "join"  # rest at the near touch: buy at the bid, sell at the ask
    NEUTRAL = "neutral"  # keep the request's own order type and price


class ErrorBucket(StrEnum):
    TRANSIENT = "transient"
    THROTTLE = "throttle"
    RISK = "risk"
    FATAL = "fatal"


class ParentStatus(StrEnum):
    COMPLETE = "complete"
    PARTIALLY_FILLED = "partially_filled"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REJECTED = "rejected"


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"
    REPLAY = "replay"
