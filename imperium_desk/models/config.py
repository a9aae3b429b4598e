"""Model configs (DESIGN.md §4): one pydantic model per family, discriminated by `type`.

Latency models are in milliseconds (`*_ms` fields); slippage models carry a `unit` and unsuffixed fields.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SlippageUnit = Literal["bps", "ticks", "price"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- latency -----------------------------------------------------------------------------------------------
class ConstantLatency(_Model):
    type: Literal["constant"]
    value_ms: float = Field(ge=0)


class NormalLatency(_Model):
    """Normal, truncated at zero by redrawing (the density is renormalised over [0, inf))."""

    type: Literal["normal"]
    mean_ms: float = Field(ge=0)
    std_ms: float = Field(ge=0)


class LognormalLatency(_Model):
    """Lognormal by `median_ms` (= exp(mu)) and `sigma`, or by `mu`/`sigma` of ln(latency in ms)."""

    type: Literal["lognormal"]
    median_ms: float | None = Field(default=None, gt=0)
    mu: float | None = None
    sigma: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        if (self.median_ms is None) == (self.mu is None):
            raise ValueError("give exactly one of median_ms or mu")
        return self



class MixtureLatency(_Model):
    type: Literal["mixture"]
    components: list[WeightedLatency] = Field(min_length=1)


# -- slippage ----------------------------------------------------------------------------------------------
class ConstantSlippage(_Model):
    type: Literal["constant"]
    value: float
    unit: SlippageUnit = "bps"


class NormalSlippage(_Model):
    type: Literal["normal"]
    mean: float
    std: float = Field(ge=0)
    unit: SlippageUnit = "bps"


class LognormalSlippage(_Model):
    """Adverse-only slippage: exp(mu + sigma*Z) in `unit`, located by `median` or `mu`."""

    type: Literal["lognormal"]
    median: float | None = Field(default=None, gt=0)
    mu: float | None = None
    sigma: float = Field(ge=0)
    unit: SlippageUnit = "bps"

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        if (self.median is None) == (self.mu is None):
            raise ValueError("give exactly one of median or mu")
        return self


class MixtureSlippage(_Model):
    type: Literal["mixture"]
    components: list[WeightedSlippage] = Field(min_length=1)
    unit: SlippageUnit = "bps"

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        for i, c in enumerate(self.components):
            if c.unit not in (None, self.unit):
                raise ValueError(f"components.{i}.unit {c.unit!r} differs from the mixture's unit {self.unit!r}")
        return self


# A mixture component is written flat: {weight: 0.95, type: lognormal, median_ms: 40, sigma: 0.3}
class _WeightedLatencyConstant(ConstantLatency):
    weight: float = Field(gt=0)


class _WeightedLatencyNormal(NormalLatency):
    weight: float = Field(gt=0)


class _WeightedLatencyLognormal(LognormalLatency):
    weight: float = Field(gt=0)


class _WeightedSlippageConstant(ConstantSlippage):
    weight: float = Field(gt=0)
    unit: SlippageUnit | None = None  # type: ignore[assignment]  # None: the mixture's unit


class _WeightedSlippageNormal(NormalSlippage):
    weight: float = Field(gt=0)
    unit: SlippageUnit | None = None  # type: ignore[assignment]  # None: the mixture's unit


class _WeightedSlippageLognormal(LognormalSlippage):
    weight: float = Field(gt=0)
    unit: SlippageUnit | None = None  # type: ignore[assignment]  # None: the mixture's unit


LeafLatency = Annotated[ConstantLatency | NormalLatency | LognormalLatency, Field(discriminator="type")]
WeightedLatency = Annotated[
    _WeightedLatencyConstant | _WeightedLatencyNormal | _WeightedLatencyLognormal, Field(discriminator="type")
]
WeightedSlippage = Annotated[
    _WeightedSlippageConstant | _WeightedSlippageNormal | _WeightedSlippageLognormal,
    Field(discriminator="type"),
]
LatencyModelConfig = Annotated[
    ConstantLatency | NormalLatency | LognormalLatency | MixtureLatency, Field(discriminator="type")
]
SlippageModelConfig = Annotated[
    ConstantSlippage | NormalSlippage | LognormalSlippage | MixtureSlippage, Field(discriminator="type")
]

MixtureLatency.model_rebuild()
MixtureSlippage.model_rebuild()


class LatencyModels(_Model):
    """Global default plus per-asset overrides keyed by trading symbol or underlying."""

    global_: LatencyModelConfig = Field(
        default_factory=lambda: NormalLatency(type="normal", mean_ms=50, std_ms=10), alias="global"
    )
    per_asset: dict[str, LatencyModelConfig] = Field(default_factory=dict)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SlippageModels(_Model):
    global_: SlippageModelConfig = Field(
        default_factory=lambda: LognormalSlippage(type="lognormal", mu=0.0, sigma=0.1, unit="bps"), alias="global"
    )
    per_asset: dict[str, SlippageModelConfig] = Field(default_factory=dict)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
