"""Axis ranges that move in steps (Qt-free, so it is tested without a display).

Letting pyqtgraph auto-range a live chart moves its axes every frame, and an axis that moves re-lays out its
ticks and repaints its labels: at 30 Hz with three time plots that was most of a frame's cost and the source of
the largest gaps of the Qt thread (benchmarks/ui_responsiveness.py). A stepped range grows with headroom when the
data leave it and shrinks only when the data use a small part of it, so the axes change a few times a minute
while the curves still redraw every frame.
"""

from __future__ import annotations

import math


class SteppedRange:
    """An axis range that grows with headroom when the data leave it and shrinks only when they use a small part
    of it (see the module docstring)."""

    def __init__(self, headroom: float = 0.25, min_span: float = 1.0, shrink_below: float = 0.3) -> None:
        if headroom <= 0 or min_span <= 0 or not 0 < shrink_below < 1:
            raise ValueError("headroom and min_span must be > 0, shrink_below within (0, 1)")
        self.headroom = headroom
        self.min_span = min_span
        self.shrink_below = shrink_below
        self.lo: float | None = None
        self.hi: float | None = None

    def reset(self) -> None:
        self.lo = self.hi = None

    def update(self, lo: float, hi: float) -> tuple[float, float] | None:
        """The new range when the data [lo, hi] call for one, else None (keep the current range)."""
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or self._keeps(lo, hi):
            return None
        self.lo, self.hi = self._around(lo, hi, max(hi - lo, self.min_span) * self.headroom)
        return self.lo, self.hi

    def _keeps(self, lo: float, hi: float) -> bool:
        if self.lo is None or self.hi is None or lo < self.lo or hi > self.hi:
            return False
        return max(hi - lo, self.min_span) >= self.shrink_below * (self.hi - self.lo)

    def _around(self, lo: float, hi: float, pad: float) -> tuple[float, float]:
        return lo - pad, hi + pad


class GrowingRange(SteppedRange):
    """A time axis: it starts at the data's first point and grows ahead of the newest one."""

    def _around(self, lo: float, hi: float, pad: float) -> tuple[float, float]:
        return lo, hi + pad
