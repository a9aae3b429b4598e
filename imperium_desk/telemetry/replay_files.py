"""A replay's telemetry files: `telemetry.jsonl` and (when configured) its index `telemetry.sqlite`.

Both are written under temporary names and renamed when the run completes, so a failed run leaves neither
behind, and an index is never left beside a JSONL it does not describe. A replay writes one fresh file, never
rotates, and serialises on the caller (throughput over per-order latency).

The index is built from the finished file rather than fed while the run goes. A replay keeps the GIL busy, and
SQLite releases it for every row it inserts: a feeding thread would insert a row per switch interval (5 ms)
while holding records in memory, then do the rest at the end anyway. Building afterwards costs the same time,
holds nothing back during the run, and reads exactly the bytes the run wrote. (A running desk is mostly idle,
so there its index follows the log live.) A configured Redis stream is fed live, as by a desk: it is a network
sink, written in large pipelined batches; the run waits for it at the end until it holds every record or fails,
and a Redis left behind only costs a warning (the replay's own files are complete).
"""

from __future__ import annotations

import os
from pathlib import Path

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.factory import build_secondaries
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.sqlite_index import build_index, fsync_file, remove_index

JSONL_NAME = "telemetry.jsonl"
INDEX_NAME = "telemetry.sqlite"


class ReplayTelemetry:
    """The telemetry of one replay run, from its first record to its files in place. `write` is the engine's sink
    (called on the replay's loop, a deque append); after the loop has finished the run ends with exactly one of
    `commit`, which blocks (it drains the writer, waits for a configured Redis stream, fsyncs and builds the index as
    configured), or `abort`."""

    def __init__(self, out_dir: Path, config: TelemetryConfig, run_id: str | None = None) -> None:
        self.path = out_dir / JSONL_NAME
        self.index_path = out_dir / INDEX_NAME
        self._partial = out_dir / f".{JSONL_NAME}.partial"
        self._index_partial = out_dir / f".{INDEX_NAME}.partial" if "sqlite" in config.sinks else None
        # The desk id comes from the final name (and the run id), not the temporary one.
        secondaries = build_secondaries(config, self.path, sqlite=False, run_id=run_id)
        # No fsync while the run goes: the file has a temporary name until the run completes, so a crash loses
        # the run whatever was synced. One fsync before the rename makes the finished file durable.
        self._fsync = config.fsync
        self._hub = TelemetryHub(
            self._partial, config.model_copy(update={"fsync": False}), secondaries, append=False, rotate=False,
            serialize_on_caller=True,
        )
        self.write = self._hub.write

    @property
    def written(self) -> int:
        return self._hub.written

    def commit(self) -> Path:
        """Flush and close the JSONL, build its index, then put the files in place (index first: the JSONL's
        arrival marks a finished run). Raises, leaving nothing behind, if either fails."""
        try:
            self._hub.close(timeout_s=None)
            if self._fsync:
                fsync_file(self._partial)
            if self._index_partial is not None:
                build_index(self._index_partial, [self._partial])
        except BaseException:
            self._remove_partials()
            raise
        remove_index(self.index_path)  # with its -wal/-shm: an old run's must never meet this run's file
        if self._index_partial is not None:
            os.replace(self._index_partial, self.index_path)
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """The run failed: close (no waiting for a secondary) and remove what was written."""
        try:
            self._hub.close(timeout_s=0)
        finally:
            self._remove_partials()

    def _remove_partials(self) -> None:
        self._partial.unlink(missing_ok=True)
        if self._index_partial is not None:
            remove_index(self._index_partial)
