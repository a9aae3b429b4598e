"""`KiteBroker` through the `Broker` port against the fake Kite (the official client inside, real HTTP on loopback):
the paper broker's behaviours where a venue decides them, plus what is Kite's own: the tag and market protection on
the wire, one update per change whichever path saw it, lookups by tag, reconcile, positions opened elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.broker.errors import BrokerInputError, BrokerNetworkError, BrokerOrderRejected, OrderNotFound
from imperium_desk.domain.enums import ErrorBucket, OrderStatus, OrderType, ParentStatus, Product, Side
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.domain.orders import OrderUpdate
from tests.fake_kite.faults import Fault, Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.stack_support import KiteRig, kite_rig, market_order, run, until

MakeKite = Callable[[FakeKiteConfig], FakeKite]


async def _place(rig: KiteRig, contract: OptionContract, side: Side, qty: int, **kw: Any) -> str:
    return await rig.broker.place_order(
        symbol=contract.symbol, side=side, quantity=qty, order_type=kw.pop("order_type", OrderType.MARKET),
        product=Product.NRML, tag=kw.pop("tag", "P000001C0"), **kw,
    )


async def _filled_at_kite(rig: KiteRig, contract: OptionContract) -> dict[str, Any]:
    """Place a one-lot MARKET buy and return Kite's order dict once the fake has it COMPLETE."""
    order_id = await _place(rig, contract, Side.BUY, contract.lot_size)
    await until(lambda: any(o["order_id"] == order_id and o["status"] == "COMPLETE" for o in rig.kite.orders()))
    (done,) = [o for o in rig.kite.orders() if o["order_id"] == order_id]
    return done


def _completed(updates: list[OrderUpdate], order_id: str) -> bool:
    return any(u.order.order_id == order_id and u.order.status.terminal for u in updates)


# -- placement on the wire --------------------------------------------------------------------------------------
def test_market_order_goes_out_with_the_kite_tag_and_market_protection(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> str:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            return await _place(rig, rig.contract(), Side.BUY, rig.contract().lot_size, tag="P000042C3")
        finally:
            await rig.close()

    order_id = run(main())
    (order,) = [o for o in fake_kite.orders() if o["order_id"] == order_id]
    assert order["tag"] == "K2T010001603"  # desk K2T, session 01, parent 42 -> "00016", child 3 -> "03"
    assert order["market_protection"] == -1
    assert (order["variety"], order["validity"], order["product"]) == ("regular", "DAY", "NRML")


@pytest.mark.parametrize(
    ("lots_fraction", "order_type", "price"),
    [
        (0.5, OrderType.MARKET, None),  # not a lot multiple
        (1000, OrderType.MARKET, None),  # above the freeze quantity
        (1, OrderType.LIMIT, 10.01),  # off the tick grid
        (1, OrderType.LIMIT, None),  # LIMIT without a price
        (1, OrderType.MARKET, 10.0),  # MARKET with a price
    ],
)
def test_invalid_orders_are_refused_before_anything_is_sent(
    fake_kite: FakeKite, tmp_path: Path, lots_fraction: float, order_type: OrderType, price: float | None
) -> None:
    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            c = rig.contract()
            with pytest.raises(BrokerInputError):
                await _place(rig, c, Side.BUY, int(c.lot_size * lots_fraction), order_type=order_type, price=price)
        finally:
            await rig.close()

    run(main())
    assert fake_kite.order_writes() == []


def test_unknown_symbol_is_refused_before_anything_is_sent(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            with pytest.raises(BrokerInputError):
                await rig.broker.place_order(symbol="NIFTY99JAN1CE", side=Side.BUY, quantity=65,
                                             order_type=OrderType.MARKET, product=Product.NRML, tag="P000001C0")
        finally:
            await rig.close()

    run(main())
    assert fake_kite.order_writes() == []


def test_a_stack_tag_that_cannot_become_a_kite_tag_is_refused_before_anything_is_sent(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            with pytest.raises(BrokerInputError):
                await _place(rig, rig.contract(), Side.BUY, rig.contract().lot_size, tag="not-a-stack-tag")
        finally:
            await rig.close()

    run(main())
    assert fake_kite.order_writes() == []


# -- updates ----------------------------------------------------------------------------------------------------
def test_every_listener_gets_the_same_update_and_each_fill_is_reported_once(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    first: list[OrderUpdate] = []
    second: list[OrderUpdate] = []

    async def main() -> str:
        rig = await kite_rig(fake_kite, tmp_path)
        rig.broker.add_listener(first.append)
        rig.broker.add_listener(second.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, 2 * c.lot_size)
            await until(lambda: _completed(first, order_id), what="the order's end")
            # The same change arriving again (a ticker frame after the poll, a lookup) reports nothing new.
            for order in fake_kite.orders():
                rig.broker.on_order_update(order)
            await rig.broker.orders_by_tag("P000001C0")
            await rig.broker.orders()
            return order_id
        finally:
            await rig.close()

    order_id = run(main())
    assert [id(u) for u in first] == [id(u) for u in second]
    mine = [u for u in first if u.order.order_id == order_id]
    assert sum(f.qty for u in mine for f in u.new_fills) == mine[-1].order.filled_quantity
    assert len({f.trade_id for u in mine for f in u.new_fills}) == sum(len(u.new_fills) for u in mine)
    assert [u.order.status for u in mine].count(OrderStatus.COMPLETE) == 1


def test_an_order_update_frame_is_reported_at_once_and_the_poll_does_not_repeat_it(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0)  # no poll unless kicked
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            frame = await _filled_at_kite(rig, c)
            rig.broker.on_order_update(frame)
            assert updates[-1].order.status is OrderStatus.COMPLETE
            await rig.broker.orders()  # what a poll does
        finally:
            await rig.close()

    run(main())
    assert [u.order.status for u in updates] == [OrderStatus.COMPLETE]


def test_a_stale_snapshot_after_a_newer_one_is_not_reported(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            done = await _filled_at_kite(rig, c)
            older = {**done, "status": "OPEN", "filled_quantity": 0, "average_price": 0.0}
            rig.broker.on_order_update(done)
            rig.broker.on_order_update(older)
        finally:
            await rig.close()

    run(main())
    assert [u.order.status for u in updates] == [OrderStatus.COMPLETE]


def test_a_kept_update_does_not_change_when_the_order_later_fills(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=c.tick_size)
            await until(lambda: any(u.order.order_id == order_id for u in updates), what="the acknowledgement")
            await rig.broker.modify_order(order_id, price=round(fake_kite.quote_ask(c.symbol) + 5.0, 1))
            await until(lambda: _completed(updates, order_id), what="the fill")
        finally:
            await rig.close()

    run(main())
    acknowledged, completed = updates[0], updates[-1]
    assert completed.order.status is OrderStatus.COMPLETE
    assert acknowledged.order.status is OrderStatus.OPEN
    assert acknowledged.order.filled_quantity == 0
    assert acknowledged.order.fills == ()


def test_a_looked_up_order_does_not_change_when_the_order_later_fills(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> tuple[Any, Any]:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=c.tick_size)
            await until(lambda: any(o["status"] == "OPEN" for o in fake_kite.orders()))
            before = await rig.broker.order(order_id)
            await rig.broker.modify_order(order_id, price=round(fake_kite.quote_ask(c.symbol) + 5.0, 1))
            await until(lambda: any(o["status"] == "COMPLETE" for o in fake_kite.orders()))
            return before, await rig.broker.order(order_id)
        finally:
            await rig.close()

    before, after = run(main())
    assert after.status is OrderStatus.COMPLETE
    assert before.status is OrderStatus.OPEN and before.fills == ()


# -- modify and cancel ------------------------------------------------------------------------------------------
def test_modify_to_a_marketable_price_fills_the_resting_order(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> str:
        rig = await kite_rig(fake_kite, tmp_path)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=c.tick_size)
            await until(lambda: any(o["status"] == "OPEN" for o in fake_kite.orders()))
            assert await rig.broker.modify_order(order_id, price=round(fake_kite.quote_ask(c.symbol) + 5.0, 1)) \
                == order_id
            await until(lambda: _completed(updates, order_id), what="the fill")
            return order_id
        finally:
            await rig.close()

    order_id = run(main())
    final = updates[-1]
    assert (final.order.order_id, final.order.status) == (order_id, OrderStatus.COMPLETE)
    assert final.order.filled_quantity == final.order.quantity


def test_cancel_ends_a_resting_order_and_a_second_cancel_is_refused(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=c.tick_size)
            await until(lambda: any(o["status"] == "OPEN" for o in fake_kite.orders()))
            await rig.broker.cancel_order(order_id)
            await until(lambda: _completed(updates, order_id), what="the cancel")
            with pytest.raises(BrokerOrderRejected):
                await rig.broker.cancel_order(order_id)
        finally:
            await rig.close()

    run(main())
    assert updates[-1].order.status is OrderStatus.CANCELLED


def test_a_cancel_refused_by_kite_for_an_ended_order_reports_the_end_first(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size)
            await until(lambda: any(o["status"] == "COMPLETE" for o in fake_kite.orders()))
            with pytest.raises(BrokerOrderRejected):  # Kite refuses; the broker has not heard of the fill yet
                await rig.broker.cancel_order(order_id)
        finally:
            await rig.close()

    run(main())
    assert updates[-1].order.status is OrderStatus.COMPLETE


def test_cancel_and_lookup_of_an_unknown_order_raise_order_not_found(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            with pytest.raises(OrderNotFound):
                await rig.broker.cancel_order("999999999999999")
            with pytest.raises(OrderNotFound):
                await rig.broker.order("999999999999999")
        finally:
            await rig.close()

    run(main())


# -- lookups, reconcile, account --------------------------------------------------------------------------------
def test_order_ids_are_unique_and_lookup_by_tag_finds_the_order(make_fake_kite: MakeKite, tmp_path: Path) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=None))

    async def main() -> tuple[list[str], Any]:
        rig = await kite_rig(kite, tmp_path)
        try:
            c = rig.contract()
            ids = [await _place(rig, c, Side.BUY, c.lot_size, tag=f"P{i:06d}C0") for i in range(1, 21)]
            return ids, await rig.broker.orders_by_tag("P000007C0")
        finally:
            await rig.close()

    ids, found = run(main())
    assert len(set(ids)) == 20
    assert [(o.order_id, o.tag) for o in found] == [(ids[6], "P000007C0")]


def test_lost_answer_is_found_by_tag_and_never_resent(fake_kite: FakeKite, tmp_path: Path) -> None:
    """The stack on the Kite broker: the placement's answer is lost after the order was created (the fake holds it
    past the client's read timeout); the stack looks the tag up, adopts the order and never sends it again."""
    fake_kite.faults.inject(Route.PLACE, Fault.delay(3.0))

    async def main() -> Any:
        rig = await kite_rig(fake_kite, tmp_path, read_timeout_s=0.3)
        try:
            return await rig.stack.execute(market_order(rig.contract())), rig.stack.duplicate_orders, rig.records
        finally:
            await rig.close()

    result, duplicates, records = run(main())
    assert result.status is ParentStatus.COMPLETE
    assert len(fake_kite.order_writes(Route.PLACE)) == 1
    assert fake_kite.duplicate_tags() == {} and duplicates == []
    assert [r["error_bucket"] for r in records if r["event"] == "error"] == [ErrorBucket.TRANSIENT.value]
    assert [r for r in records if r["event"] == "retry"] == []


def test_reconcile_answers_this_desks_working_orders_of_an_earlier_session(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> tuple[str, list[Any]]:
        before = await kite_rig(fake_kite, tmp_path, session=1)
        try:
            c = before.contract()
            resting = await _place(before, c, Side.BUY, c.lot_size, order_type=OrderType.LIMIT, price=c.tick_size)
            await _place(before, c, Side.BUY, c.lot_size, tag="P000002C0")  # fills: not working any more
            await until(lambda: sum(o["status"] == "COMPLETE" for o in fake_kite.orders()) == 1)
        finally:
            await before.close()
        fake_kite.place_external(c.symbol, "BUY", c.lot_size, order_type="LIMIT", price=c.tick_size)  # not ours
        after = await kite_rig(fake_kite, tmp_path, session=2)  # a restart: a new tag session
        try:
            return resting, await after.broker.reconcile()
        finally:
            await after.close()

    resting, working = run(main())
    assert [(o.order_id, o.status) for o in working] == [(resting, OrderStatus.OPEN)]
    assert working[0].tag == "K2T010000100"  # an earlier session's tag is not taken for one of this session's


def test_positions_opened_elsewhere_appear_in_positions(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> Any:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            c = rig.contract()
            fake_kite.place_external(c.symbol, "SELL", 2 * c.lot_size)  # from Kite web: no tag
            await until(lambda: any(o["status"] == "COMPLETE" for o in fake_kite.orders()))
            return c, await rig.broker.positions()
        finally:
            await rig.close()

    contract, positions = run(main())
    (position,) = positions
    assert (position.symbol, position.quantity) == (contract.symbol, -2 * contract.lot_size)
    assert position.sell_quantity == 2 * contract.lot_size


def test_positions_net_with_average_price_and_realised_pnl(make_fake_kite: MakeKite, tmp_path: Path) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=None))
    updates: list[OrderUpdate] = []

    async def main() -> Any:
        rig = await kite_rig(kite, tmp_path)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            for seq, side, lots in ((1, Side.BUY, 2), (2, Side.BUY, 1), (3, Side.SELL, 2)):
                order_id = await _place(rig, c, side, lots * c.lot_size, tag=f"P{seq:06d}C0")
                await until(lambda oid=order_id: _completed(updates, oid), what="the fill")  # type: ignore[misc]
            return c, await rig.broker.positions()
        finally:
            await rig.close()

    contract, positions = run(main())
    fills = [f for u in updates for f in u.new_fills]
    buys = [f for f in fills if f.side is Side.BUY]
    average = sum(f.price * f.qty for f in buys) / sum(f.qty for f in buys)
    realised = sum((f.price - average) * f.qty for f in fills if f.side is Side.SELL)
    (position,) = positions
    assert (position.symbol, position.quantity) == (contract.symbol, contract.lot_size)
    assert position.average_price == pytest.approx(average, abs=0.01)
    assert position.realised_pnl == pytest.approx(realised, abs=0.01 * 2 * contract.lot_size)


def test_margins_report_premium_used_by_a_long_position(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> Any:
        rig = await kite_rig(fake_kite, tmp_path)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size)
            await until(lambda: _completed(updates, order_id), what="the fill")
            return c, await rig.broker.margins()
        finally:
            await rig.close()

    contract, margins = run(main())
    assert margins.used == pytest.approx(updates[-1].order.average_price * contract.lot_size)
    assert margins.available == pytest.approx(margins.capital - margins.used)


# -- the ticker's order updates and reconnects ------------------------------------------------------------------
def test_order_updates_from_the_ticker_reach_listeners_without_the_poll(fake_kite: FakeKite, tmp_path: Path) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> tuple[str, int]:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0, ticker=True)
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            order_id = await _place(rig, c, Side.BUY, c.lot_size)
            await until(lambda: _completed(updates, order_id), what="the fill over the websocket")
            book_reads = [r.route for r in fake_kite.requests()].count(Route.ORDERS)
            return order_id, book_reads
        finally:
            await rig.close()

    order_id, book_reads = run(main())
    assert book_reads <= 1  # at most the reconcile on connecting: the fill came over the websocket
    mine = [u for u in updates if u.order.order_id == order_id]
    assert sum(f.qty for u in mine for f in u.new_fills) == mine[-1].order.quantity


def test_a_change_missed_while_the_ticker_was_down_is_reported_after_it_reconnects(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    updates: list[OrderUpdate] = []

    async def main() -> str:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0, ticker=True)
        assert rig.ticker is not None
        rig.broker.add_listener(updates.append)
        try:
            c = rig.contract()
            await asyncio.to_thread(fake_kite.stall_ws, True)  # the fill's update is lost on the wire
            order_id = await _place(rig, c, Side.BUY, c.lot_size)
            await until(lambda: any(o["status"] == "COMPLETE" for o in fake_kite.orders()))
            assert not _completed(updates, order_id)
            await asyncio.to_thread(fake_kite.stall_ws, False)
            await asyncio.to_thread(fake_kite.drop_ws)
            await until(lambda: _completed(updates, order_id), what="the reconcile after the reconnect")
            assert rig.ticker.connections >= 2
            return order_id
        finally:
            await rig.close()

    order_id = run(main())
    assert [u.order.status for u in updates if u.order.order_id == order_id][-1] is OrderStatus.COMPLETE


def test_a_burst_of_tag_lookups_shares_book_reads(fake_kite: FakeKite, tmp_path: Path) -> None:
    async def main() -> list[list[Any]]:
        rig = await kite_rig(fake_kite, tmp_path, poll_interval_s=60.0)
        try:
            c = rig.contract()
            await _place(rig, c, Side.BUY, c.lot_size, tag="P000001C0")
            reads_before = [r.route for r in fake_kite.requests()].count(Route.ORDERS)
            found = await asyncio.gather(*(rig.broker.orders_by_tag(f"P{seq:06d}C0") for seq in range(1, 21)))
            assert [r.route for r in fake_kite.requests()].count(Route.ORDERS) - reads_before <= 2
            return list(found)
        finally:
            await rig.close()

    found = run(main())
    assert [len(f) for f in found] == [1] + [0] * 19


def test_a_lookup_after_a_lost_answer_waits_for_the_order_book_to_settle(fake_kite: FakeKite, tmp_path: Path) -> None:
    """A placement that may still be inside Kite's OMS must not be judged absent by a book read made at once: the
    lookup waits `lookup_settle_s` from the lost answer (and then finds the order)."""
    fake_kite.faults.inject(Route.PLACE, Fault.drop(after=True))

    async def main() -> tuple[float, float, int]:
        rig = await kite_rig(fake_kite, tmp_path)
        try:
            c = rig.contract()
            with pytest.raises(BrokerNetworkError):
                await rig.broker.place_order(symbol=c.symbol, side=Side.BUY, quantity=c.lot_size,
                                             order_type=OrderType.MARKET, product=None, tag="P000001C0")
            lost_at = rig.clock.monotonic()
            found = await rig.broker.orders_by_tag("P000001C0")
            return rig.clock.monotonic() - lost_at, rig.config.lookup_settle_s, len(found)
        finally:
            await rig.close()

    waited, settle_s, found = run(main())
    assert settle_s > 0 and waited >= settle_s
    assert found == 1
