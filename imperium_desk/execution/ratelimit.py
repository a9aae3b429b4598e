"""Client-side order rate limiter: at most `max_per_s` sends in any one-second window.

A sliding window (not a token bucket) because the broker's limit is a count per second: a bucket with a
burst allowance lets twice the limit through a window that straddles a refill. Waiters are served by
priority (urgency) and then in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque

from imperium_desk.clock import Cancellable, Clock

_WINDOW_S = 1.0


class OrderRateLimiter:
    """At most `max_per_s` sends in any one-second window (None: unlimited). `acquire` answers None when the
    caller may send now, else a future that resolves when it may; waiters go by priority (lower first), then in
    arrival order, and a cancelled waiter gives its turn away. Loop thread only."""

    def __init__(self, clock: Clock, max_per_s: float | None) -> None:
        self._clock = clock
        self._capacity = None if max_per_s is None else max(1, int(max_per_s * _WINDOW_S))
        self.limited = self._capacity is not None  # False: `acquire` always answers None (callers may skip it)
        self._expiries: deque[float] = deque()  # when each send in the window leaves it
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._timer: Cancellable | None = None

    def acquire(self, priority: int) -> asyncio.Future[None] | None:
        """None if the caller may send now; otherwise a future to await before sending."""
        if self._capacity is None:
            return None
        now = self._clock.monotonic()
        self._purge(now)
        if not self._waiters and len(self._expiries) < self._capacity:
            self._expiries.append(now + _WINDOW_S)
            return None
        fut = self._clock.create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (priority, self._seq, fut))
        self._arm()
        return fut

    def _purge(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()

    def _arm(self) -> None:
        if self._timer is None and self._waiters and self._expiries:
            delay = self._expiries[0] - self._clock.monotonic()
            self._timer = self._clock.call_later(max(0.0, delay), self._release)

    def _release(self) -> None:
        self._timer = None
        now = self._clock.monotonic()
        self._purge(now)
        assert self._capacity is not None
        while self._waiters and len(self._expiries) < self._capacity:
            _, _, fut = heapq.heappop(self._waiters)
            if fut.done():  # the waiter was cancelled
                continue
            self._expiries.append(now + _WINDOW_S)
            fut.set_result(None)
        self._arm()
