"""OrderRateLimiter on the virtual clock: a sliding one-second window, served by priority then arrival."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imperium_desk.clock import VirtualClock
from imperium_desk.execution.ratelimit import OrderRateLimiter

START = 1_790_000_000.0


async def send_when_allowed(
    clock: VirtualClock, limiter: OrderRateLimiter, priority: int, sent: list[tuple[str, float]], name: str
) -> None:
    waiter = limiter.acquire(priority)
    if waiter is not None:
        await waiter
    sent.append((name, clock.monotonic()))


def burst_send_times(count: int, max_per_s: float) -> list[float]:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, max_per_s)
    sent: list[tuple[str, float]] = []

    async def main() -> None:
        await asyncio.gather(*(send_when_allowed(clock, limiter, 1, sent, str(i)) for i in range(count)))

    clock.run(main())
    return sorted(t for _, t in sent)


def never_more_than(limit: int, times: list[float], tolerance: float = 0.0) -> bool:
    """No `limit + 1` sends inside any one-second window."""
    return all(times[i + limit] - times[i] >= 1.0 - tolerance for i in range(len(times) - limit))


def test_a_burst_never_exceeds_the_limit_in_any_one_second_window() -> None:
    times = burst_send_times(35, 10)
    assert len(times) == 35
    assert never_more_than(10, times)


def test_the_first_ten_of_a_burst_go_immediately() -> None:
    times = burst_send_times(35, 10)
    assert times[:10] == [0.0] * 10
    assert times[10] > 0.0


def test_a_burst_drains_one_window_at_a_time() -> None:
    times = burst_send_times(35, 10)
    assert times == [0.0] * 10 + [1.0] * 10 + [2.0] * 10 + [3.0] * 5


def test_spread_out_arrivals_never_exceed_the_limit() -> None:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, 10)
    sent: list[tuple[str, float]] = []

    async def arrive_at(t: float, i: int) -> None:
        await clock.sleep(t)
        await send_when_allowed(clock, limiter, 1, sent, str(i))

    async def main() -> None:
        # 60 arrivals over 2.95 s: 20/s offered against a 10/s limit.
        await asyncio.gather(*(arrive_at(0.05 * i, i) for i in range(60)))

    clock.run(main())
    times = sorted(t for _, t in sent)
    assert len(times) == 60
    # A slot taken at 0.15000000000000002 frees at 0.15000000000000002 + 1.0 == 1.15: float rounding only.
    assert never_more_than(10, times, tolerance=1e-9)
    assert times[:10] == [0.05 * i for i in range(10)]  # below the limit nobody waits
    assert times[-1] == pytest.approx(5.45)  # and the limiter holds nobody longer than it must


def test_higher_priority_waiters_are_served_before_earlier_lower_priority_ones() -> None:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, 1)
    sent: list[tuple[str, float]] = []

    async def main() -> None:
        assert limiter.acquire(1) is None  # uses the only slot of the first window
        low = asyncio.ensure_future(send_when_allowed(clock, limiter, 2, sent, "low"))
        await asyncio.sleep(0)  # the low-priority waiter queues first
        normal = asyncio.ensure_future(send_when_allowed(clock, limiter, 1, sent, "normal"))
        high = asyncio.ensure_future(send_when_allowed(clock, limiter, 0, sent, "high"))
        await asyncio.gather(low, normal, high)

    clock.run(main())
    assert sent == [("high", 1.0), ("normal", 2.0), ("low", 3.0)]


def test_equal_priority_waiters_are_served_in_arrival_order() -> None:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, 1)
    sent: list[tuple[str, float]] = []

    async def main() -> None:
        await asyncio.gather(*(send_when_allowed(clock, limiter, 1, sent, name) for name in "abcd"))

    clock.run(main())
    assert sent == [("a", 0.0), ("b", 1.0), ("c", 2.0), ("d", 3.0)]


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, 1)
    outcome: dict[str, Any] = {}

    async def main() -> None:
        assert limiter.acquire(1) is None
        first, second = limiter.acquire(1), limiter.acquire(1)
        assert first is not None and second is not None
        first.cancel()
        await second
        outcome["second_at"] = clock.monotonic()

    clock.run(main())
    assert outcome == {"second_at": 1.0}


def test_without_a_limit_nobody_ever_waits() -> None:
    clock = VirtualClock(START)
    limiter = OrderRateLimiter(clock, None)
    assert [limiter.acquire(p) for p in [0, 1, 2] * 400] == [None] * 1200
    assert clock.monotonic() == 0.0
