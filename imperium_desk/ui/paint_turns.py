"""Heavy view updates take turns, so that no two of them land in one paint pass.

Qt paints everything that became dirty since the last pass in one go. The chart frame (30 a second), the strike
ladder's flush (each tick) and the blotter's flush (10 a second) each cost a few milliseconds to compute and
5-15 ms to lay out and paint; when their timers fell due together, one pass painted all three and held the Qt
thread for 40 ms (benchmarks/ui_responsiveness.py: the largest gap of a 10 ms timer). Here each such update asks
for a turn: it runs at once if the last turn's hold has passed, else it waits (once, however often it asks) for
the next free turn, in the order asked. A turn holds the next one off for `spacing_ms` from its start, or longer
for an update whose layout and paint come after it returns (the blotter's tree lays its rows out on its own
timer, then paints): between two turns the first one's paint runs, and so does any other timer that fell due.

(Delivering a turn's posted events inside the turn, to start the spacing after its paint, was tried: a turn then
held the thread for its update, layout and paint at once, and the largest gaps grew.)
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QElapsedTimer, QObject, QTimer

DEFAULT_SPACING_MS = 16


class PaintTurns(QObject):
    """Runs heavy view updates one per turn, at least `spacing_ms` apart (see the module docstring). Qt thread
    only; `waiting` counts the jobs waiting for a turn."""

    def __init__(self, spacing_ms: int = DEFAULT_SPACING_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if spacing_ms < 1:
            raise ValueError(f"spacing_ms: {spacing_ms} must be at least 1")
        self.spacing_ms = spacing_ms
        self._clock = QElapsedTimer()
        self._clock.start()
        self._free_at_ms = 0  # when the next turn may start
        self._waiting: dict[Callable[[], None], int | None] = {}  # job -> its hold; in the order asked, once each
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._next_turn)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def run(self, job: Callable[[], None], hold_ms: int | None = None) -> None:
        """Run `job` now if this is a free turn, else at the next free one (once, however often it is asked).
        The turn holds the next one off for `hold_ms` from its start (`spacing_ms` if None)."""
        if not self._waiting and self._wait_ms() == 0:
            self._take(job, hold_ms)
            return
        self._waiting[job] = hold_ms
        if not self._timer.isActive():
            self._timer.start(self._wait_ms())

    def _wait_ms(self) -> int:
        return max(0, self._free_at_ms - self._clock.elapsed())

    def _take(self, job: Callable[[], None], hold_ms: int | None) -> None:
        self._free_at_ms = self._clock.elapsed() + (self.spacing_ms if hold_ms is None else hold_ms)
        job()

    def _next_turn(self) -> None:
        if not self._waiting:
            return
        wait = self._wait_ms()
        if wait:
            self._timer.start(wait)
            return
        job = next(iter(self._waiting))
        hold_ms = self._waiting.pop(job)
        try:
            self._take(job, hold_ms)
        finally:
            if self._waiting:
                self._timer.start(self._wait_ms())
