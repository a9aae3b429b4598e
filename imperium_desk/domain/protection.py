"""Protective exits as data: what a trader asks for on an entry (stop-loss, target, trailing stop, each as an offset
from the entry price in one unit) and the prices that asking works out to for a given fill.

Pure and synchronous: the ticket and the multi-strike panel call it for their inline preview and refusals, the
protection manager (below the desk) for the levels it watches. Nothing here keeps state or reads a clock.

Offsets are distances, never signed prices, so a buy's stop cannot be asked above its entry: the side decides the
direction. A long (a buy entry) is stopped below the entry and takes profit above it; a short (a sell entry) the other
way round. A level that would fall to zero or below (a stop wider than the premium) is refused, not clamped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imperium_desk.domain.enums import Side


class OffsetUnit(StrEnum):
    """How a protection's distance from the entry is given."""

    RUPEES = "rupees"  # rupees of P&L on the whole protected quantity (₹2,000 on 130 units is 15.38 a unit)
    POINTS = "points"  # premium points (rupees a unit)
    PERCENT = "percent"  # percent of the entry price


class ProtectionKind(StrEnum):
    """Which protection of an entry is meant (a field, the one that triggered)."""

    STOP_LOSS = "stop_loss"
    TARGET = "target"
    TRAILING_STOP = "trailing_stop"


class ProtectionStatus(StrEnum):
    """Where one entry's protections stand."""

    PENDING = "pending"  # the entry has not filled yet: nothing to protect
    ARMED = "armed"  # watching the ticks for what the entry filled
    TRIGGERED = "triggered"  # one protection crossed: its exit was sent (the others of the entry are done: OCO)
    EXITED = "exited"  # the exit filled
    CANCELLED = "cancelled"  # the trader exited the position himself (EXIT, EXIT ALL), or the entry filled nothing
    FAILED = "failed"  # the exit was sent and did not fill (its reason says why): the position is unprotected
    UNRESTORED = "unrestored"  # saved armed, but the desk could not re-arm it on start: the position is unprotected

    @property
    def unprotected(self) -> bool:
        """A state the trader must see (red): a position the desk is not watching although it was asked to."""
        return self in (ProtectionStatus.FAILED, ProtectionStatus.UNRESTORED)


class ExitReason(StrEnum):
    """Why the desk itself sent an exit (`RequestMetadata.exit_reason`): a protection that triggered, or the day's
    loss limit or profit lock. A trader's own exit (EXIT, EXIT ALL) carries none."""

    STOP_LOSS = "stop_loss"
    TARGET = "target"
    TRAILING_STOP = "trailing_stop"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    PROFIT_LOCK = "profit_lock"


class Offset(BaseModel):
    """A distance from the entry price: `value` in `unit` (always positive: the side gives the direction)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    value: float = Field(gt=0, description="the distance, > 0, in `unit`")
    unit: OffsetUnit = Field(default=OffsetUnit.POINTS, description="rupees (P&L on the quantity), points or percent")

    def points(self, entry_price: float, quantity: int) -> float:
        """The distance in premium points for an entry of `quantity` units at `entry_price`."""
        if self.unit is OffsetUnit.POINTS:
            return self.value
        if self.unit is OffsetUnit.PERCENT:
            return entry_price * self.value / 100.0
        return self.value / quantity if quantity > 0 else math.inf


class ProtectionSpec(BaseModel):
    """The protections asked for on one entry. At least one of stop-loss, target and trailing stop.

    A trigger needs the price to be through its level on `confirm_ticks` consecutive ticks and, when
    `confirm_ms` > 0, to have stayed through it for that long: one bad print does not close a position. Left unset
    (the ticket's), they are the desk config's `execution.protection_confirm_ticks` / `protection_confirm_ms`. The
    price read is the side an exit would trade on: the bid for a long (its exit sells), the ask for a short."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    stop_loss: Offset | None = None
    target: Offset | None = None
    trailing_stop: Offset | None = Field(
        default=None, description="a stop that follows the best price since the entry at this distance; it never "
        "moves back")
    confirm_ticks: int | None = Field(
        default=None, ge=1, le=100,
        description="consecutive ticks through the level (null: the desk's execution.protection_confirm_ticks)")
    confirm_ms: float | None = Field(
        default=None, ge=0.0, le=60_000.0,
        description="and this long through it, 0: no wait (null: the desk's execution.protection_confirm_ms)")

    @model_validator(mode="after")
    def _something_asked(self) -> ProtectionSpec:
        if self.stop_loss is None and self.target is None and self.trailing_stop is None:
            raise ValueError("a protection needs a stop_loss, a target or a trailing_stop")
        return self


@dataclass(frozen=True, slots=True)
class ProtectionLevels:
    """The prices a spec works out to for one entry, on the contract's tick grid. `trail_points` is the trailing
    stop's distance (its first level is `trailing_stop`, from the entry price; it moves with the best price)."""

    side: Side  # the entry's side: BUY protects a long, SELL a short
    entry_price: float
    quantity: int
    stop_loss: float | None
    target: float | None
    trailing_stop: float | None
    trail_points: float | None

    def stop(self) -> float | None:
        """The tighter of the fixed stop and the trailing stop (the one that would trigger first)."""
        stops = [s for s in (self.stop_loss, self.trailing_stop) if s is not None]
        if not stops:
            return None
        return max(stops) if self.side is Side.BUY else min(stops)


class ProtectionError(ValueError):
    """A spec that cannot protect this entry; `field` names the offending field (stop_loss, target, trailing_stop),
    the message names the value and the level it would give."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def round_to_tick(price: float, tick: float) -> float:
    """`price` on the tick grid (nearest tick), with the float noise of the division taken out."""
    return round(round(price / tick) * tick, 6)


def levels(spec: ProtectionSpec, side: Side, entry_price: float, quantity: int, tick: float) -> ProtectionLevels:
    """The levels of `spec` for an entry of `quantity` units on `side` at `entry_price` (an average fill price), each
    on the `tick` grid. Raises ProtectionError (naming the field) for a level at or below zero, or a trailing stop
    narrower than one tick."""
    if not (entry_price > 0 and math.isfinite(entry_price)):
        raise ProtectionError("entry_price", f"{entry_price!r} is not a positive price")
    if quantity <= 0:
        raise ProtectionError("quantity", f"{quantity} is not a positive quantity")
    sign = side.sign  # +1: a long, stopped below and taking profit above

    def level(field: str, offset: Offset | None, direction: int) -> float | None:
        if offset is None:
            return None
        price = round_to_tick(entry_price + direction * offset.points(entry_price, quantity), tick)
        if price < tick:
            raise ProtectionError(field, f"{offset.value:g} {offset.unit.value} from {entry_price:g} puts the level at "
                                         f"{price:g}, below the smallest price {tick:g}")
        if price == round_to_tick(entry_price, tick):
            raise ProtectionError(field, f"{offset.value:g} {offset.unit.value} is less than one tick ({tick:g}) from "
                                         f"the entry {entry_price:g}")
        return price

    trail_points: float | None = None
    if spec.trailing_stop is not None:
        trail_points = spec.trailing_stop.points(entry_price, quantity)
        if trail_points < tick:
            raise ProtectionError("trailing_stop", f"{spec.trailing_stop.value:g} {spec.trailing_stop.unit.value} is "
                                                   f"{trail_points:g} points, narrower than one tick ({tick:g})")
    return ProtectionLevels(
        side=side,
        entry_price=entry_price,
        quantity=quantity,
        stop_loss=level("stop_loss", spec.stop_loss, -sign),
        target=level("target", spec.target, sign),
        trailing_stop=level("trailing_stop", spec.trailing_stop, -sign),
        trail_points=trail_points,
    )


def trailed(levels_now: ProtectionLevels, best_price: float, tick: float) -> float | None:
    """The trailing stop for the best price seen since the entry (the highest bid for a long, the lowest ask for a
    short): `trail_points` behind it, and never behind where it already is."""
    if levels_now.trail_points is None or levels_now.trailing_stop is None:
        return None
    candidate = round_to_tick(best_price - levels_now.side.sign * levels_now.trail_points, tick)
    if levels_now.side is Side.BUY:
        return max(levels_now.trailing_stop, candidate)
    return min(levels_now.trailing_stop, candidate)


def crossed(kind: ProtectionKind, side: Side, level: float, exit_price: float) -> bool:
    """Is `exit_price` (the bid for a long, the ask for a short) through `level`? A stop is through at or beyond it
    against the position, a target at or beyond it in the position's favour."""
    if kind is ProtectionKind.TARGET:
        return exit_price >= level if side is Side.BUY else exit_price <= level
    return exit_price <= level if side is Side.BUY else exit_price >= level
