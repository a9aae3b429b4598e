"""The models the desk is configured with, looked up the way the resolver does (trading symbol, underlying,
global; an unconfigured lane falls back to the order model) but without a scenario's bursts: a burst is the
world changing, which is what a learner measures, not what the desk believes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from imperium_desk.models.config import LaneModels, LatencyModels, SlippageModels

Kind = str  # "latency" | "slippage"


class ModelSource(Protocol):
    """Where the configured model sections live (the engine's `ModelResolver` is one)."""

    @property
    def latency_models(self) -> LatencyModels: ...

    @property
    def slippage_models(self) -> SlippageModels: ...


class ConfiguredModels:
    """The configured models as learners and the report see them (module docstring). It reads `source` on every call and
    caches nothing, so its answers follow every switch at once. Scope and model answers are `(scope, config)`: the scope
    says which override a change would have to replace. Called where the source lives: the engine's loop thread."""

    def __init__(self, source: ModelSource, underlying_of: Callable[[str], str | None]) -> None:
        self._source = source
        self._underlying_of = underlying_of

    def underlying_of(self, scope: str) -> str | None:
        """The underlying a scope belongs to (itself for an underlying); None for global or an unknown name."""
        return None if scope == "global" else self._underlying_of(scope)

    def for_asset(self, kind: Kind, symbol: str, underlying: str, lane: str = "order") -> tuple[str, Any]:
        """(the scope that matched, its model config) for one trading symbol's orders."""
        if kind == "slippage":
            section: Any = self._source.slippage_models
            return _pick(section.per_asset, symbol, underlying, section.global_)
        latency = self._source.latency_models
        if lane != "order":
            lane_models: LaneModels | None = getattr(latency.lanes, lane)
            if lane_models is not None:
                scope, cfg = _pick(lane_models.per_asset, symbol, underlying, lane_models.global_)
                if cfg is not None:
                    return scope, cfg
        return _pick(latency.per_asset, symbol, underlying, latency.global_)

    def for_scope(self, kind: Kind, scope: str, lane: str = "order") -> tuple[str, Any]:
        """The model a scope (global, an underlying or a trading symbol) uses now: what a change of that scope
        replaces."""
        if scope == "global":
            if kind == "slippage":
                return "global", self._source.slippage_models.global_
            latency = self._source.latency_models
            lane_models: LaneModels | None = getattr(latency.lanes, lane) if lane != "order" else None
            if lane_models is not None and lane_models.global_ is not None:
                return "global", lane_models.global_
            return "global", latency.global_
        underlying = self._underlying_of(scope) or scope
        return self.for_asset(kind, scope, underlying, lane)

    def own_scope(self, kind: Kind, symbol: str, underlying: str) -> str:
        """The scope a learner recalibrates for this symbol's fills: the symbol when it has an override of its
        own (changing the underlying would not reach it), else the underlying."""
        section: Any = self._source.slippage_models if kind == "slippage" else self._source.latency_models
        return symbol if symbol in section.per_asset else underlying


def _pick(per_asset: dict[str, Any], symbol: str, underlying: str, default: Any) -> tuple[str, Any]:
    cfg = per_asset.get(symbol)
    if cfg is not None:
        return symbol, cfg
    cfg = per_asset.get(underlying)
    if cfg is not None:
        return underlying, cfg
    return "global", default
