"""Blocking work kept off the event loop: on a thread of its own or in a child process, its result on the loop.

The desk's loop is the Qt thread's (qasync) or `serve`'s asyncio loop, and nothing may block it: a config or
model file read, a joining writer thread, a drill's baseline replay, and (live) every broker REST call go through
here. On the virtual clock there is no wall time to keep free and a thread would race virtual time, so the work
runs at once and its future is already settled: replays stay deterministic.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from imperium_desk.child_process import ChildCall
from imperium_desk.clock import VirtualClock, WallClock


class Offloader:
    """Runs blocking work away from one event loop and settles an `asyncio.Future` on that loop.

    Threading: `thread()` and `process()` are called on the loop; the work runs on a new daemon thread (a plain
    thread rather than the loop's default executor: qasync's executor threads outlive their loop), and the future is
    settled on the loop through `call_soon_threadsafe`. A future that was cancelled meanwhile is left alone.
    `kill_children()` ends every child process still running (the owner's stop calls it), so a stop leaves none
    behind.
    """

    def __init__(self, clock: WallClock | VirtualClock) -> None:
        self._loop = clock.loop
        self._inline = isinstance(clock, VirtualClock)
        self.children: set[ChildCall[Any]] = set()  # calls running in child processes now

    def thread[T](self, work: Callable[[], T], name: str) -> asyncio.Future[T]:
        """`work()` on a thread named `name`; its result or exception on the loop."""
        done: asyncio.Future[T] = self._loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(result)  # type: ignore[arg-type]
            else:
                done.set_exception(error)

        if self._inline:
            try:
                settle(work(), None)
            except Exception as exc:
                settle(None, exc)
            return done

        def run() -> None:
            try:
                result = work()
            except BaseException as exc:
                self._loop.call_soon_threadsafe(settle, None, exc)
            else:
                self._loop.call_soon_threadsafe(settle, result, None)

        threading.Thread(target=run, name=name, daemon=True).start()
        return done

    def process[T](self, name: str, work: Callable[..., T], args: tuple[Any, ...], *,
                   preload: Sequence[str] = ()) -> asyncio.Future[T]:
        """`work(*args)` in a child process (long Python work: on a thread it would hold the GIL the Qt thread
        needs), its result on the loop. `work` must be a module-level function; `preload` names the modules the
        forkserver imports once (pass `work.__module__`, so that a moved module cannot break it silently)."""
        if self._inline:
            return self.thread(lambda: work(*args), name)
        call = ChildCall(name, work, args, preload=preload)
        self.children.add(call)
        done = self.thread(call.result, name)
        done.add_done_callback(lambda _f: self.children.discard(call))
        return done

    def kill_children(self) -> None:
        for call in list(self.children):
            call.kill()
