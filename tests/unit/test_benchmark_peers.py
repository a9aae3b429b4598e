"""benchmarks/peers: every engine is handed the same workload (no timing here; the benchmark measures)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from benchmarks.peers_hftbacktest import depth_events
from benchmarks.peers_imperium import scenario_spec, trading_end
from benchmarks.peers_nautilus import slip_probability
from benchmarks.peers_workload import Workload, child_schedule, nifty_lot_size, quote_series
from benchmarks.replay_throughput import CONFIG
from imperium_desk.domain.enums import Algo, Side
from imperium_desk.domain.instruments import IST

FLAGS = {"DEPTH_EVENT": 1, "BUY_EVENT": 1 << 29, "SELL_EVENT": 1 << 28, "EXCH_EVENT": 1 << 31, "LOCAL_EVENT": 1 << 30}
EVENT_DTYPE = np.dtype([("ev", "<u8"), ("exch_ts", "<i8"), ("local_ts", "<i8"), ("px", "<f8"), ("qty", "<f8"),
                        ("order_id", "<u8"), ("ival", "<i8"), ("fval", "<f8")], align=True)


def workload(parents: int = 200, seed: int = 11) -> Workload:
    return Workload(parents=parents, lot_size=nifty_lot_size(), seed=seed)


def test_quote_series_is_the_same_for_the_same_seed() -> None:
    a, b = quote_series(workload()), quote_series(workload())
    assert np.array_equal(a.ts_ns, b.ts_ns) and np.array_equal(a.bid, b.bid) and np.array_equal(a.ask, b.ask)


def test_quote_series_changes_with_the_seed() -> None:
    assert not np.array_equal(quote_series(workload(seed=11)).bid, quote_series(workload(seed=12)).bid)


def test_quotes_keep_the_spread_on_the_tick_grid() -> None:
    w = workload()
    q = quote_series(w)
    assert np.allclose(q.ask - q.bid, w.spread)
    assert np.allclose(np.round(q.bid / w.tick) * w.tick, q.bid)


def test_quotes_cover_every_child_and_its_fill() -> None:
    w = workload()
    q = quote_series(w)
    assert np.all(np.diff(q.ts_ns) == w.quote_interval_ms * 1_000_000)
    assert (q.ts_ns[-1] - w.start_ns) / 1e9 >= child_schedule(w).t_s[-1] + 1.0


def test_children_alternate_sides_parent_by_parent() -> None:
    w = workload(parents=4)
    s = child_schedule(w)
    assert s.t_s.tolist() == [float(t) for t in range(40)]
    assert s.buy.tolist() == [True] * 10 + [False] * 10 + [True] * 10 + [False] * 10


def test_child_quantity_is_two_nifty_lots() -> None:
    w = workload()
    assert (w.child_qty, w.lot_size) == (2 * nifty_lot_size(), 65)


def test_this_engines_scenario_places_the_same_parents() -> None:
    w = workload(parents=5)
    spec = scenario_spec(w, "NIFTY26NOV26000CE")
    placed = sorted((t, o.side) for o in spec.orders for t in o.times(spec.duration_s))
    assert placed == [(0.0, Side.BUY), (10.0, Side.SELL), (20.0, Side.BUY), (30.0, Side.SELL), (40.0, Side.BUY)]


def test_this_engines_orders_are_twaps_of_ten_children() -> None:
    w = workload()
    for order in scenario_spec(w, "NIFTY26NOV26000CE").orders:
        assert (order.algo, order.lots, order.params.max_child_orders, order.params.horizon_s) == (
            Algo.TWAP, w.lots, w.children, w.horizon_s)


def test_this_engines_config_has_the_workloads_latency_slippage_and_tick() -> None:
    w = workload()
    assert CONFIG["latency_model"]["global"] == {"type": "normal", "mean_ms": w.latency_mean_ms,
                                                 "std_ms": w.latency_std_ms}
    slip = CONFIG["slippage_model"]["global"]
    assert (slip["type"], slip["median"], slip["sigma"], slip["unit"]) == (
        "lognormal", w.slippage_median_bps, w.slippage_sigma, "bps")
    assert CONFIG["market"]["tick_interval_ms"] == w.quote_interval_ms


def test_nautilus_slip_chance_matches_the_lognormal_mean() -> None:
    w = workload()
    lognormal_mean = w.slippage_median_bps * math.exp(w.slippage_sigma**2 / 2) / 1e4 * w.mid
    assert slip_probability(w) * w.tick == pytest.approx(lognormal_mean)


def test_hftbacktest_events_rebuild_each_quote_without_crossing() -> None:
    w = workload(parents=20)
    q = quote_series(w)
    events = depth_events(w, q, EVENT_DTYPE, FLAGS)
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for i, e in enumerate(events):
        book = bids if e["ev"] & FLAGS["BUY_EVENT"] else asks
        if e["qty"] > 0:
            book[float(e["px"])] = float(e["qty"])
        else:
            book.pop(float(e["px"]))
        if bids and asks:
            assert max(bids) < min(asks)
        if i % 4 == 3:
            assert (list(bids), list(asks)) == ([q.bid[i // 4]], [q.ask[i // 4]])


def test_trading_end_skips_nights_and_the_weekend() -> None:
    monday = datetime(2026, 11, 23, 9, 15, tzinfo=IST)
    assert trading_end(monday, 3600) == datetime(2026, 11, 23, 10, 15, tzinfo=IST)
    five_sessions = 5 * (6 * 3600 + 15 * 60)
    assert trading_end(monday, five_sessions + 60) == datetime(2026, 11, 30, 9, 16, tzinfo=IST)
