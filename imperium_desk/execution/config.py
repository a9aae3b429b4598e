"""Execution and risk sections of the desk config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from imperium_desk.domain.enums import Algo, ErrorBucket, Urgency


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class Backoff:
    """One retryable bucket's limits, resolved: attempts in all (the first send included), and the exponential
    backoff's first step and cap."""

    max_attempts: int
    base_delay_ms: float
    max_delay_ms: float


class BucketRetry(_Section):
    """Overrides for one retryable bucket; an unset field takes the shared value of the `retry` section."""

    max_attempts: int | None = Field(default=None, ge=1, le=50)
    base_delay_ms: float | None = Field(default=None, gt=0)
    max_delay_ms: float | None = Field(default=None, gt=0)


class RetryConfig(_Section):
    """Retry limits and backoff. The top-level values apply to both retryable buckets; `transient` (timeouts,
    dropped connections, 5xx, an unreachable broker) and `throttle` (429) override them per bucket."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    base_delay_ms: float = Field(default=100.0, gt=0)
    max_delay_ms: float = Field(default=5_000.0, gt=0)
    lookup_attempts: int = Field(default=10, ge=1, description="tries to reconcile an unknown outcome by tag")
    transient: BucketRetry = Field(default_factory=BucketRetry)
    throttle: BucketRetry = Field(default_factory=BucketRetry)

    def backoff(self, bucket: ErrorBucket) -> Backoff:
        """The limits of a retryable bucket (TRANSIENT or THROTTLE); other buckets are never retried."""
        if bucket is ErrorBucket.TRANSIENT:
            override = self.transient
        elif bucket is ErrorBucket.THROTTLE:
            override = self.throttle
        else:
            raise ValueError(f"the {bucket.value} bucket is never retried")
        return Backoff(
            max_attempts=self.max_attempts if override.max_attempts is None else override.max_attempts,
            base_delay_ms=self.base_delay_ms if override.base_delay_ms is None else override.base_delay_ms,
            max_delay_ms=self.max_delay_ms if override.max_delay_ms is None else override.max_delay_ms,
        )

    @model_serializer(mode="wrap")
    def _without_unset_overrides(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A bucket section that overrides nothing is left out, so a config that sets no per-bucket value dumps
        # (and hashes: `config_sha256`) as it did before the sections existed, and its recorded runs still re-run.
        data: dict[str, Any] = handler(self)
        for bucket in ("transient", "throttle"):
            if all(value is None for value in data[bucket].values()):
                del data[bucket]
        return data


class RouterConfig(_Section):
    """When the router crosses the spread or joins the near touch, and how MARKET children are protected."""

    take_max_spread_ticks: int = Field(
        default=3, ge=1, description="normal urgency crosses the spread up to this width, joins beyond it"
    )
    market_protection_pct: float | None = Field(
        default=None, gt=0, le=0.5,
        description="turn MARKET children into LIMITs this far through the touch (null keeps MARKET)",
    )


class ExecutionConfig(_Section):
    """The `execution` section: the defaults a request leaves unset (algo, urgency, slicing, horizon), the
    impact model, and the retry and router settings."""

    algo: Algo = Algo.IMMEDIATE
    urgency: Urgency = Urgency.NORMAL
    max_child_orders: int = Field(default=1, ge=1, le=1000)
    participation_rate: float = Field(default=0.15, gt=0, le=1)
    randomize_slices: bool = True
    horizon_s: float = Field(default=60.0, gt=0, le=6.5 * 3600)
    pov_interval_s: float = Field(default=1.0, gt=0)
    impact_coefficient: float = Field(default=0.7, ge=0, description="Y in Y*sigma*sqrt(Q/V)")
    vwap_profile: list[float] | None = Field(
        default=None, description="relative volume per equal bucket of the 09:15-15:30 session"
    )
    resting_grace_s: float = Field(
        default=5.0, ge=0, description="how long the last resting child may wait past the horizon"
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    protection_confirm_ticks: int = Field(
        default=1, ge=1, le=100,
        description="a protective exit's level triggers after this many consecutive ticks through it, unless the "
        "protection sets its own (the ticket's and the panel's take this)",
    )
    protection_confirm_ms: float = Field(
        default=0.0, ge=0.0, le=60_000.0,
        description="... and after the price has stayed through it this long (0: no wait), unless the protection "
        "sets its own",
    )

    @model_serializer(mode="wrap")
    def _without_default_confirmation(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The confirmation at its defaults is left out, so a config that sets neither dumps (and hashes:
        # `config_sha256`) as it did before the keys existed, and its recorded runs still re-run.
        data: dict[str, Any] = handler(self)
        for key, default in (("protection_confirm_ticks", 1), ("protection_confirm_ms", 0.0)):
            if data.get(key) == default:
                data.pop(key, None)
        return data

    @field_validator("vwap_profile")
    @classmethod
    def _profile(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or min(v) < 0 or sum(v) <= 0):
            raise ValueError("vwap_profile needs at least one bucket, none negative, a positive sum")
        return v


class RiskConfig(_Section):
    """The pre-trade risk gate's limits per parent order, the kill switch (which never blocks exits), and the day's
    P&L limits: crossing one turns the kill switch on and exits every position, once a trading day
    (`execution/daily_limit.py`)."""

    max_order_lots: int = Field(default=50, ge=1)
    max_order_value: float = Field(default=2_000_000.0, gt=0)
    kill_switch: bool = False
    daily_loss_limit: float | None = Field(
        default=None, gt=0,
        description="rupees: the day's P&L (realised + unrealised) at or below minus this turns the kill switch on "
        "and exits every position, once a day (null: off)",
    )
    profit_lock: float | None = Field(
        default=None, gt=0,
        description="rupees: the day's P&L at or above this locks the profit the same way (null: off)",
    )

    @model_serializer(mode="wrap")
    def _without_unset_day_limits(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Limits that are off are left out, so a config that sets neither dumps (and hashes: `config_sha256`) as it
        # did before they existed, and its recorded runs still re-run.
        data: dict[str, Any] = handler(self)
        for key in ("daily_loss_limit", "profit_lock"):
            if data.get(key) is None:
                data.pop(key, None)
        return data
