"""Torn-tail repair: what a crash mid-write leaves at the end of a JSONL file, cut off before appending.

The writer writes whole lines but in bounded chunks, so a process killed between two chunks leaves a last line
without its newline. That fragment was never acknowledged as flushed (acknowledgement follows the whole
batch), so cutting it loses nothing anyone was told was stored. A power loss can also leave a newline-ended
last line of garbage (blocks allocated but never written): that one line is cut as well. Anything more —
two bad lines, a bad line with good lines after it — is not a torn tail but a damaged file, and is an error
naming the file and line rather than something to cut silently (`serve` and `gui` exit 2 with that one line).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imperium_desk.telemetry.segments import TelemetryFileError, last_newline_before, parse_line
from imperium_desk.telemetry.sinks import Record

log = logging.getLogger(__name__)

# Records are under a kilobyte; a line over this is garbage, judged so without reading it into memory. Generous:
# a record wrongly judged garbage would be cut.
MAX_RECORD_BYTES = 1 << 24


@dataclass(frozen=True, slots=True)
class TailState:
    """A JSONL file as `repair_tail` left it: its length, what was cut, and its first and last complete records,
    from which an appending writer continues the seq (and learns the segment's first seq and the day of its last
    record, for rotation)."""

    size: int  # bytes in the file after repair
    cut_bytes: int  # bytes removed from its end (0: the file was whole)
    first: Record | None  # first and last complete records (None: the file holds none)
    last: Record | None


def repair_tail(path: Path) -> TailState:
    """Cut a torn tail off `path` (fsyncing the cut), log a warning saying how much, and describe what is left.

    A missing file is an empty one."""
    try:
        file = open(path, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return TailState(0, 0, None, None)
    with file:
        size = file.seek(0, 2)
        keep, last = _complete_prefix(file, path, size)
        if keep < size:
            file.truncate(keep)
            file.flush()
            os.fsync(file.fileno())
            log.warning(
                "%s: cut %d bytes of a torn last line (a crash mid-write); appending resumes after seq %s",
                path, size - keep, last["seq"] if last is not None else "none",
            )
        first = _first_record(file, path) if keep else None
    return TailState(keep, size - keep, first, last)


def _complete_prefix(file: BinaryIO, path: Path, size: int) -> tuple[int, Record | None]:
    """(length to keep, last record kept): the file up to its last newline, minus one garbage last line."""
    end = last_newline_before(file, size)
    if end < 0:
        return 0, None  # no complete line at all: the whole file is one torn fragment
    start = last_newline_before(file, end) + 1
    record = _try_record(file, start, end)
    if record is not None:
        return end + 1, record
    # The newline-ended last line is garbage: cut it only if the line before it is sound.
    if start == 0:
        return 0, None
    prev_start = last_newline_before(file, start - 1) + 1
    before = _try_record(file, prev_start, start - 1)
    if before is None:
        lineno = _count_newlines(file, prev_start) + 1
        raise TelemetryFileError(
            f"{path}: line {lineno}: not a telemetry record, and neither is the line after it: this is damage,"
            " not a torn last line; move the file aside or repair it by hand"
        )
    return start, before


def _try_record(file: BinaryIO, start: int, end: int) -> Record | None:
    if end - start > MAX_RECORD_BYTES:
        return None  # garbage, judged without reading it into memory
    file.seek(start)
    try:
        return parse_line(file.read(end - start), Path(), "")
    except TelemetryFileError:
        return None


def _first_record(file: BinaryIO, path: Path) -> Record:
    file.seek(0)
    line = file.readline(MAX_RECORD_BYTES + 1)
    if len(line) > MAX_RECORD_BYTES:
        raise TelemetryFileError(f"{path}: line 1: longer than {MAX_RECORD_BYTES} bytes: not a telemetry record")
    return parse_line(line.rstrip(b"\n"), path, "line 1")


def _count_newlines(file: BinaryIO, before: int, block: int = 1 << 20) -> int:
    file.seek(0)
    count, remaining = 0, before
    while remaining > 0:
        chunk = file.read(min(block, remaining))
        if not chunk:
            break
        count += chunk.count(b"\n")
        remaining -= len(chunk)
    return count
