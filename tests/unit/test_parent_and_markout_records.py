"""The records post-trade analysis reads beyond the children's: one `parent` per parent and one `markout` per fill."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from imperium_desk.domain.enums import Algo, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult
from imperium_desk.telemetry.schema import COMMON_KEYS
from tests.support import Harness, harness


def _run(h: Harness, *requests: ExecutionRequest, settle: bool = True) -> list[ParentResult]:
    async def main() -> list[ParentResult]:
        h.engine.market.start()
        try:
            results = list(await asyncio.gather(*(h.engine.stack.execute(r) for r in requests)))
            if settle:
                await h.engine.settle_markouts()
            return results
        finally:
            h.engine.market.stop()

    return h.clock.run(main())


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _request(h: Harness, lots: int = 1, **kw: Any) -> ExecutionRequest:
    c = h.atm()
    return ExecutionRequest(symbol=c.symbol, side=kw.pop("side", Side.BUY), quantity=lots * c.lot_size, **kw)


def test_a_filled_parent_writes_one_parent_record_with_its_outcome() -> None:
    h = harness()
    (result,) = _run(h, _request(h, 3, algo=Algo.TWAP, max_child_orders=3, horizon_s=6))
    (rec,) = h.events("parent")
    assert list(rec)[: len(COMMON_KEYS)] == list(COMMON_KEYS)
    assert rec["qty"] == result.quantity and rec["children"] == 3
    assert rec["order_id"] is None and rec["client_tag"] is None
    parent = rec["parent"]
    assert parent["status"] == "complete"
    assert parent["filled_qty"] == result.filled_qty
    assert parent["average_price"] == pytest.approx(result.average_price)
    assert parent["urgency"] == "normal" and parent["exchange"] == "NFO"
    assert parent["decision_price"] == h.events("placed")[0]["arrival_price"]


def test_first_sent_mid_is_the_mid_the_first_child_was_sent_at() -> None:
    h = harness()
    _run(h, _request(h, 2, algo=Algo.TWAP, max_child_orders=2, horizon_s=4))
    first_placed = h.events("placed")[0]
    assert h.events("parent")[0]["parent"]["first_sent_mid"] == first_placed["extra_metrics"]["mid"]


def test_interval_vwap_is_the_market_value_traded_over_volume_while_the_parent_worked() -> None:
    h = harness()
    c = h.atm()
    seen: list[tuple[int, float]] = []
    results: list[ParentResult] = []
    request = _request(h, 2, algo=Algo.TWAP, max_child_orders=4, horizon_s=60)

    async def main() -> None:
        h.engine.market.start()
        before = h.engine.feed.quote(c.symbol)
        seen.append((before.volume, before.turnover))
        results.append(await h.engine.stack.execute(request))
        after = h.engine.feed.quote(c.symbol)
        seen.append((after.volume, after.turnover))
        h.engine.market.stop()

    h.clock.run(main())
    (v0, t0), (v1, t1) = seen
    parent = h.events("parent")[0]["parent"]
    assert parent["interval_volume"] == v1 - v0 > 0  # a minute of simulated trading in an ATM option
    assert parent["interval_vwap"] == pytest.approx((t1 - t0) / (v1 - v0), abs=1e-6)  # recorded to 6 decimals
    assert results[0].status is ParentStatus.COMPLETE


def test_a_risk_rejected_parent_still_writes_its_parent_record() -> None:
    h = harness({"risk": {"max_order_lots": 1}})
    (result,) = _run(h, _request(h, 2))
    (rec,) = h.events("parent")
    assert rec["parent"]["status"] == "rejected" == result.status.value
    assert rec["parent"]["first_sent_mid"] is None and rec["parent"]["filled_qty"] == 0


def test_a_stopped_parent_record_names_its_failure_kind() -> None:
    h = harness({"risk": {"max_order_lots": 1}})
    (result,) = _run(h, _request(h, 2))
    (rec,) = h.events("parent")
    assert result.failure is FailureKind.RISK_REFUSED
    assert rec["parent"]["failure"] == FailureKind.RISK_REFUSED.value


def test_a_filled_parent_record_has_no_failure_kind() -> None:
    h = harness()
    _run(h, _request(h, 1))
    assert h.events("parent")[0]["parent"]["failure"] is None


def test_a_fill_carries_the_intended_price_its_slippage_is_measured_against() -> None:
    h = harness()
    _run(h, _request(h, 3, algo=Algo.TWAP, max_child_orders=3, horizon_s=6))
    placed = {r["client_tag"]: r["intended_price"] for r in h.events("placed")}
    fills = h.events("fill") + h.events("partial_fill")
    assert fills
    for fill in fills:
        assert fill["intended_price"] == placed[fill["client_tag"]]
        assert fill["slippage"] == pytest.approx(fill["executed_price"] - fill["intended_price"])  # a buy


def test_a_cancelled_parent_writes_its_parent_record_before_the_cancellation_propagates() -> None:
    h = harness()

    async def main() -> None:
        h.engine.market.start()
        task = asyncio.ensure_future(h.engine.stack.execute(_request(h, 4, algo=Algo.TWAP, max_child_orders=4,
                                                                     horizon_s=40)))
        await h.clock.sleep(15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        h.engine.market.stop()

    h.clock.run(main())
    (rec,) = h.events("parent")
    assert rec["parent"]["status"] in {"partially_filled", "cancelled"}
    assert 0 < rec["parent"]["filled_qty"] < rec["qty"]


def test_every_fill_gets_one_markout_at_each_horizon() -> None:
    h = harness()
    _run(h, _request(h, 3, algo=Algo.TWAP, max_child_orders=3, horizon_s=6))
    fills = h.events("fill") + h.events("partial_fill")
    markouts = h.events("markout")
    assert sorted(m["markout"]["fill_seq"] for m in markouts) == sorted(f["seq"] for f in fills)
    for m in markouts:
        assert m["markout"]["horizons_s"] == [1.0, 10.0, 60.0]
        assert None not in m["markout"]["mids"]


def test_markout_bps_is_the_mid_move_in_the_traders_favour() -> None:
    h = harness()
    _run(h, _request(h, 1, side=Side.SELL))
    (m,) = h.events("markout")
    price = m["markout"]["executed_price"]
    for mid, bps in zip(m["markout"]["mids"], m["markout"]["bps"], strict=True):
        assert bps == pytest.approx((price - mid) / price * 10_000.0, abs=1e-3)  # a sell gains when the mid falls


def test_a_markout_is_written_when_its_last_horizon_has_passed() -> None:
    h = harness()
    _run(h, _request(h, 1))
    (fill,) = h.events("fill")
    (m,) = h.events("markout")
    assert _epoch(m["timestamp"]) - _epoch(fill["timestamp"]) == pytest.approx(60.0, abs=0.01)


def test_stopping_early_writes_pending_markouts_with_nulls_for_horizons_not_reached() -> None:
    h = harness()
    _run(h, _request(h, 1), settle=False)
    assert h.events("markout") == []
    markouts = h.engine.tracker.markouts
    assert markouts is not None and markouts.pending == 1
    markouts.flush()
    (m,) = h.events("markout")
    assert m["markout"]["mids"][-1] is None and m["markout"]["bps"][-1] is None


def test_markouts_can_be_turned_off() -> None:
    h = harness({"telemetry": {"markouts_s": []}})
    _run(h, _request(h, 1))
    assert h.events("markout") == [] and h.engine.tracker.markouts is None
