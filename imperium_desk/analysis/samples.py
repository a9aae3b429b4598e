"""Bounded-memory summaries of a stream of numbers: exact running moments, and a seeded uniform reservoir.

The reservoir holds every value while there are at most `capacity` of them (then quantiles, fits and outlier
rules are exact) and a uniform random sample of them after that (Li's Algorithm L: it draws random numbers only
when an item is taken, O(k · log(n/k)) of them, so the per-value cost is one comparison). It is seeded, so the
same file gives the same report. Each kept value carries the `seq` and a parent index of its record, so
outliers found in it can be named.
"""

from __future__ import annotations

import math
import random
from array import array

import numpy as np
from numpy.typing import NDArray

DEFAULT_CAPACITY = 200_000
DEFAULT_SEED = 20260401


class RunningStats:
    """Count, mean, standard deviation, min and max of every value seen (sums shifted by the first value, so
    the variance keeps its precision when the mean is large against the spread)."""

    __slots__ = ("_shift", "_sum", "_sum_sq", "count", "max", "min")

    def __init__(self) -> None:
        self.count = 0
        self._shift = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, x: float) -> None:
        if self.count == 0:
            self._shift = x
        self.count += 1
        d = x - self._shift
        self._sum += d
        self._sum_sq += d * d
        if x < self.min:  # noqa: PLR1730 (a comparison is cheaper than min() on the per-record path)
            self.min = x
        if x > self.max:  # noqa: PLR1730
            self.max = x

    @property
    def mean(self) -> float:
        return self._shift + self._sum / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation (0 for one value)."""
        if not self.count:
            return math.nan
        m = self._sum / self.count
        return math.sqrt(max(self._sum_sq / self.count - m * m, 0.0))


class Reservoir:
    """A uniform sample of at most `capacity` values of a stream, each with its record's `seq` and a parent index
    (-1 for none)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, seed: int = DEFAULT_SEED) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self.values = array("d")
        self.seqs = array("q")
        self.parents = array("q")
        self._random = random.Random(seed)
        self._w = math.exp(math.log(self._uniform()) / capacity)
        self._next = capacity + self._skip()  # index of the next value to take once full

    def _uniform(self) -> float:
        return 1.0 - self._random.random()  # in (0, 1]: log() is defined

    def _skip(self) -> int:
        if self._w >= 1.0:  # float underflow of 1 - w at huge n / tiny k: take nothing more
            return 1 << 62
        return int(math.log(self._uniform()) / math.log1p(-self._w))

    def add(self, value: float, seq: int, parent: int) -> None:
        i = self.seen
        self.seen = i + 1
        if i < self.capacity:
            self.values.append(value)
            self.seqs.append(seq)
            self.parents.append(parent)
        elif i == self._next:
            slot = self._random.randrange(self.capacity)
            self.values[slot] = value
            self.seqs[slot] = seq
            self.parents[slot] = parent
            self._w *= math.exp(math.log(self._uniform()) / self.capacity)
            self._next = i + 1 + self._skip()

    @property
    def complete(self) -> bool:
        """Whether the reservoir holds every value of the stream (not a sample)."""
        return self.seen <= self.capacity

    def array(self) -> NDArray[np.float64]:
        return np.frombuffer(self.values, dtype=np.float64).copy()
