"""SmartOrderRouter: take, join or keep, by urgency, side and spread width."""

from __future__ import annotations

import pytest

from imperium_desk.domain.enums import OrderType, Route, Side, Urgency
from imperium_desk.execution.config import RouterConfig
from imperium_desk.execution.router import RouteDecision, SmartOrderRouter
from imperium_desk.market.port import Quote

TICK = 0.05
BUY, SELL = Side.BUY, Side.SELL


def quote(bid: float, spread_ticks: int = 1) -> Quote:
    ask = round(bid + spread_ticks * TICK, 2)
    return Quote(
        symbol="NIFTY26D0126000CE",
        bid=bid,
        ask=ask,
        ltp=bid,
        bids=[(bid, 650)],
        asks=[(ask, 650)],
        volume=0,
        oi=0,
        timestamp=0.0,
    )


def route(
    side: Side,
    q: Quote,
    urgency: Urgency = Urgency.NORMAL,
    order_type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
    **config: float | int | None,
) -> RouteDecision:
    router = SmartOrderRouter(RouterConfig.model_validate(config))
    return router.route(
        side=side, quote=q, urgency=urgency, order_type=order_type, limit_price=limit_price, tick=TICK
    )


def on_grid(price: float) -> bool:
    return abs(price / TICK - round(price / TICK)) < 1e-9


# --- take --------------------------------------------------------------------------------------------


def test_high_urgency_buy_takes_at_the_ask() -> None:
    d = route(BUY, quote(100.0, spread_ticks=8), Urgency.HIGH)
    assert d == RouteDecision(Route.TAKE, OrderType.MARKET, None, 100.40)


def test_high_urgency_sell_takes_at_the_bid() -> None:
    d = route(SELL, quote(100.0, spread_ticks=8), Urgency.HIGH)
    assert d == RouteDecision(Route.TAKE, OrderType.MARKET, None, 100.0)


# --- join --------------------------------------------------------------------------------------------


def test_low_urgency_buy_joins_at_the_bid() -> None:
    d = route(BUY, quote(100.0, spread_ticks=1), Urgency.LOW)
    assert d == RouteDecision(Route.JOIN, OrderType.LIMIT, 100.0, 100.0)


def test_low_urgency_sell_joins_at_the_ask() -> None:
    d = route(SELL, quote(100.0, spread_ticks=1), Urgency.LOW)
    assert d == RouteDecision(Route.JOIN, OrderType.LIMIT, 100.05, 100.05)


@pytest.mark.parametrize("urgency", list(Urgency))
@pytest.mark.parametrize("spread_ticks", range(1, 11))
def test_a_sell_is_never_joined_at_the_bid(urgency: Urgency, spread_ticks: int) -> None:
    q = quote(100.0, spread_ticks)
    d = route(SELL, q, urgency)
    if d.route is Route.JOIN:
        assert (d.price, d.intended_price) == (q.ask, q.ask)
    else:
        assert d.route is Route.TAKE


def test_every_join_sell_seen_over_urgencies_and_spreads_rests_at_the_ask() -> None:
    # The parametrised check above must actually meet JOIN sells, or it proves nothing.
    joins = [
        route(SELL, quote(100.0, n), u)
        for u in Urgency
        for n in range(1, 11)
        if route(SELL, quote(100.0, n), u).route is Route.JOIN
    ]
    assert len(joins) == 10 + 7  # every LOW spread, and NORMAL spreads 4..10 with the default 3-tick limit
    assert all(d.price == d.intended_price and d.price is not None and d.price > 100.0 for d in joins)


# --- normal urgency: take narrow, join wide -----------------------------------------------------------


@pytest.mark.parametrize("spread_ticks", [1, 2, 3])
def test_normal_urgency_takes_up_to_take_max_spread_ticks(spread_ticks: int) -> None:
    q = quote(100.0, spread_ticks)
    d = route(BUY, q, Urgency.NORMAL, take_max_spread_ticks=3)
    assert (d.route, d.intended_price) == (Route.TAKE, q.ask)


@pytest.mark.parametrize("spread_ticks", [4, 5, 10])
def test_normal_urgency_joins_beyond_take_max_spread_ticks(spread_ticks: int) -> None:
    d = route(BUY, quote(100.0, spread_ticks), Urgency.NORMAL, take_max_spread_ticks=3)
    assert (d.route, d.price) == (Route.JOIN, 100.0)


def test_take_max_spread_ticks_is_configurable() -> None:
    q = quote(100.0, spread_ticks=5)
    assert route(BUY, q, Urgency.NORMAL, take_max_spread_ticks=4).route is Route.JOIN
    assert route(BUY, q, Urgency.NORMAL, take_max_spread_ticks=5).route is Route.TAKE


def test_spread_in_ticks_is_robust_to_float_noise() -> None:
    # 100.15 - 100.0 is 0.15000000000000568 in floating point: still 3 ticks, still a take.
    q = quote(100.0, spread_ticks=3)
    assert route(BUY, q, Urgency.NORMAL, take_max_spread_ticks=3).route is Route.TAKE


# --- market protection -------------------------------------------------------------------------------


def test_protected_buy_is_a_limit_above_the_ask_on_the_grid() -> None:
    q = quote(200.0, spread_ticks=2)  # ask 200.10
    d = route(BUY, q, Urgency.HIGH, market_protection_pct=0.02)
    assert (d.route, d.order_type, d.intended_price) == (Route.TAKE, OrderType.LIMIT, q.ask)
    assert d.price == 204.15  # 200.10 * 1.02 = 204.102, rounded up (away from the touch)
    assert on_grid(d.price)


def test_protected_sell_is_a_limit_below_the_bid_on_the_grid() -> None:
    q = quote(200.0, spread_ticks=2)
    d = route(SELL, q, Urgency.HIGH, market_protection_pct=0.02)
    assert (d.route, d.order_type, d.intended_price) == (Route.TAKE, OrderType.LIMIT, q.bid)
    assert d.price == 196.0
    assert on_grid(d.price)


@pytest.mark.parametrize("bid", [0.35, 3.15, 47.85, 123.45, 999.95])
@pytest.mark.parametrize("pct", [0.01, 0.05, 0.2])
def test_protected_limits_are_on_the_grid_and_through_the_touch(bid: float, pct: float) -> None:
    q = quote(bid, spread_ticks=1)
    buy = route(BUY, q, Urgency.HIGH, market_protection_pct=pct)
    sell = route(SELL, q, Urgency.HIGH, market_protection_pct=pct)
    assert buy.price is not None and sell.price is not None
    assert on_grid(buy.price) and on_grid(sell.price)
    assert buy.price >= q.ask
    assert TICK <= sell.price <= q.bid


@pytest.mark.parametrize("side", [BUY, SELL])
def test_protected_limit_is_strictly_through_the_touch_for_a_cheap_option(side: Side) -> None:
    q = quote(0.95, spread_ticks=1)  # bid 0.95, ask 1.00
    d = route(side, q, Urgency.HIGH, market_protection_pct=0.02)
    assert d.price is not None
    if side is BUY:
        assert d.price > q.ask
    else:
        assert d.price < q.bid


def test_protected_sell_never_goes_below_one_tick() -> None:
    d = route(SELL, quote(0.05, spread_ticks=1), Urgency.HIGH, market_protection_pct=0.5)
    assert d.price == TICK


def test_protection_does_not_touch_a_join() -> None:
    d = route(BUY, quote(100.0, spread_ticks=1), Urgency.LOW, market_protection_pct=0.02)
    assert d == RouteDecision(Route.JOIN, OrderType.LIMIT, 100.0, 100.0)


# --- explicit LIMIT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("urgency", list(Urgency))
def test_marketable_limit_buy_is_kept_and_expected_at_the_ask(urgency: Urgency) -> None:
    d = route(BUY, quote(100.0, 2), urgency, OrderType.LIMIT, limit_price=101.0)
    assert d == RouteDecision(Route.NEUTRAL, OrderType.LIMIT, 101.0, 100.10)


def test_marketable_limit_sell_is_kept_and_expected_at_the_bid() -> None:
    d = route(SELL, quote(100.0, 2), Urgency.NORMAL, OrderType.LIMIT, limit_price=99.0)
    assert d == RouteDecision(Route.NEUTRAL, OrderType.LIMIT, 99.0, 100.0)


def test_limit_buy_exactly_at_the_ask_is_marketable() -> None:
    d = route(BUY, quote(100.0, 2), Urgency.NORMAL, OrderType.LIMIT, limit_price=100.10)
    assert d.intended_price == 100.10


def test_resting_limit_buy_is_kept_and_expected_at_its_limit() -> None:
    d = route(BUY, quote(100.0, 2), Urgency.HIGH, OrderType.LIMIT, limit_price=99.5)
    assert d == RouteDecision(Route.NEUTRAL, OrderType.LIMIT, 99.5, 99.5)


def test_resting_limit_sell_is_kept_and_expected_at_its_limit() -> None:
    d = route(SELL, quote(100.0, 2), Urgency.HIGH, OrderType.LIMIT, limit_price=100.5)
    assert d == RouteDecision(Route.NEUTRAL, OrderType.LIMIT, 100.5, 100.5)


def test_explicit_limit_ignores_market_protection() -> None:
    q = quote(100.0, 2)
    d = route(BUY, q, Urgency.HIGH, OrderType.LIMIT, limit_price=99.5, market_protection_pct=0.1)
    assert (d.route, d.price) == (Route.NEUTRAL, 99.5)
