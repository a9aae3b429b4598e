"""The one thread that touches the outbox database: callers' work in order, and the feeder between calls.

Everything SQLite happens here, never on the event loop: the loop submits a function and awaits its result
(`call`). When no call is waiting, the thread runs `step` (the feeder) while it says there is more, and otherwise
once per poll interval or as soon as it is woken.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Final

log = logging.getLogger(__name__)

_WAKE: Final = object()
_STOP: Final = object()
_ERROR_PAUSE_S: Final = 1.0  # after a failed step (disk full, database locked): try again this much later


class OutboxThread:
    """The outbox's own thread (module docstring). `call` and `run` may be used from any thread: work runs in submission
    order, one call at a time, with a feeder step between calls, and what `work` returns or raises lands on its future.
    `call`, `feed` and `wake` never block; `stop` waits for the work already submitted."""

    def __init__(self, step: Callable[[], bool], poll_s: float, name: str = "webhooks-outbox") -> None:
        """`step()` feeds the outbox once and says whether more is waiting; it runs on this thread only."""
        self._step = step
        self._poll_s = poll_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopped: Future[None] = Future()
        self._feeding = False

    def start(self) -> None:
        self._thread.start()

    def call[T](self, work: Callable[[], T]) -> Future[T]:
        """Run `work` on the thread after everything submitted before it."""
        future: Future[T] = Future()
        self._queue.put((work, future))
        return future

    async def run[T](self, work: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self.call(work))

    def feed(self) -> None:
        """Start stepping the feeder (it was off so that the caller could prepare the outbox first)."""
        self._feeding = True
        self.wake()

    def wake(self) -> None:
        """Step the feeder soon (something was handed over). Any thread; never blocks."""
        self._queue.put(_WAKE)

    async def stop(self) -> None:
        """Finish the work already submitted, then end the thread."""
        self._queue.put(_STOP)
        await asyncio.wrap_future(self._stopped)

    def _run(self) -> None:
        more = True
        next_step = 0.0
        while True:
            now = time.monotonic()
            timeout = 0.0 if (more and self._feeding) else max(0.0, next_step - now)
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                item = None
            if item is _STOP:
                self._stopped.set_result(None)
                return
            if item is _WAKE:
                more = True
            elif item is not None:
                work, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(work())
                    except BaseException as exc:
                        future.set_exception(exc)
            # One call, then one step when one is due: neither a stream of calls nor a long backlog starves the other.
            if not self._feeding or not (more or time.monotonic() >= next_step):
                continue
            try:
                more = self._step()
                next_step = time.monotonic() + self._poll_s
            except Exception:
                log.exception("webhook outbox: feeding from the telemetry log failed; trying again shortly")
                more = False
                next_step = time.monotonic() + _ERROR_PAUSE_S
