"""The desk config (DESIGN.md §4): one pydantic schema, loaded from YAML or JSON.

Unknown fields are errors. Every error is reported with its field path and the offending value, and a
failed load changes nothing: the caller keeps the config it had.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imperium_desk.analysis.fees import FeeSchedule
from imperium_desk.broker.config import BrokerConfig

# Also importable from here, where it lived before domain/validation.py; new code imports it from domain.
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

    model_config = ConfigDict(extra="forbid", frozen=True)

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


class ConfigError(ValueError):
    """A config or data file was rejected. `errors` holds one line per problem: `source: path: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# -- reading YAML/JSON documents ----------------------------------------------------------------------------------
# Configs and scenarios are a few kilobytes; these bounds refuse a hostile file before anything is built, walked or
# validated, and keep the worst file that passes them to about a second and tens of MB (README "Input limits").
MAX_DOCUMENT_BYTES = 256 << 10  # a config, scenario or run.json file; the largest shipped is under 4 KiB
MAX_DOCUMENT_DEPTH = 64  # nested mappings/sequences; the deepest shipped file nests 6
MAX_ALIAS_EXPANSION = 10_000  # nodes that aliases (`*name`) add when the document is expanded
# libyaml, when installed, parses (10 to 20 times faster than PyYAML's parser; the constructor and resolver are
# PyYAML's either way). A file it refuses is parsed again by PyYAML, whose error messages users see in every install.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML), with errors that name the file and line."""
    return parse_document(read_document_text(path), str(path))


def read_document_text(path: Path) -> str:
    """The text of a config or scenario file: at most `MAX_DOCUMENT_BYTES`, UTF-8. Reads no more than that,
    whatever the file (a device, a file still growing)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_DOCUMENT_BYTES} bytes; configs and scenarios are kilobytes"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None


def parse_document(text: str, source: str) -> Any:
    """Parse YAML or JSON text, with errors that name `source` and the line.

    Bounded: text over `MAX_DOCUMENT_BYTES`, nesting deeper than `MAX_DOCUMENT_DEPTH`, aliases that expand to
    more than `MAX_ALIAS_EXPANSION` nodes (a "billion laughs") and recursive aliases are refused from the event
    stream, before any object is built, so the load and everything that walks its result stay small."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes; configs and scenarios are kilobytes"])
    try:
        loader = _FAST_LOADER
        try:
            _check_shape(text, source, loader)
        except yaml.YAMLError:  # PyYAML's parser may accept what libyaml refuses, and its words are the ones shown
            loader = yaml.SafeLoader
            _check_shape(text, source, loader)
        document = yaml.load(text, Loader=loader)  # a safe loader either way: SafeConstructor
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{source}:{where} not valid YAML/JSON: {getattr(exc, 'problem', None) or exc}"]) from None
    except ValueError as exc:  # a scalar the constructor cannot build: an integer of 5,000 digits, 2026-13-45
        raise ConfigError([f"{source}: not valid YAML/JSON: {str(exc).split(';')[0][:200]}"]) from None
    non_finite = _non_finite_at(document)
    if non_finite is not None:
        raise ConfigError([f"{source}: {non_finite or '(top level)'}: not a finite number (.nan and .inf are refused)"])
    return document


_Entry = tuple[Any, Any, Any]  # a value met walking a document: (its parent's entry or None, its key, the value)


def _non_finite_at(document: Any) -> str | None:
    """The path of a NaN or infinity in a loaded document (None: there is none). No setting takes one,
    and a NaN compares false with every bound a schema sets, so it is refused here, naming where it is.
    Walks the document without recursion (`_check_shape` has bounded what there is to walk), and spells a path
    only for the value it reports: each entry keeps its parent's entry and its own key."""
    pending: list[_Entry] = [(None, None, document)]
    while pending:
        entry = pending.pop()
        value = entry[2]
        if isinstance(value, float) and not math.isfinite(value):
            return _spelled_path(entry)
        if isinstance(value, dict):
            pending.extend((entry, key, item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((entry, index, item) for index, item in enumerate(value))
    return None


def _spelled_path(entry: _Entry) -> str:
    keys: list[str] = []
    node: _Entry | None = entry
    while node is not None and node[0] is not None:
        keys.append(str(node[1])[:80])
        node = node[0]
    return ".".join(reversed(keys))


class _Collection:
    """A mapping or sequence being read from the event stream: its anchor, and its size (nodes) and height
    (collections nested in it, itself included) so far, counting what aliases in it expand to."""

    __slots__ = ("anchor", "height", "size")

    def __init__(self, anchor: str | None) -> None:
        self.anchor = anchor
        self.size = 1
        self.height = 1


def _check_shape(text: str, source: str, loader: type[yaml.SafeLoader]) -> None:
    """Refuse a document too deep, or whose aliases expand too far, reading only its events (no objects)."""
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height) of the node it names
    open_: list[_Collection] = []
    expansion = 0

    def close(anchor: str | None, size: int, height: int, line: int) -> None:
        if anchor is not None:
            anchored[anchor] = (size, height)
        if open_:
            parent = open_[-1]
            parent.size += size
            parent.height = max(parent.height, height + 1)
            if len(open_) - 1 + parent.height > MAX_DOCUMENT_DEPTH:
                raise ConfigError([f"{source}: line {line}: nested deeper than {MAX_DOCUMENT_DEPTH} levels "
                                   "(counting what aliases expand to)"])

    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DOCUMENT_DEPTH:
                raise ConfigError([f"{source}: line {line}: nested deeper than {MAX_DOCUMENT_DEPTH} levels"])
            open_.append(_Collection(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = open_.pop()
            close(done.anchor, done.size, done.height, line)
        elif isinstance(event, yaml.ScalarEvent):
            close(event.anchor, 1, 0, line)
        elif isinstance(event, yaml.AliasEvent):
            target = anchored.get(event.anchor or "")
            if target is None:
                if any(c.anchor == event.anchor for c in open_):
                    raise ConfigError([f"{source}: line {line}: alias *{event.anchor} refers to a node containing it"])
                continue  # an undefined alias: the loader names it
            expansion += target[0]
            if expansion > MAX_ALIAS_EXPANSION:
                raise ConfigError([f"{source}: line {line}: aliases expand to more than {MAX_ALIAS_EXPANSION} "
                                   "nodes (an alias bomb?); write the values out"])
            close(None, target[0], target[1], line)


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
