"""Live aggregates: binned percentiles against numpy, rolling windows on a hand-driven clock, keys and buckets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_desk.broker.faults import FaultRates
from imperium_desk.domain.enums import Algo, ErrorBucket, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.telemetry.aggregates import (
    ALL,
    LATENCY_CEIL_MS,
    LATENCY_FLOOR_MS,
    PRECISION,
    SLIPPAGE_CEIL_BPS,
    SLIPPAGE_FLOOR_BPS,
    AggregateView,
    LiveAggregates,
)
from tests.support import harness

NIFTY_CE = "NIFTY24DEC24000CE"
NIFTY_PE = "NIFTY24DEC24000PE"
BANK_CE = "BANKNIFTY24DEC52000CE"
START = 1_800_000_000.0  # an epoch second: slot boundaries fall on whole seconds


class HandClock:
    """Time that moves only when the test moves it."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def rec(event: str, asset: str = NIFTY_CE, underlying: str = "NIFTY", **fields: Any) -> dict[str, Any]:
    """The keys the aggregates read from a telemetry record (DESIGN §5)."""
    return {"event": event, "asset": asset, "underlying": underlying, **fields}


def fill(latency_ms: float | None = 5.0, slippage_bps: float = 1.0, qty: int = 65, **kw: Any) -> dict[str, Any]:
    return rec("fill", qty=qty, latency_ms=latency_ms, slippage_bps=slippage_bps, **kw)


def fresh(windows: tuple[float | None, ...] = (60.0, 300.0, None)) -> tuple[LiveAggregates, HandClock]:
    clock = HandClock()
    return LiveAggregates(clock, windows), clock


def test_latency_percentiles_are_within_the_stated_precision_of_numpy() -> None:
    agg, clock = fresh()
    latency = np.random.default_rng(3).lognormal(3.0, 0.8, 20_000)
    for i, value in enumerate(latency):
        clock.t = START + i * 0.001
        agg.add(fill(latency_ms=float(value)))
    view = agg.snapshot(ALL, None)
    assert PRECISION < 0.01  # the documented "within 1%"
    assert view.latency_n == 20_000
    for q, got in ((50, view.latency_p50_ms), (95, view.latency_p95_ms), (99, view.latency_p99_ms)):
        assert got == pytest.approx(np.percentile(latency, q), rel=PRECISION)


def test_slippage_mean_is_exact_and_p95_within_the_stated_precision() -> None:
    agg, _ = fresh()
    slippage = np.random.default_rng(4).normal(1.5, 6.0, 20_000).round(4)
    for value in slippage:
        agg.add(fill(slippage_bps=float(value)))
    view = agg.snapshot(ALL, 60.0)
    assert view.slippage_n == 20_000
    assert view.slippage_mean_bps == pytest.approx(slippage.mean(), rel=1e-12)
    assert view.slippage_p95_bps == pytest.approx(np.percentile(slippage, 95), rel=PRECISION, abs=SLIPPAGE_FLOOR_BPS)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from([50.0, 95.0, 99.0]),
)
def test_any_latency_sample_gets_percentiles_within_one_percent_plus_the_floor(values: list[float], q: float) -> None:
    agg, _ = fresh((None,))
    for value in values:
        agg.add(fill(latency_ms=value))
    view = agg.snapshot(ALL, None)
    got = {50.0: view.latency_p50_ms, 95.0: view.latency_p95_ms, 99.0: view.latency_p99_ms}[q]
    exact = float(np.percentile(values, q))
    assert abs(got - exact) <= PRECISION * exact + LATENCY_FLOOR_MS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=1, max_size=200))
def test_any_slippage_sample_gets_a_p95_within_one_percent_of_its_neighbours_plus_the_floor(
    values: list[float],
) -> None:
    agg, _ = fresh((None,))
    for value in values:
        agg.add(fill(slippage_bps=value))
    got = agg.snapshot(ALL, None).slippage_p95_bps
    # numpy interpolates between the two order statistics around the rank; each is binned within 1% (or the
    # floor), so the estimate is within 1% of the larger of the two plus the floor.
    ordered = np.sort(values)
    h = (len(values) - 1) * 0.95
    lo, hi = ordered[math.floor(h)], ordered[min(math.floor(h) + 1, len(values) - 1)]
    bound = PRECISION * max(abs(lo), abs(hi)) + SLIPPAGE_FLOOR_BPS
    assert abs(got - float(np.percentile(values, 95))) <= bound


def test_a_record_leaves_the_one_minute_window_after_sixty_seconds_and_stays_in_the_session() -> None:
    agg, clock = fresh()
    clock.t = START + 0.5
    agg.add(fill())
    clock.t = START + 59.999
    assert agg.snapshot(ALL, 60.0).fills == 1
    clock.t = START + 60.0
    assert agg.snapshot(ALL, 60.0).fills == 0
    assert agg.snapshot(ALL, 300.0).fills == 1
    clock.t = START + 300.0
    assert agg.snapshot(ALL, 300.0).fills == 0
    session = agg.snapshot(ALL, None)
    assert session.fills == 1 and session.latency_p50_ms == pytest.approx(5.0, rel=PRECISION)


def test_windows_sum_only_the_slots_inside_them() -> None:
    agg, clock = fresh()
    for second, latency in ((0, 1.0), (100, 2.0), (230, 3.0), (299, 4.0)):
        clock.t = START + second
        agg.add(fill(latency_ms=latency, qty=second + 1))
    views = {v.window_s: v for v in agg.views(ALL)}
    assert views[60.0].filled_qty == 300 and views[60.0].fills == 1  # only second 299
    assert views[300.0].filled_qty == 1 + 101 + 231 + 300
    assert views[None].fills == 4


def test_slots_are_reused_correctly_after_an_idle_gap_longer_than_the_window() -> None:
    agg, clock = fresh()
    for second in range(10):  # ten slots filled, then ten minutes of nothing
        clock.t = START + second
        agg.add(fill(latency_ms=100.0))
    clock.t = START + 10 + 600
    assert agg.snapshot(ALL, 300.0).fills == 0
    # The new records land in ring positions that still hold the old slots' data (600 = 2 turns of the ring).
    for second in range(10):
        clock.t = START + 600 + second + 10
        agg.add(fill(latency_ms=1.0))
    for window in (60.0, 300.0):
        view = agg.snapshot(ALL, window)
        assert view.fills == 10
        assert view.latency_p99_ms == pytest.approx(1.0, rel=PRECISION)
    session = agg.snapshot(ALL, None)
    assert session.fills == 20 and session.latency_n == 20
    assert session.latency_p50_ms == pytest.approx((1.0 + 100.0) / 2, rel=PRECISION)


def test_a_record_exactly_one_ring_turn_later_replaces_its_slot_and_the_session_keeps_both() -> None:
    agg, clock = fresh()
    agg.add(fill(qty=1))
    clock.t = START + 300.0  # the same ring position as START
    agg.add(fill(qty=2))
    assert agg.snapshot(ALL, 300.0).filled_qty == 2
    assert agg.snapshot(ALL, None).filled_qty == 3


def test_windows_agree_with_a_brute_force_count_through_snapshots_gaps_and_ring_turns() -> None:
    """Records and snapshots interleaved at random times (bursts, pauses longer than the ring, several asks within
    one slot): every snapshot equals counting the records by slot directly."""
    rng = np.random.default_rng(11)
    agg, clock = fresh()
    seen: list[tuple[int, int]] = []  # (slot, qty) of each fill
    t = START
    for _ in range(3000):
        t += float(rng.choice([0.0, 0.3, 1.0, 7.0, 90.0, 700.0], p=[0.3, 0.3, 0.2, 0.15, 0.04, 0.01]))
        clock.t = t
        if rng.random() < 0.7:
            qty = int(rng.integers(1, 100))
            agg.add(fill(qty=qty))
            seen.append((int(t), qty))
        else:
            now = int(t)
            for view in agg.views(ALL):
                inside = [q for slot, q in seen if view.window_s is None or now - slot < view.window_s]
                assert (view.fills, view.filled_qty) == (len(inside), sum(inside)), (t - START, view.window_s)


def test_a_clock_that_steps_back_counts_the_record_in_the_newest_slot() -> None:
    agg, clock = fresh()
    clock.t = START + 100.0
    agg.add(fill(qty=1))
    assert agg.snapshot(ALL, 60.0).filled_qty == 1
    clock.t = START + 30.0  # never on the desk's clocks, but a frozen slot must not change
    agg.add(fill(qty=2))
    clock.t = START + 100.5
    assert agg.snapshot(ALL, 60.0).filled_qty == 3


def test_each_key_counts_only_its_own_records() -> None:
    agg, _ = fresh()
    agg.add(fill(latency_ms=1.0, asset=NIFTY_CE))
    agg.add(fill(latency_ms=2.0, asset=NIFTY_PE))
    agg.add(fill(latency_ms=3.0, asset=BANK_CE, underlying="BANKNIFTY"))
    assert agg.snapshot(ALL).fills == 3
    assert agg.snapshot("NIFTY").fills == 2
    assert agg.snapshot("BANKNIFTY").latency_p50_ms == pytest.approx(3.0, rel=PRECISION)
    assert agg.snapshot(NIFTY_PE).latency_p50_ms == pytest.approx(2.0, rel=PRECISION)
    assert agg.snapshot(NIFTY_CE).fills == 1


def test_keys_list_all_then_each_underlying_with_its_symbols_sorted() -> None:
    agg, _ = fresh()
    agg.add(rec("placed", asset=NIFTY_PE, qty=1))
    agg.add(rec("placed", asset=BANK_CE, underlying="BANKNIFTY", qty=1))
    agg.add(rec("placed", asset=NIFTY_CE, qty=1))
    assert agg.keys() == [ALL, "NIFTY", NIFTY_CE, NIFTY_PE, "BANKNIFTY", BANK_CE]
    assert agg.underlying_of(NIFTY_CE) == "NIFTY" and agg.underlying_of("NIFTY") is None


def test_rejects_retries_and_errors_are_counted_per_bucket() -> None:
    agg, _ = fresh()
    for bucket in ("risk", "fatal", "risk"):
        agg.add(rec("reject", error_bucket=bucket, qty=65))
    agg.add(rec("error", error_bucket="throttle"))
    agg.add(rec("retry", error_bucket="throttle"))
    agg.add(rec("error", error_bucket="transient", asset=BANK_CE, underlying="BANKNIFTY"))
    view = agg.snapshot(ALL)
    assert dict(view.rejects) == {"risk": 2, "fatal": 1}
    assert list(view.rejects) == ["risk", "fatal"]  # ErrorBucket order, whatever the arrival order
    assert dict(view.retries) == {"throttle": 1}
    assert dict(view.errors) == {"transient": 1, "throttle": 1}
    assert (view.rejects_total, view.retries_total, view.errors_total) == (3, 1, 2)
    assert dict(agg.snapshot("NIFTY").errors) == {"throttle": 1}
    assert view.fills == 0 and view.placed == 0  # a reject places nothing


def test_fill_rate_is_filled_qty_over_placed_qty_and_partial_share_counts_records() -> None:
    agg, _ = fresh()
    agg.add(rec("placed", qty=100))
    agg.add(rec("placed", qty=100))
    agg.add(rec("partial_fill", qty=30, latency_ms=5.0, slippage_bps=1.0))
    agg.add(rec("partial_fill", qty=20, latency_ms=5.0, slippage_bps=1.0))
    agg.add(rec("fill", qty=100, latency_ms=5.0, slippage_bps=1.0))
    view = agg.snapshot(ALL)
    assert (view.placed, view.placed_qty, view.filled_qty) == (2, 200, 150)
    assert view.fill_rate == 0.75
    assert (view.fills, view.partial_fills) == (3, 2)
    assert view.partial_share == pytest.approx(2 / 3)


def test_a_fill_without_latency_counts_as_a_fill_but_adds_no_latency_point() -> None:
    agg, _ = fresh()
    agg.add(fill(latency_ms=None))
    view = agg.snapshot(ALL)
    assert view.fills == 1 and view.latency_n == 0 and math.isnan(view.latency_p50_ms)
    assert view.slippage_n == 1


def test_extreme_values_pile_into_the_edge_bins_and_nan_is_not_counted() -> None:
    agg, _ = fresh((None,))
    for latency, slippage in ((1e12, 1e9), (LATENCY_CEIL_MS * 0.9999, -SLIPPAGE_CEIL_BPS * 0.9999), (0.0, 0.0),
                              (-1.0, 1e-9), (math.nan, math.nan)):
        agg.add(fill(latency_ms=latency, slippage_bps=slippage))
    view = agg.snapshot(ALL, None)
    assert (view.fills, view.latency_n, view.slippage_n) == (5, 4, 4)
    assert view.latency_p99_ms == pytest.approx(LATENCY_CEIL_MS, rel=2 * PRECISION)
    assert view.latency_p50_ms == pytest.approx(LATENCY_CEIL_MS / 2, rel=2 * PRECISION)  # between 0 and the top
    assert view.slippage_p95_bps == pytest.approx(SLIPPAGE_CEIL_BPS * 0.85, rel=2 * PRECISION)  # 85% from 0 to top


def test_events_that_are_not_aggregated_change_nothing() -> None:
    agg, _ = fresh()
    for event in ("ack", "cancel", "scenario", "model_switch", "parent", "markout"):
        agg.add(rec(event, qty=65, latency_ms=3.0))
    view = agg.snapshot(ALL, None)
    assert (view.placed, view.fills, view.latency_n, view.slippage_n) == (0, 0, 0, 0)
    assert (view.errors_total, view.retries_total, view.rejects_total) == (0, 0, 0)
    assert agg.keys() == [ALL]


def test_a_key_without_records_gives_nan_figures_and_zero_counts() -> None:
    agg, _ = fresh()
    view = agg.snapshot("SENSEX", 300.0)
    assert (view.key, view.window_s, view.fills, view.placed_qty) == ("SENSEX", 300.0, 0, 0)
    assert all(math.isnan(x) for x in (view.fill_rate, view.partial_share, view.latency_p99_ms,
                                       view.slippage_mean_bps, view.slippage_p95_bps))
    assert dict(view.rejects) == {}


def test_only_configured_windows_can_be_asked_for() -> None:
    agg, _ = fresh()
    with pytest.raises(ValueError, match="window_s: 120"):
        agg.snapshot(ALL, 120.0)


@pytest.mark.parametrize("windows", [(), (0.0, None), (1.5,), (60.0, 60.0), (float("inf"),)])
def test_bad_windows_are_refused_naming_the_field(windows: tuple[float | None, ...]) -> None:
    with pytest.raises(ValueError, match="windows_s"):
        LiveAggregates(HandClock(), windows)


def test_a_snapshot_is_served_from_cache_until_a_record_or_a_new_slot() -> None:
    agg, clock = fresh()
    agg.add(fill())
    first = agg.views(ALL)
    assert agg.views(ALL) is first
    agg.add(fill())
    second = agg.views(ALL)
    assert second is not first and second[0].fills == 2
    clock.t += 1.0
    assert agg.views(ALL) is not second


def test_an_engine_run_on_the_virtual_clock_aggregates_every_record_it_emits() -> None:
    """Real records (placed, ack, fills, errors, retries) from the engine with faults, on the virtual clock."""
    h = harness(faults=FaultRates(throttle=0.3, timeout=0.1), fault_timeout_s=0.5)
    agg = LiveAggregates(h.clock.now)
    h.engine.tracker.add_listener(agg.add)
    contract = h.atm()
    lot = h.engine.catalog.underlying("NIFTY").lot_size

    async def main() -> None:
        h.engine.market.start()
        for i in range(20):
            await h.engine.stack.execute(
                ExecutionRequest(symbol=contract.symbol, side=Side.BUY if i % 2 else Side.SELL, quantity=2 * lot,
                                 algo=Algo.TWAP, max_child_orders=2, horizon_s=2.0)
            )
        h.engine.market.stop()

    h.clock.run(main())
    fills = h.events("fill") + h.events("partial_fill")
    view = agg.snapshot(contract.symbol, None)
    assert view.fills == len(fills) > 0
    assert view.placed_qty == sum(r["qty"] for r in h.events("placed"))
    assert view.filled_qty == sum(r["qty"] for r in fills)
    assert view.retries_total == len(h.events("retry")) > 0
    assert dict(view.errors) == {
        b.value: n for b in ErrorBucket if (n := sum(r["error_bucket"] == b.value for r in h.events("error")))
    }
    latency = [r["latency_ms"] for r in fills if r["latency_ms"] is not None]
    assert view.latency_p95_ms == pytest.approx(np.percentile(latency, 95), rel=PRECISION, abs=LATENCY_FLOOR_MS)
    assert view.slippage_mean_bps == pytest.approx(np.mean([r["slippage_bps"] for r in fills]))
    assert agg.snapshot(ALL, None) == AggregateView(**{**_fields(view), "key": ALL})


def _fields(view: AggregateView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in AggregateView.__dataclass_fields__}
