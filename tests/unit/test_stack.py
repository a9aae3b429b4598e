"""The execution stack end to end on the virtual clock, with the real paper exchange and market."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from pydantic import ValidationError

from imperium_desk.domain.enums import Algo, OrderStatus, OrderType, ParentStatus, Side, Urgency
from imperium_desk.execution.request import ExecutionRequest, FailureKind, InvalidOrder, ParentResult, RequestMetadata
from imperium_desk.telemetry.schema import COMMON_KEYS
from tests.support import Harness, harness


def _run(h: Harness, *requests: ExecutionRequest) -> list[ParentResult]:
    async def main() -> list[ParentResult]:
        h.engine.market.start()
        try:
            return list(await asyncio.gather(*(h.engine.stack.execute(r) for r in requests)))
        finally:
            h.engine.market.stop()

    return h.clock.run(main())


def _request(h: Harness, lots: int = 1, **kw: Any) -> ExecutionRequest:
    c = h.atm()
    return ExecutionRequest(symbol=c.symbol, side=kw.pop("side", Side.BUY), quantity=lots * c.lot_size, **kw)


def test_immediate_order_fills_and_reports_child_ids_and_average_price() -> None:
    h = harness()
    (result,) = _run(h, _request(h, 2))
    assert result.status is ParentStatus.COMPLETE
    assert result.filled_qty == result.quantity
    assert len(result.child_order_ids) == 1
    fills = h.events("fill")
    assert result.average_price == pytest.approx(
        sum(f["executed_price"] * f["qty"] for f in fills) / sum(f["qty"] for f in fills)
    )


def test_every_child_writes_placed_then_ack_then_fill() -> None:
    h = harness()
    _run(h, _request(h, 4, algo=Algo.TWAP, max_child_orders=4, horizon_s=8))
    by_tag: dict[str, list[str]] = {}
    for r in h.records:
        if r["client_tag"] is not None:  # the parent's own record has none
            by_tag.setdefault(r["client_tag"], []).append(r["event"])
    assert len(by_tag) == 4
    assert all(events == ["placed", "ack", "fill"] for events in by_tag.values())


def test_records_carry_every_common_key_in_order_and_a_monotonic_seq() -> None:
    h = harness()
    _run(h, _request(h, 3, algo=Algo.TWAP, max_child_orders=3, horizon_s=3))
    assert [r["seq"] for r in h.records] == list(range(1, len(h.records) + 1))
    for r in h.records:
        assert tuple(r)[: len(COMMON_KEYS)] == COMMON_KEYS
        assert r["children"] == 3 and r["execution_algo"] == "TWAP"


def test_fill_record_measures_slippage_against_the_intended_price() -> None:
    h = harness({"slippage_model": {"global": {"type": "constant", "value": 1, "unit": "ticks"}}})
    _run(h, _request(h, 1), _request(h, 1, side=Side.SELL))
    placed = {r["client_tag"]: r for r in h.events("placed")}
    for fill in h.events("fill"):
        intended = placed[fill["client_tag"]]["intended_price"]
        sign = 1 if fill["side"] == "buy" else -1
        assert fill["slippage"] == pytest.approx((fill["executed_price"] - intended) * sign)
        assert fill["slippage"] == pytest.approx(0.05)
        assert fill["slippage_bps"] == pytest.approx(0.05 / intended * 1e4, abs=1e-3)
        assert fill["latency_ms"] == 40.0


def test_children_sent_against_one_quote_are_priced_by_their_own_size_and_side() -> None:
    h = harness()
    _run(h, _request(h, 1), _request(h, 20), _request(h, 1, side=Side.SELL))
    small, large, sell = h.events("placed")
    assert small["timestamp"] == large["timestamp"] == sell["timestamp"]  # one instant: one quote
    assert large["impact_estimate"] > small["impact_estimate"]
    assert sell["intended_price"] < small["intended_price"]  # a sell takes the bid, a buy the ask


def test_twap_children_are_scheduled_on_the_clock_not_back_to_back() -> None:
    h = harness()
    _run(h, _request(h, 5, algo=Algo.TWAP, max_child_orders=5, horizon_s=50))
    times = [r["timestamp"] for r in h.events("placed")]
    seconds = [int(t[17:19]) + 60 * int(t[14:16]) for t in times]
    assert [b - a for a, b in itertools.pairwise(seconds)] == [10, 10, 10, 10]


def test_risk_gate_rejects_before_anything_is_sent() -> None:
    h = harness({"risk": {"max_order_lots": 2}})
    (result,) = _run(h, _request(h, 3))
    assert result.status is ParentStatus.REJECTED
    assert result.failure is FailureKind.RISK_REFUSED
    assert [r["event"] for r in h.records] == ["reject", "parent"]
    assert h.records[0]["error_bucket"] == "risk"


def test_exit_goes_through_with_the_kill_switch_on() -> None:
    h = harness({"risk": {"kill_switch": True}})
    blocked, exit_ = _run(
        h, _request(h, 1), _request(h, 1, side=Side.SELL, metadata=RequestMetadata(is_exit=True))
    )
    assert blocked.status is ParentStatus.REJECTED and blocked.failure is FailureKind.RISK_REFUSED
    assert exit_.status is ParentStatus.COMPLETE


def test_quantity_that_is_not_a_lot_multiple_is_an_invalid_order_naming_the_field() -> None:
    h = harness()
    c = h.atm()
    with pytest.raises(InvalidOrder, match=r"quantity: 100 is not a multiple of the NIFTY lot size 65"):
        h.engine.stack.validate(ExecutionRequest(symbol=c.symbol, side=Side.BUY, quantity=100))


def test_unknown_symbol_is_an_invalid_order_naming_the_symbol() -> None:
    h = harness()
    with pytest.raises(InvalidOrder, match="symbol: unknown trading symbol 'NIFTY99XYZ1CE'"):
        h.engine.stack.validate(ExecutionRequest(symbol="NIFTY99XYZ1CE", side=Side.BUY, quantity=65))


def test_negative_quantity_is_refused_by_the_request_schema() -> None:
    with pytest.raises(ValidationError, match="quantity"):
        ExecutionRequest(symbol="NIFTY26NOV26000CE", side=Side.BUY, quantity=-65)


def test_limit_price_off_the_tick_grid_is_an_invalid_order() -> None:
    h = harness()
    c = h.atm()
    req = ExecutionRequest(
        symbol=c.symbol, side=Side.BUY, quantity=c.lot_size, order_type=OrderType.LIMIT, limit_price=10.03
    )
    with pytest.raises(InvalidOrder, match="limit_price"):
        h.engine.stack.validate(req)


def test_passive_child_left_unfilled_is_cancelled_at_its_deadline() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.01}}}})
    c = h.atm()
    req = ExecutionRequest(
        symbol=c.symbol, side=Side.BUY, quantity=c.lot_size, order_type=OrderType.LIMIT, limit_price=0.05,
        horizon_s=5,
    )
    (result,) = _run(h, req)
    assert result.status is ParentStatus.CANCELLED
    assert result.failure is FailureKind.UNFILLED
    (cancel,) = h.events("cancel")
    assert cancel["qty"] == c.lot_size


def test_low_urgency_child_joins_the_near_touch() -> None:
    h = harness()
    _run(h, _request(h, 1, urgency=Urgency.LOW, side=Side.SELL, horizon_s=5))
    (placed,) = h.events("placed")
    assert placed["route"] == "join"


def test_freeze_quantity_splits_an_immediate_order_into_capped_children() -> None:
    h = harness({"risk": {"max_order_lots": 100, "max_order_value": 1e9}, "market": {"depth": {"touch_lots": 200}}})
    c = h.atm()
    (result,) = _run(h, ExecutionRequest(symbol=c.symbol, side=Side.BUY, quantity=40 * c.lot_size))
    qtys = [r["qty"] for r in h.events("placed")]
    assert sum(qtys) == 40 * c.lot_size
    assert max(qtys) <= c.max_order_qty
    assert result.status is ParentStatus.COMPLETE


def test_pov_child_sizes_follow_market_volume() -> None:
    h = harness()
    c = h.atm()
    req = ExecutionRequest(
        symbol=c.symbol, side=Side.BUY, quantity=30 * c.lot_size, algo=Algo.POV, participation_rate=0.2,
        horizon_s=120,
    )
    start_volume = h.engine.market.quote(c.symbol).volume
    (result,) = _run(h, req)
    traded = h.engine.market.quote(c.symbol).volume - start_volume
    assert result.filled_qty > 0
    assert result.filled_qty <= 0.2 * traded + c.lot_size


def test_arrival_price_is_the_mid_the_ticket_showed_when_it_has_one() -> None:
    h = harness()
    c = h.atm()
    req = ExecutionRequest(symbol=c.symbol, side=Side.BUY, quantity=c.lot_size, bid=80.0, ask=80.2)
    _run(h, req)
    (placed,) = h.events("placed")
    assert placed["arrival_price"] == 80.1


def test_arrival_price_falls_back_to_the_market_mid() -> None:
    h = harness()
    c = h.atm()
    mid = h.engine.market.quote(c.symbol).mid
    _run(h, ExecutionRequest(symbol=c.symbol, side=Side.BUY, quantity=c.lot_size))
    (placed,) = h.events("placed")
    assert placed["arrival_price"] == mid


def test_pov_resends_what_thin_depth_left_unfilled() -> None:
    h = harness({"market": {"depth": {"levels": 1, "touch_lots": 1}, "volume": {"lots_per_s": 40}}})
    c = h.atm()
    req = ExecutionRequest(
        symbol=c.symbol, side=Side.BUY, quantity=20 * c.lot_size, algo=Algo.POV, participation_rate=0.5,
        horizon_s=60,
    )
    (result,) = _run(h, req)
    placed = h.events("placed")
    assert result.filled_qty > 0
    assert any(r["event"] == "cancel" for r in h.records)  # depth ran out on some child...
    reported = sum(r["qty"] for r in h.records if r["event"] in ("fill", "partial_fill"))
    assert reported == result.filled_qty  # ...and what filled is all reported
    assert len(placed) > 1


def test_an_interrupted_parent_cancels_its_working_child_at_the_broker() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.01}}}})
    c = h.atm()
    resting = ExecutionRequest(
        symbol=c.symbol, side=Side.BUY, quantity=c.lot_size, order_type=OrderType.LIMIT, limit_price=0.05,
        horizon_s=600,
    )

    async def main() -> None:
        h.engine.market.start()
        task = asyncio.ensure_future(h.engine.stack.execute(resting))
        await h.clock.sleep(5)  # the child rests on the book, far below the market
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await h.clock.sleep(1)  # the cancel's round trip
        h.engine.market.stop()

    h.clock.run(main())
    (order,) = h.clock.run(h.engine.broker.orders())
    assert order.status is OrderStatus.CANCELLED


def test_an_order_with_nothing_on_its_side_of_the_book_is_refused_before_it_is_sent() -> None:
    h = harness()
    quote = h.engine.feed.subscribe(h.atm())
    quote.ask = 0.0  # a live feed's quote before its first tick has no price on either side
    with pytest.raises(InvalidOrder):
        h.engine.stack.validate(_request(h))
