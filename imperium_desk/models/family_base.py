"""What every latency and slippage model family shares: the frozen base, the bounds that keep numbers finite,
`scale_with`, the nested forms (mixture component, shifted inner model), and a historical model's samples.
The families themselves are in latency_families.py and slippage_families.py; models/config.py is their front.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from imperium_desk.models.historical import FloatArray

SlippageUnit = Literal["bps", "ticks", "price"]
SLIPPAGE_UNITS: tuple[str, ...] = ("bps", "ticks", "price")
WEIGHT_SUM_TOLERANCE = 1e-6

Bandwidth = Annotated[float, Field(gt=0)] | Literal["silverman"] | None


class FamilyModel(BaseModel):
    """A model config: unknown fields are errors, and a validated config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Bounds that keep every model's numbers finite through sampling and fitting (an API or file must not switch in
# 1e308 ms): an hour of latency, 1e5 of slippage in any unit (1000% in bps), a lognormal sigma of 5 (a 99th
# percentile 10^5 times the median), and a Student t's df beyond which it is a normal anyway.
MAX_LATENCY_MS = 3_600_000.0
MAX_SLIPPAGE = 100_000.0
MAX_SIGMA = 5.0
MAX_LOG_LOCATION = 50.0
MAX_DF = 1e6


# -- regime conditioning -----------------------------------------------------------------------------------
class ScaleWith(FamilyModel):
    """Exponents that scale a draw with the simulated market (applied by the engine, not the sampler):

    draw × vol_ratio**volatility × rate_ratio**message_rate × (participation/reference_participation)**participation,
    the factor clamped to [0.01, 100]. Ratios are current/reference (1 = a normal market); 0 = no dependence.
    """

    volatility: float = 0.0
    message_rate: float = 0.0
    participation: float = 0.0
    reference_participation: float = Field(default=0.1, gt=0, le=1)


class LatencyScaleWith(ScaleWith):
    """`scale_with` of a latency model: order size (participation) moves slippage, not latency."""

    @field_validator("participation")
    @classmethod
    def _no_participation(cls, value: float) -> float:
        if value != 0.0:
            raise ValueError("participation scaling applies to slippage models only")
        return value


class NestedModel(FamilyModel):
    """A model inside another (mixture component, shifted inner model): `scale_with` belongs to the outer one."""

    @field_validator("scale_with", check_fields=False)
    @classmethod
    def _no_scale_with(cls, value: object) -> object:
        if value is not None:
            raise ValueError("scale_with goes on the top-level model, not inside a mixture component or shifted model")
        return value


class ComponentModel(NestedModel):
    """A mixture component: a nested model written flat with its `weight`."""

    weight: float = Field(gt=0)


def check_weights(components: list[Any]) -> None:
    total = math.fsum(c.weight for c in components)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"component weights must sum to 1, they sum to {total:.10g}")


class Samples:
    """A historical model's samples; compares by value, so two loads of the same file make equal configs."""

    __slots__ = ("values",)

    def __init__(self, values: FloatArray) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Samples) and (
            self.values is other.values or bool(np.array_equal(self.values, other.values))
        )

    def __hash__(self) -> int:
        return hash(self.values.size)


def samples_of(samples: Samples | None, source: Path) -> FloatArray:
    """A historical model's samples, or an error naming its file when the model skipped validation."""
    if samples is None:  # built with model_construct, which skips validation
        raise ValueError(f"historical model for {source} was not validated: its samples were never read")
    return samples.values
