"""The fill-quality charts' distribution work: histograms, percentiles and fill rates over up to 100,000 buffered
points (Qt-free, so it runs on a worker thread and is tested without a display).

At 100k points one histogram with its percentiles costs ~4 ms and the two fill rates ~1 ms: on the Qt thread that
was a third of a frame's budget, and with the time series and their paint it made the window's longest stalls
(benchmarks/ui_responsiveness.py). `summarise` takes a `SeriesSnapshot` (copies of the ring buffers, so the Qt
thread may keep appending while it runs) and returns plain arrays the chart only has to
hand to pyqtgraph. Nearly all of it is numpy calls that release the GIL on arrays this size, so the worker does
not hold the Qt thread up.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from imperium_desk.ui.ring_buffer import FloatArray

HISTOGRAM_BINS: Final = 60
# Histograms span the 0.5th..99.5th percentile and pile the tails into the edge bins, so one outlier does not
# squash the shape into a single bar.
HISTOGRAM_TAILS: Final = (0.5, 99.5)
RATE_BIN_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary and histogram of one buffered series (empty arrays and NaNs when there is no data)."""

    n: int
    mean: float
    p50: float
    p95: float
    edges: FloatArray = field(repr=False)
    counts: FloatArray = field(repr=False)

    @classmethod
    def of(cls, values: FloatArray, bins: int = HISTOGRAM_BINS) -> Distribution:
        if values.size == 0:
            return cls.empty()
        lo, p50, p95, hi = np.percentile(values, (HISTOGRAM_TAILS[0], 50.0, 95.0, HISTOGRAM_TAILS[1]))
        if hi <= lo:  # one distinct value (e.g. a constant latency model): give it a visible bar
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
        return cls(int(values.size), float(values.mean()), float(p50), float(p95), edges.astype(np.float64),
                   counts.astype(np.float64))

    @classmethod
    def empty(cls) -> Distribution:
        return cls(0, float("nan"), float("nan"), float("nan"), np.empty(0), np.empty(0))


def per_second(times: FloatArray, *, truncated: bool = False) -> tuple[FloatArray, FloatArray]:
    """Events per `RATE_BIN_S` bin as (bin centres, counts), empty bins included. `truncated` (the ring dropped
    older points) discards the oldest bin, which may be only partly held."""
    if times.size == 0:
        return np.empty(0), np.empty(0)
    bins = np.floor(times / RATE_BIN_S)
    first = bins.min()
    counts = np.bincount((bins - first).astype(np.int64)).astype(np.float64)
    centres = (first + np.arange(counts.size) + 0.5) * RATE_BIN_S
    if truncated and counts.size > 1:
        centres, counts = centres[1:], counts[1:]
    return centres, counts / RATE_BIN_S


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    """What the distributions of one selector key are computed from: copies of its buffers that no append changes
    (the chart writes them only while no job of its own is in flight)."""

    key: str
    latency_ms: FloatArray
    slippage_bps: FloatArray
    fill_times: FloatArray  # one per fill (the slippage buffer's times: every fill record carries slippage)
    placed_times: FloatArray
    fills_truncated: bool  # the ring has dropped older fills
    placed_truncated: bool


@dataclass(frozen=True, slots=True)
class Distributions:
    """The histograms and fill rates of one snapshot, ready to draw."""

    key: str
    latency: Distribution
    slippage: Distribution
    fill_rate: tuple[FloatArray, FloatArray]  # (bin centres, fills per second)
    placed_rate: tuple[FloatArray, FloatArray]  # (bin centres, children placed per second)


def summarise(snapshot: SeriesSnapshot) -> Distributions:
    return Distributions(
        snapshot.key,
        Distribution.of(snapshot.latency_ms),
        Distribution.of(snapshot.slippage_bps),
        per_second(snapshot.fill_times, truncated=snapshot.fills_truncated),
        per_second(snapshot.placed_times, truncated=snapshot.placed_truncated),
    )


class DistributionWorker:
    """One worker thread, shared by every chart of the process (there is one in the window; tests make many):
    the jobs are short and a chart has at most one in flight, so they never wait long behind each other."""

    _pool: ThreadPoolExecutor | None = None

    @classmethod
    def submit(cls, snapshot: SeriesSnapshot) -> Future[Distributions]:
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart-distributions")
        return cls._pool.submit(summarise, snapshot)
