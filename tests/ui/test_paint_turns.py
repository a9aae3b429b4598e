"""Heavy view updates take turns: at most one per spacing, each asked-for job once, in the order asked."""

from __future__ import annotations

from itertools import pairwise

import pytest
from PySide6.QtCore import QElapsedTimer
from pytestqt.qtbot import QtBot

from imperium_desk.ui.paint_turns import PaintTurns


class Job:
    def __init__(self, name: str, log: list[tuple[str, int]], clock: QElapsedTimer) -> None:
        self.name, self.log, self.clock = name, log, clock

    def __call__(self) -> None:
        self.log.append((self.name, self.clock.elapsed()))


@pytest.fixture
def clock() -> QElapsedTimer:
    timer = QElapsedTimer()
    timer.start()
    return timer


def test_a_job_runs_at_once_when_no_turn_was_taken(qtbot: QtBot, clock: QElapsedTimer) -> None:
    log: list[tuple[str, int]] = []
    PaintTurns(spacing_ms=50).run(Job("a", log, clock))
    assert [name for name, _ in log] == ["a"]


def test_a_job_asked_within_the_spacing_waits_for_the_next_turn(qtbot: QtBot, clock: QElapsedTimer) -> None:
    log: list[tuple[str, int]] = []
    turns = PaintTurns(spacing_ms=40)
    turns.run(Job("a", log, clock))
    turns.run(Job("b", log, clock))
    assert [name for name, _ in log] == ["a"]
    assert turns.waiting == 1
    qtbot.waitUntil(lambda: len(log) == 2, timeout=2000)
    assert log[1][1] - log[0][1] >= 39  # QElapsedTimer's milliseconds may round one down


def test_a_job_asked_again_while_it_waits_runs_once(qtbot: QtBot, clock: QElapsedTimer) -> None:
    log: list[tuple[str, int]] = []
    turns = PaintTurns(spacing_ms=20)
    turns.run(Job("first", log, clock))
    again = Job("again", log, clock)
    for _ in range(5):
        turns.run(again)
    qtbot.waitUntil(lambda: turns.waiting == 0, timeout=2000)
    qtbot.wait(60)
    assert [name for name, _ in log] == ["first", "again"]


def test_waiting_jobs_run_in_the_order_asked_one_per_turn(qtbot: QtBot, clock: QElapsedTimer) -> None:
    log: list[tuple[str, int]] = []
    turns = PaintTurns(spacing_ms=15)
    for name in ("a", "b", "c", "d"):
        turns.run(Job(name, log, clock))
    qtbot.waitUntil(lambda: len(log) == 4, timeout=2000)
    assert [name for name, _ in log] == ["a", "b", "c", "d"]
    starts = [t for _, t in log]
    assert all(later - earlier >= 14 for earlier, later in pairwise(starts))


def test_a_longer_hold_keeps_the_next_turn_off_for_longer(qtbot: QtBot, clock: QElapsedTimer) -> None:
    log: list[tuple[str, int]] = []
    turns = PaintTurns(spacing_ms=5)
    turns.run(Job("slow paint", log, clock), hold_ms=80)
    turns.run(Job("next", log, clock))
    qtbot.waitUntil(lambda: len(log) == 2, timeout=2000)
    assert log[1][1] - log[0][1] >= 79


def test_a_spacing_below_one_millisecond_is_refused() -> None:
    with pytest.raises(ValueError, match="spacing_ms: 0"):
        PaintTurns(spacing_ms=0)
