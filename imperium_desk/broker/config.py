"""Broker section of the desk config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imperium_desk.broker.kite.config import KiteConfig


class PaperBrokerConfig(BaseModel):
    """The simulated exchange's account and fill mechanics (`broker.paper`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    capital: float = Field(default=10_000_000.0, gt=0, description="account capital in rupees")
    fill_point: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="share of the round trip after which an order meets the book (0.5 = half way)",
    )
    short_margin_rate: float = Field(
        default=0.12, ge=0.0, le=1.0,
        description="margin for a short option as a share of the underlying notional (SPAN+exposure proxy)",
    )


class BrokerConfig(BaseModel):
    """Which venue the desk trades on (`broker.kind`) and its sections: `paper` always, `kite` for the live modes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: Literal["paper", "kite"] = Field(
        default="paper",
        description="paper: the simulated exchange (the default); kite: Zerodha Kite Connect, traded live or, with "
        "--mode paper-live-data, its real quotes filling the paper exchange",
    )
    paper: PaperBrokerConfig = Field(default_factory=PaperBrokerConfig)
    kite: KiteConfig | None = Field(
        default=None, description="the Kite Connect app (api_key and options; never a secret): needed by kind kite"
    )
    rate_limit_per_s: float | None = Field(
        default=10.0, gt=0, description="client-side order rate limit (Kite: 10 orders/s); null disables it"
    )

    @model_validator(mode="after")
    def _kite_needs_its_section(self) -> BrokerConfig:
        if self.kind == "kite" and self.kite is None:
            raise ValueError("kind kite needs a kite section: kite: {api_key: <your Kite Connect app's api_key>}")
        return self
