"""A telemetry log on disk: its segments, and the records in them.

The desk's log is `<stem>.jsonl` (the active file, always that name) plus the segments rotation closed, each
renamed `<stem>.<first_seq:012d>.jsonl`, so a plain directory listing sorts them in seq order and a reader
knows where each segment starts without opening it. Readers stop at the last complete line: a final line
without its newline is either being written right now or torn by a crash (the writer cuts it on its next start),
never a record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

import orjson

from imperium_desk.telemetry.sinks import Record

SUFFIX: Final = ".jsonl"
_SEGMENT_DIGITS: Final = 12
_BISECT_MIN_BYTES: Final = 1 << 20  # below this a linear scan is as fast as seeking around


class TelemetryFileError(ValueError):
    """A telemetry file that is not what it must be (not JSONL, a corrupt line, seq out of order)."""


def log_stem(path: Path) -> str:
    """`execution_quality_paper` for `execution_quality_paper.jsonl` (and for its rotated segments)."""
    name = path.name
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
        head, dot, digits = name.rpartition(".")
        if dot and len(digits) == _SEGMENT_DIGITS and digits.isdigit():
            return head
    return name


def segment_path(active: Path, first_seq: int) -> Path:
    """The name a closed segment of `active` gets: `<stem>.<first_seq:012d>.jsonl`."""
    return active.with_name(f"{log_stem(active)}.{first_seq:0{_SEGMENT_DIGITS}d}{SUFFIX}")


def active_path(path: Path) -> Path:
    """The active file of the log `path` belongs to (`path` itself unless it is a rotated segment)."""
    if not path.name.endswith(SUFFIX):
        return path
    return path.with_name(log_stem(path) + SUFFIX)


def rotated_segments(active: Path) -> list[tuple[int, Path]]:
    """(first_seq, path) of every closed segment of the log whose active file is `active`, in seq order."""
    if not active.name.endswith(SUFFIX) or not active.parent.is_dir():
        return []
    pattern = re.compile(re.escape(log_stem(active)) + rf"\.(\d{{{_SEGMENT_DIGITS}}})" + re.escape(SUFFIX))
    found = []
    for entry in active.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def log_segments(active: Path) -> list[Path]:
    """Every file of the log in seq order: the rotated segments, then the active file (if it exists)."""
    paths = [p for _, p in rotated_segments(active)]
    if active.exists():
        paths.append(active)
    return paths


def open_segments(active: Path, after_seq: int = 0) -> list[tuple[Path, BinaryIO]]:
    """Open the files that may hold records with seq > after_seq, skipping closed segments that end before it.

    Open handles survive a rotation's rename, so the hub opens them under the writer's rotation lock and then
    reads at leisure."""
    rotated = rotated_segments(active)
    paths = []
    for i, (_, path) in enumerate(rotated):
        next_first = rotated[i + 1][0] if i + 1 < len(rotated) else None
        if next_first is not None and next_first <= after_seq + 1:
            continue  # every seq in this segment is below the next segment's first, so <= after_seq
        paths.append(path)
    if active.exists():
        paths.append(active)
    opened: list[tuple[Path, BinaryIO]] = []
    for path in paths:
        try:
            opened.append((path, open(path, "rb")))  # noqa: SIM115 - the caller reads and closes them
        except FileNotFoundError:
            continue  # a segment renamed between listing and opening is the active file we list last
    return opened


def parse_line(line: bytes, path: Path, where: str) -> Record:
    """One JSONL line (without its newline) as a record with an integer seq, or an error naming file and line."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise TelemetryFileError(f"{path}: {where}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise TelemetryFileError(f"{path}: {where}: not a JSON object")
    seq = record.get("seq")
    if type(seq) is not int:
        raise TelemetryFileError(f"{path}: {where}: no integer 'seq' (got {repr(seq)[:60]})")
    return record


def iter_file(
    file: BinaryIO, path: Path, *, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[tuple[Record, bytes]]:
    """(record, line without newline) for each complete line of one file with after_seq < seq <= upto_seq.

    Seq must increase line by line; a line that is not a JSON object with an integer seq is an error naming
    the file and the line (its number, or its byte offset after a bisecting jump)."""
    start = _offset_before(file, path, after_seq) if after_seq > 0 else 0
    file.seek(start)
    offset, lineno, prev = start, (1 if start == 0 else None), -1
    loads, limit = orjson.loads, upto_seq if upto_seq is not None else float("inf")
    for raw in file:
        if raw[-1:] != b"\n":
            return  # being written, or torn by a crash: not a record yet
        line = raw[:-1]
        try:
            record = loads(line)
            seq = record["seq"]
            ok = type(seq) is int and seq > prev
        except (orjson.JSONDecodeError, TypeError, KeyError, IndexError):
            ok = False
        if not ok:
            where = f"line {lineno}" if lineno is not None else f"line at byte {offset}"
            record = parse_line(line, path, where)  # raises with the precise reason unless only the order is wrong
            raise TelemetryFileError(f"{path}: {where}: seq {record['seq']} does not follow seq {prev}")
        if seq > limit:
            return
        if seq > after_seq:
            yield record, line
        prev = seq
        offset += len(raw)
        if lineno is not None:
            lineno += 1


def iter_records(
    active: Path, *, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[tuple[Record, bytes]]:
    """Every record of a log (all its segments) with after_seq < seq <= upto_seq, in seq order."""
    yield from iter_opened(open_segments(active, after_seq), after_seq=after_seq, upto_seq=upto_seq)


def iter_opened(
    opened: Iterable[tuple[Path, BinaryIO]], *, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[tuple[Record, bytes]]:
    """Records of already opened files in order (closing each when done); seq must increase across them."""
    handles = list(opened)
    try:
        last = after_seq
        for path, file in handles:
            for record, line in iter_file(file, path, after_seq=last, upto_seq=upto_seq):
                yield record, line
                last = record["seq"]
            if upto_seq is not None and last >= upto_seq:
                return
    finally:
        for _, file in handles:
            file.close()


def last_seq(active: Path) -> int:
    """The seq of the last complete record of the log (0 if it has none)."""
    for path in reversed(log_segments(active)):
        line = last_complete_line(path)
        if line is not None:
            return int(parse_line(line, path, "last line")["seq"])
    return 0


def first_line(path: Path) -> bytes | None:
    """The file's first complete line without its newline (None if it has none)."""
    with open(path, "rb") as file:
        line = file.readline()
    return line[:-1] if line.endswith(b"\n") else None


def last_complete_line(path: Path) -> bytes | None:
    """The file's last newline-terminated line without its newline (None if it has none), read from the end."""
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        end = last_newline_before(file, size)
        if end < 0:
            return None
        start = last_newline_before(file, end) + 1
        file.seek(start)
        return file.read(end - start)


def last_newline_before(file: BinaryIO, before: int, block: int = 1 << 16) -> int:
    """Offset of the last b"\\n" strictly before `before` (-1 if none)."""
    pos = before
    while pos > 0:
        start = max(0, pos - block)
        file.seek(start)
        chunk = file.read(pos - start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found
        pos = start
    return -1


def _offset_before(file: BinaryIO, path: Path, seq: int) -> int:
    """A line-start offset at or before the first line with a seq > `seq` (seq increases within a file).

    Bisects on byte offsets so a catch-up deep into a large file parses a few dozen lines, not all of them."""
    size = file.seek(0, 2)
    lo, hi = 0, size  # invariant: lo is a line start whose line (if any) has seq <= `seq`, or 0
    while hi - lo > _BISECT_MIN_BYTES:
        mid = (lo + hi) // 2
        file.seek(mid)
        file.readline()  # skip to the next line start
        start = file.tell()
        raw = file.readline()
        if start >= hi or not raw.endswith(b"\n"):
            hi = mid
            continue
        if parse_line(raw[:-1], path, f"line at byte {start}")["seq"] <= seq:
            lo = start
        else:
            hi = mid
    return lo
