"""Per-asset model resolution: full trading symbol, then underlying, then the global default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.samplers import Sampler, latency_sampler, slippage_sampler


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """A resolved model: what produced a draw, recorded with the fill (`model_params`)."""

    kind: Literal["latency", "slippage"]
    scope: str  # the key that matched: a trading symbol, an underlying, or "global"
    sampler: Sampler
    params: dict[str, Any]
    unit: str  # "ms" for latency; bps/ticks/price for slippage


class ModelResolver:
    def __init__(self, latency: LatencyModels, slippage: SlippageModels) -> None:
        self._latency = latency
        self._slippage = slippage
        self._cache: dict[tuple[str, str], tuple[ActiveModel, ActiveModel]] = {}

    @property
    def latency_models(self) -> LatencyModels:
        return self._latency

    @property
    def slippage_models(self) -> SlippageModels:
        return self._slippage

    def replace(self, latency: LatencyModels | None = None, slippage: SlippageModels | None = None) -> None:
        """Switch models; orders already in flight keep the `ActiveModel` they resolved at placement."""
        if latency is not None:
            self._latency = latency
        if slippage is not None:
            self._slippage = slippage
        self._cache.clear()

    def resolve(self, symbol: str, underlying: str) -> tuple[ActiveModel, ActiveModel]:
        key = (symbol, underlying)
        found = self._cache.get(key)
        if found is None:
            found = (self._resolve_latency(symbol, underlying), self._resolve_slippage(symbol, underlying))
            self._cache[key] = found
        return found

    def _resolve_latency(self, symbol: str, underlying: str) -> ActiveModel:
        scope, cfg = _pick(self._latency.per_asset, symbol, underlying, self._latency.global_)
        params = cfg.model_dump(mode="json", exclude_none=True)
        return ActiveModel("latency", scope, latency_sampler(cfg), params, "ms")

    def _resolve_slippage(self, symbol: str, underlying: str) -> ActiveModel:
        scope, cfg = _pick(self._slippage.per_asset, symbol, underlying, self._slippage.global_)
        params = cfg.model_dump(mode="json", exclude_none=True)
        return ActiveModel("slippage", scope, slippage_sampler(cfg), params, cfg.unit)


def _pick(per_asset: dict[str, Any], symbol: str, underlying: str, default: Any) -> tuple[str, Any]:
    if symbol in per_asset:
        return symbol, per_asset[symbol]
    if underlying in per_asset:
        return underlying, per_asset[underlying]
    return "global", default
