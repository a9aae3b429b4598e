"""JSONL sink: the event loop never waits on the disk.

Records are appended to a deque (atomic, ~50 ns). The writer thread wakes every `flush_interval_s`, or as
soon as `flush_records` are waiting, serialises them (orjson), writes whole lines, flushes, and fsyncs at most
once per interval and on close.

`serialize_on_caller=True` (replays) moves the serialisation of each full batch to the caller's thread:
under the GIL a serialising writer thread contends with the loop for every record, which cost the replay
~20% of its throughput (benchmarks/replay_throughput.py). The desk keeps the default, so the loop never spends
a batch's worth of serialisation inside one order's hot path (benchmarks/hot_path.py p99).

A clean `close()` drains everything, so a clean stop never leaves a torn line.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

_OPTIONS = orjson.OPT_APPEND_NEWLINE


class JsonlWriter:
    def __init__(
        self,
        path: Path,
        *,
        append: bool = False,
        flush_interval_s: float = 0.1,
        flush_records: int = 100,
        fsync: bool = True,
        serialize_on_caller: bool = False,
    ) -> None:
        self.path = path
        self._serialize_on_caller = serialize_on_caller
        self._flush_interval_s = flush_interval_s
        self._flush_records = flush_records
        self._fsync = fsync
        self._pending: deque[dict[str, Any]] = deque()
        self._chunks: list[tuple[bytes, int]] = []  # serialised batches in record order, with their counts
        self._drain_lock = threading.Lock()  # one drainer at a time keeps batches in record order
        self._wake = threading.Event()
        self._stopping = False
        self._written = 0
        self._error: BaseException | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab" if append else "wb")  # noqa: SIM115 - owned by the writer thread
        self._thread = threading.Thread(target=self._run, name=f"jsonl-writer:{path.name}", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Records written and flushed to the OS so far."""
        return self._written

    def write(self, record: dict[str, Any]) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) >= self._flush_records:
            if self._serialize_on_caller:
                self._drain()
            self._wake.set()

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._file.close()
        if self._error is not None:
            raise RuntimeError(f"telemetry writer for {self.path} failed: {self._error}") from self._error

    def _drain(self) -> None:
        """Serialise everything pending into one chunk (on whichever thread calls it)."""
        with self._drain_lock:
            pending, dumps = self._pending, orjson.dumps
            count = len(pending)
            if not count:
                return
            popleft = pending.popleft
            self._chunks.append((b"".join([dumps(popleft(), option=_OPTIONS) for _ in range(count)]), count))

    def _run(self) -> None:
        last_sync = 0.0
        try:
            while True:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                stopping = self._stopping
                self._drain()
                with self._drain_lock:
                    chunks, self._chunks = self._chunks, []
                if chunks:
                    self._file.write(b"".join(c for c, _ in chunks))
                    self._file.flush()
                    self._written += sum(n for _, n in chunks)
                now = time.monotonic()  # the writer's own pacing, not engine time
                if self._fsync and (stopping or now - last_sync >= self._flush_interval_s):
                    os.fsync(self._file.fileno())
                    last_sync = now
                if stopping and not self._pending and not self._chunks:
                    return
        except BaseException as exc:  # surfaced by close(); the loop must not die silently
            self._error = exc
