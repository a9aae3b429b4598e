"""The paper exchange without the network (what a fake broker server drives), its leg times and its model record."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from imperium_desk.broker.errors import BrokerInputError
from imperium_desk.broker.paper import ModelParams, PaperExchange, WorkingOrder
from imperium_desk.broker.paper.exchange import ENDED_ORDER_RETENTION_S
from imperium_desk.broker.paper.latency import LegTimes, leg_times
from imperium_desk.clock import VirtualClock
from imperium_desk.desk.engine import build_engine
from imperium_desk.domain.enums import Mode, OrderStatus, OrderType, Product, Side
from imperium_desk.rng import RandomStreams
from tests.support import Harness, config, harness


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


# -- session closes, expiries and what the exchange remembers ----------------------------------------------


def test_close_session_cancels_the_resting_orders_and_tells_the_listeners() -> None:
    h = harness()
    c = h.atm()
    heard: list[OrderStatus] = []
    _exchange(h).add_fill_listener(lambda o: heard.append(o.status))
    order = _new(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
    _exchange(h).arrive(order)
    assert _exchange(h).close_session() == 1
    assert order.status is OrderStatus.CANCELLED
    assert heard == [OrderStatus.CANCELLED]
    assert _exchange(h).margins().used == 0.0
    assert _exchange(h).cancelled_at_close == 1


def test_close_session_leaves_ended_orders_alone() -> None:
    h = harness()
    c = h.atm()
    order = _new(h, c.symbol, Side.BUY, c.lot_size)
    _exchange(h).arrive(order)
    assert _exchange(h).close_session() == 0
    assert order.status is OrderStatus.COMPLETE


def test_an_order_on_an_expired_contract_is_refused() -> None:
    h = harness({"market": {"start": "2026-11-24T15:29:00+05:30"}})  # the NIFTY monthly expires at 15:30
    c = h.atm()

    async def main() -> None:
        await h.clock.sleep(61.0)

    h.clock.run(main())
    with pytest.raises(BrokerInputError):
        _new(h, c.symbol, Side.BUY, c.lot_size)


def test_a_contract_that_expires_after_its_first_order_takes_no_more() -> None:
    h = harness({"market": {"start": "2026-11-24T15:29:00+05:30"}})  # the NIFTY monthly expires at 15:30
    c = h.atm()
    _new(h, c.symbol, Side.BUY, c.lot_size)  # the symbol's order limits are kept from its first order

    async def main() -> None:
        await h.clock.sleep(61.0)

    h.clock.run(main())
    with pytest.raises(BrokerInputError):
        _new(h, c.symbol, Side.BUY, c.lot_size)


@pytest.mark.parametrize("case", ["half_lot", "zero", "above_freeze", "market_with_price"])
def test_a_market_order_the_exchange_would_refuse_is_refused_after_a_valid_one(case: str) -> None:
    h = harness()
    c = h.atm()
    _new(h, c.symbol, Side.BUY, c.lot_size)
    qty = {"half_lot": c.lot_size + c.lot_size // 2, "zero": 0,
           "above_freeze": (c.freeze_qty // c.lot_size + 1) * c.lot_size}.get(case, c.lot_size)
    price = 10.0 if case == "market_with_price" else None
    with pytest.raises(BrokerInputError):
        _new(h, c.symbol, Side.BUY, qty, price=price)


def test_an_order_just_before_its_contracts_expiry_is_taken() -> None:
    h = harness({"market": {"start": "2026-11-24T15:29:00+05:30"}})
    c = h.atm()
    assert _new(h, c.symbol, Side.BUY, c.lot_size).status is OrderStatus.OPEN


def _after(h: Harness, seconds: float) -> None:
    async def main() -> None:
        await h.clock.sleep(seconds)

    h.clock.run(main())


def test_an_ended_order_is_forgotten_after_the_retention() -> None:
    h = harness()
    c = h.atm()
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="old"))
    _after(h, ENDED_ORDER_RETENTION_S + 1)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="new"))
    assert _exchange(h).orders_by_tag("old") == []
    assert [o.tag for o in _exchange(h).orders()] == ["new"]


def test_an_ended_order_is_kept_within_the_retention() -> None:
    h = harness()
    c = h.atm()
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="old"))
    _after(h, ENDED_ORDER_RETENTION_S - 1)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="new"))
    assert len(_exchange(h).orders_by_tag("old")) == 1


def test_an_open_order_is_never_forgotten() -> None:
    h = harness()
    c = h.atm()
    resting = _new(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05, tag="resting")
    _exchange(h).arrive(resting)
    _after(h, 3 * ENDED_ORDER_RETENTION_S)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="new"))
    assert _exchange(h).working(resting.order_id) is resting


def test_an_order_that_ends_after_the_retention_is_kept_a_retention_longer() -> None:
    h = harness()
    c = h.atm()
    resting = _new(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05, tag="resting")
    _exchange(h).arrive(resting)
    _after(h, 2 * ENDED_ORDER_RETENTION_S)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="a"))  # seen open past the retention
    _exchange(h).cancel(resting)
    _after(h, ENDED_ORDER_RETENTION_S / 2)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="b"))  # seen ended: kept from now on
    _after(h, ENDED_ORDER_RETENTION_S / 2)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="c"))
    assert _exchange(h).orders_by_tag("resting") != []
    _after(h, ENDED_ORDER_RETENTION_S / 2 + 1)
    _exchange(h).arrive(_new(h, c.symbol, Side.BUY, c.lot_size, tag="d"))
    assert _exchange(h).orders_by_tag("resting") == []


@pytest.mark.parametrize(("mode", "retention_s"), [(Mode.PAPER, math.inf), (Mode.REPLAY, ENDED_ORDER_RETENTION_S)])
def test_only_a_replay_forgets_ended_orders(mode: Mode, retention_s: float) -> None:
    # The desk's paper broker answers `orders()` with the day's book (the Broker port's promise); a replay forgets.
    cfg = config()
    engine = build_engine(cfg, clock=VirtualClock(cfg.market.start.timestamp()), seed=1, mode=mode,
                          sink=lambda record: None, scenario_id="test")
    assert engine.paper is not None
    assert engine.paper.exchange.retention_s == retention_s
