"""The clock port: the only source of time for engine code.

Both clocks run engine coroutines on an asyncio loop and differ only in what the loop's time is:

* `WallClock` reads the running loop (plain asyncio headless, qasync under Qt); `now()` is wall time.
* `VirtualClock` owns a `VirtualEventLoop` whose time jumps straight to the next scheduled event when
  nothing is ready, so an hour of trading replays in well under a second and the order of events is a
  pure function of the program (no I/O, no threads touch it).

`VirtualEventLoop` is deliberately small rather than a subclass of asyncio's selector loop: replay
throughput is bounded by per-event loop overhead, and the selector loop costs ~2x more per timer
(benchmarks/replay_throughput.py). It implements what asyncio's Future/Task, sleep, gather, wait_for,
timeout, Event, Lock and Queue need.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import Context
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from imperium_desk.domain.sessions import TradingCalendar, TradingTime

log = logging.getLogger(__name__)
T = TypeVar("T")


class Cancellable(Protocol):
    """A scheduled callback (asyncio's handle, or the virtual loop's): `cancel` stops it running; on one that already
    ran it does nothing."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time for engine code. `now()` is epoch seconds (UTC); `monotonic()` is the loop's time."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Cancellable: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Cancellable: ...

    def create_future(self) -> asyncio.Future[Any]: ...


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _LoopClock:
    """Shared implementation: epoch time = offset + loop time (`VirtualClock` with a calendar: per session)."""

    # Bound straight to the loop's own methods: one call layer less on the replay hot path.
    monotonic: Callable[[], float]
    call_soon: Callable[..., Cancellable]
    call_later: Callable[..., Cancellable]
    create_future: Callable[[], asyncio.Future[Any]]

    def __init__(self, loop: asyncio.AbstractEventLoop, epoch_offset: float) -> None:
        self._loop = loop
        self._offset = epoch_offset
        self.monotonic = loop.time
        self.call_soon = loop.call_soon
        self.call_later = loop.call_later  # a negative delay runs as soon as possible on both loops
        self.create_future = loop.create_future

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def now(self) -> float:
        return self._offset + self._loop.time()

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def epoch_at(self, loop_time: float) -> float:
        """The epoch instant `now()` answers when the loop's time is `loop_time` (a tick planned ahead, say)."""
        return self._offset + loop_time

    def sleep(self, seconds: float) -> asyncio.Future[None]:
        # A bare future + timer: half the per-sleep cost of asyncio.sleep on the replay hot path.
        fut: asyncio.Future[None] = self._loop.create_future()
        self._loop.call_later(seconds, _wake, fut)
        return fut


class WallClock(_LoopClock):
    """Wall time on a running asyncio loop (plain asyncio or qasync)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        loop = loop or asyncio.get_running_loop()
        super().__init__(loop, time.time() - loop.time())


class VirtualClock(_LoopClock):
    """Virtual time starting at `start_epoch`; time advances only by jumping to the next event.

    With a `calendar` (replays) the loop runs in trading seconds (`imperium_desk.domain.sessions`): `now()` maps the
    loop's time to epoch time session by session, so the night, weekends and holidays pass in no loop time and no
    tick, timer or order happens while the market is closed; a start outside a session begins at the next open
    (`start`). Within a session `now()` is `offset + loop time`, with the session's bounds cached, so a run that
    stays in its first session gets exactly the floats of a clock without a calendar. `call_at_closes` runs a
    callback at every close (the paper exchange's end of day). Without a calendar the clock ticks 24 hours a day,
    like the wall clock (tests; a desk on virtual time).
    """

    def __init__(self, start_epoch: float, calendar: TradingCalendar | None = None) -> None:
        # AbstractEventLoop's I/O methods (readers, sockets, subprocesses) stay unimplemented on purpose.
        self.virtual_loop = VirtualEventLoop()  # type: ignore[abstract]
        self.trading_time = TradingTime(calendar, start_epoch) if calendar is not None else None
        super().__init__(self.virtual_loop, start_epoch)
        self._loop_time = self.virtual_loop.time
        self._session_end = math.inf  # the loop time up to which `_offset + t` holds
        if self.trading_time is not None:
            self._offset, self._session_end = self.trading_time.segment(0.0)

    @property
    def start(self) -> float:
        """The epoch instant of loop time 0 (with a calendar, the next open for a start outside a session)."""
        return self._offset if self.trading_time is None else self.trading_time.start

    def now(self) -> float:
        t = self._loop_time()
        if t <= self._session_end:
            return self._offset + t
        assert self.trading_time is not None  # without one, the end is infinite
        self._offset, self._session_end = self.trading_time.segment(t)
        return self._offset + t

    def epoch_at(self, loop_time: float) -> float:
        if self.trading_time is None:
            return self._offset + loop_time
        return self.trading_time.epoch(loop_time)

    def call_at_closes(self, callback: Callable[[], object]) -> Cancellable:
        """Call `callback` at each session close from now on (loop time of the close, before anything else due at
        that instant that was scheduled after this call), until the returned handle is cancelled. Without a
        calendar there is no close: the callback never runs."""
        return _AtCloses(self, callback)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        return self.virtual_loop.run_until_complete(main)


class _AtCloses:
    """`VirtualClock.call_at_closes`' handle: one timer at a time, re-armed for the next close as each one rings."""

    def __init__(self, clock: VirtualClock, callback: Callable[[], object]) -> None:
        self._clock = clock
        self._callback = callback
        self._timer: Cancellable | None = None
        self._arm()

    def _arm(self) -> None:
        sessions = self._clock.trading_time
        if sessions is not None:
            loop = self._clock.virtual_loop
            # call_at, not call_later: the close's loop time exactly, whatever float the loop's time is now.
            self._timer = loop.call_at(sessions.next_close(loop.time()), self._ring)

    def _ring(self) -> None:
        self._arm()  # first, so a failing callback does not end the closes (and cancel() inside it holds)
        self._callback()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class VirtualClockDeadlock(RuntimeError):
    """The program awaits something that no scheduled event can ever deliver."""


class _CollectorTuning:
    """The cyclic garbage collector's settings while virtual runs go (process-wide, so counted across loops and
    threads, under a lock: the first run to start changes them, the last to end puts them back).

    The virtual loop allocates tens of thousands of short-lived objects per virtual second (futures, handles,
    records), nearly all freed by reference counting, yet every 2,000 that outlive a moment set off a young
    collection, and full collections rescan everything built before the run (modules, configs, the engine). A replay
    at P=10,000 spent ~1.1 s of ~7 s in the collector; with a young generation of 50,000 and the pre-run heap frozen
    (set aside from collections until the run ends), ~0.3 s. Nothing else changes: what becomes unreachable is
    collected as before, a little later."""

    YOUNG_THRESHOLD = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, int, int] | None = None
        self._froze = False

    def enter(self) -> None:
        with self._lock:
            self._runs += 1
            if self._runs == 1:
                self._saved = gc.get_threshold()
                # A process that froze its heap itself (the window freezes its start-up objects for good) keeps it
                # so: the run neither adds to it nor thaws it.
                self._froze = gc.get_freeze_count() == 0
                if self._froze:
                    gc.freeze()
                young, *older = self._saved
                gc.set_threshold(max(young, self.YOUNG_THRESHOLD), *older)

    def exit(self) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0 and self._saved is not None:
                gc.set_threshold(*self._saved)
                if self._froze:
                    gc.unfreeze()  # back into the oldest generation, collected as usual from now on
                self._saved, self._froze = None, False


_collector = _CollectorTuning()


class _Handle:
    __slots__ = ("_args", "_callback", "_cancelled", "_context", "_when")

    def __init__(
        self, callback: Callable[..., object], args: tuple[Any, ...], context: Context | None, when: float
    ) -> None:
        self._callback = callback
        self._args = args
        self._context = context
        self._cancelled = False
        self._when = when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def when(self) -> float:
        return self._when


class VirtualEventLoop(asyncio.AbstractEventLoop):
    """A single-threaded event loop on virtual time (seconds from 0.0). Not thread-safe by design."""

    def __init__(self) -> None:
        self._now = 0.0
        self._ready: deque[_Handle] = deque()
        self._timers: list[tuple[float, int, _Handle]] = []
        self._timer_seq = 0
        self._running = False
        self._closed = False
        self._stopping = False
        self._unhandled: list[BaseException] = []

    # -- time and scheduling --------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> _Handle:
        handle = _Handle(callback, args, context, self._now)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> _Handle:
        raise RuntimeError("the virtual event loop accepts no work from other threads (it would break replay)")

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> _Handle:
        handle = _Handle(callback, args, context, when)
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, handle))
        return handle

    def call_later(  # type: ignore[override]
        self, delay: float, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> _Handle:
        when = self._now + delay
        handle = _Handle(callback, args, context, when)
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, handle))
        return handle

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None, context: Context | None = None
    ) -> asyncio.Task[T]:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    # -- running ---------------------------------------------------------------------------------------
    def run_until_complete(self, future: Awaitable[T]) -> T:
        fut = asyncio.ensure_future(future, loop=self)
        fut.add_done_callback(lambda _f: self.stop())
        self.run_forever()
        if not fut.done():
            raise VirtualClockDeadlock("the virtual loop stopped before the main coroutine finished")
        return fut.result()

    def run_forever(self) -> None:
        if self._running:
            raise RuntimeError("the virtual event loop is already running")
        # A virtual run may start inside another loop's callback (a desk on the virtual clock computing a drill's
        # baseline replay): that loop is the running one again afterwards.
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        _collector.enter()
        ready, timers = self._ready, self._timers
        pop, heappop = ready.popleft, heapq.heappop
        try:
            while not self._stopping:
                if ready:
                    handle = pop()
                    if handle._cancelled:
                        continue
                else:
                    # Nothing ready: jump to the next timer and run it at once (ready is empty, so running it now is
                    # running it next; it saves the timer a trip through the ready queue).
                    if not timers:
                        raise VirtualClockDeadlock(
                            f"nothing is scheduled at virtual t={self._now:.6f}s but the run is not finished"
                        )
                    when, _, handle = heappop(timers)
                    if handle._cancelled:
                        continue
                    self._now = max(self._now, when)
                try:
                    if handle._context is None:
                        handle._callback(*handle._args)
                    else:
                        handle._context.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self.call_exception_handler({"message": "callback raised", "exception": exc})
        finally:
            _collector.exit()
            self._stopping = False
            self._running = False
            asyncio.events._set_running_loop(outer)

    def stop(self) -> None:
        self._stopping = True

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()
        self._timers.clear()

    async def shutdown_asyncgens(self) -> None:
        return None

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        return None

    def get_debug(self) -> bool:
        return False

    def set_debug(self, enabled: bool) -> None:
        return None

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self._unhandled.append(exc)
        log.error("virtual loop: %s", context.get("message"), exc_info=exc if isinstance(exc, BaseException) else None)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    @property
    def unhandled_exceptions(self) -> list[BaseException]:
        return list(self._unhandled)
