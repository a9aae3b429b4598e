"""JSONL sink: records are handed to a writer thread, so the event loop never waits on the disk.

The loop appends finished records to a deque (atomic, ~50 ns). The writer wakes every `flush_interval_s`
or as soon as `flush_records` are waiting, serialises the batch, writes whole lines in one call and
flushes; it fsyncs at most once per interval and on close. A clean `close()` drains everything, so a
clean stop never leaves a torn line.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson


class JsonlWriter:
    def __init__(
        self,
        path: Path,
        *,
        append: bool = False,
        flush_interval_s: float = 0.1,
        flush_records: int = 100,
        fsync: bool = True,
    ) -> None:
        self.path = path
        self._flush_interval_s = flush_interval_s
        self._flush_records = flush_records
        self._fsync = fsync
        self._pending: deque[dict[str, Any]] = deque()
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
        self._pending.append(record)
        if len(self._pending) >= self._flush_records:
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

    def _run(self) -> None:
        last_sync = 0.0
        try:
            while True:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                stopping = self._stopping
                self._drain()
                now = time.monotonic()  # the writer's own pacing, not engine time
                if self._fsync and (stopping or now - last_sync >= self._flush_interval_s):
                    os.fsync(self._file.fileno())
                    last_sync = now
                if stopping and not self._pending:
                    return
        except BaseException as exc:  # surfaced by close(); the loop must not die silently
            self._error = exc

    def _drain(self) -> None:
        pending, dumps = self._pending, orjson.dumps
        if not pending:
            return
        chunks: list[bytes] = []
        while pending:
            chunks.append(dumps(pending.popleft()))
        chunks.append(b"")
        self._file.write(b"\n".join(chunks))
        self._file.flush()
        self._written += len(chunks) - 1

