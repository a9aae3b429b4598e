"""Summary figures of a model config (median, quantiles, mean, log-scale) that learners and guardrails compare
fills and proposals against. Worked out from the sampler's CDF, so every family (mixtures, shifted, historical)
is covered the same way; cached per config object, since the same few configs are asked about on every fill."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from imperium_desk.models.samplers import Sampler, latency_sampler, slippage_sampler

Kind = Literal["latency", "slippage"]
_BISECTIONS = 200
_IQR_TO_SIGMA = 1.3489795  # interquartile range of a standard normal
_CACHE_LIMIT = 256


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Summary figures of one model config, in the model's unit (ms for latency): median and quartiles from its CDF, so
    they exist for every family, and a mean that may not."""

    median: float
    mean: float  # nan when the model has none (a Student t with df <= 1)
    log_scale: float  # sigma of ln(value) for a positive model, from its quartiles; nan when not positive
    q25: float
    q75: float


def _quantile(sampler: Sampler, p: float) -> float:
    """The smallest x with CDF(x) >= p, by bracketing then bisection."""

    def cdf(x: float) -> float:
        return float(sampler.cdf([x])[0])

    hi = max(abs(sampler.mean), 1.0) if math.isfinite(sampler.mean) else 1.0
    while cdf(hi) < p:
        hi *= 2.0
        if hi > 1e15:
            return math.inf
    lo = 0.0 if cdf(0.0) < p else -1.0
    if lo < 0.0:
        while cdf(lo) >= p:
            lo *= 2.0
            if lo < -1e15:
                return -math.inf
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if cdf(mid) >= p:
            hi = mid
        else:
            lo = mid
    return hi


def _compute(kind: Kind, cfg: Any) -> ModelStats:
    try:
        return _figures(kind, cfg)
    except (OverflowError, ZeroDivisionError, ValueError):  # e.g. a posted lognormal with mu = 1e6
        return ModelStats(math.nan, math.nan, math.nan, math.nan, math.nan)


def _figures(kind: Kind, cfg: Any) -> ModelStats:
    sampler = latency_sampler(cfg) if kind == "latency" else slippage_sampler(cfg)
    q25, median, q75 = (_quantile(sampler, p) for p in (0.25, 0.5, 0.75))
    mean = sampler.mean
    log_scale = math.log(q75 / q25) / _IQR_TO_SIGMA if q25 > 0.0 and math.isfinite(q75) else math.nan
    return ModelStats(median, mean if math.isfinite(mean) else math.nan, log_scale, q25, q75)


class StatsCache:
    """`ModelStats` per config object. Keyed by identity (a mixture config is not hashable) with the object
    kept alive beside its figures, so an id is never reused while its entry exists."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, ModelStats]] = {}

    def of(self, kind: Kind, cfg: Any) -> ModelStats:
        entry = self._entries.get(id(cfg))
        if entry is not None and entry[0] is cfg:
            return entry[1]
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()  # configs change a handful of times a session; a bound, not a policy
        stats = _compute(kind, cfg)
        self._entries[id(cfg)] = (cfg, stats)
        return stats


def model_stats(kind: Kind, cfg: Any) -> ModelStats:
    """Uncached, for one-off questions (a proposal's figures)."""
    return _compute(kind, cfg)
