"""The paper exchange: round trips, depth walking, slippage draws, resting limits, margin, positions."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from imperium_desk.broker.errors import BrokerInputError, BrokerOrderRejected
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.domain.orders import OrderUpdate
from tests.support import Harness, harness


def _paper(h: Harness) -> PaperBroker:
    assert h.engine.paper is not None  # the harness runs the paper venue
    return h.engine.paper


def _place(h: Harness, symbol: str, side: Side, qty: int, **kw: Any) -> Any:
    return _paper(h).place_order(
        symbol=symbol, side=side, quantity=qty, order_type=kw.pop("order_type", OrderType.MARKET),
        product=Product.NRML, tag=kw.pop("tag", "t1"), **kw,
    )


def test_acknowledgement_arrives_after_one_latency_draw() -> None:
    h = harness()
    c = h.atm()

    async def main() -> float:
        t0 = h.clock.monotonic()
        await _place(h, c.symbol, Side.BUY, c.lot_size)
        return h.clock.monotonic() - t0

    assert h.clock.run(main()) == pytest.approx(0.040)


def test_order_meets_the_book_at_the_configured_point_of_the_round_trip() -> None:
    h = harness({"broker": {"paper": {"fill_point": 0.25}}})
    c = h.atm()
    seen: list[float] = []

    async def main() -> None:
        t0 = h.clock.monotonic()
        task = __import__("asyncio").ensure_future(_place(h, c.symbol, Side.BUY, c.lot_size))
        while not await _paper(h).orders_by_tag("t1"):
            await h.clock.sleep(0.001)
        seen.append(h.clock.monotonic() - t0)
        await task

    h.clock.run(main())
    assert seen[0] == pytest.approx(0.010, abs=0.0011)


def test_market_order_larger_than_the_touch_walks_the_depth() -> None:
    h = harness({"market": {"depth": {"touch_lots": 5}}})  # a thin touch: one lot over it stays under the freeze
    c = h.atm()
    quote = h.engine.market.quote(c.symbol)
    touch_price, touch_qty = quote.asks[0]
    qty = touch_qty + c.lot_size

    async def main() -> Any:
        oid = await _place(h, c.symbol, Side.BUY, qty)
        return await _paper(h).order(oid)

    order = h.clock.run(main())
    assert order.status is OrderStatus.COMPLETE
    assert [f.qty for f in order.fills] == [touch_qty, c.lot_size]
    assert order.fills[0].price == touch_price
    assert order.fills[1].price == quote.asks[1][0]


def test_market_order_beyond_all_depth_fills_what_is_there_and_cancels_the_rest() -> None:
    h = harness({"market": {"depth": {"levels": 1, "touch_lots": 2}}})
    c = h.atm()
    available = h.engine.market.quote(c.symbol).asks[0][1]
    qty = min(c.max_order_qty, available + 10 * c.lot_size)

    async def main() -> Any:
        oid = await _place(h, c.symbol, Side.BUY, qty)
        return await _paper(h).order(oid)

    order = h.clock.run(main())
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_quantity == available
    assert "insufficient depth" in order.status_message


def test_sell_market_order_fills_at_the_bid() -> None:
    h = harness()
    c = h.atm()
    bid = h.engine.market.quote(c.symbol).bids[0][0]

    async def main() -> Any:
        return await _paper(h).order(await _place(h, c.symbol, Side.SELL, c.lot_size))

    assert h.clock.run(main()).fills[0].price == bid


def test_slippage_draw_is_adverse_for_both_sides() -> None:
    h = harness({"slippage_model": {"global": {"type": "constant", "value": 2, "unit": "ticks"}}})
    c = h.atm()
    q = h.engine.market.quote(c.symbol)

    async def main() -> tuple[Any, Any]:
        buy = await _paper(h).order(await _place(h, c.symbol, Side.BUY, c.lot_size, tag="b"))
        sell = await _paper(h).order(await _place(h, c.symbol, Side.SELL, c.lot_size, tag="s"))
        return buy, sell

    buy, sell = h.clock.run(main())
    assert buy.fills[0].price == pytest.approx(q.asks[0][0] + 0.10)
    assert sell.fills[0].price == pytest.approx(q.bids[0][0] - 0.10)


def test_fill_prices_sit_on_the_tick_grid_and_mean_slippage_matches_the_model() -> None:
    # 0.3 ticks a draw: stochastic rounding must give a mean of 0.3 ticks, not 0 (round-down) or 1 (ceil).
    h = harness({"slippage_model": {"global": {"type": "constant", "value": 0.3, "unit": "ticks"}}})
    c = h.atm()
    offsets: list[float] = []

    async def main() -> None:
        h.engine.market.start()  # fresh depth every tick
        for i in range(2000):
            oid = await _place(h, c.symbol, Side.BUY, c.lot_size, tag=f"g{i}")
            f = (await _paper(h).order(oid)).fills[0]
            assert abs(f.price / 0.05 - round(f.price / 0.05)) < 1e-9
            offsets.append(f.price - f.book_price)
            await _place(h, c.symbol, Side.SELL, c.lot_size, tag=f"x{i}")
        h.engine.market.stop()

    h.clock.run(main())
    assert statistics.fmean(offsets) == pytest.approx(0.3 * 0.05, rel=0.08)


def test_fill_carries_the_latency_draw_and_model_params() -> None:
    h = harness()
    c = h.atm()

    async def main() -> Any:
        return await _paper(h).order(await _place(h, c.symbol, Side.BUY, c.lot_size))

    fill = h.clock.run(main()).fills[0]
    assert fill.latency_ms == 40.0
    assert fill.model_params == {
        "latency": {"scope": "global", "type": "constant", "value_ms": 40.0},
        "slippage": {"scope": "global", "type": "constant", "value": 0.0, "unit": "bps"},
    }


def test_order_in_flight_keeps_the_model_it_started_with() -> None:
    from imperium_desk.models.config import SlippageModels

    h = harness()
    c = h.atm()
    bps50 = SlippageModels.model_validate({"global": {"type": "constant", "value": 50, "unit": "bps"}})

    async def main() -> Any:
        import asyncio

        task = asyncio.ensure_future(_place(h, c.symbol, Side.BUY, c.lot_size))
        await h.clock.sleep(0.001)
        h.engine.models.replace(h.engine.models.latency_models, bps50, source="test")
        return await _paper(h).order(await task)

    fill = h.clock.run(main()).fills[0]
    assert fill.price == fill.book_price
    assert fill.model_params is not None and fill.model_params["slippage"]["value"] == 0.0


def test_limit_order_below_the_market_rests_until_the_market_crosses_it() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.6}}}})
    c = h.atm()
    updates: list[OrderUpdate] = []
    _paper(h).add_listener(updates.append)
    limit = round(h.engine.market.quote(c.symbol).bid - 0.5, 2)

    async def main() -> Any:
        h.engine.market.start()
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=limit)
        first = await _paper(h).order(oid)
        for _ in range(2400):
            await h.clock.sleep(0.25)
            if (await _paper(h).order(oid)).status is OrderStatus.COMPLETE:
                break
        h.engine.market.stop()
        return first, await _paper(h).order(oid)

    first, final = h.clock.run(main())
    assert first.status is OrderStatus.OPEN and first.filled_quantity == 0
    assert final.status is OrderStatus.COMPLETE
    assert final.fills[0].price == limit
    assert any(u.new_fills for u in updates)


def test_cancel_ends_a_resting_order_and_a_second_cancel_is_refused() -> None:
    h = harness()
    c = h.atm()

    async def main() -> Any:
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
        await _paper(h).cancel_order(oid)
        with pytest.raises(BrokerOrderRejected):
            await _paper(h).cancel_order(oid)
        return await _paper(h).order(oid)

    assert h.clock.run(main()).status is OrderStatus.CANCELLED


def test_modify_to_a_marketable_price_fills_the_resting_order() -> None:
    h = harness()
    c = h.atm()

    async def main() -> Any:
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
        ask = h.engine.market.quote(c.symbol).ask
        await _paper(h).modify_order(oid, price=round(ask + 1.0, 2))
        return await _paper(h).order(oid)

    order = h.clock.run(main())
    assert order.status is OrderStatus.COMPLETE
    assert order.fills[0].price == h.engine.market.quote(c.symbol).ask


@pytest.mark.parametrize(
    ("qty_lots", "order_type", "price", "message"),
    [
        (0, OrderType.MARKET, None, "positive multiple"),
        (1.5, OrderType.MARKET, None, "positive multiple"),
        (1000, OrderType.MARKET, None, "freeze"),
        (1, OrderType.LIMIT, None, "needs a positive price"),
        (1, OrderType.LIMIT, 10.02, "tick grid"),
        (1, OrderType.MARKET, 10.0, "takes no price"),
    ],
)
def test_invalid_orders_are_refused_with_the_reason(
    qty_lots: float, order_type: OrderType, price: float | None, message: str
) -> None:
    h = harness()
    c = h.atm()

    async def main() -> None:
        await _place(h, c.symbol, Side.BUY, int(qty_lots * c.lot_size), order_type=order_type, price=price)

    with pytest.raises(BrokerInputError, match=message):
        h.clock.run(main())


def test_unknown_symbol_is_refused_naming_it() -> None:
    h = harness()

    async def main() -> None:
        await _place(h, "NIFTYXYZ", Side.BUY, 65)

    with pytest.raises(BrokerInputError, match="NIFTYXYZ"):
        h.clock.run(main())


def test_buy_beyond_available_margin_is_rejected_by_rms() -> None:
    h = harness({"broker": {"paper": {"capital": 1000}}})
    c = h.atm()

    async def main() -> Any:
        return await _paper(h).order(await _place(h, c.symbol, Side.BUY, c.lot_size))

    order = h.clock.run(main())
    assert order.status is OrderStatus.REJECTED
    assert "Insufficient funds" in order.status_message


def test_selling_to_close_a_long_needs_no_margin() -> None:
    h = harness({"broker": {"paper": {"capital": 100_000, "short_margin_rate": 1.0}}})
    c = h.atm()

    async def main() -> tuple[Any, Any]:
        buy = await _paper(h).order(await _place(h, c.symbol, Side.BUY, c.lot_size, tag="b"))
        sell = await _paper(h).order(await _place(h, c.symbol, Side.SELL, c.lot_size, tag="s"))
        return buy, sell

    buy, sell = h.clock.run(main())
    assert buy.status is OrderStatus.COMPLETE
    assert sell.status is OrderStatus.COMPLETE


def test_positions_net_with_average_price_and_realised_pnl() -> None:
    h = harness()
    c = h.atm()
    lot = c.lot_size

    async def main() -> Any:
        fills = []
        for tag, side, lots in (("a", Side.BUY, 2), ("b", Side.BUY, 1), ("c", Side.SELL, 2)):
            order = await _paper(h).order(await _place(h, c.symbol, side, lots * lot, tag=tag))
            fills.append(order.fills)
        return fills, await _paper(h).positions()

    fills, positions = h.clock.run(main())
    (pos,) = positions
    buys = [f for fs in fills[:2] for f in fs]
    avg = sum(f.price * f.qty for f in buys) / sum(f.qty for f in buys)
    sold = fills[2]
    realised = sum((f.price - avg) * f.qty for f in sold)
    assert pos.quantity == lot
    assert pos.average_price == pytest.approx(avg)
    assert pos.realised_pnl == pytest.approx(realised)


def test_order_ids_are_unique_and_lookup_by_tag_finds_the_order() -> None:
    h = harness()
    c = h.atm()

    async def main() -> tuple[list[str], Any]:
        ids = [await _place(h, c.symbol, Side.BUY, c.lot_size, tag=f"u{i}") for i in range(20)]
        return ids, await _paper(h).orders_by_tag("u7")

    ids, found = h.clock.run(main())
    assert len(set(ids)) == 20
    assert [o.order_id for o in found] == [ids[7]]


def test_margins_report_premium_used_by_a_long_position() -> None:
    h = harness()
    c = h.atm()

    async def main() -> Any:
        order = await _paper(h).order(await _place(h, c.symbol, Side.BUY, c.lot_size))
        return order, await _paper(h).margins()

    order, margins = h.clock.run(main())
    assert margins.used == pytest.approx(order.average_price * c.lot_size)
    assert margins.available == pytest.approx(margins.capital - margins.used)


def test_a_kept_update_does_not_change_when_the_order_later_fills() -> None:
    h = harness()
    c = h.atm()
    updates: list[OrderUpdate] = []
    _paper(h).add_listener(updates.append)

    async def main() -> None:
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
        ask = h.engine.market.quote(c.symbol).ask
        await _paper(h).modify_order(oid, price=round(ask + 1.0, 2))

    h.clock.run(main())
    acknowledged, modified = updates
    assert modified.order.status is OrderStatus.COMPLETE
    assert acknowledged.order.status is OrderStatus.OPEN
    assert acknowledged.order.filled_quantity == 0
    assert acknowledged.order.fills == ()
    assert acknowledged.order.price == 0.05


def test_a_looked_up_order_does_not_change_when_the_order_later_fills() -> None:
    h = harness()
    c = h.atm()

    async def main() -> tuple[Any, Any]:
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
        before = await _paper(h).order(oid)
        await _paper(h).modify_order(oid, price=round(h.engine.market.quote(c.symbol).ask + 1.0, 2))
        return before, await _paper(h).order(oid)

    before, after = h.clock.run(main())
    assert after.status is OrderStatus.COMPLETE
    assert before.status is OrderStatus.OPEN and before.fills == ()


def test_every_listener_gets_the_same_update_and_each_fill_is_reported_once() -> None:
    h = harness()
    c = h.atm()
    first: list[OrderUpdate] = []
    second: list[OrderUpdate] = []
    _paper(h).add_listener(first.append)
    _paper(h).add_listener(second.append)

    async def main() -> Any:
        oid = await _place(h, c.symbol, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=0.05)
        await _paper(h).modify_order(oid, price=round(h.engine.market.quote(c.symbol).ask + 1.0, 2))
        return await _paper(h).order(oid)

    order = h.clock.run(main())
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert [f for u in first for f in u.new_fills] == list(order.fills)
