"""Slippage model families: each carries a `unit` (bps, ticks or price; positive is adverse) and unsuffixed
fields; a component or inner model without a `unit` takes its parent's. As for latency, every union of a place
a model stands also takes the `stochastic` spelling (models/stochastic.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, PrivateAttr, TypeAdapter, ValidationInfo, field_validator, model_validator

from imperium_desk.models.family_base import (
    MAX_DF,
    MAX_LOG_LOCATION,
    MAX_SIGMA,
    MAX_SLIPPAGE,
    SLIPPAGE_UNITS,
    Bandwidth,
    ComponentModel,
    FamilyModel,
    NestedModel,
    Samples,
    ScaleWith,
    SlippageUnit,
    check_weights,
    samples_of,
)
from imperium_desk.models.historical import FloatArray, read_column
from imperium_desk.models.stochastic import STOCHASTIC_ALIAS, alias_params, is_stochastic_alias


class ConstantSlippage(FamilyModel):
    """Every fill slips by `value` in `unit` (negative: a fixed improvement). Fill prices still land on the tick grid by
    stochastic rounding, so single fills differ from `value` by up to a tick but average it."""

    type: Literal["constant"]
    value: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class NormalSlippage(FamilyModel):
    """Normal(`mean`, `std`) in `unit`, not truncated: a draw below zero is a price improvement (the latency normal
    redraws negatives instead)."""

    type: Literal["normal"]
    mean: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    std: float = Field(ge=0, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class LognormalSlippage(FamilyModel):
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


class ExponentialSlippage(FamilyModel):
    """Exponential with mean `mean` in `unit`: adverse only, most fills near zero and a long tail of bad ones."""

    type: Literal["exponential"]
    mean: float = Field(gt=0, le=MAX_SLIPPAGE)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class StudentTSlippage(FamilyModel):
    """`loc` + `scale` · T(`df`) in `unit`, not truncated: heavy tails both ways, for fills that are mostly near `loc`
    and now and then far off. With `df` <= 2 the variance is infinite, and with `df` <= 1 there is no mean."""

    type: Literal["student_t"]
    loc: float = Field(ge=-MAX_SLIPPAGE, le=MAX_SLIPPAGE)
    scale: float = Field(gt=0, le=MAX_SLIPPAGE)
    df: float = Field(gt=0, le=MAX_DF)
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None


class HistoricalSlippage(FamilyModel):
    """Bootstrap from a CSV column (values in `unit`); with a bandwidth, Gaussian kernel smoothing."""

    type: Literal["historical"]
    column: str = "slippage"
    bandwidth: Bandwidth = None
    source: Path  # after `column`: its validator reads the file, so a bad file is reported at `source`
    unit: SlippageUnit = "bps"
    scale_with: ScaleWith | None = None
    _samples: Samples | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source_is_readable(cls, source: Path, info: ValidationInfo) -> Path:
        column = info.data.get("column")
        if isinstance(column, str):
            read_column(source, column, non_negative=False)
        return source

    @model_validator(mode="after")
    def _read_samples(self) -> Self:
        self._samples = Samples(read_column(self.source, self.column, non_negative=False))
        return self

    @property
    def samples(self) -> FloatArray:
        return samples_of(self._samples, self.source)


class _InnerConstantSlippage(ConstantSlippage, NestedModel):
    pass


class _InnerNormalSlippage(NormalSlippage, NestedModel):
    pass


class _InnerLognormalSlippage(LognormalSlippage, NestedModel):
    pass


class _InnerExponentialSlippage(ExponentialSlippage, NestedModel):
    pass


class _InnerStudentTSlippage(StudentTSlippage, NestedModel):
    pass


class _InnerHistoricalSlippage(HistoricalSlippage, NestedModel):
    pass


InnerSlippage = Annotated[
    _InnerConstantSlippage
    | _InnerNormalSlippage
    | _InnerLognormalSlippage
    | _InnerExponentialSlippage
    | _InnerStudentTSlippage
    | _InnerHistoricalSlippage,
    Field(discriminator="type"),
    STOCHASTIC_ALIAS,
]


def _inherit_unit(data: Any, nested: list[Any]) -> None:
    """Give nested model mappings without a `unit` their parent's (when the parent's is a valid unit)."""
    unit = data.get("unit", "bps")
    if unit not in SLIPPAGE_UNITS:
        return  # the parent's own error says so
    for i, item in enumerate(nested):
        if not isinstance(item, dict) or "unit" in item:
            continue
        params = alias_params(item) if is_stochastic_alias(item) else None
        if params is None or "unit" not in params:  # a unit in an alias's params is the one written
            nested[i] = {**item, "unit": unit}


class ShiftedSlippage(FamilyModel):
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


class _WeightedConstantSlippage(ConstantSlippage, ComponentModel):
    pass


class _WeightedNormalSlippage(NormalSlippage, ComponentModel):
    pass


class _WeightedLognormalSlippage(LognormalSlippage, ComponentModel):
    pass


class _WeightedExponentialSlippage(ExponentialSlippage, ComponentModel):
    pass


class _WeightedStudentTSlippage(StudentTSlippage, ComponentModel):
    pass


class _WeightedShiftedSlippage(ShiftedSlippage, ComponentModel):
    pass


class _WeightedHistoricalSlippage(HistoricalSlippage, ComponentModel):
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
    STOCHASTIC_ALIAS,
]


class MixtureSlippage(FamilyModel):
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
        check_weights(components)
        return components

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        for i, c in enumerate(self.components):
            if c.unit != self.unit:
                raise ValueError(f"components.{i}.unit {c.unit!r} differs from the mixture's unit {self.unit!r}")
        return self


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
    STOCHASTIC_ALIAS,
]
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
SLIPPAGE_ADAPTER: TypeAdapter[SlippageModelConfig] = TypeAdapter(SlippageModelConfig)
