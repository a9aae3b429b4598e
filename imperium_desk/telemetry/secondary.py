"""One secondary sink on a thread of its own: a bounded buffer of flushed records, catch-up from the JSONL.

The JSONL writer hands every batch it has made durable to `feed` (its thread; a deque append under a short
lock). The worker writes batches to the sink in seq order. When the sink cannot keep up, its buffer stops at
`buffer_records`: later batches are not kept (they are on disk), the worker writes what it holds, reads the
records after that from the JSONL segments, and then resumes live. When the sink fails (raises), the buffer is
dropped, the worker backs off (exponential, capped, waiting on this thread only), re-opens the sink, and
catches up from the seq `open()` reports. Either way records at or below the stored seq are skipped.

Why no record is lost or duplicated: the buffer only ever holds a contiguous run of batches; buffering
restarts *before* a catch-up reads `flushed_seq`, and the writer raises `flushed_seq` *before* it feeds a
batch. So a batch fed before buffering restarted is at or below the seq read, hence on disk and read back; any
later batch is in the buffer. Sinks also store idempotently.

`wait_stored(seq, timeout_s)` lets a reader on another thread (the feedback API's read-your-writes) block until the
sink holds a seq: the worker signals a condition each time its stored seq rises, so the reader neither polls nor
sleeps, and it returns at once when the seq is already held, or the sink is down (it will not catch up soon).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from imperium_desk.telemetry.segments import iter_opened, open_segments
from imperium_desk.telemetry.sinks import Record, SecondarySink

if TYPE_CHECKING:
    from imperium_desk.telemetry.jsonl import JsonlWriter

log = logging.getLogger(__name__)

SinkState = Literal["live", "catching_up", "down"]
_WRITE_RECORDS: Final = 2000  # records per sink.write: one transaction / a few round trips
_IDLE_WAIT_S: Final = 0.5


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """A secondary sink's state as last seen (for the status bar): a snapshot, safe to keep."""

    name: str
    state: SinkState
    stored_seq: int  # the highest seq the sink is known to hold
    buffered: int  # records waiting in memory for it
    last_error: str | None  # the last failure (kept after recovery, for the status tooltip)


class SecondaryWorker:
    """Feeds one secondary sink from the JSONL on a thread of its own (this module's docstring says how). `feed`
    runs on the writer's thread and never blocks; `wait_stored` blocks its caller's thread; the sink itself is only
    ever called on the worker's thread."""

    def __init__(
        self, sink: SecondarySink, *, buffer_records: int, backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.sink = sink
        self._cap = buffer_records
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._source: JsonlWriter | None = None
        self._lock = threading.Lock()  # guards the buffer and the flags below between feed() and the worker
        self._buffer: deque[tuple[Sequence[Record], Sequence[bytes]]] = deque()
        self._buffered = 0
        self._accepting = False  # False while down or due to resync: fed batches are dropped (they are on disk)
        self._resync = True  # the worker must (re)read the JSONL before going live
        self._wake = threading.Event()
        self._closing = False
        self._target = 0
        self._deadline: float | None = None
        self._state: SinkState = "catching_up"  # until the first open() says otherwise
        self._stored = 0  # raised only under _stored_rose, which wakes wait_stored
        self._stored_rose = threading.Condition(threading.Lock())
        self._ended = False  # the worker thread has returned: a waiter stops waiting
        self._last_error: str | None = None
        self._recovering = False  # down since it last went live: say so in the log when it is back
        self._thread = threading.Thread(target=self._run, name=f"telemetry-sink:{sink.name}", daemon=True)

    def start(self, source: JsonlWriter) -> None:
        self._source = source
        self._thread.start()

    def status(self) -> SinkStatus:
        return SinkStatus(self.sink.name, self._state, self._stored, self._buffered, self._last_error)

    @property
    def stored_seq(self) -> int:
        return self._stored

    def wait_stored(self, seq: int, timeout_s: float) -> bool:
        """Block (the caller's thread, never the worker's) until the sink holds `seq`, for at most `timeout_s`.
        True when it does; False past the timeout, or at once when the sink is down or the worker has ended.
        Wakes an idle worker so it stores what it holds now."""
        if self._stored >= seq:
            return True
        with self._stored_rose:
            self._wake.set()
            self._stored_rose.wait_for(lambda: self._stored >= seq or self._ended or self._state == "down", timeout_s)
            return self._stored >= seq

    def feed(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """A batch the JSONL has flushed (lines end in a newline). Runs on the writer thread: never blocks."""
        with self._lock:
            if not self._accepting:
                return
            if self._buffered + len(records) > self._cap:
                self._accepting = False  # keep what is held (contiguous); the rest is read back from disk
                self._resync = True
                self._state = "catching_up"
            else:
                self._buffer.append((records, lines))
                self._buffered += len(records)
        self._wake.set()

    def begin_close(self, target_seq: int, deadline: float | None) -> None:
        """Finish once the sink holds `target_seq`, or at `deadline` (monotonic; None: at the first failure)."""
        self._target, self._deadline, self._closing = target_seq, deadline, True
        self._wake.set()

    def join(self, timeout_s: float | None) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the worker thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        finally:
            with self._stored_rose:
                self._ended = True
                self._stored_rose.notify_all()

    def _serve(self) -> None:
        backoff = self._backoff_initial_s
        opened = False
        while not self._finished():
            try:
                if not opened:
                    self._set_stored(self.sink.open())
                    opened = True
                    self._check_not_ahead()
                if self._resync and not self._buffered:  # after an overflow, the held batches go first
                    self._catch_up()
                else:
                    self._write_live()
                backoff = self._backoff_initial_s
            except Exception as exc:  # SinkUnavailable, or a bug: either way the desk keeps running
                self._failed(exc)
                opened = False
                if self._closing and self._deadline is None:
                    break  # closing with no deadline gives up at the first failure instead of retrying forever
                self._pause(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
        if opened:
            try:
                self.sink.close()
            except Exception as exc:
                log.warning("telemetry sink %s: close failed: %s", self.sink.name, exc)

    def _finished(self) -> bool:
        if not self._closing:
            return False
        if self._stored >= self._target:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _catch_up(self) -> None:
        source = self._source
        assert source is not None
        with self._lock:
            self._buffer.clear()
            self._buffered = 0
            self._accepting = True
            self._resync = False
        self._state = "catching_up"
        upto = source.flushed_seq  # read after buffering restarted: later batches are in the buffer
        if upto > self._stored:
            with source.rotation_lock:  # open handles survive a rotation's rename
                opened = open_segments(source.path, self._stored)
            records: list[Record] = []
            lines: list[bytes] = []
            for record, line in iter_opened(opened, after_seq=self._stored, upto_seq=upto):
                records.append(record)
                lines.append(line)
                if len(records) >= _WRITE_RECORDS:
                    self._write(records, lines)
                    records, lines = [], []
                    if self._finished():
                        return  # closing ran out of time
                    # An overflow meanwhile does not stop this read: the buffer continues right after `upto`.
            if records:
                self._write(records, lines)
        if not self._resync:
            self._state = "live"
            if self._recovering:
                self._recovering = False
                log.info("telemetry sink %s is live again at seq %d", self.sink.name, self._stored)

    def _write_live(self) -> None:
        batches: list[tuple[Sequence[Record], Sequence[bytes]]] = []
        count = 0
        with self._lock:
            while self._buffer and count < _WRITE_RECORDS:
                batch = self._buffer.popleft()
                batches.append(batch)
                count += len(batch[0])
            self._buffered -= count
        if not batches:
            if self._closing and self._stored < self._target:
                self._resync = True  # nothing buffered yet not caught up: read the rest from disk
                return
            self._wake.wait(_IDLE_WAIT_S)
            self._wake.clear()
            return
        stored = self._stored
        records: list[Record] = []
        lines: list[bytes] = []
        for batch_records, batch_lines in batches:
            for record, line in zip(batch_records, batch_lines, strict=True):
                if record["seq"] > stored:
                    records.append(record)
                    lines.append(line[:-1])  # the protocol's lines carry no newline
        if records:
            self._write(records, lines)

    def _write(self, records: list[Record], lines: list[bytes]) -> None:
        self.sink.write(records, lines)
        self._set_stored(records[-1]["seq"])

    def _set_stored(self, seq: int) -> None:
        with self._stored_rose:
            self._stored = seq
            self._stored_rose.notify_all()

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._accepting = False
            self._resync = True
            self._buffer.clear()
            self._buffered = 0
        if self._state != "down" or self._last_error != str(exc):
            log.warning("telemetry sink %s is down (%s); it catches up from the JSONL when it is back",
                        self.sink.name, exc)
        with self._stored_rose:  # a reader waiting for this sink stops waiting: it will not catch up soon
            self._state = "down"
            self._stored_rose.notify_all()
        self._recovering = True
        self._last_error = str(exc) or type(exc).__name__
        with contextlib.suppress(Exception):  # it is already failing; the next open() starts afresh
            self.sink.close()

    def _pause(self, seconds: float) -> None:
        """Back off on this thread; a close cuts the wait short: at its deadline, or at once (one last attempt)
        when it has none."""
        end = time.monotonic() + seconds
        while True:
            if self._closing and self._deadline is None:
                return
            now = time.monotonic()
            limit = end if self._deadline is None or not self._closing else min(end, self._deadline)
            if now >= limit:
                return
            self._wake.wait(limit - now)
            self._wake.clear()

    def _check_not_ahead(self) -> None:
        source = self._source
        assert source is not None
        if self._stored > source.flushed_seq:
            message = (
                f"holds seq {self._stored} but the telemetry log {source.path} ends at seq {source.flushed_seq}: "
                "it was fed from another log; rebuild it (imperium-desk reindex) or point it elsewhere"
            )
            log.warning("telemetry sink %s %s", self.sink.name, message)
            self._last_error = message
