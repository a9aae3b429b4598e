"""The market-data port: what the broker, router, planner and cost model read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from imperium_desk.domain.instruments import OptionContract


@dataclass(slots=True)
class Quote:
    """A top-of-book snapshot with depth. Depth levels are best first: (price, quantity in units)."""

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


TickListener = Callable[[Sequence[Quote]], None]


class MarketData(Protocol):
    def subscribe(self, contract: OptionContract) -> Quote:
        """Start quoting a contract (idempotent); returns its current quote."""
        ...

    def quote(self, symbol: str) -> Quote:
        """The latest quote of a subscribed contract; KeyError if it is not subscribed."""
        ...

    def spot(self, underlying: str) -> float: ...

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
        """Called on every tick with the quotes that changed."""
        ...
