"""How long the paper exchange's messages travel: an order's legs, a cancel's or modify's trip, a fill report.

Every time here is a draw of one latency model, scaled by its regime factor when the model is conditioned
(`scale_with`). An order's legs use the factors recorded when it was placed (rounded as its fills record them);
later trips read the regime of the moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from imperium_desk.broker.paper.params import ModelParams, factor_or_one
from imperium_desk.models.resolver import ActiveModel, ResolvedModels
from imperium_desk.rng import BufferedDraws, RandomStreams

Regime = Callable[[str], tuple[float, float]]  # underlying -> (volatility, message rate) ratios: `MarketData.regime`


class LegTimes(NamedTuple):
    """An order's trip: it meets the book `arrive_s` after it is sent; the answer returns `latency_ms` after.
    (A named tuple: one is made per order, and a tuple is the cheapest immutable record to build.)"""

    arrive_s: float
    latency_ms: float


def leg_times(models: ResolvedModels, draws: BufferedDraws, params: ModelParams, fill_point: float) -> LegTimes:
    """Draw an order's legs. Without `insert`/`report` lanes the round trip is one `latency` draw, met at
    `fill_point` of the way; a configured lane replaces its leg, and a missing one is its share of a round-trip
    draw (drawn first, so the stream's order is: round trip, insert, report)."""
    insert, report = models.insert, models.report
    if insert is None and report is None:
        latency_ms = round(models.latency.sampler.draw(draws) * factor_or_one(params.latency), 3)
        return LegTimes(latency_ms / 1000.0 * fill_point, latency_ms)
    trip = 0.0
    if insert is None or report is None:
        trip = models.latency.sampler.draw(draws) * factor_or_one(params.latency)
    insert_ms = _leg_ms(insert, draws, params.insert, trip * fill_point)
    report_ms = _leg_ms(report, draws, params.report, trip * (1 - fill_point))
    return LegTimes(insert_ms / 1000.0, round(insert_ms + report_ms, 3))


def _leg_ms(lane: ActiveModel | None, draws: BufferedDraws, factor: float | None, share_of_trip: float) -> float:
    """A configured lane's draw, scaled by its recorded factor; without the lane, its share of the round trip."""
    if lane is None:
        return share_of_trip
    return lane.sampler.draw(draws) * factor_or_one(factor)


def trip_ms(model: ActiveModel, draws: BufferedDraws, regime: Regime, underlying: str, share: float = 1.0) -> float:
    """`share` of one draw of `model`, scaled by the underlying's regime now if the model is conditioned."""
    ms = model.sampler.draw(draws) * share
    if model.scale is not None:
        ms *= model.factor(*regime(underlying))
    return ms


def conditioned_params(models: ResolvedModels, regime: Regime, underlying: str) -> ModelParams:
    """An order's `ModelParams`, with the regime factor of each conditioned order-latency model (read once, at
    placement)."""
    params = ModelParams(models.model_params)
    if not models.conditioned:
        return params
    vol, rate = regime(underlying)
    if models.latency.scale is not None:
        params.latency = round(models.latency.factor(vol, rate), 6)
    if models.insert is not None and models.insert.scale is not None:
        params.insert = round(models.insert.factor(vol, rate), 6)
    if models.report is not None and models.report.scale is not None:
        params.report = round(models.report.factor(vol, rate), 6)
    return params


class SymbolStreams:
    """One seeded stream of draws per (kind, symbol), made on first use: latency and slippage draws of one
    contract never shift another's."""

    __slots__ = ("_draws", "_kind", "_streams")

    def __init__(self, streams: RandomStreams, kind: str) -> None:
        self._streams = streams
        self._kind = kind
        self._draws: dict[str, BufferedDraws] = {}

    def __call__(self, symbol: str) -> BufferedDraws:
        draws = self._draws.get(symbol)
        if draws is None:
            draws = self._draws[symbol] = self._streams.buffered(self._kind, symbol)
        return draws
