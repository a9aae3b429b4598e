"""Scenario / replay files (DESIGN.md §3): validated, with errors that name the field path."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imperium_desk.domain.documents import ConfigError, parse_document, read_document_text
from imperium_desk.domain.enums import Algo, ErrorBucket, OptionRight, OrderType, Side, Urgency
from imperium_desk.domain.protection import ProtectionSpec
from imperium_desk.domain.validation import field_error_text, validation_errors
from imperium_desk.execution.config import RiskConfig
from imperium_desk.model_input import ModelConfigError, model_path, parse_model

_STRIKE = re.compile(r"ATM([+-]\d+)?")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class InstrumentRef(_Spec):
    """An option named by where it sits relative to the market rather than by trading symbol, so one file runs on any
    date and at any spot. It resolves when its order is placed: `expiry` `nearest` or `next` is the first or second
    live expiry then (or a date); `strike` `ATM`, `ATM+k` or `ATM-k` counts strike steps from the strike nearest the
    spot then (or is an absolute strike).
    """

    underlying: str
    expiry: Literal["nearest", "next"] | date = "nearest"
    strike: str | float = "ATM"
    right: OptionRight

    @field_validator("strike")
    @classmethod
    def _strike(cls, v: str | float) -> str | float:
        if isinstance(v, str):
            if not _STRIKE.fullmatch(v.replace(" ", "")):
                raise ValueError(f"strike must be ATM, ATM+k, ATM-k or a number, got {v!r}")
            return v.replace(" ", "")
        if v <= 0:
            raise ValueError(f"strike must be positive, got {v}")
        return v

    @property
    def atm_offset(self) -> int | None:
        """Strike steps from ATM, or None for an absolute strike."""
        if not isinstance(self.strike, str):
            return None
        m = _STRIKE.fullmatch(self.strike)
        assert m is not None
        return int(m.group(1) or 0)


class OrderParams(_Spec):
    """How one order is sliced; each setting left out takes the desk config's `execution` default."""

    horizon_s: float | None = Field(default=None, gt=0)
    max_child_orders: int | None = Field(default=None, ge=1, le=1000)
    participation_rate: float | None = Field(default=None, gt=0, le=1)
    randomize_slices: bool | None = None


class OrderSpec(_Spec):
    """One order of the scenario at `at_s`, or a rule repeating it every `every_s` from `from_s` to `until_s` (both
    included; default: the end of the run), in seconds from the run's start. The contract is `instrument` (resolved
    when placed) or a fixed `symbol`; the size is `lots` of that contract. `algo` defaults to IMMEDIATE, not to the
    config's `execution.algo`; `urgency` and `params` left out take the config's defaults.
    """

    at_s: float | None = Field(default=None, ge=0)
    every_s: float | None = Field(default=None, gt=0)
    from_s: float = Field(default=0.0, ge=0)
    until_s: float | None = Field(default=None, ge=0)
    instrument: InstrumentRef | None = None
    symbol: str | None = None
    side: Side
    lots: int = Field(gt=0)
    algo: Algo = Algo.IMMEDIATE
    urgency: Urgency | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = Field(default=None, gt=0)
    params: OrderParams = Field(default_factory=OrderParams)
    protection: ProtectionSpec | None = Field(
        default=None, description="stop-loss, target and trailing stop armed on what the order fills; a triggered "
        "one sends a MARKET exit that the run waits for")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.at_s is None) == (self.every_s is None):
            raise ValueError("give exactly one of at_s (one order) or every_s (a repeated rule)")
        if (self.instrument is None) == (self.symbol is None):
            raise ValueError("give exactly one of instrument or symbol")
        if self.until_s is not None and self.until_s < self.from_s:
            raise ValueError(f"until_s {self.until_s} is before from_s {self.from_s}")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a LIMIT order needs limit_price")
        return self

    def times(self, duration_s: float) -> list[float]:
        if self.at_s is not None:
            return [self.at_s]
        assert self.every_s is not None
        until = duration_s if self.until_s is None else min(self.until_s, duration_s)
        out: list[float] = []
        k = 0
        while True:
            t = self.from_s + k * self.every_s
            if t > until + 1e-9:
                return out
            out.append(round(t, 9))
            k += 1


class ModelSwitchEvent(_Spec):
    """At `at_s`, switch a latency or slippage model (global, or for an underlying or a trading symbol); a
    `model` of null removes that scope's override. Logged as a `model_switch` record like any runtime switch."""

    type: Literal["model_switch"]
    at_s: float = Field(ge=0)
    kind: Literal["latency", "slippage"]
    lane: Literal["order", "insert", "report", "cancel", "market_data"] = "order"
    underlying: str | None = None
    symbol: str | None = None
    model: dict[str, Any] | None
    _parsed: Any = PrivateAttr(default=None)

    @property
    def scope(self) -> str:
        return self.symbol or self.underlying or "global"

    @property
    def parsed(self) -> Any:
        """The validated model config (None when the event removes an override)."""
        return self._parsed

    @model_validator(mode="after")
    def _valid_model(self, info: ValidationInfo) -> Self:
        if self.underlying is not None and self.symbol is not None:
            raise ValueError("give at most one of underlying or symbol")
        if self.kind == "slippage" and self.lane != "order":
            raise ValueError(f"lane: slippage models have only the 'order' lane, got {self.lane!r}")
        if self.model is None:
            if self.scope == "global" and self.lane == "order":
                raise ValueError("model: the global model cannot be removed, only replaced")
            return self
        base = (info.context or {}).get("base")
        try:
            self._parsed = parse_model(self.kind, self.model, where="model", base=base)
        except ModelConfigError as exc:
            raise ValueError("; ".join(exc.errors)) from None
        return self

    def target_path(self) -> str:
        return model_path(self.kind, self.scope, self.lane)


class _Targeted(_Spec):
    """What every injected event shares: when, for how long (None: until the run ends) and for which assets
    (an underlying or a trading symbol; neither: every asset)."""

    at_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    underlying: str | None = None
    symbol: str | None = None

    @property
    def target(self) -> str | None:
        return self.symbol or self.underlying

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.underlying is not None and self.symbol is not None:
            raise ValueError("give at most one of underlying or symbol")
        return self


def _multiplier(default: float = 1.0) -> Any:
    return Field(default=default, gt=0, le=100)


class NewsShockEvent(_Targeted):
    """The underlying gaps by `jump_pct` at once; spreads and volatility stay multiplied for the duration."""

    type: Literal["news_shock"]
    jump_pct: float = Field(gt=-50, lt=100)
    spread_mult: float = _multiplier()
    vol_mult: float = _multiplier()


class LiquidityDropEvent(_Targeted):
    """The target's underlying thins out for the duration: book depth times `depth_mult`, traded volume times
    `volume_mult`, below 1 for a drop (a symbol target affects its whole underlying; overlapping events multiply).
    Models with `scale_with` follow it: an order's participation rises as depth thins, the message rate falls with
    volume.
    """

    type: Literal["liquidity_drop"]
    depth_mult: float = _multiplier()
    volume_mult: float = _multiplier()


class VolatilitySpikeEvent(_Targeted):
    """The volatility of the target's underlying, in its path and its options' implied volatility, times `vol_mult`
    for the duration (a symbol target affects its whole underlying; overlapping events multiply). Unlike
    `news_shock`, no jump and no spread multiplier. Models with `scale_with.volatility` follow it.
    """

    type: Literal["volatility_spike"]
    vol_mult: float = _multiplier()


class LatencyBurstEvent(_Targeted):
    """A latency lane slowed by `factor`, or replaced by `model`, for the covered assets."""

    type: Literal["latency_burst"]
    lane: Literal["order", "cancel", "market_data"] = "order"
    factor: float | None = Field(default=None, gt=0, le=1000)
    model: dict[str, Any] | None = None
    _parsed: Any = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        return self._parsed

    @model_validator(mode="after")
    def _factor_or_model(self, info: ValidationInfo) -> Self:
        if (self.factor is None) == (self.model is None):
            raise ValueError("give exactly one of factor (multiplies the latency draw) or model (used instead)")
        if self.model is not None:
            try:
                self._parsed = parse_model("latency", self.model, where="model", base=(info.context or {}).get("base"))
            except ModelConfigError as exc:
                raise ValueError("; ".join(exc.errors)) from None
        return self


class RejectStormEvent(_Targeted):
    """For the duration, the broker refuses each order placed for the target, retries included, with probability
    `rate` and an error of `error_bucket`: the stack retries `transient` and `throttle`, and a `risk` or `fatal`
    refusal fails the parent, so the bucket chooses which path the drill exercises.
    """

    type: Literal["reject_storm"]
    error_bucket: ErrorBucket
    rate: float = Field(gt=0, le=1)


class BrokerOutageEvent(_Targeted):
    """Orders time out at `rate`; `lost_answers` is the share of those the broker did accept (and may fill)
    whose answer never came, the case that tempts a naive client into sending a duplicate. Order lookups fail at
    `rate` too while the outage lasts."""

    type: Literal["broker_outage"]
    rate: float = Field(default=1.0, gt=0, le=1)
    lost_answers: float = Field(default=0.0, ge=0, le=1)

    @field_validator("lost_answers", mode="before")
    @classmethod
    def _bool_means_all_or_none(cls, v: Any) -> Any:
        return float(v) if isinstance(v, bool) else v


class ThrottleEvent(_Targeted):
    """For the duration, each order placed for the target, retries included, is answered HTTP 429 (refused before it
    was acted on) with probability `rate`. The stack backs off and retries up to its throttle attempt limit, so a
    heavy storm shows as delay first and as parents that gave up after.
    """

    type: Literal["throttle"]
    rate: float = Field(gt=0, le=1)


class RiskChangeEvent(_Targeted):
    """Risk limits laid over the config's for the duration (e.g. `{kill_switch: true}`); they apply to every
    asset, so a target is refused."""

    type: Literal["risk_change"]
    risk: dict[str, Any]

    @model_validator(mode="after")
    def _valid_risk(self) -> Self:
        if self.target is not None:
            raise ValueError("risk limits apply to every asset: give no underlying or symbol")
        if not self.risk:
            raise ValueError("risk: give at least one field of the config's risk section")
        try:
            RiskConfig.model_validate(self.risk)
        except ValidationError as exc:
            raise ValueError(field_error_text(exc, self.risk, prefix="risk")) from None
        return self


InjectedEvent = Annotated[
    NewsShockEvent | LiquidityDropEvent | VolatilitySpikeEvent | LatencyBurstEvent | RejectStormEvent
    | BrokerOutageEvent | ThrottleEvent | RiskChangeEvent,
    Field(discriminator="type"),
]
_INJECTED_ADAPTER: TypeAdapter[Any] = TypeAdapter(InjectedEvent)


class Distribution(_Spec):
    """A random magnitude or duration in a `random` event's template."""

    dist: Literal["uniform", "normal", "lognormal", "exponential", "choice"]
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    std: float | None = Field(default=None, ge=0)
    median: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, ge=0)
    values: list[Any] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fields(self) -> Self:
        need = {"uniform": ("low", "high"), "normal": ("mean", "std"), "lognormal": ("median", "sigma"),
                "exponential": ("mean",), "choice": ("values",)}[self.dist]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.dist} needs {', '.join(missing)}")
        if self.dist == "uniform" and self.high is not None and self.low is not None and self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        if self.dist == "exponential" and self.mean is not None and self.mean <= 0:
            raise ValueError(f"an exponential mean must be positive, got {self.mean}")
        return self

    def representative(self) -> Any:
        """A value the distribution can produce, to validate the template it sits in."""
        if self.dist == "uniform":
            return self.low
        if self.dist == "lognormal":
            return self.median
        if self.dist == "choice":
            assert self.values is not None
            return self.values[0]
        return self.mean

    def draw(self, gen: np.random.Generator) -> Any:
        # The validator guarantees the fields each distribution needs; `or 0.0` only satisfies the type checker.
        if self.dist == "uniform":
            return float(gen.uniform(self.low or 0.0, self.high or 0.0))
        if self.dist == "normal":
            return float(gen.normal(self.mean or 0.0, self.std or 0.0))
        if self.dist == "lognormal":
            return float((self.median or 0.0) * np.exp(gen.normal(0.0, self.sigma or 0.0)))
        if self.dist == "exponential":
            return float(gen.exponential(self.mean or 0.0))
        assert self.values is not None
        return self.values[int(gen.integers(len(self.values)))]


class RandomEvent(_Spec):
    """Events of one template arriving as a seeded Poisson process between `from_s` and `until_s`; any number
    in the template (and `duration_s`) may be a distribution (`{dist: uniform, low, high}` ...), drawn per event.
    A drawn value the event type refuses (e.g. a negative rate) is redrawn, up to a bound, then an error."""

    type: Literal["random"]
    process: Literal["poisson"] = "poisson"
    rate_per_min: float = Field(gt=0, le=600)
    from_s: float = Field(default=0.0, ge=0)
    until_s: float | None = Field(default=None, gt=0)
    event: dict[str, Any]
    _distributions: dict[str, Distribution] = PrivateAttr(default_factory=dict)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return self._distributions

    @model_validator(mode="after")
    def _valid_template(self, info: ValidationInfo) -> Self:
        if self.until_s is not None and self.until_s <= self.from_s:
            raise ValueError(f"until_s {self.until_s} must be after from_s {self.from_s}")
        kind = self.event.get("type")
        if kind in ("random", "model_switch"):
            raise ValueError(f"event.type: a random event's template cannot be {kind!r}")
        if "at_s" in self.event:
            raise ValueError("event.at_s: the Poisson process sets each event's time")
        distributions: dict[str, Distribution] = {}
        concrete: dict[str, Any] = {}
        for key, value in self.event.items():
            if isinstance(value, dict) and "dist" in value:
                try:
                    distributions[key] = Distribution.model_validate(value)
                except ValidationError as exc:
                    raise ValueError(field_error_text(exc, value, prefix=f"event.{key}")) from None
                concrete[key] = distributions[key].representative()
            else:
                concrete[key] = value
        candidate = {**concrete, "at_s": 0.0}
        try:
            _INJECTED_ADAPTER.validate_python(candidate, context=info.context)
        except ValidationError as exc:
            raise ValueError(field_error_text(exc, candidate, prefix="event")) from None
        self._distributions = distributions
        return self

    def instance(self, at_s: float, gen: np.random.Generator, base: Path | None) -> Any:
        """One concrete event at `at_s` with its random fields drawn."""
        for _ in range(_MAX_REDRAWS):
            raw = {key: (self._distributions[key].draw(gen) if key in self._distributions else value)
                   for key, value in self.event.items()}
            try:
                return _INJECTED_ADAPTER.validate_python({**raw, "at_s": at_s}, context={"base": base})
            except ValidationError:
                continue
        raise ValueError(f"random event at {at_s:g}s: no valid draw in {_MAX_REDRAWS} tries; narrow the distributions")


_MAX_REDRAWS = 100

ScenarioEvent = Annotated[
    ModelSwitchEvent | NewsShockEvent | LiquidityDropEvent | VolatilitySpikeEvent | LatencyBurstEvent
    | RejectStormEvent | BrokerOutageEvent | ThrottleEvent | RiskChangeEvent | RandomEvent,
    Field(discriminator="type"),
]


class ScenarioSpec(_Spec):
    """A scenario or replay file (DESIGN.md §3): the trader's orders and the injected events over `duration_s`
    seconds, every time within it; `seed` makes a replay repeat exactly (`--seed` overrides it) and `config` is
    merged over whichever desk config is in force.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    seed: int = Field(ge=0)
    duration_s: float = Field(gt=0, le=7 * 24 * 3600)
    config: dict[str, Any] = Field(default_factory=dict)
    orders: list[OrderSpec] = Field(default_factory=list)
    events: list[ScenarioEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _orders_inside(self) -> Self:
        for i, order in enumerate(self.orders):
            if order.at_s is not None and order.at_s > self.duration_s:
                raise ValueError(f"orders.{i}.at_s {order.at_s} is after duration_s {self.duration_s}")
        for i, event in enumerate(self.events):
            if isinstance(event, RandomEvent):
                if event.from_s > self.duration_s:
                    raise ValueError(f"events.{i}.from_s {event.from_s} is after duration_s {self.duration_s}")
                if event.until_s is not None and event.until_s > self.duration_s:
                    raise ValueError(f"events.{i}.until_s {event.until_s} is after duration_s {self.duration_s}")
            elif event.at_s > self.duration_s:
                raise ValueError(f"events.{i}.at_s {event.at_s} is after duration_s {self.duration_s}")
        return self


class LoadedScenario(BaseModel):
    """A validated scenario with the exact text it came from. `sha256` hashes that text, not the parsed spec, and a
    replay's run.json keeps the text, so a re-run checks it is playing the same file. Relative model data paths in
    it resolve against `path`'s folder.
    """

    model_config = ConfigDict(frozen=True)

    spec: ScenarioSpec
    path: Path
    sha256: str  # of the file's bytes, which `text` holds (a run.json keeps it, to re-run the run)
    text: str


def load_scenario(path: Path) -> LoadedScenario:
    """The scenario in `path`; the file is read as a config is (`read_document_text`: size-bounded, UTF-8)."""
    return scenario_from_text(read_document_text(path), path, str(path))


def scenario_from_spec(spec: ScenarioSpec) -> LoadedScenario:
    """A scenario built in code (benchmarks): its text is the spec as JSON, so its run.json re-runs it too."""
    text = json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_unset=True), sort_keys=True)
    return LoadedScenario(spec=spec, path=Path("<generated>"), sha256=hashlib.sha256(text.encode()).hexdigest(),
                          text=text)


def scenario_from_text(text: str, path: Path, source: str) -> LoadedScenario:
    """A scenario from its file's text. Relative paths in it (model data files) resolve against `path`'s folder;
    errors name `source` and the field path."""
    raw = parse_document(text, source)
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping, got {type(raw).__name__}"])
    try:
        spec = ScenarioSpec.model_validate(raw, context={"base": path.parent})
    except ValidationError as exc:
        raise ConfigError(validation_errors(source, exc, raw)) from None
    return LoadedScenario(spec=spec, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), text=text)
