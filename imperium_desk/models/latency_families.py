"""Latency model families, in milliseconds (`*_ms` fields); the three places a model stands (models/config.py)
each have their union here, every one of which also takes the `stochastic` spelling (models/stochastic.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, PrivateAttr, TypeAdapter, ValidationInfo, field_validator, model_validator

from imperium_desk.models.family_base import (
    MAX_DF,
    MAX_LATENCY_MS,
    MAX_LOG_LOCATION,
    MAX_SIGMA,
    Bandwidth,
    ComponentModel,
    FamilyModel,
    LatencyScaleWith,
    NestedModel,
    Samples,
    check_weights,
    samples_of,
)
from imperium_desk.models.historical import FloatArray, read_column
from imperium_desk.models.stochastic import STOCHASTIC_ALIAS


class ConstantLatency(FamilyModel):
    """Every draw is `value_ms`: a latency level without variation, to see what the level alone does (or to make a
    test exact). `scale_with` still scales it."""

    type: Literal["constant"]
    value_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class NormalLatency(FamilyModel):
    """Normal, truncated at zero by redrawing (the density is renormalised over [0, inf))."""

    type: Literal["normal"]
    mean_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    std_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class LognormalLatency(FamilyModel):
    """Lognormal by `median_ms` (= exp(mu)) and `sigma`, or by `mu`/`sigma` of ln(latency in ms)."""

    type: Literal["lognormal"]
    median_ms: float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)
    mu: float | None = Field(default=None, ge=-MAX_LOG_LOCATION, le=math.log(MAX_LATENCY_MS))
    sigma: float = Field(ge=0, le=MAX_SIGMA)
    scale_with: LatencyScaleWith | None = None

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        if (self.median_ms is None) == (self.mu is None):
            raise ValueError("give exactly one of median_ms or mu")
        return self

    @property
    def log_location(self) -> float:
        """mu of ln(latency in ms)."""
        return math.log(self.median_ms) if self.median_ms is not None else float(self.mu or 0.0)


class ExponentialLatency(FamilyModel):
    """Exponential with mean `mean_ms`, never negative. Alone its most likely draw is 0 ms, which no round trip has: its
    use is the memoryless queueing tail inside `shifted` (`floor_ms` plus an exponential)."""

    type: Literal["exponential"]
    mean_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class StudentTLatency(FamilyModel):
    """Student t (heavy tails), truncated at zero by redrawing."""

    type: Literal["student_t"]
    loc_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    df: float = Field(gt=0, le=MAX_DF)
    scale_with: LatencyScaleWith | None = None


class HistoricalLatency(FamilyModel):
    """Bootstrap from a CSV column; with a bandwidth, Gaussian kernel smoothing reflected at zero.

    `source` is relative to the config file in a config (made absolute when the config is loaded). The file
    is read when the model is validated; the samples are not part of the dump, the path is.
    """

    type: Literal["historical"]
    column: str = "latency_ms"
    bandwidth_ms: Bandwidth = None
    source: Path  # after `column`: its validator reads the file, so a bad file is reported at `source`
    scale_with: LatencyScaleWith | None = None
    _samples: Samples | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source_is_readable(cls, source: Path, info: ValidationInfo) -> Path:
        column = info.data.get("column")
        if isinstance(column, str):  # else the column's own error is reported
            read_column(source, column, non_negative=True)
        return source

    @model_validator(mode="after")
    def _read_samples(self) -> Self:
        # Served from read_column's cache: the field validator has just read the file.
        self._samples = Samples(read_column(self.source, self.column, non_negative=True))
        return self

    @property
    def samples(self) -> FloatArray:
        return samples_of(self._samples, self.source)


class _InnerConstantLatency(ConstantLatency, NestedModel):
    pass


class _InnerNormalLatency(NormalLatency, NestedModel):
    pass


class _InnerLognormalLatency(LognormalLatency, NestedModel):
    pass


class _InnerExponentialLatency(ExponentialLatency, NestedModel):
    pass


class _InnerStudentTLatency(StudentTLatency, NestedModel):
    pass


class _InnerHistoricalLatency(HistoricalLatency, NestedModel):
    pass


InnerLatency = Annotated[
    _InnerConstantLatency
    | _InnerNormalLatency
    | _InnerLognormalLatency
    | _InnerExponentialLatency
    | _InnerStudentTLatency
    | _InnerHistoricalLatency,
    Field(discriminator="type"),
    STOCHASTIC_ALIAS,
]


class ShiftedLatency(FamilyModel):
    """`floor_ms` plus a draw of `model` (any family but shifted or mixture)."""

    type: Literal["shifted"]
    floor_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    model: InnerLatency
    scale_with: LatencyScaleWith | None = None


# A mixture component is written flat: {weight: 0.95, type: lognormal, median_ms: 40, sigma: 0.3}
class _WeightedConstantLatency(ConstantLatency, ComponentModel):
    pass


class _WeightedNormalLatency(NormalLatency, ComponentModel):
    pass


class _WeightedLognormalLatency(LognormalLatency, ComponentModel):
    pass


class _WeightedExponentialLatency(ExponentialLatency, ComponentModel):
    pass


class _WeightedStudentTLatency(StudentTLatency, ComponentModel):
    pass


class _WeightedShiftedLatency(ShiftedLatency, ComponentModel):
    pass


class _WeightedHistoricalLatency(HistoricalLatency, ComponentModel):
    pass


WeightedLatency = Annotated[
    _WeightedConstantLatency
    | _WeightedNormalLatency
    | _WeightedLognormalLatency
    | _WeightedExponentialLatency
    | _WeightedStudentTLatency
    | _WeightedShiftedLatency
    | _WeightedHistoricalLatency,
    Field(discriminator="type"),
    STOCHASTIC_ALIAS,
]


class MixtureLatency(FamilyModel):
    """Draw a component by weight (weights sum to 1), then draw from it."""

    type: Literal["mixture"]
    components: list[WeightedLatency] = Field(min_length=1)
    scale_with: LatencyScaleWith | None = None

    @field_validator("components")
    @classmethod
    def _weights_sum_to_one(cls, components: list[Any]) -> list[Any]:
        check_weights(components)
        return components


LatencyModelConfig = Annotated[
    ConstantLatency
    | NormalLatency
    | LognormalLatency
    | ExponentialLatency
    | StudentTLatency
    | ShiftedLatency
    | MixtureLatency
    | HistoricalLatency,
    Field(discriminator="type"),
    STOCHASTIC_ALIAS,
]
LATENCY_FAMILIES: dict[str, type[BaseModel]] = {
    "constant": ConstantLatency,
    "normal": NormalLatency,
    "lognormal": LognormalLatency,
    "exponential": ExponentialLatency,
    "student_t": StudentTLatency,
    "shifted": ShiftedLatency,
    "mixture": MixtureLatency,
    "historical": HistoricalLatency,
}
LATENCY_ADAPTER: TypeAdapter[LatencyModelConfig] = TypeAdapter(LatencyModelConfig)
