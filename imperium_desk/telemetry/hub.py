"""The telemetry hub: the JSONL log (the source of truth) and the secondary sinks that follow it.

The engine's sink is `hub.write`, the JSONL writer's own deque append: nothing a secondary does can slow it.
Secondaries (SQLite, Redis) each run on their own thread (secondary.py) and only ever see records the JSONL has
flushed, so whatever they miss they catch up from disk. `close()` drains the JSONL, then gives the secondaries
a bounded time to catch up before closing them; one still behind (a dead Redis) simply catches up on the next
start, from the seq it reports.

`wait_stored` is read-your-writes for a reader of a secondary (the feedback API reading the SQLite index): it
asks the JSONL to flush now rather than at its next interval, then blocks the reader's thread until that sink holds
the seq, or a bound passes. Records the engine wrote before the call are already in the writer's deque, so the
flush it asks for covers them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.secondary import SecondaryWorker, SinkStatus
from imperium_desk.telemetry.sinks import Record, SecondarySink

log = logging.getLogger(__name__)

_JOIN_GRACE_S = 2.0  # past the deadline, how long close() waits for a sink stuck inside a call


class TelemetryHub:
    """One telemetry log and its followers. `write` is called on the engine's thread (the loop) and never blocks;
    the JSONL writer and each secondary run on threads of their own. `wait_stored` blocks its caller, so only a
    reader's thread calls it. `close()` once, from any thread but the writer's."""

    write: Callable[[Record], None]  # the engine's sink: a deque append

    def __init__(
        self,
        path: Path,
        config: TelemetryConfig,
        secondaries: Sequence[SecondarySink] = (),
        *,
        append: bool,
        rotate: bool,
        serialize_on_caller: bool = False,
        write_chunk_bytes: int = 1 << 20,
        backoff_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        """`append`/`rotate`: the desk's long-lived log (torn tail repaired, seq continued, segments by size or
        day); a replay writes one fresh file and never rotates. `backoff_s`: a failed secondary's first wait before
        it is re-opened, and the cap the doubling waits stop at."""
        self.path = path
        self._workers = [
            SecondaryWorker(s, buffer_records=config.sink_buffer_records, backoff_initial_s=backoff_s[0],
                            backoff_max_s=backoff_s[1])
            for s in secondaries
        ]
        max_mb = config.rotate.max_mb
        self._writer = JsonlWriter(
            path,
            append=append,
            flush_interval_s=config.flush_interval_ms / 1000.0,
            flush_records=config.flush_records,
            fsync=config.fsync,
            serialize_on_caller=serialize_on_caller,
            write_chunk_bytes=write_chunk_bytes,
            rotate_max_bytes=int(max_mb * 1024 * 1024) if rotate and max_mb is not None else None,
            rotate_daily=rotate and config.rotate.daily,
            on_flushed_batch=self._feed if self._workers else None,
        )
        self.write = self._writer.write
        for worker in self._workers:
            worker.start(self._writer)

    @property
    def last_seq(self) -> int:
        """The last complete record's seq when the log was opened: the engine's seq continues after it."""
        return self._writer.last_seq

    @property
    def flushed_seq(self) -> int:
        return self._writer.flushed_seq

    @property
    def written(self) -> int:
        """Records written to the JSONL by this hub."""
        return self._writer.written

    def wait_stored(self, sink: str, seq: int, timeout_s: float) -> bool:
        """Block the calling thread (never the engine's loop: it is what writes) until the secondary named `sink`
        holds `seq`, for at most `timeout_s`. True at once when it already does, without touching the writer.
        False past the timeout, when that sink is down, or when no such sink runs."""
        worker = next((w for w in self._workers if w.sink.name == sink), None)
        if worker is None:
            return False
        if worker.stored_seq >= seq:
            return True
        if self._writer.flushed_seq < seq:
            self._writer.flush_now()
        return worker.wait_stored(seq, timeout_s)

    def status(self) -> list[SinkStatus]:
        """The JSONL first, then each secondary: for the desk's status bar."""
        jsonl = SinkStatus("jsonl", "live", self._writer.flushed_seq, 0, None)
        return [jsonl, *(w.status() for w in self._workers)]

    def close(self, timeout_s: float | None = 5.0) -> None:
        """Drain the JSONL, then let the secondaries catch up for at most `timeout_s` (None: until each holds every
        record or fails once; a replay's local index) and close them. A JSONL failure is raised after that."""
        error: BaseException | None = None
        try:
            self._writer.close()
        except BaseException as exc:
            error = exc
        target = self._writer.flushed_seq
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for worker in self._workers:
            worker.begin_close(target, deadline if error is None else time.monotonic())
        for worker in self._workers:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic()) + _JOIN_GRACE_S
            if not worker.join(wait):
                log.warning("telemetry sink %s did not stop in time; it catches up from the JSONL on the next start",
                            worker.sink.name)
            elif worker.stored_seq < target:
                log.warning("telemetry sink %s stopped at seq %d of %d; it catches up from the JSONL on the next"
                            " start", worker.sink.name, worker.stored_seq, target)
        if error is not None:
            raise error

    def _feed(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        for worker in self._workers:
            worker.feed(records, lines)
