"""Scenario / replay files (DESIGN.md §3): validated, with errors that name the field path."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imperium_desk.config import ConfigError, read_document, validation_errors
from imperium_desk.domain.enums import Algo, OptionRight, OrderType, Side, Urgency
from imperium_desk.model_input import ModelConfigError, model_path, parse_model

_STRIKE = re.compile(r"ATM([+-]\d+)?")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstrumentRef(_Spec):
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
    horizon_s: float | None = Field(default=None, gt=0)
    max_child_orders: int | None = Field(default=None, ge=1, le=1000)
    participation_rate: float | None = Field(default=None, gt=0, le=1)
    randomize_slices: bool | None = None


class OrderSpec(_Spec):
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


ScenarioEvent = ModelSwitchEvent  # more event types join this union with the scenario drills


class ScenarioSpec(_Spec):
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
            if event.at_s > self.duration_s:
                raise ValueError(f"events.{i}.at_s {event.at_s} is after duration_s {self.duration_s}")
        return self


class LoadedScenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    spec: ScenarioSpec
    path: Path
    sha256: str


def load_scenario(path: Path) -> LoadedScenario:
    raw = read_document(path)
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping, got {type(raw).__name__}"])
    try:
        spec = ScenarioSpec.model_validate(raw, context={"base": path.parent})
    except ValidationError as exc:
        raise ConfigError(validation_errors(str(path), exc, raw)) from None
    return LoadedScenario(spec=spec, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
