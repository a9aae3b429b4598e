"""Change detection: a two-sided CUSUM on standardised residuals (latency), and a mean test on a window
(slippage, whose single fills are rounded to the price grid).

CUSUM (Page 1954): g+ = max(0, g+ + r - k), g- = max(0, g- - r - k); an alarm when either passes h. Residuals are
clipped first: one draw from a model's slow tail moves the sums by at most clip - k. The change is dated by
maximum likelihood within the alarming excursion (Hinkley 1971), with the shift estimated from its newer half:
the point after which the residuals sum highest above half that shift. Where the sum last left zero would be
biased early (a small drift k lets the sum wander above zero before the change), and the refit that follows
must use samples of the new regime only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_EXCURSION_KEPT = 4096  # residuals kept for dating a change (an excursion longer than this is dated from here)


@dataclass(frozen=True, slots=True)
class Alarm:
    """A detected change: which way the residuals moved and from which sample the new regime runs, so the refit that
    follows uses only samples from `start` on."""

    direction: Literal["up", "down"]
    start: int  # index of the first sample of the new regime (counting every sample given since the reset)
    at: int  # index of the sample that raised the alarm
    statistic: float  # the alarming sum


class Cusum:
    """The two-sided CUSUM of the module docstring, fed one standardised residual at a time; `drift` is k, `threshold`
    h, `clip` the bound on a residual (all in standard deviations). `count` numbers the samples since construction, the
    indices an `Alarm` is given in. Keeps the last 4096 residuals of an excursion and nothing else: constant memory
    however long it runs."""

    __slots__ = ("_clip", "_drift", "_neg", "_neg_start", "_pos", "_pos_start", "_recent", "_threshold", "count")

    def __init__(self, drift: float, threshold: float, clip: float) -> None:
        if drift <= 0 or threshold <= 0 or clip <= 0:
            raise ValueError(f"drift {drift}, threshold {threshold} and clip {clip} must be positive")
        self._drift = drift
        self._threshold = threshold
        self._clip = clip
        self.count = 0
        self._pos = self._neg = 0.0
        self._pos_start = self._neg_start = 0
        self._recent: deque[float] = deque(maxlen=_EXCURSION_KEPT)  # clipped residuals, the last at count - 1

    def reset(self) -> None:
        """Forget the sums (a new reference); sample indices keep counting."""
        self._pos = self._neg = 0.0
        self._pos_start = self._neg_start = self.count
        self._recent.clear()

    def skip(self) -> None:
        """Count a sample without testing it (the caller is collecting a new regime's samples)."""
        self.count += 1
        self.reset()

    def update(self, residual: float) -> Alarm | None:
        """Add one standardised residual ((x - reference) / scale); an alarm resets the sums."""
        index = self.count
        self.count += 1
        r = min(max(residual, -self._clip), self._clip)
        pos = self._pos + r - self._drift
        neg = self._neg - r - self._drift
        if pos <= 0.0:
            self._pos, self._pos_start = 0.0, index + 1
        else:
            self._pos = pos
        if neg <= 0.0:
            self._neg, self._neg_start = 0.0, index + 1
        else:
            self._neg = neg
        if pos <= 0.0 and neg <= 0.0:
            self._recent.clear()  # no excursion in progress: nothing before this can be a change point
        else:
            self._recent.append(r)
        if self._pos > self._threshold:
            alarm = Alarm("up", self._dated(self._pos_start, index, 1.0), index, self._pos)
        elif self._neg > self._threshold:
            alarm = Alarm("down", self._dated(self._neg_start, index, -1.0), index, self._neg)
        else:
            return None
        self.reset()
        return alarm

    def _dated(self, start: int, at: int, sign: float) -> int:
        """The most likely first sample of the new regime within the excursion [start, at]."""
        first = at + 1 - len(self._recent)  # index of the oldest residual kept
        start = max(start, first)
        x = [sign * r for r in list(self._recent)[start - first:]]
        tail = x[len(x) // 2:]
        half_shift = max(self._drift, 0.5 * math.fsum(tail) / len(tail))
        best, best_at, acc = -math.inf, at, 0.0
        for j in range(len(x) - 1, -1, -1):
            acc += x[j] - half_shift
            if acc > best:
                best, best_at = acc, start + j
        return best_at


@dataclass(frozen=True, slots=True)
class MeanShift:
    """How far one window of slippage fills sits from the model's mean: the window's mean (in the model's unit), its
    distance in standard errors, and its relative distance."""

    mean: float
    z: float  # (window mean - reference) / standard error
    relative: float  # |window mean - reference| / max(|reference|, floor)


def mean_shift(values: Sequence[float], reference: float, floor: float) -> MeanShift | None:
    """How far a window's mean sits from `reference`, in standard errors and relatively; None for fewer than two
    values. A window with no spread (every fill on the same tick) has an infinite z when its mean differs."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    gap = mean - reference
    se = math.sqrt(var / n)
    z = gap / se if se > 0.0 else (0.0 if gap == 0.0 else math.copysign(math.inf, gap))
    return MeanShift(mean, z, abs(gap) / max(abs(reference), floor))
