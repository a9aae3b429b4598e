"""Live fill-quality charts: latency and realised slippage per child over time, their distributions, and fill rate.

Feeding is cheap and drawing is batched. Each telemetry record from `DeskBridge.record` costs a few O(1) ring-buffer
appends (into the "All", underlying and symbol buffers, so switching the asset selector is instant) and sets a dirty
flag; a QTimer at `redraw_hz` redraws the time series only when the shown key changed. The expensive part
(histograms, percentiles, fill rate over up to `capacity` points, `distributions.summarise`) runs on a worker
thread at most `DISTRIBUTION_HZ` times a second, and a later frame draws its result.

Time axis: x is seconds since the chart was created (the window builds it right after `Desk.start`), taken from
`desk.clock.now()` when the record arrives. Records reach the widget synchronously on the Qt thread in the same
loop step the tracker stamped them, so this equals the record's own `timestamp` without parsing an ISO string per
record. Drill events (`scenario` records) become vertical markers on the time plots at that same x
(`drills_markers`). Fill rate: fills (`fill` + `partial_fill` records) per one-second bin of that time; children
placed per second are overlaid, so a gap between the two lines is orders still working. The newest bin is the
current, still-filling second.

The stats line's figures (fills, latency p50/p95/p99, slippage mean/p95) are the desk's live aggregates
(`Desk.aggregates`, the same source as the execution stats table) for the selected key over the session: they
cover every fill, not only the `capacity` points the histograms hold. The session window rather than the
1-minute one because it changes only when records arrive, and the line is refreshed only then: with the
distributions' result, at most `DISTRIBUTION_HZ`, when the selected key got data. One cached snapshot read, no
per-frame work.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, override

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from imperium_desk.desk import AggregateView, Desk
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.distributions import Distribution, Distributions, DistributionWorker, SeriesSnapshot
from imperium_desk.ui.drills_markers import DrillMarkers
from imperium_desk.ui.paint_turns import PaintTurns
from imperium_desk.ui.ring_buffer import FloatArray, RingBuffer, peak_decimate
from imperium_desk.ui.stepped_range import GrowingRange, SteppedRange

# Series identity colours (the only colours here; backgrounds and text come from the QSS theme).
SERIES_COLOURS: Final[dict[str, tuple[int, int, int]]] = {
    "latency": (74, 163, 255),
    "slippage": (255, 179, 71),
    "fills": (95, 211, 141),
    "placed": (138, 143, 152),
    "zero": (110, 110, 110),
}
HISTOGRAM_FILL_ALPHA: Final = 90

ALL: Final = "All"
FILL_EVENTS: Final = frozenset({"fill", "partial_fill"})
DISTRIBUTION_HZ: Final = 5.0  # histograms + percentiles + fill rate: the part that scales with the point count
SYMBOL_CAPACITY_CAP: Final = 10_000  # per-symbol buffers: a trader touches dozens of strikes in a day
LIVE_WINDOW_S: Final = None  # the stats line shows the aggregates' session window (see the module docstring)


@dataclass(eq=False, slots=True)
class KeySeries:
    """The buffers of one selector key ("All", an underlying or a symbol). `latency` and `slippage` hold
    (t, value) per fill; `placed` holds the time of each placed child. Totals count everything ever seen."""

    key: str
    latency: RingBuffer
    slippage: RingBuffer
    placed: RingBuffer
    fills_total: int = 0
    placed_total: int = 0

    @classmethod
    def create(cls, key: str, capacity: int) -> KeySeries:
        return cls(key, RingBuffer(capacity, ("t", "ms")), RingBuffer(capacity, ("t", "bps")),
                   RingBuffer(capacity, ("t",)))

    def add_fill(self, t: float, latency_ms: float | None, slippage_bps: float | None) -> None:
        if latency_ms is not None:
            self.latency.append(t, latency_ms)
        if slippage_bps is not None:
            self.slippage.append(t, slippage_bps)
        self.fills_total += 1

    def add_placed(self, t: float) -> None:
        self.placed.append(t)
        self.placed_total += 1


@dataclass(frozen=True, slots=True)
class FillStats:
    """The selected key's figures: the chart's own buffers (histograms) and the desk's live aggregates (the line)."""

    key: str
    fills: int  # every fill the chart has seen for the key, also those the ring has dropped
    latency: Distribution  # of the buffered points, as the histogram shows them
    slippage: Distribution
    live: AggregateView  # the desk's aggregates for the key over `LIVE_WINDOW_S`

    def text(self) -> str:
        live = self.live
        parts = [f"{self.key}, session: {live.fills:,} fills"]
        parts.append(
            f"latency p50 {live.latency_p50_ms:.1f}  p95 {live.latency_p95_ms:.1f}  p99 {live.latency_p99_ms:.1f} ms"
            if live.latency_n else "latency —"
        )
        parts.append(f"slippage mean {live.slippage_mean_bps:+.2f}  p95 {live.slippage_p95_bps:+.2f} bps"
                     if live.slippage_n else "slippage —")
        text = "   ·   ".join(parts)
        if self.slippage.n < live.fills:
            text += f"   (histograms: last {self.slippage.n:,})"
        return text


def _pen(name: str) -> Any:
    return pg.mkPen(SERIES_COLOURS[name], width=1)


def _brush(name: str) -> Any:
    return pg.mkBrush(*SERIES_COLOURS[name], HISTOGRAM_FILL_ALPHA)


def _fixed_units(plot: Any) -> None:
    """Axis labels keep their unit: with SI prefixes on, every range change re-set each label's HTML (hidden
    axes too) inside the paint, and "kms" or "mbps" would misread anyway."""
    for name in ("left", "bottom", "top", "right"):
        plot.getAxis(name).enableAutoSIPrefix(False)


class FillQualityCharts(QWidget):
    """Latency, slippage and fill-rate charts for all fills, one underlying or one symbol, fed by `bridge.record`.

    `ingest(record)` is the bridge slot (also callable directly); `ingest_many(records)` is its vectorised form.
    `redraws` counts timer ticks that actually drew something.

    Over 400 lines on purpose: the three plots share one set of ring buffers, one frame timer and one worker
    result, and each frame draws from all of them in a fixed order (see the paint-turn and frame-budget notes in
    the methods); the drawing helpers it could shed already live in distributions.py and ring_buffer.py.
    """

    def __init__(
        self,
        desk: Desk,
        bridge: DeskBridge,
        parent: QWidget | None = None,
        capacity: int = 100_000,
        redraw_hz: float = 25.0,
        turns: PaintTurns | None = None,
    ) -> None:
        super().__init__(parent)
        if capacity < 1:
            raise ValueError(f"capacity: {capacity} must be at least 1")
        if not 0 < redraw_hz <= 120:
            raise ValueError(f"redraw_hz: {redraw_hz} must be in (0, 120]")
        self.setObjectName("fillQualityCharts")
        self._clock = desk.clock
        self._aggregates = desk.aggregates
        self._t0 = desk.clock.now()
        self._underlyings = frozenset(desk.underlyings)
        self.capacity = capacity
        self.symbol_capacity = min(capacity, SYMBOL_CAPACITY_CAP)
        self.redraws = 0

        self._series: dict[str, KeySeries] = {}
        self._symbols_of: dict[str, list[str]] = {}  # underlying -> its symbols seen, sorted (selector order)
        self._routes: dict[str | None, tuple[KeySeries, ...]] = {}  # asset -> the series a record of it feeds
        self._selected = self._ensure(ALL, capacity)
        self._dirty = False  # the selected series has points not drawn yet
        self._distributions_stale = False  # ... or not yet in the histograms/stats
        self._last_distributions = float("-inf")
        self._stats = FillStats(ALL, 0, Distribution.empty(), Distribution.empty(),
                                self._aggregates.snapshot(ALL, LIVE_WINDOW_S))
        self._job: Future[Distributions] | None = None  # the distributions being computed on the worker
        # Arrays the frames copy the shown buffers into, allocated once (see `RingBuffer.ordered_into`): the time
        # series' (t, value) rows, and the worker's inputs (rewritten only when no job is in flight).
        self._series_rows = (np.empty((2, capacity)), np.empty((2, capacity)))
        self._snapshot_columns = tuple(np.empty(capacity) for _ in range(4))

        self._x_range = GrowingRange()
        self._y_ranges: dict[Any, SteppedRange] = {}
        self._hist_ranges: dict[Any, tuple[SteppedRange, SteppedRange]] = {}  # histogram plot -> (x, y)
        self._hist_zoomed: set[Any] = set()  # histograms the trader zoomed or panned, until "A" is pressed
        self.following = True  # False once the trader zooms or pans a time plot, until "A" (auto-range) is pressed
        self._build(desk.underlyings)
        self._timer = QTimer(self)
        self._timer.setObjectName("fillQualityRedrawTimer")
        self._timer.setInterval(max(1, round(1000.0 / redraw_hz)))
        self._timer.timeout.connect(self._on_frame if turns is None else lambda: turns.run(self._on_frame))
        bridge.record.connect(self.ingest)

    # -- layout ----------------------------------------------------------------------------------------------
    def _build(self, underlyings: list[str]) -> None:
        pg.setConfigOptions(antialias=False)  # antialiased 100k-point curves cost several times more per frame
        self.asset_combo = QComboBox(self)
        self.asset_combo.setObjectName("fillQualityAsset")
        self.asset_combo.addItem(ALL, ALL)
        for underlying in underlyings:
            self._add_selector_entry(underlying, None)
        self.asset_combo.currentIndexChanged.connect(self._on_asset_changed)
        self.stats_label = QLabel(self._stats.text(), self)
        self.stats_label.setObjectName("fillQualityStats")
        # Its width is what the row leaves it, whatever the text: a text that changed the label's size hint
        # re-laid out the dock and repainted every plot (~20 ms, benchmarks/ui_responsiveness.py).
        self.stats_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.plots = pg.GraphicsLayoutWidget(self)
        self.plots.setObjectName("fillQualityPlots")
        self.plots.setBackground(None)  # let the QSS theme paint behind the plots
        self.latency_plot = self._time_plot(0, "Latency per child", "ms")
        self.latency_hist_plot = self._hist_plot(0, "Latency distribution", "ms")
        self.slippage_plot = self._time_plot(1, "Realised slippage", "bps")
        self.slippage_hist_plot = self._hist_plot(1, "Slippage distribution", "bps")
        self.rate_plot = self._time_plot(2, "Fill rate", "per s", colspan=2)
        self.slippage_plot.setXLink(self.latency_plot)
        self.rate_plot.setXLink(self.latency_plot)
        self.markers = DrillMarkers((self.latency_plot, self.slippage_plot, self.rate_plot), self.latency_plot)
        grid = self.plots.ci.layout
        grid.setColumnStretchFactor(0, 3)
        grid.setColumnStretchFactor(1, 1)
        for row in range(3):  # equal rows: each plot's title, axes and ticks take the same ~90 px before its curve
            grid.setRowStretchFactor(row, 1)

        self.latency_curve = self.latency_plot.plot(pen=_pen("latency"), name="latency")
        self.slippage_plot.addLine(y=0.0, pen=_pen("zero"))
        self.slippage_curve = self.slippage_plot.plot(pen=_pen("slippage"), name="slippage")
        self.latency_hist = self.latency_hist_plot.plot(
            stepMode="center", fillLevel=0, pen=_pen("latency"), brush=_brush("latency"))
        self.slippage_hist = self.slippage_hist_plot.plot(
            stepMode="center", fillLevel=0, pen=_pen("slippage"), brush=_brush("slippage"))
        self.rate_plot.addLegend(offset=(-10, 5))
        self.placed_rate_curve = self.rate_plot.plot(pen=_pen("placed"), name="placed / s")
        self.fill_rate_curve = self.rate_plot.plot(pen=_pen("fills"), name="fills / s")

        top = QHBoxLayout()
        top.addWidget(self.asset_combo)
        top.addWidget(self.stats_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.plots, 1)

    def _time_plot(self, row: int, title: str, unit: str, colspan: int = 1) -> Any:
        plot = self.plots.addPlot(row=row, col=0, colspan=colspan, title=title)
        plot.setLabel("left", unit)
        plot.setLabel("bottom", "s since start")
        # No grid: grid lines are drawn by the axes, and axis repaints were most of a frame at 30 Hz. For the same
        # reason the ranges move in steps (`_follow`) rather than by auto-range every frame.
        _fixed_units(plot)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.disableAutoRange()
        plot.vb.sigRangeChangedManually.connect(self._stop_following)
        # A zoom or pan shows other points (the stepped ranges we set are drawn in the frame that sets them).
        plot.vb.sigXRangeChanged.connect(lambda *_: None if self.following else self._mark_dirty())
        self._y_ranges[plot] = SteppedRange()
        return plot

    def _hist_plot(self, row: int, title: str, unit: str) -> Any:
        plot = self.plots.addPlot(row=row, col=1, title=title)
        plot.setLabel("bottom", unit)
        plot.setLabel("left", "fills")
        _fixed_units(plot)
        # Stepped like the time plots: auto-range moved both axes with every histogram (5 a second), and each
        # move re-laid out their ticks inside a paint.
        plot.disableAutoRange()
        plot.vb.sigRangeChangedManually.connect(lambda *_: self._hist_zoomed.add(plot))
        self._hist_ranges[plot] = (SteppedRange(), SteppedRange())
        return plot

    # -- keys and the selector -------------------------------------------------------------------------------
    def _ensure(self, key: str, capacity: int) -> KeySeries:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = KeySeries.create(key, capacity)
        return series

    def _add_selector_entry(self, key: str, underlying: str | None) -> None:
        """Underlyings follow "All" in the order seen; each symbol sits under its underlying, sorted."""
        combo = self.asset_combo
        if underlying is None:
            self._symbols_of[key] = []
            combo.addItem(key, key)
            return
        symbols = self._symbols_of[underlying]
        pos = bisect.bisect(symbols, key)
        symbols.insert(pos, key)
        combo.insertItem(combo.findData(underlying) + 1 + pos, f"    {key}", key)

    def _route(self, asset: str | None, underlying: str | None) -> tuple[KeySeries, ...]:
        """The series a record of `asset` feeds (cached: one dict hit per record after the first)."""
        route = self._routes.get(asset)
        if route is None:
            targets = [self._series[ALL]]
            if underlying:
                if underlying not in self._symbols_of:
                    self._add_selector_entry(underlying, None)
                targets.append(self._ensure(underlying, self.capacity))
            if asset and asset != underlying:
                if asset not in self._series and underlying:
                    self._add_selector_entry(asset, underlying)
                elif asset not in self._series:
                    self._add_selector_entry(asset, None)
                targets.append(self._ensure(asset, self.symbol_capacity))
            route = self._routes[asset] = tuple(targets)
        return route

    def set_asset(self, key: str) -> None:
        """Show "All", an underlying or a symbol seen so far (an underlying of the desk may have no fills yet)."""
        index = self.asset_combo.findData(key)
        if index < 0:
            raise KeyError(f"asset: {key!r} has no fills yet and is not an underlying of the desk")
        self.asset_combo.setCurrentIndex(index)

    @property
    def asset(self) -> str:
        return self._selected.key

    def _underlying_of_key(self, key: str) -> str | None:
        """The underlying a selector key belongs to (itself for an underlying; None for "All")."""
        if key in self._symbols_of:
            return key
        return next((u for u, symbols in self._symbols_of.items() if key in symbols), None)

    def _on_asset_changed(self, index: int) -> None:
        key = self.asset_combo.itemData(index)
        if not isinstance(key, str) or key == self._selected.key:  # inserting an entry above shifts the index
            return
        capacity = self.capacity if key == ALL or key in self._symbols_of else self.symbol_capacity
        self._selected = self._ensure(key, capacity)
        self._last_distributions = float("-inf")  # a new selection shows its histograms on the next frames
        self._distributions_stale = True  # (a job in flight for the old key is dropped when it lands)
        self._reset_ranges()  # another asset, another scale
        self._mark_dirty()

    # -- feeding ---------------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self._clock.now() - self._t0

    def ingest(self, record: Mapping[str, Any], at: float | None = None) -> None:
        """One telemetry record (the `bridge.record` slot). `at` overrides the x value (seconds since start)."""
        event = record.get("event")
        if event in FILL_EVENTS:
            t = self._now() if at is None else at
            route = self._route(record.get("asset"), record.get("underlying"))
            latency, slippage = record.get("latency_ms"), record.get("slippage_bps")
            for series in route:
                series.add_fill(t, latency, slippage)
        elif event == "placed":
            t = self._now() if at is None else at
            route = self._route(record.get("asset"), record.get("underlying"))
            for series in route:
                series.add_placed(t)
        elif event == "scenario":  # a drill event began or ended: a marker, drawn by the next frame
            self.markers.add(record, self._now() if at is None else at)
            self._mark_dirty()
            return
        else:
            return
        if not self._dirty and self._selected in route:
            self._mark_dirty()

    def ingest_many(self, records: Iterable[Mapping[str, Any]], at: ArrayLike | None = None) -> None:
        """Many records at once (replays, tests): one pass to sort them by key, then one `extend` per buffer.
        `at` gives each record's x value (seconds since start); without it all share the time of the call.
        Times must not decrease along the records (the time plots clip to view on sorted x)."""
        times = None if at is None else np.asarray(at, dtype=np.float64)
        now = self._now()
        fill_t: list[float] = []
        fill_latency: list[float] = []
        fill_slippage: list[float] = []
        placed_t: list[float] = []
        fill_rows: dict[KeySeries, list[int]] = {}
        placed_rows: dict[KeySeries, list[int]] = {}
        nan = float("nan")
        for i, record in enumerate(records):
            event = record.get("event")
            if event in FILL_EVENTS:
                rows, j = fill_rows, len(fill_t)
                fill_t.append(now if times is None else float(times[i]))
                latency, slippage = record.get("latency_ms"), record.get("slippage_bps")
                fill_latency.append(nan if latency is None else latency)
                fill_slippage.append(nan if slippage is None else slippage)
            elif event == "placed":
                rows, j = placed_rows, len(placed_t)
                placed_t.append(now if times is None else float(times[i]))
            else:
                continue
            for series in self._route(record.get("asset"), record.get("underlying")):
                rows.setdefault(series, []).append(j)
        self._extend_fills(fill_rows, np.asarray(fill_t), np.asarray(fill_latency), np.asarray(fill_slippage))
        placed = np.asarray(placed_t)
        for series, idx in placed_rows.items():
            series.placed.extend(placed[idx])
            series.placed_total += len(idx)
        if self._selected in fill_rows or self._selected in placed_rows:
            self._mark_dirty()

    @staticmethod
    def _extend_fills(rows: dict[KeySeries, list[int]], t: FloatArray, latency: FloatArray,
                      slippage: FloatArray) -> None:
        for series, idx in rows.items():
            st, sl, ss = t[idx], latency[idx], slippage[idx]
            has_latency, has_slippage = ~np.isnan(sl), ~np.isnan(ss)
            series.latency.extend(st[has_latency], sl[has_latency])
            series.slippage.extend(st[has_slippage], ss[has_slippage])
            series.fills_total += len(idx)

    # -- drawing ---------------------------------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    @property
    def redraw_pending(self) -> bool:
        """Something is not drawn yet (the timer is running or will start when the widget is shown)."""
        return self._dirty or self._distributions_stale or self._job is not None

    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.redraw_pending:  # a hidden chart (a tabbed-away dock) skips frames and catches up here
            self._timer.start()

    def _on_frame(self) -> None:
        if not self.isVisible():
            self._timer.stop()
            return
        drew = False
        if self._dirty:
            self._dirty = False
            self._draw_series()
            self._distributions_stale = drew = True
        job = self._job
        if job is not None and job.done():
            self._job = None
            drew = self._draw_distributions(job.result()) or drew
        elif job is None and self._distributions_stale and (
            time.monotonic() - self._last_distributions >= 1.0 / DISTRIBUTION_HZ
        ):
            self._last_distributions = time.monotonic()
            self._distributions_stale = False
            self._job = DistributionWorker.submit(self._snapshot())
        if drew:
            self.redraws += 1
        elif not self.redraw_pending:
            self._timer.stop()  # nothing changed: no wake-ups until the next record

    def _draw_series(self) -> None:
        series = self._selected
        self.markers.sync(series.key, self._underlying_of_key(series.key))
        latency = series.latency.ordered_into(self._series_rows[0])
        slippage = series.slippage.ordered_into(self._series_rows[1])
        if self._check_following():
            t = slippage[0] if slippage.shape[1] else latency[0]
            if t.size:
                x = self._x_range.update(float(t[0]), float(t[-1]))
                if x is not None:
                    self.latency_plot.setXRange(*x, padding=0)  # the other time plots are x-linked to this one
            self._follow_y(self.latency_plot, latency[1])
            self._follow_y(self.slippage_plot, slippage[1], include_zero=True)
        # Clip to the view and peak-decimate here, in a few vectorised numpy calls: handing pyqtgraph all
        # 100,000 points made each frame copy, downsample and path them (most of a frame at 30 Hz).
        (lo, hi), _ = self.latency_plot.vb.viewRange()
        points = max(400, 2 * int(self.latency_plot.vb.width()))
        self.latency_curve.setData(*peak_decimate(latency[0], latency[1], lo, hi, points), skipFiniteCheck=True)
        self.slippage_curve.setData(*peak_decimate(slippage[0], slippage[1], lo, hi, points), skipFiniteCheck=True)

    def _stop_following(self, *_: Any) -> None:
        self.following = False
        self._mark_dirty()

    def _check_following(self) -> bool:
        """The time plots follow the data unless the trader zoomed or panned one; pyqtgraph's "A" button (which
        turns auto-range on) hands them back to us."""
        if any(any(plot.vb.autoRangeEnabled()) for plot in self._y_ranges):
            self._reset_ranges()
            self.following = True
        return self.following

    def _reset_ranges(self) -> None:
        for plot, stepped in self._y_ranges.items():
            plot.disableAutoRange()
            stepped.reset()
        self._x_range.reset()
        for plot, (x, y) in self._hist_ranges.items():
            plot.disableAutoRange()
            x.reset()
            y.reset()
        self._hist_zoomed.clear()

    def _show_histogram(self, plot: Any, curve: Any, dist: Distribution) -> None:
        curve.setData(dist.edges, dist.counts)
        if any(plot.vb.autoRangeEnabled()):  # pyqtgraph's "A" button: the histogram follows its data again
            plot.disableAutoRange()
            self._hist_zoomed.discard(plot)
            for stepped in self._hist_ranges[plot]:
                stepped.reset()
        if plot in self._hist_zoomed or not dist.n:
            return
        x_range, y_range = self._hist_ranges[plot]
        x = x_range.update(float(dist.edges[0]), float(dist.edges[-1]))
        if x is not None:
            plot.setXRange(*x, padding=0)
        y = y_range.update(0.0, float(dist.counts.max()))
        if y is not None:
            plot.setYRange(0.0, y[1], padding=0)  # counts start at zero: no headroom below it

    def _follow_y(self, plot: Any, values: FloatArray, include_zero: bool = False) -> None:
        if not values.size or not self.following:
            return
        lo, hi = float(values.min()), float(values.max())
        if include_zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        y = self._y_ranges[plot].update(lo, hi)
        if y is not None:
            plot.setYRange(*y, padding=0)

    def _snapshot(self) -> SeriesSnapshot:
        series = self._selected
        latency, slippage, fill_times, placed_times = self._snapshot_columns
        return SeriesSnapshot(
            series.key, series.latency.column_into("ms", latency), series.slippage.column_into("bps", slippage),
            series.slippage.column_into("t", fill_times), series.placed.column_into("t", placed_times),
            fills_truncated=series.fills_total > len(series.slippage),
            placed_truncated=series.placed_total > len(series.placed))

    def _draw_distributions(self, result: Distributions) -> bool:
        """Draw the worker's histograms, fill rates and the stats line; False (and nothing drawn) when the
        trader picked another key while it ran (the next frame asks for that key's)."""
        series = self._selected
        if result.key != series.key:
            return False
        self._show_histogram(self.latency_hist_plot, self.latency_hist, result.latency)
        self._show_histogram(self.slippage_hist_plot, self.slippage_hist, result.slippage)
        self.fill_rate_curve.setData(*result.fill_rate, skipFiniteCheck=True)
        self.placed_rate_curve.setData(*result.placed_rate, skipFiniteCheck=True)
        self._follow_y(self.rate_plot, np.concatenate((result.fill_rate[1], result.placed_rate[1])), include_zero=True)
        self._stats = FillStats(series.key, series.fills_total, result.latency, result.slippage,
                                self._aggregates.snapshot(series.key, LIVE_WINDOW_S))
        text = self._stats.text()
        self.stats_label.setText(text)
        self.stats_label.setToolTip(text)  # the whole line, where the dock is too narrow to show it
        return True

    # -- read access (tests, the window) ---------------------------------------------------------------------
    @property
    def buffers(self) -> Mapping[str, KeySeries]:
        """Every key's buffers, by key ("All", underlyings, symbols)."""
        return MappingProxyType(self._series)

    @property
    def stats(self) -> FillStats:
        """The stats line's and the histograms' numbers, as of the last distribution redraw."""
        return self._stats

    def points(self, key: str = ALL) -> int:
        """Fills held for `key` (its slippage points; every fill record carries `slippage_bps`)."""
        series = self._series.get(key)
        return 0 if series is None else len(series.slippage)
