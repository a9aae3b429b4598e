"""Samples for the historical (empirical) model: one numeric column of a CSV file with a header row.

Read when a historical model's config is validated, so a bad file is rejected with the config: every error
names the file, the column and, where it applies, the data row (1 = the first row under the header) and the
line of the file.
"""

from __future__ import annotations

import csv
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class DataFileError(ValueError):
    """A data file (or one of its values) that cannot be used as model samples."""


def read_column(path: Path, column: str, *, non_negative: bool) -> FloatArray:
    """The finite float values of `column` in the CSV file `path`, in file order, as a read-only array.

    `non_negative` rejects negative values (latency samples). Re-reading an unchanged file is served from a
    small cache keyed by path, size and modification time: a config is validated again on every reload/switch.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _read_column_cached(str(path), stat.st_mtime_ns, stat.st_size, column, non_negative)


@lru_cache(maxsize=16)
def _read_column_cached(path: str, mtime_ns: int, size: int, column: str, non_negative: bool) -> FloatArray:
    cells, lines = _column_cells(Path(path), column)
    values = _parse(path, column, cells, lines)
    if non_negative:
        negative = np.flatnonzero(values < 0.0)
        if negative.size:
            i = int(negative[0])
            raise DataFileError(
                f"{_where(path, column, i, lines)}: negative latency {cells[i]!r} (latency samples must be >= 0)"
            )
    values.flags.writeable = False  # shared between models through the cache
    return values


def _column_cells(path: Path, column: str) -> tuple[list[str], list[int]]:
    """The column's cells (stripped) and the file line of each."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                raise DataFileError(f"{path}: empty file, expected a header row naming the column {column!r}")
            names = [name.strip() for name in header]
            if column not in names:
                raise DataFileError(f"{path}: no column {column!r} (columns: {', '.join(names) or 'none'})")
            at = names.index(column)
            cells: list[str] = []
            lines: list[int] = []
            for row in reader:
                if not row:
                    continue  # a blank line
                if len(row) != len(names):
                    raise DataFileError(
                        f"{path}: malformed CSV: line {reader.line_num} has {len(row)} field(s), "
                        f"the header has {len(names)}"
                    )
                cells.append(row[at].strip())
                lines.append(reader.line_num)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: malformed CSV: not UTF-8 text") from None
    except csv.Error as exc:
        raise DataFileError(f"{path}: malformed CSV: {exc}") from None
    if not any(cells):
        raise DataFileError(f"{path}: column {column!r} is empty (no values under the header)")
    return cells, lines


def _parse(path: str, column: str, cells: list[str], lines: list[int]) -> FloatArray:
    try:
        values = np.asarray(cells, dtype=np.float64)
    except ValueError:
        for i, cell in enumerate(cells):  # find the first bad cell, to name it
            try:
                float(cell)
            except ValueError:
                raise DataFileError(f"{_where(path, column, i, lines)}: {cell!r} is not a number") from None
        raise  # pragma: no cover - numpy and float() disagree on a cell
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise DataFileError(f"{_where(path, column, i, lines)}: {cells[i]!r} is not a finite number")
    return values


def _where(path: str, column: str, i: int, lines: list[int]) -> str:
    return f"{path}: column {column!r}, row {i + 1} (line {lines[i]})"


def silverman_bandwidth(samples: FloatArray) -> float:
    """Silverman's rule of thumb, 0.9 · min(std, IQR/1.34) · n^(-1/5); 0.0 when the samples do not spread."""
    n = samples.size
    if n < 2:
        return 0.0
    std = float(np.std(samples, ddof=1))
    q75, q25 = np.percentile(samples, [75.0, 25.0])
    iqr = float(q75 - q25) / 1.34
    spread = min(std, iqr) if iqr > 0.0 else std  # many ties make the IQR zero while the data still spread
    return 0.9 * spread * n ** (-0.2) if math.isfinite(spread) else 0.0
