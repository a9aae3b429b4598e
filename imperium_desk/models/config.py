"""Model configs (DESIGN.md §4): one pydantic model per family, discriminated by `type`.

Latency models are in milliseconds (`*_ms` fields); slippage models carry a `unit` (bps, ticks or price;
positive is adverse) and unsuffixed fields.

Three places hold a model, with slightly different rules:
- top level (`global`, `per_asset` values, lane models): any family, and optionally `scale_with`;
- a mixture component: any family but mixture, written flat with a `weight`; no `scale_with`;
- a shifted model's inner `model`: any family but shifted or mixture; no `scale_with`.
The nested forms are private subclasses of the top-level classes, so `isinstance(c, NormalLatency)` holds for a
component too. A slippage component or inner model may omit `unit`: it takes its parent's.

Wherever a model stands it may also be written as the execution-modelling specification does,
`{type: stochastic, distribution: <family>, params: {<that family's fields>}}`: the same model as
`{type: <family>, <fields>}` (models/stochastic.py), e.g. `{type: stochastic, distribution: mixture,
params: {components: [...]}}`. Errors inside `params` name the path as written (`...params.components.0.weight`).

This module is the front of the schema: the families live in latency_families.py and slippage_families.py
(their shared parts in family_base.py), and are imported from here.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from imperium_desk.models.family_base import (
    MAX_DF,
    MAX_LATENCY_MS,
    MAX_LOG_LOCATION,
    MAX_SIGMA,
    MAX_SLIPPAGE,
    SLIPPAGE_UNITS,
    WEIGHT_SUM_TOLERANCE,
    Bandwidth,
    FamilyModel,
    LatencyScaleWith,
    ScaleWith,
    SlippageUnit,
)
from imperium_desk.models.latency_families import (
    LATENCY_ADAPTER,
    LATENCY_FAMILIES,
    ConstantLatency,
    ExponentialLatency,
    HistoricalLatency,
    InnerLatency,
    LatencyModelConfig,
    LognormalLatency,
    MixtureLatency,
    NormalLatency,
    ShiftedLatency,
    StudentTLatency,
    WeightedLatency,
)
from imperium_desk.models.slippage_families import (
    SLIPPAGE_ADAPTER,
    SLIPPAGE_FAMILIES,
    ConstantSlippage,
    ExponentialSlippage,
    HistoricalSlippage,
    InnerSlippage,
    LognormalSlippage,
    MixtureSlippage,
    NormalSlippage,
    ShiftedSlippage,
    SlippageModelConfig,
    StudentTSlippage,
    WeightedSlippage,
)
from imperium_desk.models.stochastic import STOCHASTIC

__all__ = [
    "LATENCY_ADAPTER",
    "LATENCY_FAMILIES",
    "MAX_DF",
    "MAX_LATENCY_MS",
    "MAX_LOG_LOCATION",
    "MAX_SIGMA",
    "MAX_SLIPPAGE",
    "SLIPPAGE_ADAPTER",
    "SLIPPAGE_FAMILIES",
    "SLIPPAGE_UNITS",
    "STOCHASTIC",
    "WEIGHT_SUM_TOLERANCE",
    "Bandwidth",
    "ConstantLatency",
    "ConstantSlippage",
    "ExponentialLatency",
    "ExponentialSlippage",
    "HistoricalLatency",
    "HistoricalSlippage",
    "InnerLatency",
    "InnerSlippage",
    "LaneModels",
    "LatencyLanes",
    "LatencyModelConfig",
    "LatencyModels",
    "LatencyScaleWith",
    "LognormalLatency",
    "LognormalSlippage",
    "MixtureLatency",
    "MixtureSlippage",
    "NormalLatency",
    "NormalSlippage",
    "ScaleWith",
    "ShiftedLatency",
    "ShiftedSlippage",
    "SlippageModelConfig",
    "SlippageModels",
    "SlippageUnit",
    "StudentTLatency",
    "StudentTSlippage",
    "WeightedLatency",
    "WeightedSlippage",
]

_STOCHASTIC_DESCRIPTION = (
    "A model: `{type: <family>, <fields>}`, or the specification's spelling of the same model, "
    "`{type: stochastic, distribution: <family>, params: {<that family's fields>}}`."
)


def _default_latency() -> LatencyModelConfig:
    return NormalLatency(type="normal", mean_ms=50, std_ms=10)


def _default_slippage() -> SlippageModelConfig:
    return LognormalSlippage(type="lognormal", mu=0.0, sigma=0.1, unit="bps")


class LaneModels(FamilyModel):
    """One latency lane: a model of its own (`global`) and per-asset overrides; unset falls back to the order
    latency model."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: LatencyModelConfig | None = Field(default=None, alias="global", description=_STOCHASTIC_DESCRIPTION)
    per_asset: dict[str, LatencyModelConfig] = Field(default_factory=dict, description=_STOCHASTIC_DESCRIPTION)


class LatencyLanes(FamilyModel):
    """Separate latencies where the order round trip is split: order insert, ack/fill report, cancel, and the
    market-data delay. A lane left out uses the order latency model."""

    insert: LaneModels | None = None
    report: LaneModels | None = None
    cancel: LaneModels | None = None
    market_data: LaneModels | None = None


class LatencyModels(FamilyModel):
    """Global default plus per-asset overrides keyed by trading symbol or underlying, and optional lanes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: LatencyModelConfig = Field(default_factory=_default_latency, alias="global",
                                        description=_STOCHASTIC_DESCRIPTION)
    per_asset: dict[str, LatencyModelConfig] = Field(default_factory=dict, description=_STOCHASTIC_DESCRIPTION)
    lanes: LatencyLanes = Field(default_factory=LatencyLanes)


class SlippageModels(FamilyModel):
    """Global default plus per-asset overrides keyed by trading symbol or underlying."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: SlippageModelConfig = Field(default_factory=_default_slippage, alias="global",
                                         description=_STOCHASTIC_DESCRIPTION)
    per_asset: dict[str, SlippageModelConfig] = Field(default_factory=dict, description=_STOCHASTIC_DESCRIPTION)
