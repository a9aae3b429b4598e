"""Where the outbox reads telemetry it was not handed: the JSONL log, the source of truth.

Not the SQLite index: the index is itself a follower that may lag the log (or be switched off), while every record
up to the hub's `flushed_seq` is on disk in the JSONL by definition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO, Protocol

from imperium_desk.telemetry.segments import iter_opened, open_segments, rotated_segments
from imperium_desk.telemetry.sinks import Record

_OPEN_ATTEMPTS = 5


class TelemetrySource(Protocol):
    """The telemetry log as the feeder reads it back (module docstring): called on the outbox thread only, and `read`
    blocks on the files. Records are parsed afresh from the log, so the caller owns them."""

    def flushed_seq(self) -> int:
        """The highest seq durably in the telemetry log (every record up to it can be read)."""
        ...

    def read(self, after_seq: int, upto_seq: int) -> Iterator[tuple[Record, bytes]]:
        """Records with after_seq < seq <= upto_seq in seq order, each with its JSON line (no newline)."""
        ...


class JsonlSource:
    """A desk's telemetry log: `path` is the active JSONL file, `flushed_seq` the hub's (`lambda: hub.flushed_seq`).

    `rotation_lock`, when given, is the writer's: the files are listed and opened under it. Without it a rotation
    between listing and opening is detected (the segment list changed) and the files are opened again."""

    def __init__(
        self, path: Path, flushed_seq: Callable[[], int], rotation_lock: threading.Lock | None = None,
    ) -> None:
        self.path = path
        self._flushed_seq = flushed_seq
        self._lock = rotation_lock

    def flushed_seq(self) -> int:
        return self._flushed_seq()

    def read(self, after_seq: int, upto_seq: int) -> Iterator[tuple[Record, bytes]]:
        return iter_opened(self._open(after_seq), after_seq=after_seq, upto_seq=upto_seq)

    def _open(self, after_seq: int) -> list[tuple[Path, BinaryIO]]:
        for _ in range(_OPEN_ATTEMPTS):
            with self._lock if self._lock is not None else nullcontext():
                before = rotated_segments(self.path)
                opened = open_segments(self.path, after_seq)
                if self._lock is not None or rotated_segments(self.path) == before:
                    return opened
            for _, file in opened:  # a segment was closed meanwhile: the active file opened may be the new one
                file.close()
        raise OSError(f"{self.path}: the log kept rotating while it was being opened")
