"""What a parent order's fills cost in fees and taxes: the schedule for Indian index options, and the breakdown.

Rates shipped are those in force on 1 April 2026 for index options (premium turnover = Σ qty × price, in ₹):

- brokerage ₹20 per executed order (Zerodha's flat F&O options rate; an order is one child order with at least
  one fill, however many fills it had);
- STT 0.15% of premium, sell side only (Union Budget 2026–27 / Finance Act 2026, from 1 April 2026; it was 0.1%);
- exchange transaction charges on premium, both sides: NSE (NFO) 0.03553% (0.03503% transaction charge plus
  0.0005% Investor Protection Fund Trust), BSE (BFO: SENSEX and BANKEX options) 0.0325%;
- SEBI turnover fee ₹10 per crore (₹1e7), both sides;
- stamp duty 0.003% (₹300 per crore), buy side only;
- GST 18% on brokerage + exchange transaction charges + SEBI fee (not on STT or stamp duty).

Sources: https://zerodha.com/charges (equity options column), https://www.indiabudget.gov.in (Budget 2026–27
speech, STT on options), NSE circulars on F&O transaction charges and IPFT. Rates change: a desk config's `fees`
section overrides any of them, and `as_of` says which date a schedule describes.

Amounts are not rounded here (a contract note rounds per component and per note; a TCA compares costs, and
rounding each parent's few rupees would bias the small ones); the report rounds for display.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Exchange = Literal["NFO", "BFO"]
Side = Literal["buy", "sell"]
CRORE = 10_000_000.0
# The BSE segment's index options; everything else the desk trades is on NSE's F&O segment.
BSE_UNDERLYINGS = frozenset({"SENSEX", "BANKEX"})


def _default_exchange_rates() -> dict[Exchange, float]:
    return {"NFO": 0.03553, "BFO": 0.0325}


class FeeSchedule(BaseModel):
    """Fees and taxes on index-option trades. Percentages are of premium turnover (e.g. 0.15 means 0.15%)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    as_of: dt.date = dt.date(2026, 4, 1)
    currency: Literal["INR"] = "INR"
    brokerage_per_order: float = Field(default=20.0, ge=0)
    stt_sell_pct: float = Field(default=0.15, ge=0, le=100)
    exchange_txn_pct: dict[Exchange, float] = Field(default_factory=_default_exchange_rates)
    sebi_per_crore: float = Field(default=10.0, ge=0)
    stamp_buy_pct: float = Field(default=0.003, ge=0, le=100)
    gst_pct: float = Field(default=18.0, ge=0, le=100)

    @field_validator("exchange_txn_pct")
    @classmethod
    def _both_exchanges(cls, rates: dict[Exchange, float]) -> dict[Exchange, float]:
        # A partial override (e.g. only NFO) keeps the shipped rate for the other exchange.
        merged = {**_default_exchange_rates(), **rates}
        bad = {k: v for k, v in merged.items() if not 0 <= v <= 100}
        if bad:
            raise ValueError(f"rates are percentages between 0 and 100 (got {bad})")
        return merged


@dataclass(frozen=True, slots=True)
class FeeBreakdown:
    """Fees of one parent order (or a total of several), in ₹, by component."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange_txn: float = 0.0
    sebi: float = 0.0
    stamp: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp + self.gst

    def __add__(self, other: FeeBreakdown) -> FeeBreakdown:
        return FeeBreakdown(
            self.brokerage + other.brokerage,
            self.stt + other.stt,
            self.exchange_txn + other.exchange_txn,
            self.sebi + other.sebi,
            self.stamp + other.stamp,
            self.gst + other.gst,
        )

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        parts = {
            "brokerage": self.brokerage,
            "stt": self.stt,
            "exchange_txn": self.exchange_txn,
            "sebi": self.sebi,
            "stamp": self.stamp,
            "gst": self.gst,
            "total": self.total,
        }
        return {k: round(v, digits) for k, v in parts.items()}


def exchange_of(underlying: str | None) -> Exchange:
    """The exchange segment an index option trades on, from its underlying (when a record does not say)."""
    return "BFO" if underlying in BSE_UNDERLYINGS else "NFO"


def fees_for(
    schedule: FeeSchedule, *, side: Side, exchange: Exchange, turnover: float, executed_orders: int
) -> FeeBreakdown:
    """Fees on `turnover` ₹ of premium traded on `side` through `executed_orders` orders that filled."""
    if turnover <= 0 and executed_orders == 0:
        return FeeBreakdown()
    brokerage = schedule.brokerage_per_order * executed_orders
    exchange_txn = turnover * schedule.exchange_txn_pct[exchange] / 100.0
    sebi = turnover * schedule.sebi_per_crore / CRORE
    return FeeBreakdown(
        brokerage=brokerage,
        stt=turnover * schedule.stt_sell_pct / 100.0 if side == "sell" else 0.0,
        exchange_txn=exchange_txn,
        sebi=sebi,
        stamp=turnover * schedule.stamp_buy_pct / 100.0 if side == "buy" else 0.0,
        gst=(brokerage + exchange_txn + sebi) * schedule.gst_pct / 100.0,
    )


def fees_for_fills(
    schedule: FeeSchedule, *, side: Side, exchange: Exchange, fills: Iterable[tuple[str, int, float]]
) -> FeeBreakdown:
    """Fees of a parent from its fills, each `(child order key, qty, price)`; a child that filled several times
    is one executed order."""
    turnover = 0.0
    orders: set[str] = set()
    for order, qty, price in fills:
        turnover += qty * price
        orders.add(order)
    return fees_for(schedule, side=side, exchange=exchange, turnover=turnover, executed_orders=len(orders))
