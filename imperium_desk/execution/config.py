"""Execution and risk sections of the desk config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imperium_desk.domain.enums import Algo, Urgency


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryConfig(_Section):
    max_attempts: int = Field(default=5, ge=1, le=50)
    base_delay_ms: float = Field(default=100.0, gt=0)
    max_delay_ms: float = Field(default=5_000.0, gt=0)
    lookup_attempts: int = Field(default=10, ge=1, description="tries to reconcile an unknown outcome by tag")


class RouterConfig(_Section):
    take_max_spread_ticks: int = Field(
        default=3, ge=1, description="normal urgency crosses the spread up to this width, joins beyond it"
    )
    market_protection_pct: float | None = Field(
        default=None, gt=0, le=0.5,
        description="turn MARKET children into LIMITs this far through the touch (null keeps MARKET)",
    )


class ExecutionConfig(_Section):
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

    @field_validator("vwap_profile")
    @classmethod
    def _profile(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or min(v) < 0 or sum(v) <= 0):
            raise ValueError("vwap_profile needs at least one bucket, none negative, a positive sum")
        return v


class RiskConfig(_Section):
    max_order_lots: int = Field(default=50, ge=1)
    max_order_value: float = Field(default=2_000_000.0, gt=0)
    kill_switch: bool = False
