"""Outlier rules for one metric: the robust z-score by MAD and Tukey's IQR fences.

- MAD: z = 0.6745 · (x − median) / MAD, an outlier when |z| > 3.5 (Iglewicz and Hoaglin's modified z-score;
  0.6745 is the normal's 0.75 quantile, so z is in standard deviations for normal data). When more than half
  the values are equal, MAD is 0; then the mean absolute deviation stands in, z = (x − median) / (1.253314 ·
  MeanAD) (the same authors' fallback: 1.253314 · MeanAD estimates the normal's sigma), and when that is 0 too
  every value equals the median and nothing is an outlier.
- IQR: below Q1 − 1.5 · IQR or above Q3 + 1.5 · IQR (quartiles by linear interpolation, numpy's default).
  With IQR 0 (a point mass over the middle half, e.g. most fills at exactly zero slippage) every other value is
  outside the fences: that is what the rule says, and the MAD fallback above is the one to read then.

`RobustStats` is computed once (from all values, or from a uniform sample of a stream too large to hold) and
then applied to any values, so a file can be scanned for outliers in a second pass without holding it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Z_CUTOFF = 3.5
Z_CONSTANT = 0.6745
MEAN_AD_CONSTANT = 1.253314
IQR_FACTOR = 1.5

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class RobustStats:
    """The location and spread of one metric's values (in that metric's own units, e.g. ms or bps) that both
    outlier rules are applied against; `n` is how many values they were computed from."""

    n: int
    median: float
    mad: float
    mean_ad: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def low_fence(self) -> float:
        return self.q1 - IQR_FACTOR * self.iqr

    @property
    def high_fence(self) -> float:
        return self.q3 + IQR_FACTOR * self.iqr

    @property
    def z_basis(self) -> str:
        """What scales the z-score: `mad`, `mean_ad` (MAD is 0), or `none` (all values equal)."""
        if self.mad > 0:
            return "mad"
        return "mean_ad" if self.mean_ad > 0 else "none"

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "n": self.n,
            "median": self.median,
            "mad": self.mad,
            "mean_ad": self.mean_ad,
            "z_basis": self.z_basis,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.iqr,
            "low_fence": self.low_fence,
            "high_fence": self.high_fence,
        }


def robust_stats(values: FloatArray) -> RobustStats:
    """Median, MAD, mean absolute deviation and quartiles of `values` (at least one finite value)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values")
    median = float(np.median(x))
    deviation = np.abs(x - median)
    q1, q3 = (float(q) for q in np.percentile(x, [25.0, 75.0]))
    return RobustStats(x.size, median, float(np.median(deviation)), float(deviation.mean()), q1, q3)


def robust_z(values: FloatArray, stats: RobustStats) -> FloatArray:
    """The modified z-score of each value (0 for all when every value equals the median)."""
    x = np.asarray(values, dtype=np.float64)
    if stats.mad > 0:
        return Z_CONSTANT * (x - stats.median) / stats.mad
    if stats.mean_ad > 0:
        return (x - stats.median) / (MEAN_AD_CONSTANT * stats.mean_ad)
    return np.zeros_like(x)


def mad_outliers(values: FloatArray, stats: RobustStats) -> BoolArray:
    return np.abs(robust_z(values, stats)) > Z_CUTOFF


def iqr_outliers(values: FloatArray, stats: RobustStats) -> BoolArray:
    x = np.asarray(values, dtype=np.float64)
    return (x < stats.low_fence) | (x > stats.high_fence)


def z_of(value: float, stats: RobustStats) -> float:
    """`robust_z` of one value, without numpy (a per-record scan)."""
    if stats.mad > 0:
        return Z_CONSTANT * (value - stats.median) / stats.mad
    if stats.mean_ad > 0:
        return (value - stats.median) / (MEAN_AD_CONSTANT * stats.mean_ad)
    return 0.0


def rules_hit(value: float, stats: RobustStats) -> tuple[str, ...]:
    """Which rules flag one value: a subset of ("mad", "iqr"), in that order."""
    hits = []
    if abs(z_of(value, stats)) > Z_CUTOFF:
        hits.append("mad")
    if value < stats.low_fence or value > stats.high_fence:
        hits.append("iqr")
    return tuple(hits)


@dataclass(frozen=True, slots=True)
class Outlier:
    """One flagged value: where it came from (record `seq`, parent, asset), the value and the rules that flag it."""

    metric: str
    seq: int | None
    parent_id: str | None
    asset: str | None
    value: float
    robust_z: float
    rules: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "seq": self.seq,
            "parent_id": self.parent_id,
            "asset": self.asset,
            "value": round(self.value, 6),
            "robust_z": round(self.robust_z, 3) if math.isfinite(self.robust_z) else None,
            "rules": list(self.rules),
        }


class OutlierScan:
    """Applies both rules to a stream of values of one metric: exact counts per rule, and the `limit` most extreme
    outliers (largest |z| first, then the earliest `seq`) kept in a bounded heap."""

    def __init__(self, metric: str, stats: RobustStats, limit: int = 100) -> None:
        self.metric = metric
        self.stats = stats
        self.limit = limit
        self.counts = {"mad": 0, "iqr": 0, "either": 0, "both": 0}
        self._heap: list[tuple[float, int, int, Outlier]] = []
        self._order = 0  # ties on |z| and seq (e.g. seq null) keep arrival order

    def add(self, value: float, seq: int | None, parent_id: str | None, asset: str | None) -> None:
        stats = self.stats
        z = z_of(value, stats)
        by_mad = abs(z) > Z_CUTOFF
        by_iqr = value < stats.low_fence or value > stats.high_fence
        if not (by_mad or by_iqr):
            return
        counts = self.counts
        counts["either"] += 1
        if by_mad:
            counts["mad"] += 1
        if by_iqr:
            counts["iqr"] += 1
        if by_mad and by_iqr:
            counts["both"] += 1
        rules = ("mad", "iqr") if by_mad and by_iqr else ("mad",) if by_mad else ("iqr",)
        self._order += 1
        # Min-heap on (|z|, -seq, -order): the weakest outlier, and among equals the latest, is evicted first.
        key = (abs(z), -(seq if seq is not None else 0), -self._order)
        item = (*key, Outlier(self.metric, seq, parent_id, asset, value, z, rules))
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
        elif key > self._heap[0][:3]:
            heapq.heapreplace(self._heap, item)

    def add_all(
        self,
        values: FloatArray,
        seqs: Sequence[int | None],
        parents: Sequence[str | None],
        assets: Sequence[str | None],
    ) -> None:
        """`add` for many values: the rules run on the array, only flagged values are added one by one."""
        for i in np.flatnonzero(mad_outliers(values, self.stats) | iqr_outliers(values, self.stats)).tolist():
            self.add(float(values[i]), seqs[i], parents[i], assets[i])

    def listed(self) -> list[Outlier]:
        return [item[3] for item in sorted(self._heap, key=lambda item: (-item[0], -item[1], -item[2]))]
