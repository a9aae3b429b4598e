"""The market as the client sees it: quotes arrive after a feed delay (the `market_data` latency lane).

The paper exchange matches against the true market; the execution stack and the window read this view, so a
delayed feed shows up where it does in practice: as stale arrival prices and slippage against them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imperium_desk.clock import Clock
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.market.port import MarketData, Quote, TickListener

# Per quote of a tick batch, the seconds it takes to reach the client (0: at once). None: no delay configured. A plan
# should read a `TickBatch` through its `symbols` (building its quotes is what the batch saves).
DelayPlan = Callable[[Sequence[Quote]], list[float] | None]


class DelayedMarketData:
    """The `MarketData` the client side reads: the true market (`inner`) with each tick batch held back by the
    delays `plan` draws, so the execution stack prices against stale quotes the way a real feed makes it.

    `quote` and `subscribe` answer the latest quote delivered (the true one until a delayed one arrives); spot,
    price vol, expected volume and regime are the true market's, undelayed. Listeners are called on the clock's
    loop, from a timer when the quotes were delayed, with the quotes that share one delay; a quote delivered after a
    newer one (a shorter later delay) is passed to listeners but never replaces the newer one in `quote`.

    With no delay configured (`plan` answers None) a batch goes straight to the listeners as it came, and `quote`
    answers the inner market's quote: nothing is read from the batch, so the simulator's lazy batches stay unbuilt."""

    def __init__(self, inner: MarketData, clock: Clock, plan: DelayPlan) -> None:
        self._inner = inner
        self._clock = clock
        self._plan = plan
        self._seen: dict[str, Quote] = {}  # the latest quote delivered to the client, where it differs from inner's
        self._in_flight = 0  # delayed deliveries not yet made
        self._listeners: list[TickListener] = []
        inner.add_listener(self._on_ticks)

    def subscribe(self, contract: OptionContract) -> Quote:
        return self._seen.setdefault(contract.symbol, self._inner.subscribe(contract))

    def quote(self, symbol: str) -> Quote:
        seen = self._seen.get(symbol)
        return seen if seen is not None else self._inner.quote(symbol)

    def spot(self, underlying: str) -> float:
        return self._inner.spot(underlying)

    def daily_price_vol(self, symbol: str) -> float:
        return self._inner.daily_price_vol(symbol)

    def expected_daily_volume(self, symbol: str) -> float:
        return self._inner.expected_daily_volume(symbol)

    def regime(self, underlying: str) -> tuple[float, float]:
        return self._inner.regime(underlying)

    def add_listener(self, listener: TickListener) -> None:
        self._listeners.append(listener)

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        delays = self._plan(quotes)
        if delays is None:
            if self._in_flight:
                self._deliver(quotes)  # recorded, so a delayed batch landing later cannot step back over it
                return
            # Nothing on its way: the client sees the inner market itself.
            if self._seen:
                self._seen.clear()
            for listener in self._listeners:
                listener(quotes)
            return
        first = delays[0] if delays else 0.0
        groups: dict[float, Sequence[Quote]]
        if all(delay == first for delay in delays):
            groups = {first: quotes}  # the usual case (one model per underlying): the batch travels whole
        else:
            lists: dict[float, list[Quote]] = {}
            for quote, delay in zip(quotes, delays, strict=True):
                lists.setdefault(delay, []).append(quote)
            groups = dict(lists)
        for delay, group in groups.items():
            if delay <= 0.0:
                self._deliver(group)
            else:
                self._in_flight += 1
                self._clock.call_later(delay, self._deliver_late, group)

    def _deliver_late(self, quotes: Sequence[Quote]) -> None:
        self._in_flight -= 1
        self._deliver(quotes)

    def _deliver(self, quotes: Sequence[Quote]) -> None:
        seen = self._seen
        for quote in quotes:
            last = seen.get(quote.symbol)
            if last is None or last.timestamp <= quote.timestamp:  # a shorter later delay must not step back
                seen[quote.symbol] = quote
        for listener in self._listeners:
            listener(quotes)
