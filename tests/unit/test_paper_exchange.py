"""The paper exchange without the network (what a fake broker server drives), its leg times and its model record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imperium_desk.broker.paper import ModelParams, PaperExchange, WorkingOrder
from imperium_desk.broker.paper.latency import LegTimes, leg_times
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.rng import RandomStreams
from tests.support import Harness, harness


def _exchange(h: Harness) -> PaperExchange:
    assert h.engine.paper is not None  # the harness runs the paper venue
    return h.engine.paper.exchange


def _new(h: Harness, symbol: str, side: Side, qty: int, **kw: Any) -> WorkingOrder:
    return _exchange(h).new_order(
        symbol=symbol, side=side, quantity=qty, order_type=kw.pop("order_type", OrderType.MARKET),
        product=Product.NRML, tag=kw.pop("tag", "x1"), price=kw.pop("price", None),
    )


def test_a_marketable_order_fills_the_moment_it_arrives() -> None:
    h = harness()
    c = h.atm()
    ask = h.engine.market.quote(c.symbol).ask
    order = _new(h, c.symbol, Side.BUY, c.lot_size)
    _exchange(h).arrive(order)
    (found,) = _exchange(h).orders_by_tag("x1")
    assert found.status is OrderStatus.COMPLETE
    assert [f.price for f in found.fills] == [ask]


def test_an_order_is_not_found_before_it_arrives() -> None:
    h = harness()
    c = h.atm()
    _new(h, c.symbol, Side.BUY, c.lot_size)
    assert _exchange(h).orders_by_tag("x1") == []
    assert _exchange(h).orders() == []


def test_fill_listeners_hear_when_the_market_fills_a_resting_order() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.6}}}})
    c = h.atm()
    heard: list[tuple[str, int]] = []
    _exchange(h).add_fill_listener(lambda o: heard.append((o.order_id, o.filled_quantity)))
    order = _new(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT,
                 price=round(h.engine.market.quote(c.symbol).bid - 0.5, 2))
    _exchange(h).arrive(order)

    async def main() -> None:
        h.engine.market.start()
        for _ in range(2400):
            await h.clock.sleep(0.25)
            if heard:
                break
        h.engine.market.stop()

    h.clock.run(main())
    assert heard == [(order.order_id, c.lot_size)]


def test_cancel_takes_a_resting_buy_off_the_book_and_releases_its_margin() -> None:
    h = harness()
    c = h.atm()
    order = _new(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
    _exchange(h).arrive(order)
    held = _exchange(h).margins().used
    _exchange(h).cancel(order)
    assert held == pytest.approx(0.05 * c.lot_size)
    assert _exchange(h).margins().used == 0.0
    assert _exchange(h).working(order.order_id).snapshot().status is OrderStatus.CANCELLED


def test_without_lanes_an_order_meets_the_book_at_the_fill_point_of_one_draw() -> None:
    h = harness({"broker": {"paper": {"fill_point": 0.25}}})
    c = h.atm()
    models = h.engine.models.resolve(c.symbol, c.underlying)
    legs = leg_times(models, RandomStreams(1).buffered("t"), ModelParams(models.model_params), 0.25)
    assert legs == LegTimes(arrive_s=0.010, latency_ms=40.0)


def test_a_configured_insert_lane_replaces_its_leg_and_the_report_is_its_share_of_the_trip() -> None:
    h = harness({"latency_model": {"lanes": {"insert": {"global": {"type": "constant", "value_ms": 10}}}}})
    c = h.atm()
    models = h.engine.models.resolve(c.symbol, c.underlying)
    legs = leg_times(models, RandomStreams(1).buffered("t"), ModelParams(models.model_params), 0.5)
    assert legs == LegTimes(arrive_s=0.010, latency_ms=30.0)


def test_model_params_without_factors_is_the_resolved_record_itself() -> None:
    resolved: dict[str, Any] = {"latency": {"scope": "global"}, "slippage": {"scope": "global"}}
    assert ModelParams(resolved).record() is resolved


def test_model_params_add_each_factor_in_place_so_the_record_keeps_its_key_order() -> None:
    resolved: dict[str, Any] = {
        "latency": {"scope": "global", "type": "constant"},
        "slippage": {"scope": "NIFTY", "type": "normal"},
        "lanes": {"insert": {"scope": "global"}, "report": {"scope": "global"}},
    }
    params = ModelParams(resolved, latency=1.5, report=2.0)
    params.set_slippage(0.75)
    assert json.dumps(params.record()) == json.dumps({
        "latency": {"scope": "global", "type": "constant", "factor": 1.5},
        "slippage": {"scope": "NIFTY", "type": "normal", "factor": 0.75},
        "lanes": {"insert": {"scope": "global"}, "report": {"scope": "global", "factor": 2.0}},
    })
    assert "factor" not in resolved["latency"]


def test_a_record_already_given_to_a_fill_keeps_its_slippage_factor() -> None:
    params = ModelParams({"latency": {}, "slippage": {}})
    params.set_slippage(0.5)
    given = params.record()
    params.set_slippage(2.0)
    assert given["slippage"]["factor"] == 0.5
    assert params.record()["slippage"]["factor"] == 2.0
