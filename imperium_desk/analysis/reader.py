"""Reading a telemetry JSONL file for analysis: one record at a time, checked as it goes.

The file is never held whole: records are parsed line by line (orjson) and handed to the caller, which keeps
what it needs. Problems are collected as one line each, naming the file and the line, and raised together as a
`ReportInputError` once the file has been read (or at once, after `MAX_ERRORS` of them: a file that is not
telemetry at all would otherwise give one error per line). The caller writes nothing until reading succeeded.

Rejected: a missing or unreadable file, a directory, an empty file (no records), a line that is not a JSON
object, a record without `schema_version`, `seq` or `event` (or with the wrong type), a schema version this
code does not read, and a file mixing schema versions (its records cannot be read one way). A last line without
a newline that does not parse is a record cut off mid-write (a live desk's file, or a crash); it is skipped with
a warning, as the desk itself cuts it off on restart. A line longer than `MAX_LINE_BYTES` ends the read at
once: no record is that long, and memory stays bounded by it whatever the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

Record = dict[str, Any]
Progress = Callable[[float], None]

SUPPORTED_SCHEMA_VERSIONS = (1,)
REQUIRED_KEYS = ("schema_version", "seq", "event")
MAX_ERRORS = 20
# A telemetry record is under a kilobyte; a longer line is not one (a binary file, a file without newlines), and
# reading it whole would cost memory in proportion to the file.
MAX_LINE_BYTES = 1 << 20
_PROGRESS_EVERY = 8192  # lines between progress calls (the bar redraws at most 10 times a second anyway)


class ReportInputError(ValueError):
    """Telemetry the report cannot read. `errors` holds one line per problem (`file: line N: what`)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class TelemetryReader:
    """Iterate over `path`'s records (dicts); `fail` adds a problem found by the caller in the current record.

    After iteration, `size`, `records` and `warnings` describe what was read and `schema_version` the version
    of every record. Iteration ends by raising `ReportInputError` if anything was wrong.
    """

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress
        self.size = 0
        self.bytes_read = 0  # the second pass reads no further than this (a live file may have grown since)
        self.records = 0
        self.line_no = 0
        self.schema_version: int | None = None
        self.warnings: list[str] = []
        self._errors: list[str] = []
        self._versions: dict[int, list[int]] = {}  # version -> [first line, count]

    def fail(self, message: str) -> None:
        self._error(f"{self.path}: line {self.line_no}: {message}")

    def _error(self, line: str) -> None:
        self._errors.append(line)
        if len(self._errors) >= MAX_ERRORS:
            self._errors.append(f"{self.path}: stopped after {MAX_ERRORS} errors (is this a telemetry JSONL file?)")
            raise ReportInputError(self._errors)

    def _open(self) -> Any:
        path = self.path
        if path.is_dir():
            raise ReportInputError([f"{path}: is a directory, not a telemetry file (give the .jsonl file in it)"])
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ReportInputError([f"{path}: no such file"]) from None
        except OSError as exc:
            raise ReportInputError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
        self.size = path.stat().st_size
        return handle

    def __iter__(self) -> Iterator[Record]:
        with self._open() as handle:
            size = max(self.size, 1)
            done = 0
            versions = self._versions
            line_no = 0
            for raw in iter(partial(handle.readline, MAX_LINE_BYTES + 1), b""):
                line_no += 1
                done += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    self.line_no = line_no
                    raise ReportInputError([*self._errors, f"{self.path}: line {line_no}: longer than {MAX_LINE_BYTES} "
                                            "bytes: not a telemetry record (is this a telemetry JSONL file?)"])
                if line_no % _PROGRESS_EVERY == 0 and self.progress is not None:
                    self.progress(min(done / size, 1.0))
                # The common case inline (a million lines): a compact object with the three keys right.
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    record = None
                if type(record) is dict:
                    version = record.get("schema_version")
                    if type(version) is int and type(record.get("seq")) is int and type(record.get("event")) is str:
                        seen = versions.get(version)
                        if seen is None:
                            versions[version] = [line_no, 1]
                        else:
                            seen[1] += 1
                        self.line_no = line_no  # for `fail`, called by the consumer on this record
                        yield record
                        continue
                self.line_no = line_no
                record = self._parse(raw)  # the slow path names what is wrong
                if record is not None:
                    yield record
            self.line_no = line_no
            self.bytes_read = done
        if self.progress is not None:
            self.progress(1.0)
        self._finish()

    def _parse(self, raw: bytes) -> Record | None:
        if not raw.strip():
            return None
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if not raw.endswith(b"\n"):
                self.warnings.append(
                    f"{self.path}: line {self.line_no}: the last line is cut off (a file still being written, or a "
                    "crash); skipped"
                )
                return None
            self.fail(f"not JSON ({exc.msg} at column {exc.colno}): {_preview(raw)}")
            return None
        if not isinstance(record, dict):
            self.fail(f"not a JSON object but a {_json_type(record)}: {_preview(raw)}")
            return None
        version, seq, event = record.get("schema_version"), record.get("seq"), record.get("event")
        if type(version) is not int or type(seq) is not int or type(event) is not str:
            missing = [key for key in REQUIRED_KEYS if record.get(key) is None]
            if missing:
                self.fail(f"not a telemetry record: no {', '.join(missing)}")
            else:
                self.fail(
                    f"schema_version and seq must be integers and event a string (got {version!r}, {seq!r}, {event!r})"
                )
            return None
        seen = self._versions.get(version)
        if seen is None:
            self._versions[version] = [self.line_no, 1]
        else:
            seen[1] += 1
        return record

    def _finish(self) -> None:
        errors = self._errors
        self.records = sum(count for _, count in self._versions.values())
        if len(self._versions) > 1:
            parts = [f"{v} ({n} records from line {first})" for v, (first, n) in sorted(self._versions.items())]
            errors.append(
                f"{self.path}: mixed schema versions: {', '.join(parts)}; a report reads one version at a time"
            )
        for version, (first, _) in sorted(self._versions.items()):
            if version not in SUPPORTED_SCHEMA_VERSIONS:
                supported = ", ".join(map(str, SUPPORTED_SCHEMA_VERSIONS))
                errors.append(
                    f"{self.path}: line {first}: schema_version {version} is not one this report reads ({supported})"
                )
        if not errors and self.records == 0:
            errors.append(f"{self.path}: empty: no telemetry records")
        if errors:
            raise ReportInputError(errors)
        self.schema_version = next(iter(self._versions))


def scan_events(
    path: Path, until_byte: int, events: tuple[str, ...], progress: Progress | None = None
) -> Iterator[Record]:
    """A second, unchecked pass over the first `until_byte` bytes of a file `TelemetryReader` already accepted:
    the records whose `event` is one of `events`. Lines written compactly (`"event":"fill"`, as the desk writes)
    are picked out without parsing the others; a line spelled any other way is parsed to see."""
    marker = b'"event":"'
    wanted = tuple(f'{event}"'.encode() for event in events)
    done = 0
    with path.open("rb") as handle:
        for n, raw in enumerate(iter(partial(handle.readline, MAX_LINE_BYTES + 1), b""), start=1):
            done += len(raw)
            if done > until_byte:
                break
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(done / max(until_byte, 1))
            at = raw.find(marker)
            if at >= 0 and not raw.startswith(wanted, at + len(marker)):
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # the cut-off last line, warned about in the first pass
            if isinstance(record, dict) and record.get("event") in events:
                yield record


def _preview(raw: bytes) -> str:
    text = raw[:256].decode("utf-8", errors="replace").strip()
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
