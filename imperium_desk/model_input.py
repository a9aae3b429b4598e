"""One latency or slippage model given at runtime (the models panel, the REST API, a scenario event), validated
as strictly as a config file is: errors carry the field path as the config would spell it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from imperium_desk.config import ConfigError, resolve_relative_paths
from imperium_desk.domain.validation import validation_errors
from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER

ModelKind = Literal["latency", "slippage"]
KINDS: tuple[ModelKind, ...] = ("latency", "slippage")


class ModelConfigError(ConfigError):
    """A model given at runtime was rejected; nothing was changed."""


def model_path(kind: str, scope: str, lane: str = "order") -> str:
    """Where the model sits in a config file, e.g. `latency_model.per_asset.NIFTY`."""
    section = f"{kind}_model" if lane == "order" else f"latency_model.lanes.{lane}"
    return f"{section}.global" if scope == "global" else f"{section}.per_asset.{scope}"


def parse_model(kind: str, raw: Mapping[str, Any], *, where: str, base: Path | None = None) -> Any:
    """The validated model config. `where` prefixes error paths; relative data-file paths (a historical model's
    `source`) resolve against `base` (the config file's folder), else the working directory."""
    if kind not in KINDS:
        raise ModelConfigError([f"kind: {kind!r} is not one of latency, slippage"])
    if not isinstance(raw, Mapping):
        raise ModelConfigError([f"{where}: a model must be a mapping with a `type`, got {type(raw).__name__}"])
    wrapped = resolve_relative_paths({f"{kind}_model": {"global": dict(raw)}}, base or Path.cwd())
    resolved = wrapped[f"{kind}_model"]["global"]
    adapter: TypeAdapter[Any] = LATENCY_ADAPTER if kind == "latency" else SLIPPAGE_ADAPTER
    try:
        return adapter.validate_python(resolved)
    except ValidationError as exc:
        raise ModelConfigError(validation_errors(where, exc, resolved)) from None
