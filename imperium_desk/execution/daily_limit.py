"""The day's P&L limits (`risk.daily_loss_limit`, `risk.profit_lock`): when the day's P&L crosses one, the desk turns
the kill switch on and exits every position, once a trading day.

This module only decides; whoever feeds it acts on the decision (the desk through its EXIT ALL, a replay through
`execution/limit_watch.py`), so paper, paper-on-live-data, live and replay share one rule. It needs nothing but the
P&L figures (from the broker's positions, valued at the feed's last prices: the Account panel's figures) and the
clock, so it is deterministic on the virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from imperium_desk.clock import Clock
from imperium_desk.domain.instruments import IST
from imperium_desk.domain.orders import Position
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.config import RiskConfig


@dataclass(frozen=True, slots=True)
class DayPnl:
    """P&L in rupees, rounded to the paisa: what closed (`realised`) and what is open, at the last prices."""

    realised: float
    unrealised: float

    @property
    def total(self) -> float:
        return round(self.realised + self.unrealised, 2)


def positions_pnl(positions: Iterable[Position], ltp: Callable[[str], float]) -> DayPnl:
    """The positions' P&L as the Account panel adds it up: each position's realised P&L and its open quantity valued
    at `ltp(symbol)` against its average price, rounded per position, then summed."""
    realised = unrealised = 0.0
    for p in positions:
        realised += round(p.realised_pnl, 2)
        if p.quantity:
            unrealised += round((ltp(p.symbol) - p.average_price) * p.quantity, 2)
    return DayPnl(round(realised, 2), round(unrealised, 2))


@dataclass(frozen=True, slots=True)
class LimitCrossing:
    """The moment the day's P&L crossed a limit: which one (`reason`, also the exits' `exit_reason`), its size in
    rupees, the day's P&L then, the trading day (IST) and the clock's epoch."""

    reason: ExitReason
    limit: float
    pnl: DayPnl
    trading_day: date
    at: float


@dataclass(frozen=True, slots=True)
class LimitState:
    """Where the day stands against its limits (the Account panel): the limits (None: off), the day's P&L at the last
    check, and the limit that fired today (None: none has)."""

    daily_loss_limit: float | None
    profit_lock: float | None
    day_pnl: float
    fired: ExitReason | None

    @property
    def loss_used(self) -> float | None:
        """The share of the loss limit the day has lost (0 while in profit; 1 or more once crossed), or None."""
        if self.daily_loss_limit is None:
            return None
        return max(0.0, -self.day_pnl) / self.daily_loss_limit  # 0.0 first: never -0.0


class DailyLimitGuard:
    """Decides, once per trading day, whether the day's P&L has crossed the loss limit or the profit lock.

    `observe(pnl)` is called with the account's P&L now (realised + unrealised, as the broker's positions and the
    feed's prices give it); it returns a `LimitCrossing` the first time in a trading day (the IST date of
    `clock.now()`) that the day's P&L is at or below `-daily_loss_limit` or at or above `profit_lock`, and None
    otherwise: after a crossing it stays quiet until the next trading day, so the caller's EXIT ALL and kill switch
    happen once. The limits are read from `limits()` at each call (the risk gate's config, so a config reload or a
    scenario's `risk_change` applies at once); a limit that is None is off.

    The day's P&L is the P&L since the day began: the first trading day the guard sees counts from zero (a desk's
    broker reports the day's positions; a replay starts flat); on each later day, the P&L at that day's first
    observation is its zero, so positions carried overnight count only what they make or lose that day.

    Not thread-safe: called on the clock's loop. Reads time only from the clock port (deterministic in a replay).
    """

    def __init__(self, limits: Callable[[], RiskConfig], clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._day: date | None = None
        self._zero = DayPnl(0.0, 0.0)
        self._day_pnl = DayPnl(0.0, 0.0)
        self._fired: ExitReason | None = None

    @property
    def active(self) -> bool:
        """True when a limit is set (the callers skip their checks otherwise)."""
        config = self._limits()
        return config.daily_loss_limit is not None or config.profit_lock is not None

    @property
    def day_pnl(self) -> DayPnl:
        return self._day_pnl

    @property
    def fired(self) -> ExitReason | None:
        """The limit that fired in the current trading day, if one has."""
        return self._fired

    def state(self) -> LimitState:
        config = self._limits()
        return LimitState(config.daily_loss_limit, config.profit_lock, self._day_pnl.total, self._fired)

    def observe(self, pnl: DayPnl) -> LimitCrossing | None:
        now = self._clock.now()
        day = datetime.fromtimestamp(now, IST).date()
        if day != self._day:
            if self._day is not None:
                self._zero = pnl  # a new trading day: what was carried into it is its zero
            self._day = day
            self._fired = None
        self._day_pnl = day_pnl = DayPnl(round(pnl.realised - self._zero.realised, 2),
                                          round(pnl.unrealised - self._zero.unrealised, 2))
        if self._fired is not None:
            return None
        config = self._limits()
        total = day_pnl.total
        crossing: LimitCrossing | None = None
        if config.daily_loss_limit is not None and total <= -config.daily_loss_limit:
            crossing = LimitCrossing(ExitReason.DAILY_LOSS_LIMIT, config.daily_loss_limit, day_pnl, day, now)
        elif config.profit_lock is not None and total >= config.profit_lock:
            crossing = LimitCrossing(ExitReason.PROFIT_LOCK, config.profit_lock, day_pnl, day, now)
        if crossing is not None:
            self._fired = crossing.reason
        return crossing
