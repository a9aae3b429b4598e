"""The `feedback.learning` config section: which learners run, whether their proposals apply themselves, the
guardrails every proposal passes, and the shipped recalibration learner's settings."""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imperium_desk.models.config import SLIPPAGE_UNITS

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _slippage_bounds() -> dict[str, float]:
    return {"bps": 500.0, "ticks": 100.0, "price": 100.0}


def _slippage_change_floors() -> dict[str, float]:
    # Below these magnitudes a relative rate of change means nothing (0.1 bps -> 0.3 bps is "3x"): a slippage
    # proposal may always move by (max_change_factor - 1) x the floor.
    return {"bps": 1.0, "ticks": 0.5, "price": 0.05}


def _check_units(mapping: dict[str, float], what: str) -> dict[str, float]:
    for unit, value in mapping.items():
        if unit not in SLIPPAGE_UNITS:
            raise ValueError(f"{what}: {unit!r} is not a slippage unit ({', '.join(SLIPPAGE_UNITS)})")
        if value <= 0:
            raise ValueError(f"{what}.{unit}: {value} must be positive")
    missing = [u for u in SLIPPAGE_UNITS if u not in mapping]
    if missing:
        raise ValueError(f"{what}: give every unit, missing {', '.join(missing)}")
    return mapping


class GuardrailsConfig(BaseModel):
    """What any proposal (in-process learner or REST) must satisfy before it is applied or kept pending."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The proposed latency model's median, in ms.
    min_latency_median_ms: float = Field(default=0.1, gt=0)
    max_latency_median_ms: float = Field(default=10_000.0, gt=0)
    # The proposed slippage model's mean magnitude, per unit.
    max_abs_slippage: dict[str, float] = Field(default_factory=_slippage_bounds)
    # Rate of change against the model it replaces: a latency median may move by at most this factor either way;
    # a slippage mean by at most (factor - 1) x max(|current mean|, slippage_change_floor[unit]).
    max_change_factor: float = Field(default=4.0, gt=1, le=1000)
    slippage_change_floor: dict[str, float] = Field(default_factory=_slippage_change_floors)
    # Applied changes of one (kind, scope, lane) at least this far apart (clock seconds; virtual time in a replay).
    min_interval_s: float = Field(default=10.0, ge=0)

    @field_validator("max_abs_slippage")
    @classmethod
    def _bounds_units(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_units(value, "max_abs_slippage")

    @field_validator("slippage_change_floor")
    @classmethod
    def _floor_units(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_units(value, "slippage_change_floor")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_latency_median_ms <= self.min_latency_median_ms:
            raise ValueError(f"max_latency_median_ms ({self.max_latency_median_ms}) must be above "
                             f"min_latency_median_ms ({self.min_latency_median_ms})")
        return self


class RecalibrationConfig(BaseModel):
    """The shipped `recalibration` learner: per asset, a CUSUM on log-latency against the active model's median
    (a mean test for slippage), then a refit on the fills after the detected change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: bool = True
    slippage: bool = True
    window: int = Field(default=400, ge=20, le=100_000)  # fills kept per asset and kind (the refit's ceiling)
    min_samples: int = Field(default=50, ge=10)  # post-change latency fills a refit needs
    # CUSUM in units of the model's log-scale: drift allowance k and alarm threshold h. Each standardised
    # residual is clipped to +-clip first, so one tail draw (a mixture's slow component) cannot raise an alarm.
    drift: float = Field(default=0.5, gt=0)
    threshold: float = Field(default=10.0, gt=0)
    clip: float = Field(default=3.0, gt=0)
    min_log_scale: float = Field(default=0.05, gt=0)  # a constant model's residual scale (its own is 0)
    # After a change the regime is refitted on 2x, 4x ... min_samples fills (up to the window); a refit is proposed
    # when its median differs from the last proposal's by more than this share.
    refine_tolerance: float = Field(default=0.03, ge=0)
    # Fills of a collection after which the new regime is watched against its own first fit.
    watch_after: int = Field(default=20, ge=3)
    # A collection's older and newer halves must agree (two-window test on mean log-latency, |z| below this)
    # before it is fitted: a regime that came and went while its fills were collected is not learned.
    stable_z: float = Field(default=4.0, gt=0)
    # Slippage: fills are rounded to the price grid, so single fills say little; the window's mean is tested
    # against the model's mean every `slippage_samples` fills (z above `slippage_z` and a relative gap above
    # `slippage_min_change`).
    slippage_samples: int = Field(default=200, ge=10)
    slippage_z: float = Field(default=4.0, gt=0)
    slippage_min_change: float = Field(default=0.2, gt=0)

    @model_validator(mode="after")
    def _window_holds_a_refit(self) -> Self:
        if self.window < self.min_samples:
            raise ValueError(f"window ({self.window}) must hold at least min_samples ({self.min_samples}) fills")
        if self.watch_after >= self.min_samples:
            raise ValueError(f"watch_after ({self.watch_after}) must be below min_samples ({self.min_samples})")
        if self.window < self.slippage_samples:
            raise ValueError(f"window ({self.window}) must hold at least slippage_samples ({self.slippage_samples})")
        return self


class LearningConfig(BaseModel):
    """The `feedback.learning:` section: which learners the host loads (entry points, in order), whether a proposal that
    passes the guardrails applies itself, and how many decided proposals are remembered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # In-process learners are fed the desk's records (and a replay's); off by default so runs cost nothing extra.
    # Proposals posted over REST go through the same host and guardrails either way.
    enabled: bool = False
    # True: a proposal that passes the guardrails is applied at once; False: it waits for accept/reject.
    auto_apply: bool = False
    # Entry-point names in the `imperium_desk.learners` group, run in this order.
    learners: tuple[str, ...] = ("recalibration",)
    # Options handed to third-party learners by name (the shipped learner has its own section below).
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    recalibration: RecalibrationConfig = Field(default_factory=RecalibrationConfig)
    history_limit: int = Field(default=1000, ge=10, le=1_000_000)  # decided proposals kept (pending always are)

    @field_validator("learners")
    @classmethod
    def _names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if not _NAME.fullmatch(name):
                raise ValueError(f"{i}: {name!r} is not a learner name (letters, digits, _ . -)")
            if name in seen:
                raise ValueError(f"{i}: {name!r} is listed twice")
            seen.add(name)
        return names
