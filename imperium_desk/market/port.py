"""The market-data port: what the broker, router, planner and cost model read.

Implementations: `market.simulator.MarketSimulator` (the simulated market), `market.delayed.DelayedMarketData` (the
same market seen through a feed delay) and the Kite adapter's live quotes. The contract is on `MarketData`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol, overload

from imperium_desk.domain.instruments import OptionContract


@dataclass(slots=True)
class Quote:
    """One contract's book at one moment: touch, last trade and depth. Depth levels are best first: (price,
    quantity in units); a side may have fewer levels than configured (cheap options show fewer bids), or none.

    A snapshot: every tick brings a new `Quote` object and a delivered one is never changed afterwards, so it may
    be kept (and identity tells two ticks apart). Treat it as read-only: it is shared by every reader. (The simulated
    market's quotes work out their depth levels when first read, from data that never changes: the same levels
    whenever they are read.)
    """

    symbol: str
    bid: float
    ask: float
    ltp: float
    bids: list[tuple[float, int]]
    asks: list[tuple[float, int]]
    volume: int  # cumulative traded quantity (units) of this contract since the session started
    oi: int
    timestamp: float  # epoch seconds on the clock
    # Cumulative traded value (price x units) since the session started: interval VWAP = d(turnover)/d(volume).
    # A live feed derives it from the day's average price x volume.
    turnover: float = 0.0

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def spread(self) -> float:
        return self.ask - self.bid


# TickBatch is a Sequence by registration, not inheritance: isinstance() against an ABC costs a Python-level call,
# and consumers test every batch of every tick.
if TYPE_CHECKING:
    _SequenceOfQuotes = Sequence[Quote]
else:
    _SequenceOfQuotes = object


class TickBatch(_SequenceOfQuotes):
    """The quotes one tick brought for one source (the simulator's underlying), each built when first read.

    A `Sequence[Quote]` like a list: reading position i twice gives the same `Quote` object, and once built a quote is
    never changed (the `Quote` contract). `symbols`, `position` and `get` answer without building the other quotes, so
    a consumer that needs a few symbols of a large batch (the paper exchange's resting orders) pays for those only.
    The batch covers positions [lo, hi) of the source's append-only `symbols` list, `index` mapping a symbol to its
    place there (`lo` and `hi` are read-only). Subclasses implement `_build`. Loop thread only, like every market
    object.
    """

    __slots__ = ("_index", "_quotes", "_symbols", "hi", "lo", "timestamp")

    def __init__(self, symbols: list[str], index: Mapping[str, int], lo: int, hi: int, timestamp: float) -> None:
        self._symbols = symbols
        self._index = index
        self._quotes: list[Quote | None] | None = None
        self.lo = lo
        self.hi = hi
        self.timestamp = timestamp  # the quotes' timestamp (epoch seconds on the clock)

    def __len__(self) -> int:
        return self.hi - self.lo

    @overload
    def __getitem__(self, key: int) -> Quote: ...

    @overload
    def __getitem__(self, key: slice) -> list[Quote]: ...

    def __getitem__(self, key: int | slice) -> Quote | list[Quote]:
        quotes = self._quotes
        if quotes is None:
            quotes = self._quotes = [None] * (self.hi - self.lo)
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(quotes)))]
        quote = quotes[key]  # out of range, or not an integer: the list's IndexError or TypeError
        if quote is None:
            quote = quotes[key] = self._build(key % len(quotes))
        return quote

    def __iter__(self) -> Iterator[Quote]:
        for i in range(self.hi - self.lo):
            yield self[i]

    @property
    def symbols(self) -> list[str]:
        """The batch's symbols in order, without building any quote."""
        return self._symbols[self.lo : self.hi]

    def position(self, symbol: str) -> int | None:
        """Where `symbol` is in this batch, or None if it is not in it."""
        j = self._index.get(symbol)
        if j is None or not self.lo <= j < self.hi:
            return None
        return j - self.lo

    def get(self, symbol: str) -> Quote | None:
        """The quote of `symbol` in this batch (built if need be), or None if it is not in it."""
        i = self.position(symbol)
        return None if i is None else self[i]

    def __contains__(self, value: object) -> bool:
        return any(quote is value or quote == value for quote in self)

    def __reversed__(self) -> Iterator[Quote]:
        for i in range(self.hi - self.lo - 1, -1, -1):
            yield self[i]

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        for i in range(*slice(start, stop).indices(self.hi - self.lo)):
            quote = self[i]
            if quote is value or quote == value:
                return i
        raise ValueError(f"{value!r} is not in the tick batch")

    def count(self, value: object) -> int:
        return sum(1 for quote in self if quote is value or quote == value)

    def _build(self, i: int) -> Quote:
        raise NotImplementedError


Sequence.register(TickBatch)


TickListener = Callable[[Sequence[Quote]], None]


class MarketData(Protocol):
    """Quotes of the subscribed contracts, and what the cost and latency models read about each underlying.

    Threading: every method is called on the engine's event loop thread, and listeners are called on it; no
    method blocks (a live feed keeps the latest quotes in memory and reads its socket elsewhere).

    Subscription: a contract is quoted from its first `subscribe` until the session ends (there is no
    unsubscribe); subscribing again changes nothing. Only subscribed contracts tick.
    """

    def subscribe(self, contract: OptionContract) -> Quote:
        """Start quoting a contract (idempotent); returns its current quote (a live feed may return a quote
        without depth until its first tick arrives)."""
        ...

    def quote(self, symbol: str) -> Quote:
        """The latest quote of a subscribed contract (the one the last tick delivered); KeyError if it is not
        subscribed."""
        ...

    def spot(self, underlying: str) -> float:
        """The underlying's index level now."""
        ...

    def daily_price_vol(self, symbol: str) -> float:
        """One-day standard deviation of the option's price, in price units (for the impact model)."""
        ...

    def expected_daily_volume(self, symbol: str) -> float:
        """Expected traded quantity (units) per session for the contract (the V of square-root impact)."""
        ...

    def regime(self, underlying: str) -> tuple[float, float]:
        """(volatility, message rate) of the underlying's market relative to its configured baseline (1.0 =
        normal): what `scale_with` conditioning of the latency and slippage models reads."""
        ...

    def add_listener(self, listener: TickListener) -> None:
        """Call `listener` on every tick from now on, on the loop thread, with the new quotes of the contracts
        that ticked (each at most once per call, never empty). By the time it is called `quote()` answers the new
        quotes (except a late delayed quote that a newer one has overtaken). Listeners are called in the order
        they were added. A listener must not block and must not raise.

        The sequence may be a `TickBatch` (the simulated market's are), whose quotes are built when read: a listener
        that needs only some symbols should look them up (`TickBatch.get`) rather than iterate the whole batch."""
        ...


class MarketFeed(MarketData, Protocol):
    """A whole market the desk shows and trades against: the simulated market, or a broker's live feed.

    Beyond `MarketData`: the underlyings it quotes, the ladder's chain around ATM (its contracts subscribed: they are
    what is on screen), and a start and stop. Same threading as `MarketData`.
    """

    @property
    def underlyings(self) -> list[str]:
        """The underlyings this market quotes."""
        ...

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        ...

    def chain(self, underlying: str, expiry: date, strikes_each_side: int | None = None) -> list[OptionContract]:
        """CE and PE contracts around the ATM strike at the current spot, lowest strike first, CE before PE, each
        subscribed."""
        ...

    def start(self) -> None:
        """Start ticking (the simulated market) or connect (a live feed); twice is harmless."""
        ...

    def stop(self) -> None:
        """Stop ticking; quotes already delivered stay answerable."""
        ...
