"""`imperium-desk reindex`: which indexes to rebuild from which JSONL files (the rebuild is sqlite_index.rebuild).

Any file of a log stands for the whole log (its rotated segments and its active file): an index describes a
log, so rebuilding it from part of one would silently drop the rest. Without `--db` each log's index goes
beside it (`<stem>.sqlite`); with `--db` the logs given go into that one file (their seqs must not overlap).
With no files, the desk's own logs under its home (paper and live, whichever exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from imperium_desk.telemetry.segments import TelemetryFileError, active_path, log_segments, parse_line
from imperium_desk.telemetry.sqlite_index import index_path_for

DESK_MODES: Final = ("paper", "live")
_PROBE_BYTES: Final = 1 << 16  # a telemetry line is far shorter: no line break in this much is not JSONL


class ReindexInputError(ValueError):
    """The files or home given to `reindex` cannot be indexed; nothing was rebuilt. `errors` has one line per problem,
    each naming its file or folder."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ReindexJob:
    """One index to rebuild: the SQLite file `db_path` and every JSONL file it is built from (all the segments of each
    log, never part of one)."""

    db_path: Path
    files: list[Path]  # every segment of the log(s), in seq order per log


def plan_reindex(jsonl: Sequence[Path], db: Path | None, home: Path) -> list[ReindexJob]:
    """The rebuilds to run; ReindexInputError (one line per problem) for missing or non-JSONL files."""
    if not jsonl:
        return _desk_logs(db, home)
    errors = [problem for path in jsonl if (problem := _check_file(path)) is not None]
    if errors:
        raise ReindexInputError(errors)
    logs = list(dict.fromkeys(active_path(p.resolve()) for p in jsonl))
    if db is not None:
        return [ReindexJob(db, [f for log in logs for f in _log_files(log)])]
    return [ReindexJob(index_path_for(log), _log_files(log)) for log in logs]


def _desk_logs(db: Path | None, home: Path) -> list[ReindexJob]:
    jobs = []
    for mode in DESK_MODES:
        active = home / f"execution_quality_{mode}.jsonl"
        files = log_segments(active)
        if files:
            jobs.append(ReindexJob(db or index_path_for(active), files))
    if not jobs:
        names = " or ".join(f"execution_quality_{m}.jsonl" for m in DESK_MODES)
        raise ReindexInputError([f"{home}: no desk telemetry here ({names}); name the JSONL files to index"])
    if db is not None and len(jobs) > 1:
        raise ReindexInputError([
            f"--db {db}: names one index but {home} holds two logs (paper and live); name the JSONL file to index"
        ])
    return jobs


def _log_files(active: Path) -> list[Path]:
    return log_segments(active) or [active]


def _check_file(path: Path) -> str | None:
    """A one-line reason `path` cannot be indexed, or None. Only the first line is checked here; the rebuild
    checks every line and names the first bad one."""
    if not path.exists():
        return f"{path}: no such file"
    if not path.is_file():
        return f"{path}: not a file"
    try:
        with open(path, "rb") as file:
            head = file.read(_PROBE_BYTES)
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    if not head:
        return None  # an empty log indexes to an empty index
    end = head.find(b"\n")
    if end < 0:
        return f"{path}: not JSONL telemetry (no complete line in its first {len(head)} bytes)"
    try:
        parse_line(head[:end], path, "line 1")
    except TelemetryFileError as exc:
        return f"{exc} (not JSONL telemetry?)"
    return None
