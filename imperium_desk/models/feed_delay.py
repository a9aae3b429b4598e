"""Draws of the `market_data` latency lane: how long each tick's quotes take to reach the client.

One draw per distinct model per tick batch: quotes published together travel together, so an underlying's
chain arrives as one consistent (if stale) snapshot rather than with strikes out of step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from imperium_desk.models.resolver import ActiveModel, ModelResolver
from imperium_desk.rng import BufferedDraws


class _HasSymbol(Protocol):
    @property
    def symbol(self) -> str: ...


class FeedDelays:
    """The `DelayPlan` of `DelayedMarketData`: the seconds each quote of a tick batch takes to reach the client,
    from the `market_data` lane its symbol resolves to (0 for a symbol with no lane model), scaled by the
    underlying's regime where the model has `scale_with`. `draws` is a stream of its own, so feed delays never shift
    the draws of orders."""

    def __init__(
        self,
        resolver: ModelResolver,
        underlying_of: Callable[[str], str],
        regime: Callable[[str], tuple[float, float]],
        draws: BufferedDraws,
    ) -> None:
        self._resolver = resolver
        self._underlying_of = underlying_of
        self._regime = regime
        self._draws = draws

    def __call__(self, quotes: Sequence[_HasSymbol]) -> list[float] | None:
        """Seconds per quote of a tick batch, or None when no `market_data` lane is configured. A batch with a
        `symbols` list (`market.port.TickBatch`) is read through it, so its quotes need not be built."""
        if self._resolver.latency_models.lanes.market_data is None:
            return None
        symbols: Sequence[str] | None = getattr(quotes, "symbols", None)
        if symbols is None:
            symbols = [quote.symbol for quote in quotes]
        drawn: dict[int, float] = {}
        out: list[float] = []
        for symbol in symbols:
            underlying = self._underlying_of(symbol)
            model = self._resolver.resolve(symbol, underlying).market_data
            if model is None:
                out.append(0.0)
                continue
            delay = drawn.get(id(model))
            if delay is None:
                delay = drawn[id(model)] = self._draw(model, underlying)
            out.append(delay)
        return out

    def _draw(self, model: ActiveModel, underlying: str) -> float:
        ms = model.sampler.draw(self._draws)
        if model.scale is not None:
            ms *= model.factor(*self._regime(underlying))
        return ms / 1000.0
