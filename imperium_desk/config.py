"""The desk config (DESIGN.md §4): one pydantic schema, loaded from YAML or JSON.

Unknown fields are errors. Every error is reported with its field path and the offending value, and a
failed load changes nothing: the caller keeps the config it had.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imperium_desk.analysis.fees import FeeSchedule
from imperium_desk.broker.config import BrokerConfig

# Also importable from here, where they lived before domain/; new code imports them from domain.
from imperium_desk.domain.documents import ConfigError as ConfigError  # noqa: PLC0414 - the name most callers use
from imperium_desk.domain.documents import read_document
from imperium_desk.domain.validation import validation_errors
from imperium_desk.execution.config import ExecutionConfig, RiskConfig
from imperium_desk.feedback.config import FeedbackConfig
from imperium_desk.market.config import MarketConfig
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.stochastic import alias_params, is_stochastic_alias
from imperium_desk.telemetry.config import TelemetryConfig


class Config(BaseModel):
    """The desk config (DESIGN.md §4), validated as a whole and immutable: a reload or a scenario's `config:` builds a
    new one, so a rejected file never leaves a half-applied config behind.

    Its SHA-256 (`config_sha256` in a replay's run.json) is taken over the validated config as canonical JSON
    (defaults filled in, model data paths absolute): it follows what the desk runs with, not how the file spelled
    it, which is how a re-run notices a desk that now reads the same config differently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    latency_model: LatencyModels = Field(default_factory=LatencyModels)
    slippage_model: SlippageModels = Field(default_factory=SlippageModels)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    # Fees and taxes the post-trade report charges on fills: Indian index-option rates as of `fees.as_of`
    # (1 April 2026: zerodha.com/charges, Budget 2026-27 STT, NSE/BSE transaction charges; analysis/fees.py).
    fees: FeeSchedule = Field(default_factory=FeeSchedule)
    # The local REST API, webhook subscribers and learners (DESIGN.md §6).
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)

    def sha256(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def resolve_relative_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths inside a config (instrument file, model data files) are relative to the config file.

    Model data files are the `source` of historical models, wherever a model may stand: `global`, `per_asset`
    values and lanes of `latency_model` and `slippage_model`, mixture components and shifted inner models, and
    the `params` of a model in the `stochastic` spelling.
    The mapping is copied where it changes, never mutated.
    """
    market = raw.get("market")
    if isinstance(market, dict) and isinstance(market.get("instruments"), str):
        market = dict(market)
        market["instruments"] = str((base / market["instruments"]).resolve())
        raw = {**raw, "market": market}
    for section in ("latency_model", "slippage_model"):
        models = raw.get(section)
        if isinstance(models, dict):
            raw = {**raw, section: _resolve_model_set(models, base)}
    return raw


def _resolve_model_set(models: dict[str, Any], base: Path) -> dict[str, Any]:
    """`{global, per_asset, lanes}`: a lane is a model set of its own."""
    out = dict(models)
    if "global" in out:
        out["global"] = _resolve_model_paths(out["global"], base)
    if isinstance(out.get("per_asset"), dict):
        out["per_asset"] = {key: _resolve_model_paths(model, base) for key, model in out["per_asset"].items()}
    if isinstance(out.get("lanes"), dict):
        out["lanes"] = {
            lane: _resolve_model_set(lane_models, base) if isinstance(lane_models, dict) else lane_models
            for lane, lane_models in out["lanes"].items()
        }
    return out


def _resolve_model_paths(model: Any, base: Path) -> Any:
    if not isinstance(model, dict):
        return model
    kind = model.get("type")
    if kind == "historical" and isinstance(model.get("source"), str):
        return {**model, "source": str((base / Path(model["source"]).expanduser()).resolve())}
    if kind == "mixture" and isinstance(model.get("components"), list):
        return {**model, "components": [_resolve_model_paths(c, base) for c in model["components"]]}
    if kind == "shifted" and "model" in model:
        return {**model, "model": _resolve_model_paths(model["model"], base)}
    params = alias_params(model) if is_stochastic_alias(model) else None
    if params is not None and "type" not in params:  # with a `type` in params, validation refuses the alias
        plain = _resolve_model_paths({**params, "type": model.get("distribution")}, base)
        return {**model, "params": {key: value for key, value in plain.items() if key != "type"}}
    return model


def config_from_mapping(raw: Any, source: str, base: Path | None = None) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping, got {type(raw).__name__}"])
    if base is not None:
        raw = resolve_relative_paths(raw, base)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_errors(source, exc, raw)) from None


def load_config(path: Path | None) -> Config:
    """The config in `path`, or the embedded defaults when `path` is None."""
    if path is None:
        return Config()
    return config_from_mapping(read_document(path), str(path), path.parent)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged over `base`: mappings merge key by key, anything else replaces.

    A mapping with a `type` tag (a latency or slippage model) replaces the base's whole: its fields belong
    to its family, and merging them into another family's fields would mix two models.
    """
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and "type" not in value and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merged_config(config: Config, override: dict[str, Any], source: str) -> Config:
    base = config.model_dump(mode="json", by_alias=True)
    return config_from_mapping(deep_merge(base, override), source)
