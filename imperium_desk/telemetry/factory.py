"""The secondary sinks a `TelemetryConfig` asks for, built for one telemetry log."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.sinks import SecondarySink
from imperium_desk.telemetry.sqlite_index import SqliteIndex, index_path_for


def default_desk_id(jsonl_path: Path) -> str:
    """Stable per host and telemetry file, so a restarted desk resumes its own place in a shared stream and two
    desks on one host (different homes) never share one."""
    digest = hashlib.sha256(str(jsonl_path.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}:{digest}"


def build_secondaries(
    config: TelemetryConfig,
    jsonl_path: Path,
    *,
    index_path: Path | None = None,
    sqlite: bool = True,
    run_id: str | None = None,
) -> list[SecondarySink]:
    """SQLite (beside the log unless `index_path` says otherwise) and Redis, as configured, in config order.
    `sqlite=False` leaves the index out (a replay builds it from the finished file). `run_id` (replays) extends the
    desk id: every replay starts at seq 1, so a rerun with another seed into the same folder must be a stream
    producer of its own, while an identical rerun (same records) rightly adds nothing."""
    sinks: list[SecondarySink] = []
    for name in config.sinks:
        if name == "sqlite" and sqlite:
            sinks.append(SqliteIndex(index_path or index_path_for(jsonl_path)))
        elif name == "redis":
            from imperium_desk.telemetry.redis_stream import RedisStreamSink  # the redis client only when used

            assert config.redis_url is not None  # the config refuses redis without a URL
            desk_id = config.desk_id or default_desk_id(jsonl_path)
            if run_id is not None:
                desk_id = f"{desk_id}/{run_id}"
            sinks.append(RedisStreamSink(config.redis_url, config.redis_stream, desk_id))
    return sinks
