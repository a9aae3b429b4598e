"""The secondary-sink protocol: where telemetry goes besides the JSONL (the SQLite index, a Redis stream).

The JSONL file is the source of truth. A secondary sink only ever receives records the JSONL has already
flushed, so whatever it misses (it was down, slow, or the desk stopped before it caught up) can be read back
from disk: `TelemetryHub` re-opens it and catches up from the seq `open()` reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Record = dict[str, Any]


class SinkUnavailable(Exception):
    """The sink cannot take records now (down, timeout). The hub retries later."""


class SecondarySink(Protocol):
    """A store that follows the JSONL (module docstring). Every method is called on the sink's own worker thread
    (telemetry/secondary.py), never on the event loop, so each may block, but briefly: a close waits for it. After a
    failure the worker calls `close` and later `open` again, so `open` must work on a closed sink. The same record dicts
    go to every sink: a sink must not change them, and may keep the `lines` (bytes)."""

    name: str  # "sqlite", "redis": names the sink in the status bar and in log lines

    def open(self) -> int:
        """Connect/prepare; return the highest seq this sink already holds for THIS desk's telemetry (0 if none).

        Raises SinkUnavailable if unreachable."""
        ...

    def write(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Store a batch, in seq order, idempotently (a seq already held is skipped, never duplicated).

        `lines[i]` is `records[i]` serialised as in the JSONL (orjson, no trailing newline). Raises SinkUnavailable
        on failure; the hub then calls open() again later and catches up."""
        ...

    def close(self) -> None: ...
