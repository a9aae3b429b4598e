"""ChildCall: one call in a forkserver child, its answer, its failures and its kill."""

from __future__ import annotations

import os
import threading
import time

import pytest

from imperium_desk.child_process import ChildCall, ChildProcessFailed


def _pid_and_double(x: int) -> tuple[int, int]:
    return os.getpid(), 2 * x


def _refuse(x: int) -> int:
    raise ValueError(f"no {x}")


def _exit_without_answer() -> None:
    os._exit(3)


def _wait_a_minute() -> None:
    threading.Event().wait(60)


def test_the_call_runs_in_another_process_and_returns_its_value() -> None:
    pid, doubled = ChildCall("double", _pid_and_double, (21,)).result()
    assert doubled == 42
    assert pid != os.getpid()


def test_an_exception_in_the_child_is_raised_with_its_message() -> None:
    with pytest.raises(ChildProcessFailed, match=r"refuse: ValueError: no 7"):
        ChildCall("refuse", _refuse, (7,)).result()


def test_a_child_that_dies_without_answering_is_a_failure_naming_its_exit_code() -> None:
    with pytest.raises(ChildProcessFailed, match="exited with code 3"):
        ChildCall("dies", _exit_without_answer, ()).result()


def test_kill_ends_a_running_child_and_its_result_fails_at_once() -> None:
    call = ChildCall("waits", _wait_a_minute, ())
    threading.Timer(1.0, call.kill).start()
    started = time.perf_counter()
    with pytest.raises(ChildProcessFailed, match="stop"):
        call.result()
    assert time.perf_counter() - started < 30


def test_a_call_killed_before_it_starts_never_starts() -> None:
    call = ChildCall("never", _pid_and_double, (1,))
    call.kill()
    with pytest.raises(ChildProcessFailed, match="stopped before it started"):
        call.result()
