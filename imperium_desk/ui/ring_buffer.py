"""A fixed-capacity ring buffer of float64 columns for live charts (Qt-free, so it is tested without a display).

Storage is one preallocated `(columns, capacity)` array: each column is a contiguous row, so the ordered view hands
pyqtgraph contiguous x and y arrays. Appends are O(1) and never allocate; `view()` builds the insertion-ordered copy
with at most one `np.concatenate` and caches it until the next write, so a chart redrawing at 25 Hz pays for one copy
per redraw however many records arrived in between.

A live chart's frames use `ordered_into` / `column_into` instead: the same ordered rows, written into an array the
chart allocated once. At 100,000 rows a fresh copy is 1.6 MB, which the C allocator maps and unmaps each time; the
page faults of touching it made a copy cost 0.5-0.9 ms instead of 0.05 ms, twice a frame
(benchmarks/ui_responsiveness.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


class RingBuffer:
    """The newest `capacity` rows of a few named float64 columns, oldest first when viewed."""

    __slots__ = ("_cache", "_capacity", "_columns", "_data", "_index", "_next", "_size")

    def __init__(self, capacity: int, columns: Sequence[str] = ("t", "y")) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: {capacity} must be at least 1")
        if not columns or len(set(columns)) != len(columns):
            raise ValueError(f"columns: {list(columns)} must be distinct and not empty")
        self._columns = tuple(columns)
        self._index = {name: i for i, name in enumerate(self._columns)}
        self._capacity = capacity
        self._data: FloatArray = np.zeros((len(self._columns), capacity), dtype=np.float64)
        self._next = 0  # the slot the next row goes to (the oldest row once full)
        self._size = 0
        self._cache: FloatArray | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def columns(self) -> tuple[str, ...]:
        return self._columns

    def __len__(self) -> int:
        return self._size

    def append(self, *values: float) -> None:
        """One row, one value per column (O(1), no allocation)."""
        i = self._next
        self._data[:, i] = values
        self._next = 0 if i + 1 == self._capacity else i + 1
        if self._size < self._capacity:
            self._size += 1
        self._cache = None

    def extend(self, *columns: ArrayLike) -> None:
        """Many rows at once, one equal-length array per column; only the newest `capacity` rows are kept."""
        block = np.asarray(columns, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != len(self._columns):
            raise ValueError(f"extend: expected {len(self._columns)} equal-length 1-D columns, got shape {block.shape}")
        n = block.shape[1]
        if n == 0:
            return
        capacity = self._capacity
        if n >= capacity:  # the block alone fills the buffer: keep its tail, restart at slot 0
            self._data[:, :] = block[:, n - capacity:]
            self._next, self._size = 0, capacity
        else:
            start = self._next
            first = min(n, capacity - start)  # rows that fit before the end; the rest wrap to the front
            self._data[:, start:start + first] = block[:, :first]
            if first < n:
                self._data[:, :n - first] = block[:, first:]
            self._next = (start + n) % capacity
            self._size = min(self._size + n, capacity)
        self._cache = None

    def clear(self) -> None:
        self._next = self._size = 0
        self._cache = None

    def view(self) -> FloatArray:
        """The rows in insertion order as a read-only `(columns, len)` array (a copy, cached until the next write:
        charts may hold it while later appends overwrite the ring)."""
        if self._cache is None:
            if self._size < self._capacity:  # not wrapped yet: rows 0.._size are already in order
                ordered = self._data[:, :self._size].copy()
            else:
                ordered = np.concatenate((self._data[:, self._next:], self._data[:, :self._next]), axis=1)
            ordered.setflags(write=False)
            self._cache = ordered
        return self._cache

    def ordered_into(self, out: FloatArray) -> FloatArray:
        """The rows in insertion order, written into `out` (a `(columns, >= len)` array the caller owns and
        reuses), returned as `out[:, :len]`: `view()` without allocating. Valid until the caller writes `out`
        again."""
        if out.ndim != 2 or out.shape[0] != len(self._columns) or out.shape[1] < self._size:
            raise ValueError(f"out: shape {out.shape} cannot hold {len(self._columns)} columns of {self._size} rows")
        self._copy_ordered(self._data, out)
        return out[:, :self._size]

    def column_into(self, name: str, out: FloatArray) -> FloatArray:
        """One column in insertion order, written into `out` (1-D, `>= len`), returned as `out[:len]`."""
        if out.ndim != 1 or out.shape[0] < self._size:
            raise ValueError(f"out: shape {out.shape} cannot hold {self._size} rows")
        self._copy_ordered(self._data[self._index[name]], out)
        return out[:self._size]

    def _copy_ordered(self, data: FloatArray, out: FloatArray) -> None:
        """`data` (the storage, or one of its rows) in insertion order into the front of `out` (last axis)."""
        if self._size < self._capacity:
            out[..., :self._size] = data[..., :self._size]
            return
        older = self._capacity - self._next  # the oldest rows sit from `_next` to the end of the storage
        out[..., :older] = data[..., self._next:]
        out[..., older:self._capacity] = data[..., :self._next]

    def column(self, name: str) -> FloatArray:
        """One column of `view()`, in insertion order (contiguous, read-only)."""
        row: FloatArray = self.view()[self._index[name]]
        return row


def peak_decimate(x: FloatArray, y: FloatArray, lo: float, hi: float, max_points: int) -> tuple[FloatArray, FloatArray]:
    """The points of (x, y) inside [lo, hi] (x ascending), reduced to at most `max_points` by keeping each
    bucket's minimum and maximum: spikes survive, and a 100,000-point series costs the plot a few thousand.
    One point either side of the window is kept so a line still runs to the edges. The result is always new
    arrays (never views of x and y), so the caller may reuse its inputs while a plot holds the result."""
    if max_points < 4:
        raise ValueError(f"max_points: {max_points} must be at least 4")
    first = max(int(np.searchsorted(x, lo, side="left")) - 1, 0)
    last = min(int(np.searchsorted(x, hi, side="right")) + 1, x.size)
    xs, ys = x[first:last], y[first:last]
    n = xs.size
    if n <= max_points:
        return xs.copy(), ys.copy()
    buckets = max_points // 2
    per = -(-n // buckets)  # ceil
    usable = (n // per) * per
    yb = ys[:usable].reshape(-1, per)
    rows = np.arange(yb.shape[0])
    lo_idx = yb.argmin(axis=1)
    hi_idx = yb.argmax(axis=1)
    first_idx = np.minimum(lo_idx, hi_idx)
    second_idx = np.maximum(lo_idx, hi_idx)
    base = rows * per
    order = np.empty(2 * rows.size, dtype=np.int64)
    order[0::2] = base + first_idx
    order[1::2] = base + second_idx
    if usable < n:  # the partial last bucket, whole
        order = np.concatenate((order, np.arange(usable, n)))
    return xs[order], ys[order]
