"""A learner's proposal (a model change, with why) and the host's decision on it.

The model is a mapping exactly as a config file takes it (`{type: lognormal, median_ms: 42.0, sigma: 0.3}`),
validated against the same schema; the validated config rides along (`parsed`) so applying it never re-parses.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from imperium_desk.domain.validation import field_error_text
from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER
from imperium_desk.models.resolver import dump_model

DecisionStatus = Literal["pending", "applying", "applied", "refused", "rejected", "failed"]
FINAL: frozenset[str] = frozenset({"applied", "refused", "rejected", "failed"})


class Evidence(BaseModel):
    """What the proposal rests on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=0, ge=0)  # fills (or outcomes) the refit used
    window_start: str | None = None  # ISO time of the first sample used (the detected change, for a change)
    window_end: str | None = None
    detected_change: str | None = Field(default=None, max_length=500)  # e.g. "cusum up: log-latency +1.10"
    statistic: float | None = None  # the detector's value when it fired
    realised: dict[str, float] = Field(default_factory=dict)  # e.g. {"median_ms": 151.2, "mean": 160.3}




class ModelProposal(BaseModel):
    """A proposed change to one scope's latency or slippage model, from a learner inside the desk or posted over the
    API. `model` is spelled as in a config file and validated against the same schema; a `historical` model is
    refused, since a data file path means nothing to another process. `scope` is `global`, an underlying or a trading
    symbol; slippage models have only the `order` lane. A proposal changes nothing by itself: the learner host checks
    its guardrails, then applies it (auto-apply) or keeps it pending until accepted or rejected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["latency", "slippage"]
    scope: str = Field(min_length=1, max_length=64)  # "global", an underlying or a trading symbol
    lane: Literal["order", "insert", "report", "cancel", "market_data"] = "order"
    model: dict[str, Any]
    learner: str = Field(default="external", min_length=1, max_length=64)
    reason: str = Field(default="", max_length=2000)
    evidence: Evidence = Field(default_factory=Evidence)
    _parsed: Any = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        """The validated model config (what `switch_model` takes)."""
        return self._parsed

    @model_validator(mode="after")
    def _valid_model(self) -> Self:
        if self.kind == "slippage" and self.lane != "order":
            raise ValueError(f"lane: slippage models have only the 'order' lane, got {self.lane!r}")
        if self.scope != self.scope.strip():
            raise ValueError(f"scope: {self.scope!r} has surrounding spaces")
        if self.model.get("type") == "historical":
            # A data file path means nothing across processes and could name any file on this machine.
            raise ValueError("model.type: a proposal carries its parameters; 'historical' (a data file) is refused")
        adapter: Any = LATENCY_ADAPTER if self.kind == "latency" else SLIPPAGE_ADAPTER
        try:
            self._parsed = adapter.validate_python(self.model)
        except ValidationError as exc:
            raise ValueError(field_error_text(exc, prefix="model")) from None
        return self

    def normalised_model(self) -> dict[str, Any]:
        """The model as the config would spell it after validation (defaults filled in)."""
        return dump_model(self._parsed)


class Decision(BaseModel):
    """One proposal and what became of it. `status` moves pending -> applying -> applied | failed, or ends at
    refused (a guardrail), rejected (a person, or superseded) or applied straight away under auto-apply."""

    model_config = ConfigDict(extra="forbid")

    id: str
    proposal: ModelProposal
    source: str  # learner:<name> (in process) or rest
    status: DecisionStatus
    reason: str = ""  # why refused/rejected/failed; what was applied
    created_at: str
    decided_at: str | None = None
    replaces: dict[str, Any] | None = None  # the active model of that scope when decided
    replaces_scope: str | None = None  # the scope that model came from (global, an underlying, a symbol)
