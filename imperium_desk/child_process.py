"""One CPU-bound call in a child process, so that it does not share the desk's GIL.

A thread is not enough for long Python work in the desk process. A CPU-bound thread holds the GIL in 5 ms
slices, and the Qt thread has to win it back every time it returns from Qt into Python (each `data()` call of a
view, each slot). A drill's no-event baseline replay on a thread stalled the window for up to half a second
while a table repainted. In a child process the same work costs the window nothing but a CPU core.

Children come from a forkserver: a fresh interpreter that has imported `preload` once and forks a child per
call, so nothing of the desk's process (Qt, its threads, open files) is inherited. `ChildCall.result()` blocks
until the child answers: call it off the event loop (the desk runs it on a thread of its own).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any


class ChildProcessFailed(RuntimeError):
    """The child raised, died without an answer, or was killed."""


def _child_main(answer: Connection, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        value = work(*args)
    except BaseException as exc:  # everything goes back to the parent as a message, nothing to a child's stderr
        answer.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        answer.send(("ok", value))
    finally:
        answer.close()


class ChildCall[T]:
    """`work(*args)` in a child process. `work`, `args` and the result must pickle (`work` by module path)."""

    def __init__(self, name: str, work: Callable[..., T], args: tuple[Any, ...], *, preload: Sequence[str] = ()):
        self.name = name
        self._work = work
        self._args = args
        self._preload = list(preload)
        self._lock = threading.Lock()
        self._process: Any = None  # a forkserver Process, once started
        self._killed = False

    def result(self) -> T:
        """Start the child, wait for its answer and return it. Raises ChildProcessFailed."""
        context = multiprocessing.get_context("forkserver")
        if self._preload:
            context.set_forkserver_preload(self._preload)  # only the first caller's list counts: one forkserver
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child_main, args=(send, self._work, self._args), name=self.name,
                                  daemon=True)
        with self._lock:
            if self._killed:
                raise ChildProcessFailed(f"{self.name}: stopped before it started")
            self._process = process
        # Started outside the lock: the first start waits for the forkserver's imports (~1.5 s), and kill() is
        # called from the event loop, which must never wait on that.
        process.start()
        send.close()  # the child holds the only writing end: its death reads as EOF here
        with self._lock:
            killed_while_starting = self._killed
        if killed_while_starting:
            process.kill()
        try:
            status, value = receive.recv()
        except EOFError:
            process.join()
            reason = "was stopped" if self._killed else f"exited with code {process.exitcode} and no answer"
            raise ChildProcessFailed(f"{self.name}: the child process {reason}") from None
        finally:
            receive.close()
        process.join()
        if status == "error":
            raise ChildProcessFailed(f"{self.name}: {value}")
        result: T = value
        return result

    def kill(self) -> None:
        """End the child now (its `result()` raises ChildProcessFailed); harmless once it has answered."""
        with self._lock:
            self._killed = True
            process = self._process
        if process is not None and process.pid is not None and process.exitcode is None:
            process.kill()  # not started yet (no pid): result() sees the flag once it has started it
