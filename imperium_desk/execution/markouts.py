"""Markouts: the mid read back at fixed horizons after each fill (post-trade analysis, DESIGN §5 `markout`).

A fill's markout is how the market moved after it: bps = (mid - executed price) x side sign / executed price
x 1e4, positive when the market moved in the trader's favour (a buy followed by a rising mid). Persistent
negative markouts are adverse selection: the desk is being picked off.

Cost per fill is O(1): fills arrive in time order, so each horizon keeps a FIFO of pending fills whose due
times are already sorted, and one clock timer per horizon points at its head. The record is emitted when the
last horizon has been read; `flush()` (a stop) emits what is pending with nulls for horizons not reached.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from imperium_desk.clock import Cancellable, Clock

_DUE_TOLERANCE_S = 1e-9  # a timer set for `due` may fire a float rounding error before it


@dataclass(slots=True)
class PendingMarkout:
    """One fill waiting for its horizons: what its record needs, and the mids read so far (None until read)."""

    fill_seq: int
    template: dict[str, Any]  # the fill's child template (common keys)
    order_id: str | None
    qty: int
    symbol: str
    side_sign: int
    executed_price: float
    filled_at: float  # clock.monotonic() of the fill
    mids: list[float | None] = field(default_factory=list)

    def bps(self) -> list[float | None]:
        price, sign = self.executed_price, self.side_sign
        return [None if mid is None else round((mid - price) * sign / price * 10_000.0, 4) for mid in self.mids]


class MarkoutRecorder:
    """Reads each tracked fill's mid back at every horizon on the clock and hands the completed entry to `emit`
    once, in fill order. Loop thread only; `flush()` emits what is pending (a stop)."""

    def __init__(
        self,
        clock: Clock,
        horizons_s: Sequence[float],
        mid: Callable[[str], float],
        emit: Callable[[PendingMarkout], None],
    ) -> None:
        self._clock = clock
        self.horizons_s = tuple(horizons_s)
        self._mid = mid
        self._emit = emit
        self._queues: list[deque[PendingMarkout]] = [deque() for _ in self.horizons_s]
        self._timers: list[Cancellable | None] = [None] * len(self.horizons_s)

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues)

    @property
    def last_due(self) -> float | None:
        """Monotonic time at which the newest pending fill's last horizon is read (None when none pending)."""
        newest = max((queue[-1].filled_at for queue in self._queues if queue), default=None)
        return None if newest is None else newest + self.horizons_s[-1]

    def track(self, entry: PendingMarkout) -> None:
        entry.mids = [None] * len(self.horizons_s)
        queue = self._queues[0]
        queue.append(entry)
        if self._timers[0] is None:
            self._arm(0)

    def flush(self) -> None:
        """Emit every pending markout now, in fill order (horizons not reached stay null); stop the timers."""
        for i, timer in enumerate(self._timers):
            if timer is not None:
                timer.cancel()
                self._timers[i] = None
        pending = [entry for queue in self._queues for entry in queue]  # each entry waits in exactly one queue
        for queue in self._queues:
            queue.clear()
        for entry in sorted(pending, key=lambda e: e.fill_seq):
            self._emit(entry)

    def _arm(self, i: int) -> None:
        head = self._queues[i][0]
        delay = head.filled_at + self.horizons_s[i] - self._clock.monotonic()
        self._timers[i] = self._clock.call_later(max(delay, 0.0), self._due, i)

    def _due(self, i: int) -> None:
        self._timers[i] = None
        queue = self._queues[i]
        now = self._clock.monotonic() + _DUE_TOLERANCE_S
        horizon = self.horizons_s[i]
        last = i == len(self.horizons_s) - 1
        while queue and queue[0].filled_at + horizon <= now:
            entry = queue.popleft()
            entry.mids[i] = self._mid(entry.symbol)
            if last:
                self._emit(entry)
            else:
                nxt = self._queues[i + 1]
                nxt.append(entry)
                if self._timers[i + 1] is None:
                    self._arm(i + 1)
        if queue:
            self._arm(i)
