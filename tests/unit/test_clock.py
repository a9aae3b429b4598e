"""VirtualClock (virtual time, zero wall time) and WallClock (wall time on a running asyncio loop)."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import datetime

import pytest

from imperium_desk.clock import VirtualClock, VirtualClockDeadlock, WallClock
from imperium_desk.domain.instruments import IST
from imperium_desk.domain.sessions import TradingCalendar

START = 1_790_000_000.0  # a fixed epoch, so every expected time below is exact


def virtual() -> VirtualClock:
    return VirtualClock(start_epoch=START)


# --- running and time ------------------------------------------------------------------------------


def test_run_returns_the_coroutines_result() -> None:
    clock = virtual()

    async def main() -> str:
        await clock.sleep(1)
        return "done"

    assert clock.run(main()) == "done"


def test_run_propagates_the_coroutines_exception() -> None:
    clock = virtual()

    async def main() -> None:
        await clock.sleep(1)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        clock.run(main())


def test_time_starts_at_zero_monotonic_and_the_start_epoch() -> None:
    clock = virtual()
    assert clock.monotonic() == 0.0
    assert clock.now() == START


def test_sleep_advances_monotonic_and_now_by_exactly_the_duration() -> None:
    clock = virtual()

    async def main() -> tuple[float, float]:
        await clock.sleep(5)
        return clock.monotonic(), clock.now()

    assert clock.run(main()) == (5.0, START + 5.0)


def test_an_hour_of_virtual_sleep_takes_no_wall_time() -> None:
    clock = virtual()

    async def main() -> None:
        for _ in range(3600):
            await clock.sleep(1)

    started = time.perf_counter()
    clock.run(main())
    assert time.perf_counter() - started < 0.5
    assert clock.monotonic() == 3600.0


def test_negative_sleep_does_not_move_time_backwards() -> None:
    clock = virtual()

    async def main() -> float:
        await clock.sleep(2)
        await clock.sleep(-1)
        return clock.monotonic()

    assert clock.run(main()) == 2.0


def test_now_datetime_is_the_virtual_instant_in_utc() -> None:
    clock = virtual()

    async def main() -> float:
        await clock.sleep(90)
        return clock.now_datetime().timestamp()

    assert clock.run(main()) == START + 90


# --- ordering --------------------------------------------------------------------------------------


def test_timers_due_at_the_same_time_run_in_scheduling_order() -> None:
    clock = virtual()
    fired: list[str] = []

    async def main() -> None:
        for name in ("a", "b", "c", "d"):
            clock.call_later(3.0, fired.append, name)
        await clock.sleep(4)

    clock.run(main())
    assert fired == ["a", "b", "c", "d"]


def test_concurrent_sleepers_wake_in_time_order_at_their_own_times() -> None:
    clock = virtual()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(sleeper("late", 3.0), sleeper("early", 1.0), sleeper("middle", 2.0))

    clock.run(main())
    assert woke == [("early", 1.0), ("middle", 2.0), ("late", 3.0)]


def test_call_soon_runs_before_a_zero_delay_timer_scheduled_earlier() -> None:
    clock = virtual()
    fired: list[str] = []

    async def main() -> None:
        clock.call_later(0.0, fired.append, "timer")
        clock.call_soon(fired.append, "soon")
        await clock.sleep(1)

    clock.run(main())
    assert fired == ["soon", "timer"]


def test_cancelled_timer_does_not_fire() -> None:
    clock = virtual()
    fired: list[str] = []

    async def main() -> None:
        clock.call_later(1.0, fired.append, "kept")
        clock.call_later(2.0, fired.append, "cancelled").cancel()
        await clock.sleep(5)

    clock.run(main())
    assert fired == ["kept"]


def test_a_cancelled_timer_does_not_advance_time() -> None:
    clock = virtual()
    seen: list[float] = []

    async def main() -> None:
        clock.call_later(100.0, seen.append, -1.0).cancel()
        clock.call_later(1.0, lambda: seen.append(clock.monotonic()))
        await clock.sleep(1.0)

    clock.run(main())
    assert seen == [1.0]
    assert clock.monotonic() == 1.0


# --- asyncio primitives on the virtual loop ----------------------------------------------------------


def test_gather_returns_results_in_argument_order_after_the_longest() -> None:
    clock = virtual()

    async def value_after(value: int, seconds: float) -> int:
        await clock.sleep(seconds)
        return value

    async def main() -> tuple[list[int], float]:
        results = await asyncio.gather(value_after(1, 3.0), value_after(2, 1.0), value_after(3, 2.0))
        return list(results), clock.monotonic()

    assert clock.run(main()) == ([1, 2, 3], 3.0)


def test_wait_for_returns_a_result_that_arrives_in_time() -> None:
    clock = virtual()

    async def slow() -> str:
        await clock.sleep(2.0)
        return "ok"

    async def main() -> tuple[str, float]:
        result = await asyncio.wait_for(slow(), timeout=5.0)
        return result, clock.monotonic()

    assert clock.run(main()) == ("ok", 2.0)


def test_wait_for_times_out_at_the_virtual_deadline() -> None:
    clock = virtual()

    async def slow() -> None:
        await clock.sleep(10.0)

    async def main() -> float:
        await clock.sleep(1.0)
        try:
            await asyncio.wait_for(slow(), timeout=2.5)
        except TimeoutError:
            return clock.monotonic()
        raise AssertionError("wait_for did not time out")

    assert clock.run(main()) == 3.5


def test_event_wakes_its_waiter_when_set() -> None:
    clock = virtual()

    async def main() -> float:
        event = asyncio.Event()
        clock.call_later(4.0, event.set)
        await event.wait()
        return clock.monotonic()

    assert clock.run(main()) == 4.0


def test_lock_serialises_holders_in_arrival_order() -> None:
    clock = virtual()
    log: list[tuple[str, str, float]] = []

    async def hold(lock: asyncio.Lock, name: str) -> None:
        async with lock:
            log.append((name, "in", clock.monotonic()))
            await clock.sleep(1.0)
            log.append((name, "out", clock.monotonic()))

    async def main() -> None:
        lock = asyncio.Lock()
        await asyncio.gather(hold(lock, "a"), hold(lock, "b"))

    clock.run(main())
    assert log == [("a", "in", 0.0), ("a", "out", 1.0), ("b", "in", 1.0), ("b", "out", 2.0)]


def test_queue_delivers_items_in_order_as_they_are_produced() -> None:
    clock = virtual()
    received: list[tuple[int, float]] = []

    async def producer(queue: asyncio.Queue[int]) -> None:
        for i in range(3):
            await clock.sleep(1.0)
            await queue.put(i)

    async def consumer(queue: asyncio.Queue[int]) -> None:
        for _ in range(3):
            item = await queue.get()
            received.append((item, clock.monotonic()))

    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        await asyncio.gather(producer(queue), consumer(queue))

    clock.run(main())
    assert received == [(0, 1.0), (1, 2.0), (2, 3.0)]


# --- what the virtual loop refuses --------------------------------------------------------------------


def test_awaiting_a_future_nobody_resolves_raises_deadlock() -> None:
    clock = virtual()

    async def main() -> None:
        await clock.sleep(2.0)
        await clock.create_future()

    with pytest.raises(VirtualClockDeadlock, match=r"t=2\.0"):
        clock.run(main())


def test_call_soon_threadsafe_is_refused() -> None:
    clock = virtual()
    with pytest.raises(RuntimeError, match="other threads"):
        clock.virtual_loop.call_soon_threadsafe(print)


# --- VirtualClock on a trading calendar -------------------------------------------------------------

MONDAY_OPEN = datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()
SESSION_S = 6 * 3600 + 15 * 60


def trading(start: float = MONDAY_OPEN) -> VirtualClock:
    return VirtualClock(start, TradingCalendar.nse())


def test_within_the_first_session_a_calendar_clock_gives_the_plain_clocks_floats() -> None:
    plain, calendar = VirtualClock(MONDAY_OPEN + 0.1), trading(MONDAY_OPEN + 0.1)

    async def main(clock: VirtualClock) -> list[float]:
        seen = []
        for step in (0.25, 0.05, 17.3, 3600.0, 15000.01):
            await clock.sleep(step)
            seen.append(clock.now())
        return seen

    assert calendar.run(main(calendar)) == plain.run(main(plain))


def test_the_night_passes_in_no_loop_time() -> None:
    clock = trading()

    async def main() -> float:
        await clock.sleep(SESSION_S + 0.5)
        return clock.now()

    assert clock.run(main()) == datetime(2026, 11, 24, 9, 15, 0, 500000, tzinfo=IST).timestamp()
    assert clock.monotonic() == SESSION_S + 0.5


def test_a_calendar_clock_started_at_night_starts_at_the_next_open() -> None:
    clock = trading(datetime(2026, 11, 27, 21, 0, tzinfo=IST).timestamp())  # a Friday night
    assert clock.now() == datetime(2026, 11, 30, 9, 15, tzinfo=IST).timestamp()
    assert clock.start == clock.now()


def test_call_at_closes_rings_at_each_close_with_now_at_the_close() -> None:
    clock = trading()
    rung: list[float] = []
    clock.call_at_closes(lambda: rung.append(clock.now()))

    async def main() -> None:
        await clock.sleep(3 * SESSION_S + 1)

    clock.run(main())
    closes = [datetime(2026, 11, d, 15, 30, tzinfo=IST).timestamp() for d in (23, 24, 25)]
    assert rung == closes


def test_a_cancelled_call_at_closes_rings_no_more() -> None:
    clock = trading()
    rung: list[float] = []
    handle = clock.call_at_closes(lambda: rung.append(clock.now()))

    async def main() -> None:
        await clock.sleep(SESSION_S + 1)
        handle.cancel()
        await clock.sleep(2 * SESSION_S)

    clock.run(main())
    assert len(rung) == 1


def test_without_a_calendar_call_at_closes_never_rings() -> None:
    clock = virtual()
    rung: list[float] = []
    clock.call_at_closes(lambda: rung.append(clock.now()))

    async def main() -> None:
        await clock.sleep(3 * 86400.0)

    clock.run(main())
    assert rung == []


def test_epoch_at_maps_a_future_loop_time_as_now_will() -> None:
    clock = trading()
    ahead = clock.epoch_at(SESSION_S + 2.0)

    async def main() -> float:
        await clock.sleep(SESSION_S + 2.0)
        return clock.now()

    assert clock.run(main()) == ahead


# --- WallClock ---------------------------------------------------------------------------------------


def test_a_virtual_run_puts_the_collector_back_as_it_found_it_even_when_it_fails() -> None:
    before = (gc.get_threshold(), gc.get_freeze_count())
    clock = virtual()

    async def main() -> None:
        await clock.sleep(1)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        clock.run(main())
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_virtual_run_inside_another_leaves_the_collector_tuned_for_the_outer_one() -> None:
    outer, inner = virtual(), virtual()
    during: list[tuple[int, int, int]] = []

    async def nested() -> None:
        await inner.sleep(1)

    async def main() -> None:
        tuned = gc.get_threshold()
        inner.run(nested())
        during.append(gc.get_threshold())
        assert during[0] == tuned

    before = gc.get_threshold()
    outer.run(main())
    assert during[0] != before and gc.get_threshold() == before


def test_a_virtual_run_leaves_a_heap_the_process_froze_itself_frozen() -> None:
    gc.freeze()  # as the window does with its start-up objects
    try:
        frozen = gc.get_freeze_count()
        clock = virtual()

        async def main() -> None:
            await clock.sleep(1)

        clock.run(main())
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_wall_clock_now_is_wall_time() -> None:
    async def main() -> float:
        return WallClock().now()

    before = time.time()
    now = asyncio.run(main())
    after = time.time()
    assert before - 0.05 <= now <= after + 0.05


def test_wall_clock_sleep_advances_monotonic_by_at_least_the_duration() -> None:
    async def main() -> float:
        clock = WallClock()
        start = clock.monotonic()
        await clock.sleep(0.01)
        return clock.monotonic() - start

    # asyncio may run a timer up to one clock resolution (1 ns on Linux) early; allow that, nothing more.
    assert asyncio.run(main()) >= 0.01 - 1e-6
