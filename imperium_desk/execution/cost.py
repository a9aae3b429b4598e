"""Pre-trade cost estimate: half the spread plus square-root market impact.

    impact = Y * sigma_daily * sqrt(Q / V)

with sigma_daily the option's one-day price volatility and V its expected session volume (both from the
market port). The estimate is an adverse offset from the arrival mid, in price units and in bps of it; a
passive (`join`) child pays no half spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imperium_desk.domain.enums import Route
from imperium_desk.market.port import MarketData, Quote


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Expected adverse cost per unit of one child, in price: half the spread (none when joining) plus impact."""

    half_spread: float
    impact: float

    @property
    def total(self) -> float:
        return self.half_spread + self.impact

    def bps(self, reference: float) -> float:
        return self.total / reference * 10_000.0 if reference > 0 else 0.0


class SlippageModel:
    """Pre-trade cost: half spread + square-root impact Y x sigma x sqrt(Q / V), from the market's daily price
    volatility and expected daily volume. Loop thread only; it caches those inputs per quote object."""

    def __init__(self, market: MarketData, impact_coefficient: float) -> None:
        self._market = market
        self._y = impact_coefficient
        # sigma and V change only when the contract is requoted: keep them per quote object.
        self._inputs: dict[str, tuple[Quote, float, float]] = {}

    def estimate(self, symbol: str, quote: Quote, quantity: int, route: Route = Route.TAKE) -> CostEstimate:
        cached = self._inputs.get(symbol)
        if cached is None or cached[0] is not quote:
            cached = (quote, self._market.daily_price_vol(symbol), self._market.expected_daily_volume(symbol))
            self._inputs[symbol] = cached
        _, sigma, volume = cached
        impact = self._y * sigma * math.sqrt(quantity / volume) if volume > 0 else 0.0
        half = 0.0 if route is Route.JOIN else 0.5 * quote.spread
        return CostEstimate(half_spread=half, impact=impact)
