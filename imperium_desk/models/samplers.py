"""Samplers built from model configs.

A sampler draws one value at a time from a `BufferedDraws` stream its caller owns (the engine's per-fill hot
path, well under a microsecond), draws many at once from a numpy `Generator` (previews, fitting, benchmarks),
and states its own CDF and mean (KS tests, the model panel). Values are in the model's own unit: milliseconds
for latency, the config's `unit` for slippage. Latency samplers never return a negative value.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import special

from imperium_desk.models.config import (
    ConstantLatency,
    ConstantSlippage,
    ExponentialLatency,
    ExponentialSlippage,
    HistoricalLatency,
    HistoricalSlippage,
    LatencyModelConfig,
    LognormalLatency,
    LognormalSlippage,
    MixtureLatency,
    MixtureSlippage,
    NormalLatency,
    NormalSlippage,
    ShiftedLatency,
    ShiftedSlippage,
    SlippageModelConfig,
    StudentTLatency,
    StudentTSlippage,
)
from imperium_desk.models.historical import FloatArray, silverman_bandwidth
from imperium_desk.rng import BufferedDraws

# Truncation at zero redraws; every truncated family here keeps at least half its mass at or above zero
# (mean_ms >= 0, loc_ms >= 0), so 64 straight misses has probability below 2**-64.
_MAX_REDRAWS = 64
_KDE_CDF_CHUNK = 1 << 22  # elements of the (points x samples) matrix evaluated at once


class Sampler(Protocol):
    """One model's distribution, in the model's unit (module docstring). It keeps no state beyond its parameters: every
    random value comes from the `draws` or `gen` passed in, so the caller's stream alone decides the values (replay is
    exact) and one sampler may serve any number of callers.

    `draw` is one value from `draws` (the per-fill hot path); `sample` is `n` independent values from `gen`; `cdf` is
    the distribution function at each `x`, truncation at zero included; `mean` is inf or nan where the distribution has
    none (a Student t with df <= 1)."""

    def draw(self, draws: BufferedDraws) -> float: ...

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray: ...

    def cdf(self, x: npt.ArrayLike) -> FloatArray: ...

    @property
    def mean(self) -> float: ...


def _as_array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _truncated_at_zero(x: FloatArray, p: FloatArray, tail: float) -> FloatArray:
    """The CDF renormalised over [0, inf), from the untruncated CDF `p` and its mass `tail` above zero."""
    out: FloatArray = np.where(x < 0.0, 0.0, (p - (1.0 - tail)) / tail)
    return out


def _step(x: FloatArray, at: float) -> FloatArray:
    """The CDF of a point mass at `at`."""
    return (x >= at).astype(np.float64)


def _redraw_negatives(out: FloatArray, fresh: Callable[[int], FloatArray]) -> FloatArray:
    """Truncation at zero: replace negative values by fresh draws until none is left."""
    for _ in range(_MAX_REDRAWS):
        if out.size == 0 or out.min() >= 0.0:
            return out
        negative = np.flatnonzero(out < 0.0)
        out[negative] = fresh(negative.size)
    np.maximum(out, 0.0, out=out)
    return out


class Constant:
    """Always `value`: a fixed latency or slippage (a point mass; its CDF is a step)."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def draw(self, draws: BufferedDraws) -> float:
        return self.value

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.value, dtype=np.float64)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return _step(_as_array(x), self.value)

    @property
    def mean(self) -> float:
        return self.value


class Normal:
    """Normal(mu, std); with `floor_zero` negative draws are redrawn (truncation at zero, density renormalised)."""

    __slots__ = ("_mean", "_tail", "floor_zero", "mu", "std")

    def __init__(self, mu: float, std: float, floor_zero: bool) -> None:
        self.mu, self.std, self.floor_zero = mu, std, floor_zero
        # P(X >= 0) of the untruncated normal: the renormalisation of the truncated density.
        self._tail = float(special.ndtr(mu / std)) if floor_zero and std > 0.0 else 1.0
        self._mean = self._truncated_mean() if floor_zero else mu

    def _truncated_mean(self) -> float:
        if self.std == 0.0:
            return max(self.mu, 0.0)
        a = -self.mu / self.std  # truncated-normal mean: mu + std * phi(a) / (1 - Phi(a))
        phi = math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        return self.mu + self.std * phi / self._tail if self._tail > 0 else 0.0

    def draw(self, draws: BufferedDraws) -> float:
        x = self.mu + self.std * draws.normal()
        if not self.floor_zero or x >= 0.0:
            return x
        for _ in range(_MAX_REDRAWS):
            x = self.mu + self.std * draws.normal()
            if x >= 0.0:
                return x
        return 0.0

    def _untruncated(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = gen.standard_normal(n)
        out *= self.std
        out += self.mu
        return out

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = self._untruncated(gen, n)
        if self.floor_zero:
            _redraw_negatives(out, lambda k: self._untruncated(gen, k))
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        x = _as_array(x)
        if self.std == 0.0:
            return _step(x, max(self.mu, 0.0) if self.floor_zero else self.mu)
        p: FloatArray = special.ndtr((x - self.mu) / self.std)
        return _truncated_at_zero(x, p, self._tail) if self.floor_zero else p

    @property
    def mean(self) -> float:
        return self._mean


class Lognormal:
    """exp(mu + sigma · Z): `mu` and `sigma` are of the log of the value, so exp(mu) is the median."""

    __slots__ = ("mu", "sigma")

    def __init__(self, mu: float, sigma: float) -> None:
        self.mu, self.sigma = mu, sigma

    def draw(self, draws: BufferedDraws) -> float:
        return math.exp(self.mu + self.sigma * draws.normal())

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = gen.standard_normal(n)
        out *= self.sigma
        out += self.mu
        np.exp(out, out=out)
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        x = _as_array(x)
        if self.sigma == 0.0:
            return _step(x, math.exp(self.mu))
        z = (np.log(np.where(x > 0.0, x, 1.0)) - self.mu) / self.sigma  # log(1) stands in where x <= 0
        return np.where(x > 0.0, special.ndtr(z), 0.0)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + 0.5 * self.sigma * self.sigma)


class Exponential:
    """Exponential with the given mean (`scale`, the inverse of the rate): memoryless waits."""

    __slots__ = ("scale",)

    def __init__(self, mean: float) -> None:
        self.scale = mean

    def draw(self, draws: BufferedDraws) -> float:
        return self.scale * draws.exponential()

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = gen.standard_exponential(n)
        out *= self.scale
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        x = _as_array(x)
        return np.where(x > 0.0, -np.expm1(-np.maximum(x, 0.0) / self.scale), 0.0)

    @property
    def mean(self) -> float:
        return self.scale


def _t_pdf(df: float, t: float) -> float:
    """The standard Student t density."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


class StudentT:
    """loc + scale · T(df); with `floor_zero` negative draws are redrawn (truncation at zero)."""

    __slots__ = ("_mean", "_tail", "df", "floor_zero", "loc", "scale")

    def __init__(self, loc: float, scale: float, df: float, floor_zero: bool) -> None:
        self.loc, self.scale, self.df, self.floor_zero = loc, scale, df, floor_zero
        a = -loc / scale
        self._tail = float(special.stdtr(df, -a)) if floor_zero else 1.0  # P(T >= a)
        if df <= 1.0:
            self._mean = math.inf if floor_zero else math.nan  # the t mean diverges; truncated it is +inf
        elif floor_zero:
            # Partial first moment of the standard t: integral_a^inf t f(t) dt = (df + a^2) / (df - 1) * f(a)
            self._mean = loc + scale * (df + a * a) / (df - 1) * _t_pdf(df, a) / self._tail
        else:
            self._mean = loc

    def draw(self, draws: BufferedDraws) -> float:
        x = self.loc + self.scale * draws.student_t(self.df)
        if not self.floor_zero or x >= 0.0:
            return x
        for _ in range(_MAX_REDRAWS):
            x = self.loc + self.scale * draws.student_t(self.df)
            if x >= 0.0:
                return x
        return 0.0

    def _untruncated(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = gen.standard_t(self.df, n)
        out *= self.scale
        out += self.loc
        return out

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = self._untruncated(gen, n)
        if self.floor_zero:
            _redraw_negatives(out, lambda k: self._untruncated(gen, k))
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        x = _as_array(x)
        p: FloatArray = special.stdtr(self.df, (x - self.loc) / self.scale)
        return _truncated_at_zero(x, p, self._tail) if self.floor_zero else p

    @property
    def mean(self) -> float:
        return self._mean


class Shifted:
    """floor + a draw of the inner model."""

    __slots__ = ("floor", "inner")

    def __init__(self, floor: float, inner: Sampler) -> None:
        self.floor, self.inner = floor, inner

    def draw(self, draws: BufferedDraws) -> float:
        return self.floor + self.inner.draw(draws)

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = self.inner.sample(gen, n)
        out += self.floor
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return self.inner.cdf(_as_array(x) - self.floor)

    @property
    def mean(self) -> float:
        return self.floor + self.inner.mean


class Scaled:
    """factor x a draw of the inner model (a scenario's latency burst: "the broker is three times slower")."""

    __slots__ = ("factor", "inner")

    def __init__(self, factor: float, inner: Sampler) -> None:
        self.factor, self.inner = factor, inner

    def draw(self, draws: BufferedDraws) -> float:
        return self.factor * self.inner.draw(draws)

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = self.inner.sample(gen, n)
        out *= self.factor
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return self.inner.cdf(_as_array(x) / self.factor)

    @property
    def mean(self) -> float:
        return self.factor * self.inner.mean


class Mixture:
    """A component chosen by weight (weights are normalised to sum to 1), then a draw of that component: one uniform
    draw picks it, so a mixture costs one draw more than its component."""

    __slots__ = ("_mean", "_thresholds", "_thresholds_array", "components", "weights")

    def __init__(self, weights: list[float], components: list[Sampler]) -> None:
        total = math.fsum(weights)
        self.weights = [w / total for w in weights]
        self.components = components
        # Component i is drawn when thresholds[i-1] <= u < thresholds[i]; the last takes the rest up to 1.
        cumulative = np.cumsum(self.weights)
        self._thresholds = cumulative[:-1].tolist()
        self._thresholds_array = cumulative[:-1].copy()
        self._mean = math.fsum(w * c.mean for w, c in zip(self.weights, components, strict=True))

    def draw(self, draws: BufferedDraws) -> float:
        return self.components[bisect_right(self._thresholds, draws.uniform())].draw(draws)

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        which = np.searchsorted(self._thresholds_array, gen.random(n), side="right")
        counts = np.bincount(which, minlength=len(self.components))
        out = np.empty(n, dtype=np.float64)
        for i, (component, count) in enumerate(zip(self.components, counts.tolist(), strict=True)):
            if count == n:
                return component.sample(gen, n)
            if count:
                out[which == i] = component.sample(gen, count)
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        x = _as_array(x)
        out = np.zeros(x.shape, dtype=np.float64)
        for w, component in zip(self.weights, self.components, strict=True):
            out += w * component.cdf(x)
        return out

    @property
    def mean(self) -> float:
        return self._mean


class Empirical:
    """Bootstrap: each draw is one of the samples, uniformly."""

    __slots__ = ("_n", "_sorted", "_values", "samples")

    def __init__(self, samples: FloatArray) -> None:
        self.samples = samples
        self._values: list[float] = samples.tolist()  # a list index is ~5x cheaper than a numpy scalar read
        self._n = len(self._values)
        self._sorted = np.sort(samples)

    def draw(self, draws: BufferedDraws) -> float:
        return self._values[int(draws.uniform() * self._n)]

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        return self.samples[gen.integers(0, self._n, n)]

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        counts = np.searchsorted(self._sorted, _as_array(x), side="right")
        return counts / float(self._n)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))


class Smoothed:
    """Gaussian-kernel smoothed bootstrap: a sample plus bandwidth · Z; with `reflect`, |·| (reflected at zero,
    so non-negative samples stay non-negative and the density keeps its mass)."""

    __slots__ = ("_mean", "_n", "_values", "bandwidth", "reflect", "samples")

    def __init__(self, samples: FloatArray, bandwidth: float, reflect: bool) -> None:
        self.samples, self.bandwidth, self.reflect = samples, bandwidth, reflect
        self._values: list[float] = samples.tolist()
        self._n = len(self._values)
        if reflect:  # E|m + hZ| = h·sqrt(2/pi)·exp(-m²/2h²) + m·(1 - 2·Phi(-m/h)), averaged over the samples
            m = samples / bandwidth
            folded = bandwidth * (np.sqrt(2 / np.pi) * np.exp(-0.5 * m * m) + m * (1.0 - 2.0 * special.ndtr(-m)))
            self._mean = float(np.mean(folded))
        else:
            self._mean = float(np.mean(samples))

    def draw(self, draws: BufferedDraws) -> float:
        x = self._values[int(draws.uniform() * self._n)] + self.bandwidth * draws.normal()
        return abs(x) if self.reflect else x

    def sample(self, gen: np.random.Generator, n: int) -> FloatArray:
        out = self.samples[gen.integers(0, self._n, n)]
        noise = gen.standard_normal(n)
        noise *= self.bandwidth
        out += noise
        if self.reflect:
            np.abs(out, out=out)
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """Exact: the mean of the kernels' CDFs (O(len(x) · len(samples)), in chunks)."""
        x = _as_array(x)
        flat = x.ravel()
        out = np.empty(flat.size, dtype=np.float64)
        step = max(1, _KDE_CDF_CHUNK // max(self._n, 1))
        h = self.bandwidth
        for start in range(0, flat.size, step):
            xs = flat[start : start + step, None]
            p = special.ndtr((xs - self.samples[None, :]) / h)
            if self.reflect:  # the mass reflected from below zero: F(x) - F(-x) for x >= 0
                p -= special.ndtr((-xs - self.samples[None, :]) / h)
            out[start : start + step] = p.mean(axis=1)
        if self.reflect:
            out[flat < 0.0] = 0.0
        return out.reshape(x.shape)

    @property
    def mean(self) -> float:
        return self._mean


def _historical(samples: FloatArray, bandwidth: float | str | None, reflect: bool) -> Sampler:
    h = silverman_bandwidth(samples) if bandwidth == "silverman" else bandwidth
    if not h:  # None, or Silverman on samples that do not spread
        return Empirical(samples)
    return Smoothed(samples, float(h), reflect)


def latency_sampler(cfg: LatencyModelConfig | Any) -> Sampler:
    """Milliseconds, never negative."""
    if isinstance(cfg, ConstantLatency):
        return Constant(cfg.value_ms)
    if isinstance(cfg, NormalLatency):
        return Normal(cfg.mean_ms, cfg.std_ms, floor_zero=True)
    if isinstance(cfg, LognormalLatency):
        return Lognormal(cfg.log_location, cfg.sigma)
    if isinstance(cfg, ExponentialLatency):
        return Exponential(cfg.mean_ms)
    if isinstance(cfg, StudentTLatency):
        return StudentT(cfg.loc_ms, cfg.scale_ms, cfg.df, floor_zero=True)
    if isinstance(cfg, ShiftedLatency):
        return Shifted(cfg.floor_ms, latency_sampler(cfg.model))
    if isinstance(cfg, MixtureLatency):
        return Mixture([c.weight for c in cfg.components], [latency_sampler(c) for c in cfg.components])
    if isinstance(cfg, HistoricalLatency):
        return _historical(cfg.samples, cfg.bandwidth_ms, reflect=True)
    raise TypeError(f"not a latency model config: {cfg!r}")


def slippage_sampler(cfg: SlippageModelConfig | Any) -> Sampler:
    """In the config's own unit; positive is adverse."""
    if isinstance(cfg, ConstantSlippage):
        return Constant(cfg.value)
    if isinstance(cfg, NormalSlippage):
        return Normal(cfg.mean, cfg.std, floor_zero=False)
    if isinstance(cfg, LognormalSlippage):
        return Lognormal(cfg.log_location, cfg.sigma)
    if isinstance(cfg, ExponentialSlippage):
        return Exponential(cfg.mean)
    if isinstance(cfg, StudentTSlippage):
        return StudentT(cfg.loc, cfg.scale, cfg.df, floor_zero=False)
    if isinstance(cfg, ShiftedSlippage):
        return Shifted(cfg.floor, slippage_sampler(cfg.model))
    if isinstance(cfg, MixtureSlippage):
        return Mixture([c.weight for c in cfg.components], [slippage_sampler(c) for c in cfg.components])
    if isinstance(cfg, HistoricalSlippage):
        return _historical(cfg.samples, cfg.bandwidth, reflect=False)
    raise TypeError(f"not a slippage model config: {cfg!r}")
