"""Kite's client-side limits on the virtual clock: windows that count a request until a window after its answer,
first come first served; the day's order quota; the modification cap."""

from __future__ import annotations

import asyncio

import pytest

from imperium_desk.broker.errors import BrokerOrderRejected
from imperium_desk.broker.kite.config import KiteLimits
from imperium_desk.broker.kite.limits import (
    DailyQuota,
    KiteRateLimits,
    ModificationQuota,
    Window,
    WindowLimiter,
    window_for,
)
from imperium_desk.clock import VirtualClock

START = 1_796_600_000.0  # 2026-12-07, mid-morning IST
DAY_S = 86_400.0


async def _request(clock: VirtualClock, limiter: WindowLimiter, answer_after_s: float, sent: list[float]) -> None:
    permit = await limiter.acquire()
    sent.append(clock.monotonic())
    await clock.sleep(answer_after_s)
    permit.release()


def _send_times(count: int, window: Window, answer_after_s: float) -> list[float]:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (window,), "test")
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_request(clock, limiter, answer_after_s, sent) for _ in range(count)))

    clock.run(main())
    return sent


def test_a_burst_is_let_through_one_window_at_a_time() -> None:
    assert _send_times(25, Window(10, 1.0), 0.0) == [0.0] * 10 + [1.0] * 10 + [2.0] * 5


def test_a_slot_is_held_until_a_window_after_the_answer_not_after_the_send() -> None:
    # Answers take 0.3 s: arrivals can lie anywhere in [send, answer], so the next ten wait for answer + 1 s.
    times = _send_times(20, Window(10, 1.0), 0.3)
    assert times[10:] == [pytest.approx(1.3)] * 10


def test_no_more_than_capacity_requests_can_arrive_in_any_window_whatever_their_round_trip() -> None:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (Window(10, 1.0),), "test")
    arrivals: list[float] = []

    async def request(i: int) -> None:
        permit = await limiter.acquire()
        trip = 0.05 + (i % 7) * 0.1  # arrivals land late or early within the round trip
        await clock.sleep(trip if i % 2 else 0.0)
        arrivals.append(clock.monotonic())
        await clock.sleep(0.0 if i % 2 else trip)
        permit.release()

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(80)))

    clock.run(main())
    arrivals.sort()
    assert all(arrivals[i + 10] - arrivals[i] >= 1.0 for i in range(len(arrivals) - 10))


def test_every_window_of_a_limiter_must_have_room() -> None:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (Window(10, 1.0), Window(15, 60.0)), "orders")
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_request(clock, limiter, 0.0, sent) for _ in range(16)))

    clock.run(main())
    assert sent == [0.0] * 10 + [1.0] * 5 + [60.0]


def test_waiters_are_served_first_come_first_served() -> None:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (Window(1, 1.0),), "test")
    order: list[int] = []

    async def request(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        permit.release()

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(5)))

    clock.run(main())
    assert order == [0, 1, 2, 3, 4]


def test_a_waiter_cancelled_while_waiting_gives_its_turn_away() -> None:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (Window(1, 1.0),), "test")
    sent: list[float] = []

    async def main() -> None:
        first = await limiter.acquire()
        first.release()
        quitter = asyncio.ensure_future(_request(clock, limiter, 0.0, sent))
        stayer = asyncio.ensure_future(_request(clock, limiter, 0.0, sent))
        await clock.sleep(0.5)
        quitter.cancel()
        await asyncio.gather(quitter, stayer, return_exceptions=True)

    clock.run(main())
    assert sent == [1.0]


def test_releasing_a_permit_twice_frees_one_slot() -> None:
    clock = VirtualClock(START)
    limiter = WindowLimiter(clock, (Window(2, 1.0),), "test")

    async def main() -> bool:
        permit = await limiter.acquire()
        other = await limiter.acquire()
        permit.release()
        permit.release()
        other.release()
        await clock.sleep(1.0)
        return limiter.try_acquire() is not None and limiter.try_acquire() is not None

    assert clock.run(main())


@pytest.mark.parametrize(
    ("per_second", "window"),
    [(10.0, Window(10, 1.0)), (10.5, Window(10, 1.0)), (1.0, Window(1, 1.0)), (0.5, Window(1, 2.0))],
)
def test_a_rate_per_second_becomes_a_window(per_second: float, window: Window) -> None:
    assert window_for(per_second) == window


def test_the_day_quota_refuses_beyond_the_limit_and_starts_again_the_next_trading_day() -> None:
    clock = VirtualClock(START)
    quota = DailyQuota(clock, 2)
    quota.take()
    quota.take()
    with pytest.raises(BrokerOrderRejected):
        quota.take()

    async def next_day() -> None:
        await clock.sleep(DAY_S)

    clock.run(next_day())
    quota.take()
    assert quota.used == 1


def test_a_placement_given_back_frees_its_place_in_the_day_quota() -> None:
    quota = DailyQuota(VirtualClock(START), 1)
    quota.take()
    quota.give_back()
    quota.take()
    assert quota.used == 1


def test_the_modification_cap_is_per_order_and_a_refused_modify_is_given_back() -> None:
    cap = ModificationQuota(2)
    cap.take("A")
    cap.take("A")
    with pytest.raises(BrokerOrderRejected):
        cap.take("A")
    cap.take("B")
    cap.give_back("A")
    cap.take("A")
    assert (cap.used("A"), cap.used("B")) == (2, 1)


def test_kite_limits_share_one_window_set_for_every_order_write() -> None:
    limits = KiteRateLimits(VirtualClock(START), KiteLimits())
    assert limits.orders.windows == (Window(10, 1.0), Window(400, 60.0))
    assert limits.quotes.windows == (Window(1, 1.0),)
    assert limits.reads.windows == (Window(10, 1.0),)
    assert (limits.day.limit, limits.modifications.limit) == (5_000, 25)
