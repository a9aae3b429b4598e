"""Settings of the simulated option chain (the `market:` section of the desk config).

Every model forbids unknown fields and bounds every number, so a typo or an absurd value is rejected
with its field path instead of silently producing a strange market.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Self

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from imperium_desk.domain.instruments import IST
from imperium_desk.market.black76 import FloatArray, black76_prices
from imperium_desk.shipped import instruments_file

# The smile is quadratic in a moneyness that saturates at +-1 standard deviation (see SmileConfig).
SMILE_SATURATION = 1.0
SMILE_FLOOR = 0.3
# benchmarks/quote_path.py --sweep (CPU us per tick, one contract / the desk's 310-contract chain): 5.5 / 57 at 64,
# 4.2 / 50 at 128, 3.3 / 48 at 256, 3.1 / 47 at 512. Past 256 the gain is small while a re-derivation (a drill, a
# jump, a subscription) costs more: 256 ticks of the chain are ~15 ms of work.
BLOCK_TICKS_DEFAULT = 256


def default_instruments_path() -> Path:
    """The instruments file that ships with the desk (`imperium_desk/configs/instruments.yaml`, package data)."""
    return instruments_file()


class UnderlyingMarketConfig(BaseModel):
    """One underlying's entry under `market.per_underlying`: where its simulated spot starts and how much it moves."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    spot: float | None = Field(default=None, gt=0, le=1e7, description="None: the reference spot")
    vol: float = Field(default=0.14, gt=0, le=5.0, description="annualised ATM vol (path and option pricing)")


class SmileConfig(BaseModel):
    """Implied vol for strike K: `atm_vol * max(0.3, 1 + skew*s + curvature*s*s)`.

    `m = ln(K/F) / (atm_vol*sqrt(T))` is the strike's distance from the forward in standard deviations
    (T in years of 365 days, floored at one minute) and `s = tanh(m)` is that distance saturated at +-1.
    A quadratic in the raw `m` grows without bound in the wings and prices a call ten strikes out of
    the money above the at-the-money call near expiry (a free-money call spread); saturating keeps
    `s ~ m` near the money and makes the wings flat. Skew/curvature pairs whose smile would still let
    a call or put spread have negative value are rejected.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    skew: float = Field(default=-0.15, ge=-1.0, le=1.0)
    curvature: float = Field(default=0.6, ge=0.0, le=2.0)

    def vol_factor(self, m: FloatArray) -> FloatArray:
        """Implied vol as a multiple of the ATM vol, for standardised moneyness `m`."""
        # In place: the market simulator evaluates this for every contract at every tick.
        s = np.tanh(m) if SMILE_SATURATION == 1.0 else SMILE_SATURATION * np.tanh(m / SMILE_SATURATION)
        factor: FloatArray = s * self.skew
        factor += 1.0
        s2 = s * self.curvature
        s2 *= s
        factor += s2
        np.maximum(factor, SMILE_FLOOR, out=factor)
        return factor

    @model_validator(mode="after")
    def _no_spread_arbitrage(self) -> Self:
        worst_m = _spread_arbitrage_at(self)
        if worst_m is not None:
            raise ValueError(
                f"skew={self.skew:g}, curvature={self.curvature:g} give an arbitrageable smile "
                f"(option prices move the wrong way with strike near m={worst_m:+.2f}); "
                "reduce curvature or |skew|"
            )
        return self


def _spread_arbitrage_at(smile: SmileConfig) -> float | None:
    """The moneyness where calls rise or puts fall with strike (beyond rounding), or None if nowhere.

    Prices depend on the strike only through `m` and the total deviation `sd = atm_vol*sqrt(T)`, so a
    grid in `m` at a few `sd` covers every contract: index options sit near 0.005-0.2, and the larger
    values leave room for vol shocks (wide deviations are where curvature first bites).
    """
    m = np.linspace(-10.0, 10.0, 4001)
    for sd in (0.005, 0.5, 1.0, 2.0):
        strikes = np.exp(m * sd)
        vols = sd * smile.vol_factor(m)
        ones = np.ones_like(m)
        calls = black76_prices(1.0, strikes, ones, vols, np.ones_like(m, dtype=bool))
        puts = black76_prices(1.0, strikes, ones, vols, np.zeros_like(m, dtype=bool))
        dk = np.diff(strikes)
        wrong = np.maximum(np.diff(calls) / dk, -np.diff(puts) / dk)
        bad = np.flatnonzero(wrong > 1e-6)
        if bad.size:
            return float(m[bad[int(np.argmax(wrong[bad]))]])
    return None


class SpreadConfig(BaseModel):
    """Quoted spread, in ticks, around the theoretical price `p` of an option with moneyness `m`.

        base    = max(base_ticks, round(pct_of_price * p / tick))
                  + round(cheap_extra_ticks * max(0, 1 - p / cheap_price))
        widened = max(base_ticks, 1, round(base * (1 + 0.5 * |m|)))
        spread  = max(1, round(widened * spread_mult))        # spread_mult: the runtime modifier

    Market makers quote a minimum width, a width proportional to premium, extra width on cheap
    lottery-ticket options, and more width away from the money where hedging is harder.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base_ticks: int = Field(default=1, ge=1, le=1000)
    pct_of_price: float = Field(default=0.001, ge=0.0, le=0.5)
    cheap_price: float = Field(default=10.0, gt=0.0, le=1e6)
    cheap_extra_ticks: float = Field(default=4.0, ge=0.0, le=1000.0)


class DepthConfig(BaseModel):
    """Order-book depth: level i (0 = touch) has mean `touch_lots * (1 + 0.5 i) * exp(-decay |m|) * depth_mult`
    lots (`depth_mult`: the runtime modifier).

    Each level's size is that mean times a gamma variate of shape 4 and mean 1 (a 50% coefficient of variation),
    redrawn every tick from the contract's seeded stream, rounded, at least one lot.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    levels: int = Field(default=5, ge=1, le=20)
    touch_lots: float = Field(default=20.0, gt=0.0, le=1e6)
    decay: float = Field(default=0.6, ge=0.0, le=10.0)


class VolumeConfig(BaseModel):
    """Traded lots per tick ~ Poisson(lots_per_s * exp(-depth.decay |m|) * dt * volume_mult), drawn by inversion of
    one uniform per contract per tick (`market.draws`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # > 0: the impact model divides by expected volume; drills thin the market with volume_mult instead.
    lots_per_s: float = Field(default=5.0, gt=0.0, le=1e6, description="mean lots/s of an ATM contract")


class MarketConfig(BaseModel):
    """The `market:` section: which underlyings are simulated, how often they tick, and their shape."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: int = Field(default=7, ge=0, le=2**63 - 1)
    underlyings: list[str] = Field(
        default_factory=lambda: ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX"], min_length=1
    )
    tick_interval_ms: int = Field(default=250, ge=10, le=60000)
    # How many ticks the simulator works out at once (vectorised over ticks x contracts); each tick then reads its
    # row. The market is the same for every value (same seed, same quotes): only speed and memory change. Larger
    # blocks spread numpy's per-call cost over more ticks, but every drill change, jump or subscription re-derives
    # the rest of the block, and a block's draws are held in memory (contracts x block x (2 levels + 3) floats).
    block_ticks: int = Field(default=BLOCK_TICKS_DEFAULT, ge=1, le=4096)
    start: AwareDatetime = Field(
        default=datetime(2026, 11, 23, 9, 15, tzinfo=IST),
        description="where virtual/replay runs start; must carry a UTC offset",
    )
    instruments: Path | None = Field(default=None, description="None: the shipped configs/instruments.yaml")
    strikes_each_side: int = Field(default=10, ge=0, le=200)
    per_underlying: dict[str, UnderlyingMarketConfig] = Field(default_factory=dict)
    smile: SmileConfig = Field(default_factory=SmileConfig)
    spread: SpreadConfig = Field(default_factory=SpreadConfig)
    depth: DepthConfig = Field(default_factory=DepthConfig)
    volume: VolumeConfig = Field(default_factory=VolumeConfig)

    @model_validator(mode="after")
    def _consistent_underlyings(self) -> Self:
        seen: set[str] = set()
        for name in self.underlyings:
            if name in seen:
                raise ValueError(f"underlyings lists {name!r} twice")
            seen.add(name)
        for name in self.per_underlying:
            if name not in seen:
                listed = ", ".join(self.underlyings)
                raise ValueError(f"per_underlying has {name!r}, which is not in underlyings ({listed})")
        return self

    @property
    def tick_interval_s(self) -> float:
        return self.tick_interval_ms / 1000.0

    def instruments_path(self) -> Path:
        return self.instruments if self.instruments is not None else default_instruments_path()

    def underlying_config(self, name: str) -> UnderlyingMarketConfig:
        """The per-underlying override, or the defaults (reference spot, 14% vol)."""
        found = self.per_underlying.get(name)
        return found if found is not None else UnderlyingMarketConfig()
