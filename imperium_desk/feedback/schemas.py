"""Request and response bodies of the feedback API (DESIGN.md §6): what is validated at the boundary and what the
OpenAPI document promises."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)

from imperium_desk.feedback.cursor import SINCE_PATTERN
from imperium_desk.telemetry.schema import EVENTS, SCHEMA_VERSION, iso_utc

Name = Annotated[str, Field(min_length=1, max_length=200)]


def _whole(value: Any) -> Any:
    """`3.0` as 3: JSON Schema counts an integral number as an integer, whatever its spelling."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Numbers in bodies are strict: JSON `true` is not 1 and `"1.5"` is not 1.5 (lax pydantic would take both, and the
# schema the API publishes says number); an integer may be spelled `3.0` (`Whole`).
Whole = BeforeValidator(_whole)
Count = Annotated[int, Whole, Field(ge=0, le=2**53, strict=True)]
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _spelled(value: Any) -> Any:
    """A time as a string only: lax pydantic would read a number as epoch seconds, which the schema does not say."""
    if not isinstance(value, str | datetime):
        raise ValueError("a time is an RFC 3339 string, e.g. 2026-11-23T03:45:00Z")
    return value


Spelled = BeforeValidator(_spelled)

# What the desk writes about itself: a sender cannot post these as measurements (a posted `model_switch` would claim
# a switch that never happened; outcomes have their own endpoint).
DESK_ONLY_EVENTS: Final = frozenset(
    {"scenario", "model_switch", "parent", "markout", "scenario_outcome", "risk_limit", "protection"})
MEASUREMENT_EVENTS: Final = tuple(e for e in EVENTS if e not in DESK_ONLY_EVENTS)
ERROR_BUCKETS: Final = ("transient", "throttle", "risk", "fatal")
_NEEDS_BUCKET: Final = frozenset({"error", "retry", "reject"})
_FILLS: Final = frozenset({"fill", "partial_fill"})
# A measurement's time: the epoch onwards, and far enough from year 9999 that no rounding leaves the calendar.
_EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(3000, 1, 1, tzinfo=UTC)
_YEARS: Final = r"^(?:19[7-9][0-9]|2[0-9]{3})-"  # the range above, as the published schema says it


def _names(names: Iterable[str]) -> list[JsonValue]:
    """Names as a JSON Schema `enum`, sorted so the document is the same on every run."""
    return [*sorted(names)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def storable(model: BaseModel) -> None:
    """Raise unless the telemetry log can write `model` as it writes every record (orjson): JSON parsers accept what
    orjson refuses (integers beyond 64 bits, lone surrogates, very deep nesting), and a record the log's writer
    cannot serialise would stop the desk's telemetry."""
    try:
        orjson.dumps(model.model_dump(mode="json"))
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be stored in the telemetry log: {exc}") from None


class ErrorOut(BaseModel):
    """An error answer."""

    detail: str


class HealthOut(BaseModel):
    """The server is up, and the desk's version."""

    status: Literal["ok"]
    version: str


# -- metrics ----------------------------------------------------------------------------------------------------
class TelemetryRecordIn(BaseModel):
    """One telemetry record (DESIGN.md §5, schema_version 1) measured outside the desk. The common keys are typed;
    event-specific keys (`latency_ms`, `model_params`, ...) may follow. Missing common keys are written as null."""

    # The rules `_event_keys` enforces, published too (a client generated from the document must not be surprised).
    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra={"allOf": [
        {"if": {"properties": {"event": {"enum": _names(_NEEDS_BUCKET)}}, "required": ["event"]},
         "then": {"properties": {"error_bucket": {"enum": _names(ERROR_BUCKETS)}}, "required": ["error_bucket"]}},
        {"if": {"properties": {"event": {"enum": _names(_FILLS)}}, "required": ["event"]},
         "then": {"properties": {"executed_price": {"type": "number", "minimum": 0},
                                 "qty": {"type": "integer", "minimum": 0, "maximum": 2**53}},
                  "required": ["executed_price", "qty"]}},
    ]})

    schema_version: Literal[1]
    event: Annotated[str, Field(json_schema_extra={"enum": list(MEASUREMENT_EVENTS)})]
    seq: Count | None = Field(default=None, description="the sender's own seq (kept as extra_metrics.external.seq)")
    timestamp: Annotated[AwareDatetime, Spelled, Field(json_schema_extra={"pattern": _YEARS})] | None = Field(
        default=None, description="RFC 3339 with a zone, from 1970 to 2999; default: when received")
    mode: Literal["paper", "paper-live-data", "live", "replay"] | None = None
    scenario_id: Name | None = None
    order_id: Name | None = None
    parent_id: Name | None = None
    client_tag: Name | None = None
    asset: Name | None = None
    underlying: Name | None = None
    side: Literal["buy", "sell"] | None = None
    qty: Count | None = None
    execution_algo: Name | None = None
    child_index: Count | None = None
    children: Count | None = None
    route: Name | None = None
    queue_priority: Annotated[int, Whole, Field(ge=-1000, le=1000, strict=True)] | None = None
    latency_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False, strict=True)] | None = None
    intended_price: Annotated[float, Field(ge=0.0, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="the price a fill's slippage is measured against (the router's intended price)")
    executed_price: Annotated[float, Field(ge=0.0, allow_inf_nan=False, strict=True)] | None = None
    slippage: Finite | None = None
    slippage_bps: Finite | None = None
    error_bucket: Literal["transient", "throttle", "risk", "fatal"] | None = None
    extra_metrics: dict[str, JsonValue] | None = None

    @field_validator("event")
    @classmethod
    def _measurement(cls, event: str) -> str:
        if event in DESK_ONLY_EVENTS:
            where = "POST /feedback/scenario_outcome" if event == "scenario_outcome" else "the desk itself"
            raise ValueError(f"{event!r} records are written by {where}; post measurements: "
                             f"{', '.join(MEASUREMENT_EVENTS)}")
        if event not in EVENTS:
            raise ValueError(f"{event!r} is not one of {', '.join(MEASUREMENT_EVENTS)}")
        return event

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        try:
            utc = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            utc = None
        if utc is None or not _EARLIEST <= utc < _LATEST:
            raise ValueError(f"{moment.isoformat()} is not between {_EARLIEST:%Y} and {_LATEST.year - 1} (UTC)")
        return utc

    @model_validator(mode="after")
    def _event_keys(self) -> Self:
        if self.event in _NEEDS_BUCKET and self.error_bucket is None:
            raise ValueError(f"error_bucket: a {self.event} record needs one of {', '.join(ERROR_BUCKETS)}")
        if self.event in _FILLS and (self.executed_price is None or self.qty is None):
            raise ValueError(f"a {self.event} record needs executed_price and qty")
        storable(self)
        return self

    def as_record(self) -> dict[str, Any]:
        """The record as the desk writes it: the time in the desk's ISO form, extras as sent."""
        out = self.model_dump(mode="json", exclude={"timestamp"}, exclude_unset=True)
        out["schema_version"] = SCHEMA_VERSION
        out["timestamp"] = iso_utc(self.timestamp.timestamp()) if self.timestamp is not None else None
        return out


def _one_or_many(body: Any) -> str:
    return "records" if isinstance(body, list) else "record"


# Tagged rather than a plain union: an error's path names the one shape that was sent (`body.records.3.qty`), not
# both alternatives.
MetricsIn = Annotated[
    Annotated[TelemetryRecordIn, Tag("record")]
    | Annotated[list[TelemetryRecordIn], Field(min_length=1, max_length=10_000), Tag("records")],
    Discriminator(_one_or_many),
]


class MetricsAccepted(BaseModel):
    """The records are in the desk's telemetry. Read-your-writes: a `GET /feedback/metrics` sent after this answer
    arrived returns them (the read waits, at most 2 s, for the index to reach `last_seq`); in the rare case it
    cannot wait long enough its page says `index_behind: true`, and paging on from its `next_cursor` finds them."""

    accepted: int = Field(description="records appended to the desk's telemetry")
    first_seq: int = Field(description="the desk's seq of the first one")
    last_seq: int = Field(description="the desk's seq of the last one")


class MetricsParams(_Input):
    """The query of `GET /feedback/metrics`; an unknown parameter (a typo) is refused rather than ignored."""

    # The pattern is checked by `parse_since`, whose error shows both forms and the value given.
    since: str | None = Field(default=None, max_length=64, json_schema_extra={"pattern": SINCE_PATTERN},
                              description="a next_cursor from an earlier page (`c<seq>`), or an ISO-8601 date or time"
                              " (UTC when it has no zone), e.g. 2026-11-23T03:45:00Z")
    limit: int = Field(default=100, ge=1, le=1000)
    asset: Name | None = Field(default=None, description="a trading symbol or an underlying")
    scenario_id: Name | None = None


class MetricsPage(BaseModel):
    """A page of telemetry records and where the next one starts."""

    items: list[dict[str, Any]] = Field(description="telemetry records (DESIGN.md §5), in seq order")
    next_cursor: str = Field(description="pass as `since` for the records after these (exactly once each)")
    index_behind: bool = Field(description=(
        "true: the index had not caught up with every record the desk had accepted when this request arrived (it"
        " waited 2 s), so this page may lack some of the newest; they come after `next_cursor`: ask again from"
        " it. false: nothing accepted before the request is missing, so a short page is the end"
    ))


class StreamEvent(BaseModel):
    """One event of `GET /feedback/stream` as an SSE parser reads it: the record's seq, its `event` and the record as
    JSON."""

    id: str = Field(pattern=r"^[0-9]+$", description="the record's seq: send it as `Last-Event-ID` to resume after it")
    event: str = Field(description="the record's `event` (fill, ack, error, ...)")
    data: str = Field(description="the telemetry record (DESIGN.md §5) as one line of JSON",
                      json_schema_extra={"contentMediaType": "application/json"})
    retry: int | None = Field(default=None, description="the reconnection delay in ms, when the server sets one")


# -- scenario outcomes ------------------------------------------------------------------------------------------
class ScenarioOutcomeIn(_Input):
    """A drill's result, e.g. from a replay sweep run elsewhere: kept in the log and fed to the learners."""

    scenario_id: Name
    # Up to 2**53: a JSON number beyond it is not an exact integer to most parsers (nor to schema-driven clients).
    seed: Annotated[int, Whole, Field(ge=0, le=2**53, strict=True)]
    outcome: Annotated[str, Field(min_length=1, max_length=200)] | dict[str, JsonValue] = Field(
        description="a verdict (e.g. `pass`) or an outcome document (run/baseline/delta)"
    )
    metrics: dict[str, JsonValue] = Field(default_factory=dict, description="figures the drill measured")

    @model_validator(mode="after")
    def _can_be_logged(self) -> Self:
        storable(self)
        return self


class OutcomeRecorded(BaseModel):
    """The scenario outcome as kept: its record's seq."""

    id: str = Field(description="out_<seq>")
    seq: int


# -- models -----------------------------------------------------------------------------------------------------
class ActiveModelOut(BaseModel):
    """The model one asset uses for one kind and lane."""

    scope: str = Field(description="the key it was resolved from: a trading symbol, an underlying or `global`")
    model: dict[str, Any] = Field(description="the model as a config file spells it")


class ModelsOut(BaseModel):
    """The active latency and slippage models."""

    assets: dict[str, dict[str, dict[str, ActiveModelOut]]] = Field(
        description="asset -> kind (latency|slippage) -> lane (order|insert|report|cancel|market_data) -> model"
    )


class ModelChangeIn(_Input):
    """One scope's model to switch in, or to remove (model null)."""

    kind: Literal["latency", "slippage"]
    scope: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")] = Field(
        description="`global`, an underlying or a trading symbol"
    )
    lane: Literal["order", "insert", "report", "cancel", "market_data"] = "order"
    model: dict[str, JsonValue] | None = Field(
        description="a model config as the config file takes it, e.g. {type: lognormal, median_ms: 42, sigma: 0.3};"
        " null removes the scope's override"
    )


class ModelsPut(_Input):
    """Model changes applied all together, or none if any is invalid."""

    changes: list[ModelChangeIn] = Field(min_length=1, max_length=100)


class ModelSwitchOut(BaseModel):
    """One switch made: the scope's old and new model (null: none) and who asked."""

    kind: str
    lane: str
    scope: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    source: str


class ModelsSwitched(BaseModel):
    """The switches made, in the order given."""

    switches: list[ModelSwitchOut]
