"""Client-side request limits for Kite Connect (kite-notes §1.6): sliding windows per request kind, the day's order
quota and the modification cap per order. Applied on the event loop before a request is handed to a REST thread;
waiting is an awaited future on the Clock, never a sleep.

Why a window that counts a request until a second after it COMPLETED, not after it was let through: the exchange
counts requests when they arrive, and a request arrives somewhere between being let through and its answer. Were a
slot freed one window after the hand-off, a backlog on the write thread (or a slow answer) could bunch requests
let through a second apart into one arrival window. Held until `window_s` after the answer, at most `capacity`
requests can arrive in any window: if N+1 did arrive within one window, each of the first N let through would
still hold its slot when the last was let through (each answered after its arrival, within a window of the last
one's arrival), so the last would have waited. The cost is throughput: a window admits `capacity` requests per
(window + round trip), about 1% less at 10 ms round trips.

Why windows, not token buckets: a bucket with a burst allowance lets twice the limit through a window that
straddles a refill (execution/ratelimit.py says the same about the stack's own limiter).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from imperium_desk.broker.errors import BrokerOrderRejected
from imperium_desk.broker.kite.config import KiteLimits
from imperium_desk.broker.kite.tags import trading_day
from imperium_desk.clock import Cancellable, Clock

__all__ = ["DailyQuota", "KiteRateLimits", "ModificationQuota", "Permit", "Window", "WindowLimiter", "window_for"]


@dataclass(frozen=True, slots=True)
class Window:
    """At most `capacity` requests in any `window_s` seconds."""

    capacity: int
    window_s: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or not self.window_s > 0:
            raise ValueError(f"a window needs capacity >= 1 and a positive length, got {self}")


def window_for(per_second: float) -> Window:
    """The window for a rate per second: N a second for N >= 1 (the fraction dropped: 10.5/s allows 10), else one
    request per 1/rate seconds."""
    if per_second >= 1.0:
        return Window(math.floor(per_second), 1.0)
    return Window(1, 1.0 / per_second)


class _Rule:
    """One window's book-keeping: requests let through and not yet answered (`held`), and the instants at which
    answered ones leave the window (`expiries`, oldest first: answers are released in loop order)."""

    __slots__ = ("expiries", "held", "window")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.held = 0
        self.expiries: deque[float] = deque()

    def purge(self, now: float) -> None:
        while self.expiries and self.expiries[0] <= now:
            self.expiries.popleft()

    def has_room(self) -> bool:
        return self.held + len(self.expiries) < self.window.capacity


class Permit:
    """One request's slots in every window of a limiter. `release()` when its answer (or failure) is back; the
    slots leave the windows `window_s` later. Releasing twice does nothing."""

    __slots__ = ("_limiter", "_released")

    def __init__(self, limiter: WindowLimiter) -> None:
        self._limiter = limiter
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release()  # the permit is the limiter's own handle


class WindowLimiter:
    """Requests of one kind (order writes, quote calls, other reads) under one or more windows, served first come
    first served. Loop thread only.

    `acquire()` awaits a `Permit` once every window has room; a caller cancelled while waiting gives its turn away
    (and a permit granted at the moment of its cancellation is released, so none leaks)."""

    def __init__(self, clock: Clock, windows: Sequence[Window], name: str) -> None:
        if not windows:
            raise ValueError("a limiter needs at least one window")
        self.name = name
        self._clock = clock
        self._rules = tuple(_Rule(w) for w in windows)
        self._waiters: deque[asyncio.Future[Permit]] = deque()
        self._timer: Cancellable | None = None
        self.waited = 0  # how many acquisitions had to wait (for the benchmark and the log)

    @property
    def windows(self) -> tuple[Window, ...]:
        return tuple(rule.window for rule in self._rules)

    def try_acquire(self) -> Permit | None:
        """A permit now if nobody is waiting and every window has room; else None."""
        if self._waiters or not self._room():
            return None
        return self._grant()

    async def acquire(self) -> Permit:
        permit = self.try_acquire()
        if permit is not None:
            return permit
        self.waited += 1
        waiter: asyncio.Future[Permit] = self._clock.create_future()
        self._waiters.append(waiter)
        self._arm()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                waiter.result().release()  # granted just as the caller gave up: hand the turn on
            raise

    # -- book-keeping ------------------------------------------------------------------------------------------
    def _room(self) -> bool:
        now = self._clock.monotonic()
        for rule in self._rules:
            rule.purge(now)
        return all(rule.has_room() for rule in self._rules)

    def _grant(self) -> Permit:
        for rule in self._rules:
            rule.held += 1
        return Permit(self)

    def _release(self) -> None:
        now = self._clock.monotonic()
        for rule in self._rules:
            rule.held -= 1
            rule.expiries.append(now + rule.window.window_s)
        self._pump()

    def _pump(self) -> None:
        while self._waiters and self._room():
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            waiter.set_result(self._grant())
        self._arm()

    def _arm(self) -> None:
        """Wake when the earliest slot of a full window expires. A window full of unanswered requests needs no
        timer: the next release pumps."""
        if self._timer is not None or not self._waiters:
            return
        due = [rule.expiries[0] for rule in self._rules if not rule.has_room() and rule.expiries]
        if due:
            self._timer = self._clock.call_later(max(0.0, min(due) - self._clock.monotonic()), self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._pump()


class DailyQuota:
    """At most `limit` placements per Indian trading day (Kite's ~5,000 orders a day per user). Beyond it a placement
    is refused with `BrokerOrderRejected` before anything is sent: a retry the same day cannot succeed."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self._clock = clock
        self.limit = limit
        self._day = trading_day(clock.now())
        self.used = 0

    def take(self) -> None:
        day = trading_day(self._clock.now())
        if day != self._day:
            self._day, self.used = day, 0
        if self.used >= self.limit:
            raise BrokerOrderRejected(
                f"the day's order limit of {self.limit} is reached (kite.limits.orders_per_day): not sent"
            )
        self.used += 1

    def give_back(self) -> None:
        """Un-count a placement that was proven not placed (refused before it was acted on)."""
        self.used = max(0, self.used - 1)


class ModificationQuota:
    """At most `limit` modifications of one order (Kite refuses the 26th). Counted when a modify is let through and
    given back when it is proven not applied, so two modifies in flight cannot pass the cap together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def take(self, order_id: str) -> None:
        count = self._counts.get(order_id, 0)
        if count >= self.limit:
            raise BrokerOrderRejected(
                f"order {order_id} has had {self.limit} modifications, Kite's maximum "
                f"(kite.limits.modifications_per_order): not sent"
            )
        self._counts[order_id] = count + 1

    def give_back(self, order_id: str) -> None:
        count = self._counts.get(order_id, 0)
        if count > 0:
            self._counts[order_id] = count - 1

    def used(self, order_id: str) -> int:
        return self._counts.get(order_id, 0)


class KiteRateLimits:
    """Every client-side limit of one Kite account, from `KiteLimits`: order writes (place, modify and cancel share
    the per-second and per-minute windows, as the exchange counts them), the day's placements, modifications per
    order, quote calls, and every other read."""

    def __init__(self, clock: Clock, limits: KiteLimits) -> None:
        self.config = limits
        self.orders = WindowLimiter(
            clock, (window_for(limits.orders_per_second), Window(limits.orders_per_minute, 60.0)), "orders"
        )
        self.quotes = WindowLimiter(clock, (window_for(limits.quote_calls_per_second),), "quotes")
        self.reads = WindowLimiter(clock, (window_for(limits.reads_per_second),), "reads")
        self.day = DailyQuota(clock, limits.orders_per_day)
        self.modifications = ModificationQuota(limits.modifications_per_order)
