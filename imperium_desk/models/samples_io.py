"""Reading one numeric column of samples from a CSV file (header row) or a JSONL file (one object a line,
e.g. the desk's telemetry), with errors that name the file, the column and the row.

Telemetry: when records carry an `event` field, only `fill` and `partial_fill` records are read if any of them
has the column (an order's `ack` repeats the latency its fill carries); otherwise every record that has it.
Records whose value is null (telemetry writes null where a key does not apply) are passed over.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
from numpy.typing import NDArray

DEFAULT_COLUMNS = ("latency_ms", "slippage", "slippage_bps")  # the default column: the first of these present
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_FILL_EVENTS = ("fill", "partial_fill")
# `fit` reads at most this many rows (CSV data rows, or JSONL records: about 140 MB of the desk's telemetry) and
# says so when a file has more, so memory and time stay bounded whatever the file (README "Input limits").
MAX_ROWS = 200_000
MAX_LINE_CHARS = 1 << 20  # a longer line is no sample row: a binary or garbage file
_KEYS_LISTED = 50


class SampleFileError(ValueError):
    """A sample file was rejected; the message is one line naming the file (and column and row where known)."""


@dataclass(frozen=True)
class SampleColumn:
    """The values read from one column of a sample file, with the file and the column they came from (the column chosen
    when none was asked for). In the column's own unit: see `column_kind`."""

    path: Path
    column: str
    values: NDArray[np.float64]
    rows: int = 0  # rows read (CSV data rows, JSONL records), of which `values` holds the column's
    truncated: bool = False  # the file has more than `MAX_ROWS` rows; the rest were not read


def column_kind(column: str) -> tuple[Literal["latency", "slippage"], Literal["bps", "ticks", "price"]]:
    """What a column holds, by its name: `*_ms` is latency in milliseconds; anything else is slippage, in bps
    for `*_bps`, ticks for `*_ticks` and price units otherwise (the telemetry's `slippage` is in price units).
    The unit of a latency column is meaningless and returned as `bps`."""
    if column.endswith("_ms"):
        return "latency", "bps"
    if column.endswith("_bps"):
        return "slippage", "bps"
    if column.endswith("_ticks"):
        return "slippage", "ticks"
    return "slippage", "price"


def read_samples(path: Path, column: str | None = None, non_negative: bool | None = None) -> SampleColumn:
    """The finite float values of `column` in `path` (CSV with a header row, or JSONL by its suffix or its
    first character `{`). `column=None` takes the first of `DEFAULT_COLUMNS` present, or the only column of
    a one-column CSV. `non_negative` (default: for latency columns) rejects negative values. Raises
    SampleFileError for a missing or unreadable file, malformed CSV or JSON, an unknown column, an empty
    column, or a value that is not a finite number (or is negative where it must not be).

    Bounded: the file is read a line at a time, no line may be longer than `MAX_LINE_CHARS`, and reading stops
    after `MAX_ROWS` rows (CSV data rows, JSONL records), which `SampleColumn.truncated` reports."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:  # -sig: a spreadsheet's BOM is not the header
            lines = _bounded_lines(file, path)
            blank, head = _first_non_blank(lines)
            is_jsonl = path.suffix.lower() in _JSONL_SUFFIXES or head.lstrip().startswith("{")
            rows = itertools.chain(itertools.repeat("\n", blank), [head] if head else [], lines)  # as in the file
            read = _jsonl_column if is_jsonl else _csv_column
            chosen, values, count, truncated = read(path, rows, column, non_negative)
    except UnicodeDecodeError:
        raise SampleFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SampleFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not values:
        raise SampleFileError(f"{path}: column {chosen!r} has no values")
    return SampleColumn(path, chosen, np.asarray(values, dtype=np.float64), count, truncated)


def _bounded_lines(file: TextIO, path: Path) -> Iterator[str]:
    """`file`'s lines, refusing one longer than `MAX_LINE_CHARS` (a file without newlines is one line)."""
    number = 0
    while True:
        line = file.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            raise SampleFileError(f"{path}: line {number} is over {MAX_LINE_CHARS} characters: not a sample file")
        yield line


def _first_non_blank(lines: Iterator[str]) -> tuple[int, str]:
    """(blank lines before it, the first line with more than whitespace, or "" for none)."""
    blank = 0
    for line in lines:
        if line.strip():
            return blank, line
        blank += 1
    return blank, ""


class _Values:
    """The values of one column, checked as they are read. A JSONL file collects several candidate columns in
    one pass; a bad value fails the read only if its column is the one chosen (`checked`), as it would have had
    that column been read alone."""

    def __init__(self, path: Path, column: str, non_negative: bool | None) -> None:
        self.path, self.column = path, column
        self.non_negative = column_kind(column)[0] == "latency" if non_negative is None else non_negative
        self.values: array[float] = array("d")
        self.error: SampleFileError | None = None

    def add(self, where: str, raw: Any) -> None:
        if self.error is None:
            try:
                self.values.append(_number(self.path, self.column, where, raw, self.non_negative))
            except SampleFileError as exc:
                self.error = exc

    def checked(self) -> array[float]:
        if self.error is not None:
            raise self.error
        return self.values


def _default_column(path: Path, available: list[str], allow_single: bool) -> str:
    for name in DEFAULT_COLUMNS:
        if name in available:
            return name
    if allow_single and len(available) == 1:
        return available[0]
    raise SampleFileError(
        f"{path}: no {' / '.join(DEFAULT_COLUMNS)} column; name one with --column (columns: {_listing(available)})"
    )


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _csv_column(
    path: Path, lines: Iterator[str], column: str | None, non_negative: bool | None
) -> tuple[str, array[float], int, bool]:
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):  # blank rows before the header
            header = next(reader, None)
        if header is None:
            raise SampleFileError(f"{path}: empty file, expected a CSV header row")
        names = [cell.strip() for cell in header]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SampleFileError(f"{path}: malformed CSV: the header names {duplicated[0]!r} twice")
        chosen = column if column is not None else _default_column(path, names, allow_single=True)
        if chosen not in names:
            raise SampleFileError(f"{path}: no column {chosen!r} (columns: {_listing(names)})")
        index = names.index(chosen)
        values = _Values(path, chosen, non_negative)
        number = 0
        for record in _non_blank(reader):
            if number == MAX_ROWS:
                return chosen, values.values, number, True
            number += 1
            if len(record) != len(names):
                raise SampleFileError(
                    f"{path}: malformed CSV: row {number} (line {reader.line_num}) has {len(record)} fields, "
                    f"the header has {len(names)}"
                )
            values.add(f"row {number} (line {reader.line_num})", record[index].strip())
            if values.error is not None:
                raise values.error
    except csv.Error as exc:
        raise SampleFileError(f"{path}: malformed CSV at line {reader.line_num}: {exc}") from None
    return chosen, values.values, number, False


def _non_blank(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    for record in reader:
        if record:  # a blank line; an empty cell ("" or a trailing comma) is a value, and not a number
            yield record


def _jsonl_column(
    path: Path, lines: Iterator[str], column: str | None, non_negative: bool | None
) -> tuple[str, array[float], int, bool]:
    """One pass: the candidates for the default column and, per candidate, the values of fill records and of all
    records are collected as they come (a telemetry file's fills carry the column; an `ack` repeats it)."""
    wanted = (column,) if column is not None else DEFAULT_COLUMNS
    fills = {name: _Values(path, name, non_negative) for name in wanted}
    present = {name: _Values(path, name, non_negative) for name in wanted}
    keys: dict[str, None] = {}  # the first keys seen, in order, for the message naming what there is
    seen: set[str] = set()  # the wanted columns some record has (null or not)
    records, truncated = 0, False
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if records == MAX_ROWS:
            truncated = True
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SampleFileError(f"{path}: line {line_number}: not valid JSON: {exc.msg}") from None
        except RecursionError:  # the json module's own depth guard: arrays or objects nested thousands deep
            raise SampleFileError(f"{path}: line {line_number}: not a sample record: nested too deep") from None
        if not isinstance(record, dict):
            raise SampleFileError(f"{path}: line {line_number}: expected a JSON object, got {type(record).__name__}")
        records += 1
        if len(keys) < _KEYS_LISTED:
            keys.update((str(key), None) for key in itertools.islice(record, _KEYS_LISTED))
        is_fill = record.get("event") in _FILL_EVENTS
        for name in wanted:
            if name not in record:
                continue
            seen.add(name)
            raw = record[name]
            if raw is not None:
                present[name].add(f"line {line_number}", raw)
                if is_fill:
                    fills[name].add(f"line {line_number}", raw)
    if not records:
        raise SampleFileError(f"{path}: empty file, expected JSON records (one object a line)")
    found = [name for name in wanted if name in seen]
    if not found:
        if column is not None:
            raise SampleFileError(f"{path}: no column {column!r} in any record (keys: {_listing(list(keys))})")
        _default_column(path, list(keys), allow_single=False)  # raises, naming the keys there are
    chosen = found[0]
    taken = fills[chosen].checked() if fills[chosen].values or fills[chosen].error else present[chosen].checked()
    return chosen, taken, records, truncated


def _number(path: Path, column: str, where: str, raw: Any, non_negative: bool) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise SampleFileError(f"{path}: column {column!r}: {where}: {json.dumps(raw)[:40]} is not a number")
    try:
        value = float(raw)
    except ValueError:
        shown = repr(raw) if raw else "an empty value"
        raise SampleFileError(f"{path}: column {column!r}: {where}: {shown} is not a number") from None
    if not math.isfinite(value):
        raise SampleFileError(f"{path}: column {column!r}: {where}: {raw!r} is not a finite number")
    if non_negative and value < 0:
        raise SampleFileError(f"{path}: column {column!r}: {where}: {raw!r} is negative (latency cannot be)")
    return value
