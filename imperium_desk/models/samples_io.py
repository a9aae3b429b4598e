"""Reading one numeric column of samples from a CSV file (header row) or a JSONL file (one object a line,
e.g. the desk's telemetry), with errors that name the file, the column and the row.

Telemetry: when records carry an `event` field, only `fill` and `partial_fill` records are read if any of them
has the column (an order's `ack` repeats the latency its fill carries); otherwise every record that has it.
Records whose value is null (telemetry writes null where a key does not apply) are passed over.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

DEFAULT_COLUMNS = ("latency_ms", "slippage", "slippage_bps")  # the default column: the first of these present
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_FILL_EVENTS = ("fill", "partial_fill")


class SampleFileError(ValueError):
    """A sample file was rejected; the message is one line naming the file (and column and row where known)."""


@dataclass(frozen=True)
class SampleColumn:
    """The values read from one column of a sample file, with the file and the column they came from (the column chosen
    when none was asked for). In the column's own unit: see `column_kind`."""

    path: Path
    column: str
    values: NDArray[np.float64]


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
    column, or a value that is not a finite number (or is negative where it must not be)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's leading BOM is not part of the header
    except UnicodeDecodeError:
        raise SampleFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SampleFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    is_jsonl = path.suffix.lower() in _JSONL_SUFFIXES or text.lstrip().startswith("{")
    chosen, rows = _jsonl_column(path, text, column) if is_jsonl else _csv_column(path, text, column)
    if non_negative is None:
        non_negative = column_kind(chosen)[0] == "latency"
    values = [_number(path, chosen, where, raw, non_negative) for where, raw in rows]
    if not values:
        raise SampleFileError(f"{path}: column {chosen!r} has no values")
    return SampleColumn(path, chosen, np.asarray(values, dtype=np.float64))


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


def _csv_column(path: Path, text: str, column: str | None) -> tuple[str, list[tuple[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):  # blank lines before the header
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
        rows: list[tuple[str, Any]] = []
        for number, record in enumerate(_non_blank(reader), start=1):
            if len(record) != len(names):
                raise SampleFileError(
                    f"{path}: malformed CSV: row {number} (line {reader.line_num}) has {len(record)} fields, "
                    f"the header has {len(names)}"
                )
            rows.append((f"row {number} (line {reader.line_num})", record[index].strip()))
    except csv.Error as exc:
        raise SampleFileError(f"{path}: malformed CSV at line {reader.line_num}: {exc}") from None
    return chosen, rows


def _non_blank(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    for record in reader:
        if record:  # a blank line; an empty cell ("" or a trailing comma) is a value, and not a number
            yield record


def _jsonl_column(path: Path, text: str, column: str | None) -> tuple[str, list[tuple[str, Any]]]:
    records: list[tuple[int, dict[str, Any]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SampleFileError(f"{path}: line {line_number}: not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise SampleFileError(f"{path}: line {line_number}: expected a JSON object, got {type(record).__name__}")
        records.append((line_number, record))
    if not records:
        raise SampleFileError(f"{path}: empty file, expected JSON records (one object a line)")
    keys = sorted({key for _, record in records for key in record})
    chosen = column if column is not None else _default_column(path, keys, allow_single=False)
    if chosen not in keys:
        raise SampleFileError(f"{path}: no column {chosen!r} in any record (keys: {_listing(keys)})")
    present = [(n, r) for n, r in records if r.get(chosen) is not None]
    fills = [(n, r) for n, r in present if r.get("event") in _FILL_EVENTS]
    return chosen, [(f"line {n}", r[chosen]) for n, r in (fills or present)]


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
