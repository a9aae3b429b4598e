"""The Kite Connect section of the broker config (kite-notes §1.6, §1.10, §4).

No secret lives here. The whole config is written into each run's `run.json` and hashed into its identity
(`Config.sha256`), so `api_secret` and `access_token` are refused with a message saying where they go instead: the
OS keyring, or the token file under the desk's home when `token_store` is `file`. The api_key is not a secret (it is
part of the public login URL).
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imperium_desk.domain.enums import Product

__all__ = ["KITE_REST_ROOT", "KITE_WS_ROOT", "KiteConfig", "KiteLimits"]

KITE_REST_ROOT = "https://api.kite.trade"
KITE_WS_ROOT = "wss://ws.kite.trade"

Exchange = Literal["NFO", "BFO"]
_SECRET_FIELDS = ("api_secret", "access_token", "request_token", "refresh_token", "enctoken", "password", "totp")


def _default_exchanges() -> dict[str, Exchange]:
    return {"SENSEX": "BFO"}


class KiteLimits(BaseModel):
    """Client-side request limits, defaulting to the exchange's and Zerodha's (2026: kite-notes §1.6). Repeated
    429s can get the app blocked for longer, so the desk stays under these rather than finding them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    orders_per_second: float = Field(
        default=10.0, gt=0,
        description="place/modify/cancel per second per account (exchange-mandated since 2026-04-01)",
    )
    orders_per_minute: int = Field(default=400, gt=0, description="order requests per minute (Zerodha, 2026)")
    orders_per_day: int = Field(default=5_000, gt=0, description="orders per day per user across segments")
    modifications_per_order: int = Field(
        default=25, gt=0, description="modifications Kite accepts on one order before refusing more"
    )
    quote_calls_per_second: float = Field(
        default=1.0, gt=0, description="/quote, /quote/ltp, /quote/ohlc calls per second"
    )
    reads_per_second: float = Field(
        default=10.0, gt=0, description="every other call (order book, positions, margins) per second"
    )


class KiteConfig(BaseModel):
    """How the desk reaches Kite Connect. Roots are overridden only to point the real client at the loopback fake."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    api_key: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9]+$", description="the Kite Connect app's api_key (not a secret)"
    )
    rest_root: str | None = Field(
        default=None,
        description=f"REST root as scheme://host[:port] (no path: the client joins absolute routes); null = "
        f"{KITE_REST_ROOT}",
    )
    ws_root: str | None = Field(
        default=None, description=f"WebSocket root, ws:// or wss://, a path allowed; null = {KITE_WS_ROOT}"
    )
    default_exchange: Exchange = Field(
        default="NFO", description="F&O exchange for an underlying not listed in `exchanges`"
    )
    exchanges: dict[str, Exchange] = Field(
        default_factory=_default_exchanges,
        description="F&O exchange per underlying (NSE F&O is NFO, BSE F&O is BFO)",
    )
    market_protection: float = Field(
        default=-1.0,
        description="market protection sent with MARKET orders: -1 = Kite's automatic, or a percentage in (0, 100]",
    )
    connect_timeout_s: float = Field(default=3.0, gt=0, description="REST connect timeout in seconds")
    read_timeout_s: float = Field(
        default=7.0, gt=0,
        description="REST read timeout in seconds (the client's default); a late answer is an unknown outcome",
    )
    limits: KiteLimits = Field(default_factory=KiteLimits)
    product: Product = Field(default=Product.NRML, description="order product: NRML (carry forward) or MIS (intraday)")
    token_store: Literal["keyring", "file", "ask"] = Field(
        default="keyring",
        description="where api_secret and the day's access_token are kept: the OS keyring, a 0600 file under the "
        "desk's home (explicit opt-in), or nowhere (asked for at every login)",
    )
    redirect_port: int = Field(
        default=5210, ge=1024, le=65535,
        description="the loopback port of the login redirect: set the Kite app's redirect URL to "
        "http://127.0.0.1:<redirect_port><redirect_path>",
    )
    redirect_path: str = Field(
        default="/kite/login", pattern=r"^/[A-Za-z0-9/_-]*$", description="the path of the login redirect URL"
    )
    login_timeout_s: float = Field(
        default=300.0, gt=0, description="how long the desk waits for the browser's login redirect"
    )
    expiry_warning_s: float = Field(
        default=1800.0, ge=0,
        description="how long before the access token dies (06:00 IST) the desk warns the trader",
    )
    lookup_settle_s: float = Field(
        default=1.0, ge=0,
        description="after a placement whose answer was lost, how long the desk lets Kite's order book catch up "
        "before a lookup by tag may conclude the order is absent (and so may be sent again)",
    )
    stale_after_s: float = Field(
        default=5.0, gt=0,
        description="seconds without a tick after which the feed counts as stale (the status bar says so)",
    )
    ready_timeout_s: float = Field(
        default=10.0, gt=0, description="how long the desk waits at start for the indices' first ticks"
    )
    tag_desk_code: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{3}$",
        description="three characters that set this desk's order tags apart from another desk trading the same "
        "account; null = derived from the desk id",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _SECRET_FIELDS:
                if name in data:
                    raise ValueError(
                        f"{name} does not belong in the config: the whole config is written into every run's run.json "
                        f"and hashed. It is kept in the OS keyring (or the token file under the desk's home when "
                        f"token_store is 'file') and asked for at login"
                    )
        return data

    @field_validator("market_protection")
    @classmethod
    def _protection(cls, v: float) -> float:
        if v == 0:
            raise ValueError(
                "0 is refused: since 1 April 2026 market orders via the API need market protection (SEBI retail-algo "
                "rules), and Kite rejects them without it. Use -1 (automatic) or a percentage in (0, 100]"
            )
        if v != -1 and not 0 < v <= 100:
            raise ValueError("market_protection is -1 (automatic) or a percentage in (0, 100]")
        return v

    @field_validator("rest_root")
    @classmethod
    def _rest_root(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"rest_root {v!r} must be http(s)://host[:port] with no path or query")
        return v.rstrip("/")

    @field_validator("ws_root")
    @classmethod
    def _ws_root(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("ws", "wss") or not parts.netloc or parts.query:
            raise ValueError(f"ws_root {v!r} must be ws(s)://host[:port][/path] with no query")
        return v

    @field_validator("exchanges")
    @classmethod
    def _underlying_names(cls, v: dict[str, Exchange]) -> dict[str, Exchange]:
        for name in v:
            if not re.fullmatch(r"[A-Z][A-Z0-9]*", name):
                raise ValueError(f"underlying name {name!r} must be upper-case letters/digits")
        return v

    @property
    def rest_url(self) -> str:
        return self.rest_root or KITE_REST_ROOT

    @property
    def ws_url(self) -> str:
        return self.ws_root or KITE_WS_ROOT

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) as `requests` takes it; the Kite client passes its `timeout` straight through."""
        return (self.connect_timeout_s, self.read_timeout_s)

    def exchange_for(self, underlying: str) -> Exchange:
        return self.exchanges.get(underlying, self.default_exchange)
