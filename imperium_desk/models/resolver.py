"""Per-asset model resolution and runtime switching.

Resolution order for every model and lane: full trading symbol, then underlying, then `global`. A lane that is
not configured falls back to the order-latency model (see `ResolvedModels`). A switch replaces one scope's model
and clears the resolution cache; orders already in flight keep the `ResolvedModels` they took at placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from imperium_desk.models.config import LaneModels, LatencyModels, ScaleWith, SlippageModels
from imperium_desk.models.samplers import Sampler, Scaled, latency_sampler, slippage_sampler

ModelKind = Literal["latency", "slippage"]
LANES: tuple[str, ...] = ("order", "insert", "report", "cancel", "market_data")
ORDER_LANES: tuple[str, ...] = ("insert", "report", "cancel", "market_data")

# A conditioned draw is multiplied by a factor kept inside these bounds: a regime can make a model ten times
# slower, never instantaneous or unbounded.
FACTOR_MIN = 0.01
FACTOR_MAX = 100.0
LOG_FACTOR_MIN, LOG_FACTOR_MAX = math.log(FACTOR_MIN), math.log(FACTOR_MAX)


class ModelSwitchError(ValueError):
    """A switch that cannot be made (e.g. removing the global model); nothing was changed."""


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """A resolved model: what produced a draw, recorded with the fill (`model_params`)."""

    kind: ModelKind
    lane: str
    scope: str  # the key that matched: a trading symbol, an underlying, or "global"
    sampler: Sampler
    params: dict[str, Any]
    unit: str  # "ms" for latency; bps/ticks/price for slippage
    scale: ScaleWith | None  # regime conditioning, applied by the engine to each draw

    def factor(self, vol_ratio: float, rate_ratio: float, participation: float | None = None) -> float:
        """The multiplier of a draw under the current regime (1.0 without `scale_with`)."""
        s = self.scale
        if s is None:
            return 1.0
        # Summed in logs and clamped there: a steep exponent must bound the factor, not overflow a float.
        log_f = 0.0
        if s.volatility:
            log_f += s.volatility * math.log(max(vol_ratio, 1e-9))
        if s.message_rate:
            log_f += s.message_rate * math.log(max(rate_ratio, 1e-9))
        if s.participation and participation is not None:
            log_f += s.participation * math.log(max(participation / s.reference_participation, 1e-9))
        return math.exp(min(max(log_f, LOG_FACTOR_MIN), LOG_FACTOR_MAX))


@dataclass(frozen=True, slots=True)
class ResolvedModels:
    """Every model one asset uses, resolved once per (symbol, underlying) and cached until the next switch.

    `insert`/`report`/`cancel`/`market_data` are None when that lane is not configured for the asset: the
    order's round trip is then one draw of `latency`, split at the paper exchange's fill point; a cancel's round
    trip is a draw of `latency`; market data is not delayed.
    """

    latency: ActiveModel
    slippage: ActiveModel
    insert: ActiveModel | None
    report: ActiveModel | None
    cancel: ActiveModel | None
    market_data: ActiveModel | None
    model_params: dict[str, Any]  # shared by every fill these models produce (never mutated)
    conditioned: bool = False  # an order model has `scale_with` (worked out once here, read on every order)


@dataclass(frozen=True, slots=True)
class ModelSwitch:
    """One scope's model replaced: what the telemetry `model_switch` record and the window report."""

    kind: ModelKind
    lane: str
    scope: str
    old: dict[str, Any] | None  # None: the scope had no model of its own (it inherited)
    new: dict[str, Any] | None  # None: the override was removed (the scope inherits again)
    source: str  # panel | rest | reload | scenario | api


@dataclass(frozen=True, slots=True)
class LatencyBurst:
    """A temporary change of one latency lane for some assets (a scenario's `latency_burst`): draws multiplied
    by `factor`, or taken from `model` instead. Applied at resolution, above every configured scope, so a
    burst for an underlying also covers its symbols' own overrides; the config itself is never edited and
    removing the burst restores exactly what was there."""

    lane: str  # order (the whole round trip: insert and report too) | cancel | market_data
    target: str | None  # a trading symbol, an underlying, or None for every asset
    factor: float = 1.0
    model: Any | None = None  # a validated latency model config

    def covers(self, symbol: str, underlying: str) -> bool:
        return self.target is None or self.target in (symbol, underlying)


def dump_model(cfg: Any) -> dict[str, Any]:
    """A model config as written in a config file."""
    out: dict[str, Any] = cfg.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


class ModelResolver:
    """The live latency and slippage models of one engine and what each asset resolves to (order: see the module
    docstring). A resolution is cached and returned as the same frozen `ResolvedModels` until the next switch or
    burst, so a caller may keep it: an order holds the models it was placed with.

    `switch` and `replace` take validated model configs; `switch` changes nothing when it raises
    `ModelSwitchError`. `version` is bumped by every switch and by a `replace` that changed something. Bursts sit
    above every scope and never edit the configured sections. Not thread-safe: the engine's loop thread only."""

    def __init__(self, latency: LatencyModels, slippage: SlippageModels) -> None:
        self._latency = latency
        self._slippage = slippage
        self._cache: dict[tuple[str, str], ResolvedModels] = {}
        self.version = 0  # bumped by every switch
        self._bursts: list[LatencyBurst] = []

    # -- bursts (scenario injection) -----------------------------------------------------------------------
    def add_burst(self, burst: LatencyBurst) -> None:
        if burst.lane not in ("order", "cancel", "market_data"):
            raise ModelSwitchError(f"lane: a burst applies to order, cancel or market_data, got {burst.lane!r}")
        self._bursts.append(burst)
        self._cache.clear()

    def remove_burst(self, burst: LatencyBurst) -> None:
        self._bursts.remove(burst)
        self._cache.clear()

    def _burst(self, lane: str, symbol: str, underlying: str, active: ActiveModel | None) -> ActiveModel | None:
        """`active` under every burst covering this asset and lane (in the order they began)."""
        for burst in self._bursts:
            if burst.lane != lane or not burst.covers(symbol, underlying):
                continue
            target = burst.target or "global"
            if burst.model is not None:
                active = _active("latency", lane, f"burst:{target}", burst.model)
            elif active is not None:
                params = {**active.params, "burst_factor": round(active.params.get("burst_factor", 1.0)
                                                                 * burst.factor, 6)}
                active = ActiveModel(active.kind, lane, active.scope, Scaled(burst.factor, active.sampler), params,
                                     active.unit, active.scale)
        return active

    @property
    def latency_models(self) -> LatencyModels:
        return self._latency

    @property
    def slippage_models(self) -> SlippageModels:
        return self._slippage

    # -- resolution ------------------------------------------------------------------------------------------
    def resolve(self, symbol: str, underlying: str) -> ResolvedModels:
        key = (symbol, underlying)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(symbol, underlying)
        return found

    def _resolve(self, symbol: str, underlying: str) -> ResolvedModels:
        lat = self._latency
        scope, cfg = _pick(lat.per_asset, symbol, underlying, "global", lat.global_)
        latency = _active("latency", "order", scope, cfg)
        scope, cfg = _pick(self._slippage.per_asset, symbol, underlying, "global", self._slippage.global_)
        slippage = _active("slippage", "order", scope, cfg)
        lanes = {name: _lane(getattr(lat.lanes, name), name, symbol, underlying) for name in ORDER_LANES}
        if self._bursts:
            unburst = latency
            latency = self._burst("order", symbol, underlying, latency) or latency
            replaced = any(b.lane == "order" and b.model is not None and b.covers(symbol, underlying)
                           for b in self._bursts)
            for name in ("insert", "report"):  # the order lane's burst is the whole round trip
                # A replacement model is the round trip itself (split at the fill point), not each leg.
                lanes[name] = None if replaced else self._burst("order", symbol, underlying, lanes[name])
            # An unconfigured cancel lane is a draw of the (unburst) order model: a cancel burst scales that.
            lanes["cancel"] = self._burst("cancel", symbol, underlying, lanes["cancel"]) if lanes["cancel"] \
                else _unless_same(self._burst("cancel", symbol, underlying, unburst), unburst)
            lanes["market_data"] = self._burst("market_data", symbol, underlying, lanes["market_data"])
        params: dict[str, Any] = {
            "latency": {"scope": latency.scope, **latency.params},
            "slippage": {"scope": slippage.scope, **slippage.params},
        }
        configured = {name: {"scope": m.scope, **m.params} for name, m in lanes.items() if m is not None}
        if configured:
            params["lanes"] = configured
        conditioned = any(
            m is not None and m.scale is not None for m in (latency, slippage, lanes["insert"], lanes["report"])
        )
        return ResolvedModels(latency, slippage, model_params=params, conditioned=conditioned, **lanes)

    # -- switching -------------------------------------------------------------------------------------------
    def switch(
        self, kind: ModelKind, scope: str, model: Any | None, *, lane: str = "order", source: str = "api"
    ) -> ModelSwitch:
        """Replace the model of one scope (`global`, an underlying or a trading symbol) and lane; `model=None`
        removes a per-asset override (or a lane's global model). Orders in flight are not touched."""
        if lane not in LANES:
            raise ModelSwitchError(f"lane: {lane!r} is not one of {', '.join(LANES)}")
        if kind == "slippage":
            if lane != "order":
                raise ModelSwitchError(f"lane: slippage has no lane {lane!r} (only 'order')")
            old_cfg, self._slippage = _replaced(self._slippage, scope, model, "slippage_model")
        elif lane == "order":
            old_cfg, self._latency = _replaced(self._latency, scope, model, "latency_model")
        else:
            lane_models: LaneModels | None = getattr(self._latency.lanes, lane)
            current = lane_models if lane_models is not None else LaneModels()
            old_cfg, updated = _replaced(current, scope, model, f"latency_model.lanes.{lane}", lane=True)
            empty = updated.global_ is None and not updated.per_asset
            lanes = self._latency.lanes.model_copy(update={lane: None if empty else updated})
            self._latency = self._latency.model_copy(update={"lanes": lanes})
        self._cache.clear()
        self.version += 1
        return ModelSwitch(
            kind,
            lane,
            scope,
            dump_model(old_cfg) if old_cfg is not None else None,
            dump_model(model) if model is not None else None,
            source,
        )

    def replace(self, latency: LatencyModels, slippage: SlippageModels, *, source: str) -> list[ModelSwitch]:
        """Switch to whole new model sections (a config reload): one `ModelSwitch` per scope that changed."""
        switches: list[ModelSwitch] = []
        for kind, lane, scope, old, new in _differences(self._latency, self._slippage, latency, slippage):
            switches.append(ModelSwitch(kind, lane, scope, old, new, source))
        self._latency, self._slippage = latency, slippage
        self._cache.clear()
        if switches:
            self.version += 1
        return switches


def _unless_same(model: ActiveModel | None, base: ActiveModel) -> ActiveModel | None:
    return None if model is base else model


def _active(kind: ModelKind, lane: str, scope: str, cfg: Any) -> ActiveModel:
    params = dump_model(cfg)
    if kind == "latency":
        return ActiveModel(kind, lane, scope, latency_sampler(cfg), params, "ms", cfg.scale_with)
    return ActiveModel(kind, lane, scope, slippage_sampler(cfg), params, cfg.unit, cfg.scale_with)


def _lane(models: LaneModels | None, lane: str, symbol: str, underlying: str) -> ActiveModel | None:
    if models is None:
        return None
    scope, cfg = _pick(models.per_asset, symbol, underlying, "global", models.global_)
    return None if cfg is None else _active("latency", lane, scope, cfg)


def _pick(per_asset: dict[str, Any], symbol: str, underlying: str, default_scope: str, default: Any) -> tuple[str, Any]:
    if symbol in per_asset:
        return symbol, per_asset[symbol]
    if underlying in per_asset:
        return underlying, per_asset[underlying]
    return default_scope, default


def _replaced(section: Any, scope: str, model: Any | None, where: str, *, lane: bool = False) -> tuple[Any, Any]:
    """(the scope's old model or None, the section with the scope's model replaced)."""
    if scope == "global":
        if model is None and not lane:
            raise ModelSwitchError(f"{where}.global: the global model cannot be removed, only replaced")
        return section.global_, section.model_copy(update={"global_": model})
    if not scope:
        raise ModelSwitchError("scope: give 'global', an underlying or a trading symbol")
    per_asset = dict(section.per_asset)
    old = per_asset.pop(scope, None)
    if model is None and old is None:
        raise ModelSwitchError(f"{where}.per_asset.{scope}: there is no override to remove")
    if model is not None:
        per_asset[scope] = model
    return old, section.model_copy(update={"per_asset": per_asset})


def _scopes(section: Any) -> dict[str, dict[str, Any]]:
    out = {scope: dump_model(cfg) for scope, cfg in section.per_asset.items()}
    if section.global_ is not None:
        out["global"] = dump_model(section.global_)
    return out


def _differences(
    old_lat: LatencyModels, old_slip: SlippageModels, new_lat: LatencyModels, new_slip: SlippageModels
) -> list[tuple[ModelKind, str, str, dict[str, Any] | None, dict[str, Any] | None]]:
    pairs: list[tuple[ModelKind, str, Any, Any]] = [
        ("latency", "order", old_lat, new_lat),
        ("slippage", "order", old_slip, new_slip),
    ]
    for name in ORDER_LANES:
        pairs.append(("latency", name, getattr(old_lat.lanes, name), getattr(new_lat.lanes, name)))
    out: list[tuple[ModelKind, str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
    for kind, lane, old, new in pairs:
        before = _scopes(old) if old is not None else {}
        after = _scopes(new) if new is not None else {}
        for scope in sorted(before.keys() | after.keys(), key=lambda s: (s != "global", s)):
            if before.get(scope) != after.get(scope):
                out.append((kind, lane, scope, before.get(scope), after.get(scope)))
    return out
