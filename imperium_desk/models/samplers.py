"""Samplers built from model configs. Each draws from a `BufferedDraws` stream owned by its caller."""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import Any, Protocol

from imperium_desk.models.config import (
    ConstantLatency,
    ConstantSlippage,
    LatencyModelConfig,
    LognormalLatency,
    LognormalSlippage,
    MixtureLatency,
    MixtureSlippage,
    NormalLatency,
    NormalSlippage,
    SlippageModelConfig,
)
from imperium_desk.rng import BufferedDraws

_MAX_REDRAWS = 64


class Sampler(Protocol):
    def sample(self, draws: BufferedDraws) -> float: ...

    @property
    def mean(self) -> float: ...


class Constant:
    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def sample(self, draws: BufferedDraws) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value


class Normal:
    """Normal(mean, std); with `floor_zero` negative draws are redrawn (truncation at zero)."""

    __slots__ = ("floor_zero", "mu", "std")

    def __init__(self, mu: float, std: float, floor_zero: bool) -> None:
        self.mu, self.std, self.floor_zero = mu, std, floor_zero

    def sample(self, draws: BufferedDraws) -> float:
        x = self.mu + self.std * draws.normal()
        if not self.floor_zero or x >= 0.0:
            return x
        for _ in range(_MAX_REDRAWS):
            x = self.mu + self.std * draws.normal()
            if x >= 0.0:
                return x
        return 0.0  # only reachable when nearly all mass is below zero

    @property
    def mean(self) -> float:
        if not self.floor_zero or self.std == 0.0:
            return max(self.mu, 0.0) if self.floor_zero else self.mu
        a = -self.mu / self.std  # truncated-normal mean: mu + std * phi(a) / (1 - Phi(a))
        phi = math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        tail = 0.5 * math.erfc(a / math.sqrt(2))
        return self.mu + self.std * phi / tail if tail > 0 else 0.0


class Lognormal:
    __slots__ = ("mu", "sigma")

    def __init__(self, mu: float, sigma: float) -> None:
        self.mu, self.sigma = mu, sigma

    def sample(self, draws: BufferedDraws) -> float:
        return math.exp(self.mu + self.sigma * draws.normal())

    @property
    def mean(self) -> float:
        return math.exp(self.mu + 0.5 * self.sigma * self.sigma)


class Mixture:
    __slots__ = ("_cum", "components", "weights")

    def __init__(self, weights: list[float], components: list[Sampler]) -> None:
        total = sum(weights)
        self.weights = [w / total for w in weights]
        self._cum = list(accumulate(self.weights))
        self.components = components

    def sample(self, draws: BufferedDraws) -> float:
        i = min(bisect_right(self._cum, draws.uniform()), len(self.components) - 1)
        return self.components[i].sample(draws)

    @property
    def mean(self) -> float:
        return sum(w * c.mean for w, c in zip(self.weights, self.components, strict=True))


def latency_sampler(cfg: LatencyModelConfig | Any) -> Sampler:
    """Milliseconds, never negative."""
    if isinstance(cfg, ConstantLatency):
        return Constant(cfg.value_ms)
    if isinstance(cfg, NormalLatency):
        return Normal(cfg.mean_ms, cfg.std_ms, floor_zero=True)
    if isinstance(cfg, LognormalLatency):
        mu = math.log(cfg.median_ms) if cfg.median_ms is not None else float(cfg.mu or 0.0)
        return Lognormal(mu, cfg.sigma)
    if isinstance(cfg, MixtureLatency):
        return Mixture([c.weight for c in cfg.components], [latency_sampler(c) for c in cfg.components])
    raise TypeError(f"not a latency model config: {cfg!r}")


def slippage_sampler(cfg: SlippageModelConfig | Any) -> Sampler:
    """In the config's own unit; positive is adverse."""
    if isinstance(cfg, ConstantSlippage):
        return Constant(cfg.value)
    if isinstance(cfg, NormalSlippage):
        return Normal(cfg.mean, cfg.std, floor_zero=False)
    if isinstance(cfg, LognormalSlippage):
        mu = math.log(cfg.median) if cfg.median is not None else float(cfg.mu or 0.0)
        return Lognormal(mu, cfg.sigma)
    if isinstance(cfg, MixtureSlippage):
        return Mixture([c.weight for c in cfg.components], [slippage_sampler(c) for c in cfg.components])
    raise TypeError(f"not a slippage model config: {cfg!r}")
