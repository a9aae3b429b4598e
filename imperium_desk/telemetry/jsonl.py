"""JSONL sink: the event loop never waits on the disk.

Records are appended to a deque (atomic, ~50 ns). The writer thread wakes every `flush_interval_s`, or as
soon as `flush_records` are waiting, serialises them (orjson), writes whole lines, and fsyncs at most once per
interval and on close. `flushed_seq` is the highest seq durably written (after the fsync when fsync is on,
after the write otherwise); `on_flushed` hears each advance from the writer thread. That is what
"acknowledged as flushed" means: a crash never loses an acknowledged record.

`serialize_on_caller=True` (replays) moves the serialisation of each full batch to the caller's thread:
under the GIL a serialising writer thread contends with the loop for every record, which cost the replay
~20% of its throughput (benchmarks/replay_throughput.py). The writer is then woken only once a slice's worth of
serialised records waits (or at its interval): every wake-up hands the GIL over and back, and on a busy machine
each handover waits for the writer thread to be scheduled, which cost a replay a quarter of its wall time at one
wake-up per `flush_records`. The desk keeps the default, so the loop never spends a batch's worth of
serialisation inside one order's hot path (benchmarks/hot_path.py p99).

Each batch goes to the file in chunks of at most `write_chunk_bytes` (memory per write is bounded, and a
backlog is worked off in slices). A chunk need not end on a line boundary, so a crash can tear the last line:
opening with `append=True` cuts a torn tail (repair.py) and reports `last_seq`, the last complete record, for
the desk to continue its seq from. With rotation on (the desk; replays never rotate) the active file keeps
its name and a closed segment is renamed `<stem>.<first_seq:012d>.jsonl` (segments.py), when the next line
would pass `rotate_max_bytes` or the records' UTC day (their `timestamp`, so it is deterministic) changes.

The log holds every fill: its files are the user's alone (0600, home.py), the active file when it is created or
opened and so every segment renamed from it.

A clean `close()` drains everything, so a clean stop never leaves a torn line. `flush_now()` asks for the same
outside the schedule: a reader that must see what was just written (the feedback API's read-your-writes) wakes
the writer, which writes and acknowledges (fsync included) at once rather than at its next interval.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from imperium_desk.home import open_private
from imperium_desk.telemetry.repair import repair_tail
from imperium_desk.telemetry.segments import last_seq as log_last_seq
from imperium_desk.telemetry.segments import segment_path

_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE
_SLICE_RECORDS: Final = 4096  # records the writer thread serialises per step: bounds memory on a backlog

# (records, their lines each ending in a newline, record count). Without a batch listener or rotation nothing
# needs single lines or records: the caller joins a batch's lines into one piece and keeps only the last record
# (for its seq), so a replay's backlog holds one block per batch, freed on the thread that made it.
Batch = tuple[list[dict[str, Any]], list[bytes], int]
FlushedBatchCallback = Callable[[Sequence[dict[str, Any]], Sequence[bytes]], None]


def _seq(record: dict[str, Any]) -> int | None:
    seq = record.get("seq")
    return seq if type(seq) is int else None


def _day(record: dict[str, Any]) -> str | None:
    ts = record.get("timestamp")
    return ts[:10] if isinstance(ts, str) else None  # ISO UTC: the first ten characters are the date


class JsonlWriter:
    """The telemetry log on disk (this module's docstring says how). `write` is the caller's deque append and never
    waits on the disk; `flush_now` may be called from any thread; `close()` drains and raises a writer failure."""

    def __init__(
        self,
        path: Path,
        *,
        append: bool = False,
        flush_interval_s: float = 0.1,
        flush_records: int = 100,
        fsync: bool = True,
        serialize_on_caller: bool = False,
        write_chunk_bytes: int = 1 << 20,
        rotate_max_bytes: int | None = None,
        rotate_daily: bool = False,
        on_flushed: Callable[[int], None] | None = None,
        on_flushed_batch: FlushedBatchCallback | None = None,
    ) -> None:
        """`on_flushed(seq)` and `on_flushed_batch(records, lines)` (lines end in a newline) run on the writer
        thread after each acknowledgement, batch callback first; they must not block or raise."""
        if write_chunk_bytes < 1:
            raise ValueError(f"write_chunk_bytes must be positive, got {write_chunk_bytes}")
        self.path = path
        self._serialize_on_caller = serialize_on_caller
        self._flush_interval_s = flush_interval_s
        self._flush_records = flush_records
        self._fsync = fsync
        self._chunk_bytes = write_chunk_bytes
        self._rotate_max_bytes = rotate_max_bytes
        self._rotate_daily = rotate_daily
        self._on_flushed = on_flushed
        self._on_flushed_batch = on_flushed_batch
        self._rotating = rotate_max_bytes is not None or rotate_daily
        self._keep_records = on_flushed_batch is not None or self._rotating
        self._pending: deque[dict[str, Any]] = deque()
        self._chunks: deque[Batch] = deque()  # batches serialised on the caller, in record order
        self._serialised = 0  # records in `_chunks` (changed under the drain lock)
        self._drain_lock = threading.Lock()  # one drainer at a time keeps batches in record order
        # Held while a segment is renamed and the new active file created: a reader lists and opens the
        # segments under it, so it never misses the one being renamed.
        self.rotation_lock = threading.Lock()
        self._wake = threading.Event()
        # Set by flush_now (any thread), taken by the writer under the lock: a request is never lost between the
        # writer reading the flag and clearing it.
        self._flush_lock = threading.Lock()
        self._flush_requested = False
        self._stopping = False
        self._written = 0
        self._error: BaseException | None = None
        self._unacked: list[Batch] = []  # written, awaiting the fsync that acknowledges them
        self._written_seq: int | None = None
        self._dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self.cut_bytes = 0  # bytes of a torn tail cut off on opening
        self.last_seq = 0  # the last complete record's seq on opening: the desk's seq continues after it
        self._size = 0  # bytes in the active file
        self._first_seq: int | None = None  # its first record's seq: a closed segment is named by it
        self._active_day: str | None = None  # its records' UTC date, for daily rotation
        if append:
            tail = repair_tail(path)
            self.cut_bytes, self._size = tail.cut_bytes, tail.size
            if tail.last is not None:
                self.last_seq = _seq(tail.last) or 0
                self._first_seq = _seq(tail.first) if tail.first is not None else None
                self._active_day = _day(tail.last)
            else:  # an empty active file (just rotated, or all torn) continues after the last closed segment
                self.last_seq = log_last_seq(path)
        self._flushed_seq = self.last_seq
        self._last_sync = time.monotonic()  # the writer's own pacing, not engine time
        self._fd = open_private(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC))
        if append and fsync:
            os.fsync(self._fd)  # what a killed process left in the page cache is durable before it counts as flushed
        self._thread = threading.Thread(target=self._run, name=f"jsonl-writer:{path.name}", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Records written to the OS so far."""
        return self._written

    @property
    def flushed_seq(self) -> int:
        """The highest seq durably written (fsynced when fsync is on); `last_seq` until the first flush."""
        return self._flushed_seq

    def write(self, record: dict[str, Any]) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) >= self._flush_records:
            if self._serialize_on_caller:
                self._drain()
                if self._serialised < _SLICE_RECORDS:
                    return  # the writer takes it at its interval, or once a slice's worth is waiting
            self._wake.set()

    def flush_now(self) -> None:
        """Write and acknowledge everything written so far now, not at the next interval (fsync pacing skipped once).
        Any thread; returns at once: `flushed_seq` and `on_flushed_batch` report when it is done."""
        with self._flush_lock:
            self._flush_requested = True
        self._wake.set()

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        os.close(self._fd)
        if self._error is not None:
            raise RuntimeError(f"telemetry writer for {self.path} failed: {self._error}") from self._error

    def _drain(self) -> None:
        """Serialise everything pending into one batch (on the caller's thread)."""
        with self._drain_lock:
            pending, dumps = self._pending, orjson.dumps
            count = len(pending)
            if not count:
                return
            popleft = pending.popleft
            self._serialised += count
            if self._keep_records:
                records = [popleft() for _ in range(count)]
                self._chunks.append((records, [dumps(r, option=_OPTIONS) for r in records], count))
            else:
                last = pending[count - 1]
                block = b"".join([dumps(popleft(), option=_OPTIONS) for _ in range(count)])
                self._chunks.append(([last], [block], count))

    def _next_batch(self) -> Batch | None:
        """The next records to write: serialised batches merged up to a slice (each write releases the GIL, and a
        busy caller holds it for up to the switch interval, so one write per small batch would crawl), else a
        slice of the pending records serialised here."""
        with self._drain_lock:
            chunks = self._chunks
            if chunks:
                records, lines, count = chunks.popleft()
                while chunks and count < _SLICE_RECORDS:  # the lists are this batch's own: extend them
                    more_records, more_lines, more = chunks.popleft()
                    records += more_records
                    lines += more_lines
                    count += more
                self._serialised -= count
                return records, lines, count
            pending = self._pending
            count = min(len(pending), _SLICE_RECORDS)
            if not count:
                return None
            popleft = pending.popleft
            records = [popleft() for _ in range(count)]
        dumps = orjson.dumps
        return records, [dumps(r, option=_OPTIONS) for r in records], count

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                stopping = self._stopping
                with self._flush_lock:  # taken before the batches: what was written before the request is in them
                    requested, self._flush_requested = self._flush_requested, False
                while (batch := self._next_batch()) is not None:
                    self._write_batch(batch)
                    self._acknowledge(force=False)  # a long backlog still acknowledges every interval
                self._acknowledge(force=stopping or requested)
                if stopping and not self._pending and not self._chunks:
                    return
        except BaseException as exc:  # surfaced by close(); the loop must not die silently
            self._error = exc

    def _write_batch(self, batch: Batch) -> None:
        records, lines, count = batch
        if self._rotating:
            start = 0
            for cut in self._rotation_points(records, lines):
                self._write_lines(records, lines, start, cut)
                self._rotate(records[cut])
                start = cut
            self._write_lines(records, lines, start, len(records))
        else:
            self._write_lines(records, lines, 0, len(lines))
        if self._on_flushed_batch is not None:
            self._unacked.append(batch)
        seq = _seq(records[-1])
        if seq is not None:
            self._written_seq = seq
        self._written += count
        self._dirty = True

    def _write_lines(self, records: list[dict[str, Any]], lines: list[bytes], start: int, end: int) -> None:
        if start >= end:
            return
        data = memoryview(b"".join(lines) if (start, end) == (0, len(lines)) else b"".join(lines[start:end]))
        fd, step = self._fd, self._chunk_bytes
        for offset in range(0, len(data), step):
            chunk = data[offset : offset + step]
            while chunk:  # os.write may take less than asked
                chunk = chunk[os.write(fd, chunk) :]
        self._size += len(data)
        if self._rotating:  # records[i] matches lines[i] only when records are kept
            if self._first_seq is None:
                self._first_seq = _seq(records[start])
            if self._rotate_daily:
                self._active_day = _day(records[end - 1]) or self._active_day

    def _rotation_points(self, records: list[dict[str, Any]], lines: list[bytes]) -> list[int]:
        """Indexes of the records that must start a new segment (each after the file already holds a line)."""
        points: list[int] = []
        size, day, limit = self._size, self._active_day, self._rotate_max_bytes
        daily = self._rotate_daily
        for i, line in enumerate(lines):
            record_day = _day(records[i]) if daily else None
            if size > 0 and (
                (limit is not None and size + len(line) > limit)
                or (record_day is not None and day is not None and record_day != day)
            ):
                points.append(i)
                size = 0
            size += len(line)
            if record_day is not None:
                day = record_day
        return points

    def _rotate(self, next_record: dict[str, Any]) -> None:
        """Close the active file as a segment named by its first seq and start a new one under the active name."""
        if self._fsync:
            os.fsync(self._fd)
        first = self._first_seq if self._first_seq is not None else (_seq(next_record) or 0)
        target = segment_path(self.path, first)
        if target.exists():  # only records without a rising seq get here; never overwrite a segment
            raise RuntimeError(f"cannot rotate {self.path}: segment {target.name} already exists")
        with self.rotation_lock:
            os.close(self._fd)
            os.replace(self.path, target)
            self._fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        if self._fsync:
            _fsync_dir(self.path.parent)
        self._size, self._first_seq, self._active_day = 0, None, None

    def _acknowledge(self, *, force: bool) -> None:
        """Advance flushed_seq over what is written, after an fsync when fsync is on (at most once per interval)."""
        if not self._dirty:
            return
        now = time.monotonic()
        if self._fsync:
            if not force and now - self._last_sync < self._flush_interval_s:
                return
            os.fsync(self._fd)
            self._last_sync = now
        self._dirty = False
        if self._written_seq is not None:
            self._flushed_seq = self._written_seq  # before the callbacks: a reader that sees it finds it on disk
        if self._unacked:
            unacked, self._unacked = self._unacked, []
            assert self._on_flushed_batch is not None
            for records, lines, _ in unacked:
                self._on_flushed_batch(records, lines)
        if self._on_flushed is not None and self._written_seq is not None:
            self._on_flushed(self._written_seq)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
