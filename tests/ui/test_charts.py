"""Fill-quality charts: fed by telemetry records, drawn on a timer, filtered by the asset selector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Algo, OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.ui import distributions
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.charts import ALL, FillQualityCharts
from imperium_desk.ui.distributions import Distributions, SeriesSnapshot, per_second, summarise
from tests.ui.conftest import show_sized

NIFTY_CE = "NIFTY24DEC24000CE"
BANK_PE = "BANKNIFTY24DEC52000PE"


def record(
    event: str = "fill",
    *,
    asset: str = NIFTY_CE,
    underlying: str = "NIFTY",
    latency_ms: float | None = 5.0,
    slippage_bps: float | None = 10.0,
) -> dict[str, Any]:
    """The keys the charts read from a telemetry record (DESIGN §5)."""
    rec: dict[str, Any] = {"event": event, "asset": asset, "underlying": underlying, "seq": 1}
    if event in {"fill", "partial_fill"}:
        rec["latency_ms"] = latency_ms
        rec["slippage_bps"] = slippage_bps
    return rec


def make_charts(qtbot: QtBot, desk: Desk, bridge: DeskBridge, **kwargs: Any) -> FillQualityCharts:
    return show_sized(qtbot, FillQualityCharts(desk, bridge, **kwargs), 900, 600)


@pytest.fixture
def charts(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> Iterator[FillQualityCharts]:
    yield make_charts(qtbot, desk, bridge)


def drawn(curve: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The full data a curve was given (before view clipping and downsampling)."""
    if curve.xData is None:  # never given data
        return np.empty(0), np.empty(0)
    return np.asarray(curve.xData), np.asarray(curve.yData)


def test_a_real_fill_lands_in_the_latency_and_slippage_buffers(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, charts: FillQualityCharts
) -> None:
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    fills: list[dict[str, Any]] = []
    bridge.record.connect(lambda r: fills.append(r) if r["event"] in {"fill", "partial_fill"} else None)
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=desk.lot_size("NIFTY"), algo=Algo.IMMEDIATE))
    qtbot.waitUntil(lambda: charts.points() == 1, timeout=3000)

    assert len(fills) == 1
    fill = fills[0]
    assert fill["latency_ms"] is not None
    for key in (ALL, "NIFTY", symbol):
        series = charts.buffers[key]
        assert series.latency.column("ms").tolist() == [fill["latency_ms"]]
        assert series.slippage.column("bps").tolist() == [fill["slippage_bps"]]
        assert len(series.placed) == 1
    assert charts.points("BANKNIFTY") == 0
    qtbot.waitUntil(lambda: len(drawn(charts.latency_curve)[1]) == 1, timeout=1000)


def test_the_stats_line_shows_the_live_session_aggregates_of_the_selected_key(
    qtbot: QtBot, desk: Desk, charts: FillQualityCharts
) -> None:
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    lot = desk.lot_size("NIFTY")
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=lot, algo=Algo.IMMEDIATE))
    desk.submit(ExecutionRequest(symbol=symbol, side=Side.SELL, quantity=lot, algo=Algo.IMMEDIATE))
    qtbot.waitUntil(lambda: "All, session: 2 fills" in charts.stats_label.text(), timeout=3000)
    live = desk.aggregates.snapshot(ALL, None)
    assert charts.stats.live == live
    text = charts.stats_label.text()
    assert f"p50 {live.latency_p50_ms:.1f}  p95 {live.latency_p95_ms:.1f}  p99 {live.latency_p99_ms:.1f} ms" in text
    assert f"slippage mean {live.slippage_mean_bps:+.2f}  p95 {live.slippage_p95_bps:+.2f} bps" in text

    charts.set_asset("BANKNIFTY")
    qtbot.waitUntil(lambda: charts.stats_label.text().startswith("BANKNIFTY, session: 0 fills"), timeout=1000)
    assert "latency —" in charts.stats_label.text()
    charts.set_asset(symbol)
    qtbot.waitUntil(lambda: charts.stats_label.text().startswith(f"{symbol}, session: 2 fills"), timeout=1000)


def test_redraws_come_from_the_timer_not_per_record(qtbot: QtBot, charts: FillQualityCharts) -> None:
    for i in range(1000):
        charts.ingest(record(latency_ms=float(i % 17), slippage_bps=float(i % 13)))
    assert charts.redraws == 0  # ingesting only marks the chart dirty
    qtbot.wait(200)
    assert 0 < charts.redraws < 15
    assert charts.points() == 1000
    assert len(drawn(charts.latency_curve)[1]) == 1000


def test_nothing_redraws_while_nothing_changes(qtbot: QtBot, charts: FillQualityCharts) -> None:
    qtbot.wait(150)
    assert charts.redraws == 0
    charts.ingest(record())
    qtbot.waitUntil(lambda: not charts.redraw_pending, timeout=1000)
    settled = charts.redraws
    qtbot.wait(300)
    assert charts.redraws == settled
    assert not charts._timer.isActive()


def test_records_of_an_unselected_asset_do_not_redraw(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest(record(asset=BANK_PE, underlying="BANKNIFTY"))
    charts.set_asset(BANK_PE)
    qtbot.waitUntil(lambda: not charts.redraw_pending, timeout=1000)
    settled = charts.redraws
    for _ in range(50):
        charts.ingest(record(asset=NIFTY_CE, underlying="NIFTY"))
    qtbot.wait(150)
    assert charts.redraws == settled
    assert charts.points(BANK_PE) == 1 and charts.points(ALL) == 51


def test_the_asset_selector_filters_by_symbol_and_underlying(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest(record(asset=NIFTY_CE, underlying="NIFTY", latency_ms=3.0, slippage_bps=1.0))
    charts.ingest(record(asset=BANK_PE, underlying="BANKNIFTY", latency_ms=9.0, slippage_bps=-2.0))
    assert charts.points(ALL) == 2
    assert charts.points("NIFTY") == 1 and charts.points(NIFTY_CE) == 1
    assert charts.points("BANKNIFTY") == 1 and charts.points(BANK_PE) == 1

    combo = charts.asset_combo
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys == [ALL, "NIFTY", NIFTY_CE, "BANKNIFTY", BANK_PE]  # each symbol under its underlying
    qtbot.waitUntil(lambda: len(drawn(charts.latency_curve)[1]) == 2, timeout=1000)

    combo.setFocus()
    for _ in range(keys.index(BANK_PE)):
        qtbot.keyClick(combo, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]
    assert charts.asset == BANK_PE
    qtbot.waitUntil(lambda: drawn(charts.latency_curve)[1].tolist() == [9.0], timeout=1000)
    assert drawn(charts.slippage_curve)[1].tolist() == [-2.0]

    charts.set_asset("NIFTY")
    qtbot.waitUntil(lambda: drawn(charts.latency_curve)[1].tolist() == [3.0], timeout=1000)


def test_an_underlying_without_fills_can_be_selected_but_an_unknown_symbol_cannot(
    qtbot: QtBot, charts: FillQualityCharts
) -> None:
    charts.set_asset("BANKNIFTY")
    assert charts.asset == "BANKNIFTY" and charts.points("BANKNIFTY") == 0
    with pytest.raises(KeyError, match="asset"):
        charts.set_asset("NOSUCH24DEC100CE")


def test_capacity_keeps_the_newest_points(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    charts = make_charts(qtbot, desk, bridge, capacity=100)
    for i in range(250):
        rec = record(latency_ms=float(i), slippage_bps=float(i))
        desk.aggregates.add(rec)  # as the desk does before the bridge: the stats line reads the aggregates
        charts.ingest(rec, at=float(i))
    assert charts.points() == 100
    assert charts.buffers[ALL].latency.column("ms").tolist() == [float(i) for i in range(150, 250)]
    assert charts.buffers[ALL].fills_total == 250
    qtbot.waitUntil(lambda: charts.stats.fills == 250, timeout=1000)
    assert charts.stats.latency.n == 100
    assert "last 100" in charts.stats_label.text()


def test_a_fill_without_latency_counts_but_draws_no_latency_point(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest(record(event="partial_fill", latency_ms=None, slippage_bps=4.0))
    assert len(charts.buffers[ALL].latency) == 0
    assert charts.points() == 1 and charts.buffers[ALL].fills_total == 1


def test_fill_rate_is_fills_per_second_with_placed_overlaid(qtbot: QtBot, charts: FillQualityCharts) -> None:
    for t in (0.0, 0.05, 0.1, 2.2):
        charts.ingest(record(event="placed"), at=t)
    for t in (0.1, 0.2, 2.5):
        charts.ingest(record(), at=t)
    charts.ingest(record(event="ack"), at=3.0)  # neither a fill nor a placement
    qtbot.waitUntil(lambda: charts.stats.fills == 3, timeout=1000)
    x, rate = drawn(charts.fill_rate_curve)
    assert x.tolist() == [0.5, 1.5, 2.5] and rate.tolist() == [2.0, 0.0, 1.0]
    x, rate = drawn(charts.placed_rate_curve)
    assert x.tolist() == [0.5, 1.5, 2.5] and rate.tolist() == [3.0, 0.0, 1.0]


def test_per_second_drops_the_partly_held_oldest_bin_of_a_truncated_buffer() -> None:
    times = np.array([3.9, 4.1, 4.2, 5.7])
    assert [a.tolist() for a in per_second(times)] == [[3.5, 4.5, 5.5], [1.0, 2.0, 1.0]]
    assert [a.tolist() for a in per_second(times, truncated=True)] == [[4.5, 5.5], [2.0, 1.0]]
    assert [a.size for a in per_second(np.empty(0))] == [0, 0]


def test_a_hidden_chart_draws_only_once_shown(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.hide()
    charts.ingest(record())
    qtbot.wait(120)
    assert charts.redraws == 0 and charts.redraw_pending
    charts.show()
    qtbot.waitUntil(lambda: charts.redraws > 0 and len(drawn(charts.latency_curve)[1]) == 1, timeout=1000)


def test_a_hundred_thousand_points_ingest_and_draw(qtbot: QtBot, desk: Desk, charts: FillQualityCharts) -> None:
    n = 100_000
    rng = np.random.default_rng(7)
    latency = rng.lognormal(1.5, 0.4, n).round(3)
    slippage = rng.normal(5.0, 8.0, n).round(4)
    assets = [(NIFTY_CE, "NIFTY"), ("NIFTY24DEC24100PE", "NIFTY"), (BANK_PE, "BANKNIFTY")]
    records = [
        record(asset=assets[i % 3][0], underlying=assets[i % 3][1], latency_ms=float(latency[i]),
               slippage_bps=float(slippage[i]))
        for i in range(n)
    ]
    for rec in records:
        desk.aggregates.add(rec)  # as the desk does before the bridge: the stats line reads the aggregates
    charts.ingest_many(records, at=np.arange(n) * 0.001)
    assert charts.points(ALL) == n
    assert charts.points("NIFTY") == n - n // 3
    assert charts.points(BANK_PE) == min(n // 3, charts.symbol_capacity)

    qtbot.waitUntil(lambda: charts.stats.fills == n, timeout=2000)
    # Drawn clipped to the view and peak-decimated: a few thousand points that keep every extreme.
    _, ys = drawn(charts.latency_curve)
    assert len(ys) < 10_000
    assert (ys.max(), ys.min()) == (latency.max(), latency.min())
    assert drawn(charts.slippage_curve)[0][-1] == (n - 1) * 0.001
    stats = charts.stats
    assert stats.latency.p50 == pytest.approx(np.percentile(latency, 50))
    assert stats.latency.p95 == pytest.approx(np.percentile(latency, 95))
    assert stats.slippage.mean == pytest.approx(slippage.mean())
    assert stats.slippage.p95 == pytest.approx(np.percentile(slippage, 95))
    assert drawn(charts.latency_hist)[1].sum() == n  # tails are piled into the edge bins, not dropped
    assert drawn(charts.fill_rate_curve)[1].sum() == n
    assert f"{n:,} fills" in charts.stats_label.text()


def test_the_time_plots_follow_new_data_in_steps(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest_many([record(latency_ms=5.0)] * 10, at=np.linspace(0.0, 50.0, 10))
    qtbot.waitUntil(lambda: charts.redraws >= 1)
    (x0, x1), (y0, y1) = charts.latency_plot.vb.viewRange()
    assert x0 <= 0.0 and x1 >= 50.0
    assert y0 <= 5.0 <= y1


def test_a_zoomed_plot_stops_following_until_auto_range_is_pressed(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest_many([record()] * 5, at=np.linspace(0.0, 10.0, 5))
    qtbot.waitUntil(lambda: charts.redraws >= 1)
    charts.latency_plot.vb.sigRangeChangedManually.emit([True, True])  # what a mouse zoom emits
    assert not charts.following
    charts.latency_plot.vb.enableAutoRange()  # what the "A" button does
    charts.ingest_many([record()] * 5, at=np.linspace(20.0, 500.0, 5))
    qtbot.waitUntil(lambda: charts.following and charts.latency_plot.vb.viewRange()[0][1] >= 500.0)


def latency_records(values: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    return [record(latency_ms=float(v)) for v in values]


def test_a_histogram_keeps_its_range_while_its_data_stay_inside_it(qtbot: QtBot, charts: FillQualityCharts) -> None:
    charts.ingest_many(latency_records(np.linspace(10.0, 20.0, 200)), at=np.linspace(0.0, 10.0, 200))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 200)
    (x0, x1), (y0, y1) = first = charts.latency_hist_plot.vb.viewRange()
    first_edges = charts.stats.latency.edges.copy()
    assert x0 <= 10.0 and x1 >= 20.0 and y0 == 0.0 and y1 > 0.0
    charts.ingest_many(latency_records(np.linspace(11.0, 19.0, 200)), at=np.linspace(10.0, 20.0, 200))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 400)
    # The percentile edges moved, the range did not: no axis re-layout for a new histogram alone.
    assert not np.array_equal(charts.stats.latency.edges, first_edges)
    assert charts.latency_hist_plot.vb.viewRange()[0] == first[0]
    charts.ingest_many(latency_records(np.linspace(100.0, 200.0, 400)), at=np.linspace(20.0, 30.0, 400))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 800)
    assert charts.latency_hist_plot.vb.viewRange()[0][1] >= 195.0  # data past the range: it steps out


def test_a_zoomed_histogram_stays_zoomed_until_auto_range_is_pressed(
    qtbot: QtBot, charts: FillQualityCharts
) -> None:
    charts.ingest_many(latency_records(np.linspace(10.0, 20.0, 200)), at=np.linspace(0.0, 10.0, 200))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 200)
    plot = charts.latency_hist_plot
    plot.setXRange(12.0, 13.0, padding=0)
    plot.vb.sigRangeChangedManually.emit([True, False])  # what a mouse zoom emits
    charts.ingest_many(latency_records(np.linspace(100.0, 200.0, 400)), at=np.linspace(10.0, 20.0, 400))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 600)
    assert plot.vb.viewRange()[0] == pytest.approx([12.0, 13.0])
    assert charts.following  # zooming a histogram leaves the time plots following
    plot.vb.enableAutoRange()  # what the "A" button does
    charts.ingest_many(latency_records(np.linspace(10.0, 20.0, 10)), at=np.linspace(20.0, 21.0, 10))
    qtbot.waitUntil(lambda: plot.vb.viewRange()[0][1] >= 195.0 and not any(plot.vb.autoRangeEnabled()))


def test_axes_keep_their_units_without_si_prefixes(charts: FillQualityCharts) -> None:
    for plot in (charts.latency_plot, charts.latency_hist_plot, charts.slippage_plot, charts.rate_plot):
        assert not plot.getAxis("left").autoSIPrefix and not plot.getAxis("bottom").autoSIPrefix


def test_the_distributions_are_computed_off_the_qt_thread(
    qtbot: QtBot, charts: FillQualityCharts, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []

    def on_a_thread(snapshot: SeriesSnapshot) -> Distributions:
        threads.append(threading.current_thread())
        return summarise(snapshot)

    monkeypatch.setattr(distributions, "summarise", on_a_thread)
    charts.ingest_many([record(latency_ms=float(i)) for i in range(10)], at=np.arange(10.0))
    qtbot.waitUntil(lambda: charts.stats.latency.n == 10, timeout=1000)
    assert threads and all(thread is not threading.main_thread() for thread in threads)


def test_distributions_of_a_key_the_trader_has_left_are_dropped_for_the_new_keys(
    qtbot: QtBot, charts: FillQualityCharts, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    keys: list[str] = []

    def held(snapshot: SeriesSnapshot) -> Distributions:
        keys.append(snapshot.key)
        release.wait(5.0)
        return summarise(snapshot)

    monkeypatch.setattr(distributions, "summarise", held)
    charts.ingest(record(asset=NIFTY_CE, underlying="NIFTY", latency_ms=3.0))
    charts.ingest(record(asset=BANK_PE, underlying="BANKNIFTY", latency_ms=9.0))
    qtbot.waitUntil(lambda: keys == [ALL], timeout=1000)  # "All" is being summarised...
    charts.set_asset(BANK_PE)  # ...when the trader picks another key
    release.set()
    qtbot.waitUntil(lambda: not charts.redraw_pending, timeout=2000)
    assert keys == [ALL, BANK_PE]
    assert charts.stats.key == BANK_PE and charts.stats.latency.n == 1
    assert drawn(charts.latency_hist)[1].sum() == 1
