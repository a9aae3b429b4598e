"""Smart order router: decides, per child, whether to cross the spread, join the near touch, or keep the
request as it is, from the urgency and the spread in ticks.

Side matters: `take` buys at the ask and sells at the bid; `join` rests a buy at the bid and a sell at the
ask. A sell is never joined at the bid (that would cross the spread while calling it passive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imperium_desk.domain.enums import OrderType, Route, Side, Urgency
from imperium_desk.execution.config import RouterConfig
from imperium_desk.market.port import Quote


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """How to send one child: the route, the order type and limit price, and the price it should trade at."""

    route: Route
    order_type: OrderType
    price: float | None  # limit price, None for MARKET
    intended_price: float  # the price the router expects to trade at (slippage is measured from it)


def _through(price: float, tick: float, buy: bool) -> float:
    """The protection bound on the tick grid, rounded away from the touch (up for a buy, down for a sell)."""
    ticks = price / tick
    snapped = math.ceil(ticks - 1e-9) if buy else math.floor(ticks + 1e-9)
    return round(max(snapped, 1) * tick, 2)


class SmartOrderRouter:
    """Per child: keep a trader's limit, join the near touch (low urgency, or a wide spread at normal urgency),
    or take the far touch (MARKET, or a protected LIMIT when `market_protection_pct` is set). Stateless."""

    def __init__(self, config: RouterConfig) -> None:
        self._config = config

    def route(
        self,
        *,
        side: Side,
        quote: Quote,
        urgency: Urgency,
        order_type: OrderType,
        limit_price: float | None,
        tick: float,
    ) -> RouteDecision:
        buy = side is Side.BUY
        if order_type is OrderType.LIMIT and limit_price is not None:
            # The trader named a price: keep it. It trades at the touch if marketable, else at the limit.
            marketable = limit_price >= quote.ask if buy else limit_price <= quote.bid
            touch = quote.ask if buy else quote.bid
            return RouteDecision(Route.NEUTRAL, OrderType.LIMIT, limit_price, touch if marketable else limit_price)
        spread_ticks = round(quote.spread / tick)
        take = urgency is Urgency.HIGH or (
            urgency is Urgency.NORMAL and spread_ticks <= self._config.take_max_spread_ticks
        )
        if not take:
            near = quote.bid if buy else quote.ask
            return RouteDecision(Route.JOIN, OrderType.LIMIT, near, near)
        far = quote.ask if buy else quote.bid
        protection = self._config.market_protection_pct
        if protection is None:
            return RouteDecision(Route.TAKE, OrderType.MARKET, None, far)
        bound = far * (1 + protection) if buy else far * (1 - protection)
        limit = _through(bound, tick, buy)
        # However cheap the option, protection is at least one tick through the touch.
        limit = max(limit, round(far + tick, 2)) if buy else min(limit, max(tick, round(far - tick, 2)))
        return RouteDecision(Route.TAKE, OrderType.LIMIT, limit, far)
