"""The exchange's trading sessions, and trading time: the time a replay's loop runs in.

NSE and BSE index options trade 09:15-15:30 IST, Monday to Friday, except on exchange holidays (listed, when known,
in the instruments file's `holidays`). A replay's virtual clock runs its loop in *trading seconds*: second 0 is the
run's start (the next open, if it starts while the market is closed), and `TradingTime` maps a trading second to
an epoch instant session by session. The night, the weekend and a holiday take no trading time: nothing (a tick, a
timer, an order) can happen while the market is closed, and a timer that spans a close (a TWAP's next child, an
order's latency) resumes at the next open with what was left of its wait.

At a close, the close instant belongs to the session it ends: the last trading second of a session maps to 15:30:00
exactly, and any later one to the next session (09:15:00 plus the excess), so 09:15:00.000 itself is seen only by a
run that starts there. Within a session the mapping is `offset + t` with the session's own offset: a run that stays
in its first session gets the same floats as a clock with no calendar (`start + t`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from imperium_desk.domain.instruments import IST

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """When the market is open: `open`-`close` IST on weekdays that are not `holidays`. Immutable."""

    open: time = SESSION_OPEN
    close: time = SESSION_CLOSE
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.open < self.close:
            raise ValueError(f"a session must open before it closes: {self.open} - {self.close}")

    @classmethod
    def nse(cls, holidays: Iterable[date] = ()) -> TradingCalendar:
        """NSE/BSE index options: 09:15-15:30 IST, Monday to Friday, less `holidays`."""
        return cls(holidays=frozenset(holidays))

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def session(self, epoch: float) -> tuple[float, float]:
        """(open, close) in epoch seconds of the session in progress at `epoch` (open <= epoch < close), else of the
        next one."""
        day = datetime.fromtimestamp(epoch, IST).date()
        while True:  # ends: every week has a weekday, and the holidays are finite
            if self.is_trading_day(day):
                closed = datetime.combine(day, self.close, IST).timestamp()
                if epoch < closed:
                    return datetime.combine(day, self.open, IST).timestamp(), closed
            day += timedelta(days=1)


class TradingTime:
    """Trading seconds since a start, mapped to epoch seconds session by session (module docstring).

    `start` is the epoch of trading second 0: `start_epoch` itself when the market is open then, else the next open.
    Session k covers trading seconds (end[k-1], end[k]] (the first one [0, end[0]]), where epoch = offset[k] + t.
    Sessions are worked out as they are first asked for and kept (a few bytes a day). Loop thread only.
    """

    def __init__(self, calendar: TradingCalendar, start_epoch: float) -> None:
        self.calendar = calendar
        opened, closed = calendar.session(start_epoch)
        self.start = max(start_epoch, opened)
        self._offsets = [self.start]
        self._ends = [closed - self.start]
        self._closes = [closed]

    def segment(self, t: float) -> tuple[float, float]:
        """(offset, end) of the session holding trading second `t`: its epoch is `offset + t`, for every trading
        second up to `end` (its close) inclusive."""
        k = self._index(t)
        return self._offsets[k], self._ends[k]

    def epoch(self, t: float) -> float:
        """The epoch instant of trading second `t`."""
        return self._offsets[self._index(t)] + t

    def next_close(self, t: float) -> float:
        """The trading second of the first close strictly after trading second `t`."""
        while self._ends[-1] <= t:
            self._extend()
        return self._ends[bisect_right(self._ends, t)]

    def sessions(self, t: float) -> int:
        """How many sessions trading seconds 0..t touch (1 while the first has not closed)."""
        return self._index(t) + 1

    def _index(self, t: float) -> int:
        while self._ends[-1] < t:
            self._extend()
        return bisect_left(self._ends, t)

    def _extend(self) -> None:
        opened, closed = self.calendar.session(self._closes[-1])  # a close is not in its own session: the next one
        end = self._ends[-1]
        self._offsets.append(opened - end)
        self._ends.append(end + (closed - opened))
        self._closes.append(closed)
