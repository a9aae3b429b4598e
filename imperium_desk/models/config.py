"""Model configs (DESIGN.md §4): one pydantic model per family, discriminated by `type`.

Latency models are in milliseconds (`*_ms` fields); slippage models carry a `unit` (bps, ticks or price;
positive is adverse) and unsuffixed fields.

Three places hold a model, with slightly different rules:
- top level (`global`, `per_asset` values, lane models): any family, and optionally `scale_with`;
- a mixture component: any family but mixture, written flat with a `weight`; no `scale_with`;
- a shifted model's inner `model`: any family but shifted or mixture; no `scale_with`.
The nested forms are private subclasses of the top-level classes, so `isinstance(c, NormalLatency)` holds for a
component too. A slippage component or inner model may omit `unit`: it takes its parent's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imperium_desk.models.historical import FloatArray, read_column

SlippageUnit = Literal["bps", "ticks", "price"]
SLIPPAGE_UNITS: tuple[str, ...] = ("bps", "ticks", "price")
WEIGHT_SUM_TOLERANCE = 1e-6

Bandwidth = Annotated[float, Field(gt=0)] | Literal["silverman"] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Bounds that keep every model's numbers finite through sampling and fitting (an API or file must not switch in
# 1e308 ms): an hour of latency, 1e5 of slippage in any unit (1000% in bps), a lognormal sigma of 5 (a 99th
# percentile 10^5 times the median), and a Student t's df beyond which it is a normal anyway.
MAX_LATENCY_MS = 3_600_000.0
MAX_SLIPPAGE = 100_000.0
MAX_SIGMA = 5.0
MAX_LOG_LOCATION = 50.0
MAX_DF = 1e6


# -- regime conditioning -----------------------------------------------------------------------------------
class ScaleWith(_Model):
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


class _Nested(_Model):
    """A model inside another (mixture component, shifted inner model): `scale_with` belongs to the outer one."""

    @field_validator("scale_with", check_fields=False)
    @classmethod
    def _no_scale_with(cls, value: object) -> object:
        if value is not None:
            raise ValueError("scale_with goes on the top-level model, not inside a mixture component or shifted model")
        return value


class _Component(_Nested):
    weight: float = Field(gt=0)


def _check_weights(components: list[Any]) -> None:
    total = math.fsum(c.weight for c in components)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"component weights must sum to 1, they sum to {total:.10g}")


class _Samples:
    """A historical model's samples; compares by value, so two loads of the same file make equal configs."""

    __slots__ = ("values",)

    def __init__(self, values: FloatArray) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Samples) and (
            self.values is other.values or bool(np.array_equal(self.values, other.values))
        )

    def __hash__(self) -> int:
        return hash(self.values.size)


# -- latency -----------------------------------------------------------------------------------------------
class ConstantLatency(_Model):
    type: Literal["constant"]
    value_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class NormalLatency(_Model):
    """Normal, truncated at zero by redrawing (the density is renormalised over [0, inf))."""

    type: Literal["normal"]
    mean_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    std_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class LognormalLatency(_Model):
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


class ExponentialLatency(_Model):
    type: Literal["exponential"]
    mean_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    scale_with: LatencyScaleWith | None = None


class StudentTLatency(_Model):
    """Student t (heavy tails), truncated at zero by redrawing."""

    type: Literal["student_t"]
    loc_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    scale_ms: float = Field(gt=0, le=MAX_LATENCY_MS)
    df: float = Field(gt=0, le=MAX_DF)
    scale_with: LatencyScaleWith | None = None


class HistoricalLatency(_Model):
    """Bootstrap from a CSV column; with a bandwidth, Gaussian kernel smoothing reflected at zero.

    `source` is relative to the config file in a config (made absolute when the config is loaded). The file
    is read when the model is validated; the samples are not part of the dump, the path is.
    """

    type: Literal["historical"]
    column: str = "latency_ms"
    bandwidth_ms: Bandwidth = None
    source: Path  # after `column`: its validator reads the file, so a bad file is reported at `source`
    scale_with: LatencyScaleWith | None = None
    _samples: _Samples | None = PrivateAttr(default=None)

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
        self._samples = _Samples(read_column(self.source, self.column, non_negative=True))
        return self

    @property
    def samples(self) -> FloatArray:
        return _samples_of(self._samples, self.source)


class _InnerConstantLatency(ConstantLatency, _Nested):
    pass


class _InnerNormalLatency(NormalLatency, _Nested):
    pass


class _InnerLognormalLatency(LognormalLatency, _Nested):
    pass


class _InnerExponentialLatency(ExponentialLatency, _Nested):
    pass


class _InnerStudentTLatency(StudentTLatency, _Nested):
    pass


class _InnerHistoricalLatency(HistoricalLatency, _Nested):
    pass


InnerLatency = Annotated[
    _InnerConstantLatency
    | _InnerNormalLatency
    | _InnerLognormalLatency
    | _InnerExponentialLatency
    | _InnerStudentTLatency
    | _InnerHistoricalLatency,
    Field(discriminator="type"),
]


class ShiftedLatency(_Model):
    """`floor_ms` plus a draw of `model` (any family but shifted or mixture)."""

    type: Literal["shifted"]
    floor_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    model: InnerLatency
    scale_with: LatencyScaleWith | None = None


# A mixture component is written flat: {weight: 0.95, type: lognormal, median_ms: 40, sigma: 0.3}
class _WeightedConstantLatency(ConstantLatency, _Component):
    pass


class _WeightedNormalLatency(NormalLatency, _Component):
    pass


class _WeightedLognormalLatency(LognormalLatency, _Component):
    pass


class _WeightedExponentialLatency(ExponentialLatency, _Component):
    pass


class _WeightedStudentTLatency(StudentTLatency, _Component):
    pass


class _WeightedShiftedLatency(ShiftedLatency, _Component):
    pass


class _WeightedHistoricalLatency(HistoricalLatency, _Component):
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
]


class MixtureLatency(_Model):
    """Draw a component by weight (weights sum to 1), then draw from it."""

    type: Literal["mixture"]
    components: list[WeightedLatency] = Field(min_length=1)
    scale_with: LatencyScaleWith | None = None

    @field_validator("components")
    @classmethod
    def _weights_sum_to_one(cls, components: list[Any]) -> list[Any]:
        _check_weights(components)
        return components


# -- slippage ----------------------------------------------------------------------------------------------
class ConstantSlippage(_Model):
    type: Literal["constant"]
    value: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class NormalSlippage(_Model):
    type: Literal["normal"]
    mean: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    std: float = Field(ge=0, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class LognormalSlippage(_Model):
    """Adverse-only slippage: exp(mu + sigma*Z) in `unit`, located by `median` or `mu`."""

    type: Literal["lognormal"]
    median: float | None = Field(default=None, gt=0, le=MAX_SLIPPAGE)
    mu: float | None = Field(default=None, ge=-MAX_LOG_LOCATION, le=math.log(MAX_SLIPPAGE))
    sigma: float = Field(ge=0, le=MAX_SIGMA)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        if (self.median is None) == (self.mu is None):
            raise ValueError("give exactly one of median or mu")
        return self

    @property
    def log_location(self) -> float:
        return math.log(self.median) if self.median is not None else float(self.mu or 0.0)


class ExponentialSlippage(_Model):
    type: Literal["exponential"]
    mean: float = Field(gt=0, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class StudentTSlippage(_Model):
    type: Literal["student_t"]
    loc: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    scale: float = Field(gt=0, le=MAX_SLIPPAGE)
    df: float = Field(gt=0, le=MAX_DF)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class HistoricalSlippage(_Model):
    """Bootstrap from a CSV column (values in `unit`); with a bandwidth, Gaussian kernel smoothing."""

    type: Literal["historical"]
    column: str = "slippage"
    bandwidth: Bandwidth = None
    source: Path  # after `column`: its validator reads the file, so a bad file is reported at `source`
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None
    _samples: _Samples | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source_is_readable(cls, source: Path, info: ValidationInfo) -> Path:
        column = info.data.get("column")
        if isinstance(column, str):
            read_column(source, column, non_negative=False)
        return source

    @model_validator(mode="after")
    def _read_samples(self) -> Self:
        self._samples = _Samples(read_column(self.source, self.column, non_negative=False))
        return self

    @property
    def samples(self) -> FloatArray:
        return _samples_of(self._samples, self.source)


class _InnerConstantSlippage(ConstantSlippage, _Nested):
    pass


class _InnerNormalSlippage(NormalSlippage, _Nested):
    pass


class _InnerLognormalSlippage(LognormalSlippage, _Nested):
    pass


class _InnerExponentialSlippage(ExponentialSlippage, _Nested):
    pass


class _InnerStudentTSlippage(StudentTSlippage, _Nested):
    pass


class _InnerHistoricalSlippage(HistoricalSlippage, _Nested):
    pass


InnerSlippage = Annotated[
    _InnerConstantSlippage
    | _InnerNormalSlippage
    | _InnerLognormalSlippage
    | _InnerExponentialSlippage
    | _InnerStudentTSlippage
    | _InnerHistoricalSlippage,
    Field(discriminator="type"),
]


def _inherit_unit(data: Any, nested: list[Any]) -> None:
    """Give nested model mappings without a `unit` their parent's (when the parent's is a valid unit)."""
    unit = data.get("unit", "bps")
    if unit not in SLIPPAGE_UNITS:
        return  # the parent's own error says so
    for i, item in enumerate(nested):
        if isinstance(item, dict) and "unit" not in item:
            nested[i] = {**item, "unit": unit}


class ShiftedSlippage(_Model):
    """`floor` plus a draw of `model` (any family but shifted or mixture)."""

    type: Literal["shifted"]
    floor: float
    model: InnerSlippage
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None

    @model_validator(mode="before")
    @classmethod
    def _model_takes_the_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            nested = [data["model"]]
            _inherit_unit(data, nested)
            data = {**data, "model": nested[0]}
        return data

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if self.model.unit != self.unit:
            raise ValueError(f"model.unit {self.model.unit!r} differs from the shifted model's unit {self.unit!r}")
        return self


class _WeightedConstantSlippage(ConstantSlippage, _Component):
    pass


class _WeightedNormalSlippage(NormalSlippage, _Component):
    pass


class _WeightedLognormalSlippage(LognormalSlippage, _Component):
    pass


class _WeightedExponentialSlippage(ExponentialSlippage, _Component):
    pass


class _WeightedStudentTSlippage(StudentTSlippage, _Component):
    pass


class _WeightedShiftedSlippage(ShiftedSlippage, _Component):
    pass


class _WeightedHistoricalSlippage(HistoricalSlippage, _Component):
    pass


WeightedSlippage = Annotated[
    _WeightedConstantSlippage
    | _WeightedNormalSlippage
    | _WeightedLognormalSlippage
    | _WeightedExponentialSlippage
    | _WeightedStudentTSlippage
    | _WeightedShiftedSlippage
    | _WeightedHistoricalSlippage,
    Field(discriminator="type"),
]


class MixtureSlippage(_Model):
    """Draw a component by weight (weights sum to 1), then draw from it; components share the mixture's unit."""

    type: Literal["mixture"]
    components: list[WeightedSlippage] = Field(min_length=1)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None

    @model_validator(mode="before")
    @classmethod
    def _components_take_the_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("components"), list):
            nested = list(data["components"])
            _inherit_unit(data, nested)
            data = {**data, "components": nested}
        return data

    @field_validator("components")
    @classmethod
    def _weights_sum_to_one(cls, components: list[Any]) -> list[Any]:
        _check_weights(components)
        return components

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        for i, c in enumerate(self.components):
            if c.unit != self.unit:
                raise ValueError(f"components.{i}.unit {c.unit!r} differs from the mixture's unit {self.unit!r}")
        return self


def _samples_of(samples: _Samples | None, source: Path) -> FloatArray:
    if samples is None:  # built with model_construct, which skips validation
        raise ValueError(f"historical model for {source} was not validated: its samples were never read")
    return samples.values


# -- unions, registries, model sets ------------------------------------------------------------------------
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
]
SlippageModelConfig = Annotated[
    ConstantSlippage
    | NormalSlippage
    | LognormalSlippage
    | ExponentialSlippage
    | StudentTSlippage
    | ShiftedSlippage
    | MixtureSlippage
    | HistoricalSlippage,
    Field(discriminator="type"),
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
SLIPPAGE_FAMILIES: dict[str, type[BaseModel]] = {
    "constant": ConstantSlippage,
    "normal": NormalSlippage,
    "lognormal": LognormalSlippage,
    "exponential": ExponentialSlippage,
    "student_t": StudentTSlippage,
    "shifted": ShiftedSlippage,
    "mixture": MixtureSlippage,
    "historical": HistoricalSlippage,
}
LATENCY_ADAPTER: TypeAdapter[LatencyModelConfig] = TypeAdapter(LatencyModelConfig)
SLIPPAGE_ADAPTER: TypeAdapter[SlippageModelConfig] = TypeAdapter(SlippageModelConfig)


def _default_latency() -> LatencyModelConfig:
    return NormalLatency(type="normal", mean_ms=50, std_ms=10)


def _default_slippage() -> SlippageModelConfig:
    return LognormalSlippage(type="lognormal", mu=0.0, sigma=0.1, unit="bps")


class LaneModels(_Model):
    """One latency lane: a model of its own (`global`) and per-asset overrides; unset falls back to the order
    latency model."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: LatencyModelConfig | None = Field(default=None, alias="global")
    per_asset: dict[str, LatencyModelConfig] = Field(default_factory=dict)


class LatencyLanes(_Model):
    """Separate latencies where the order round trip is split: order insert, ack/fill report, cancel, and the
    market-data delay. A lane left out uses the order latency model."""

    insert: LaneModels | None = None
    report: LaneModels | None = None
    cancel: LaneModels | None = None
    market_data: LaneModels | None = None


class LatencyModels(_Model):
    """Global default plus per-asset overrides keyed by trading symbol or underlying, and optional lanes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: LatencyModelConfig = Field(default_factory=_default_latency, alias="global")
    per_asset: dict[str, LatencyModelConfig] = Field(default_factory=dict)
    lanes: LatencyLanes = Field(default_factory=LatencyLanes)


class SlippageModels(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: SlippageModelConfig = Field(default_factory=_default_slippage, alias="global")
    per_asset: dict[str, SlippageModelConfig] = Field(default_factory=dict)
