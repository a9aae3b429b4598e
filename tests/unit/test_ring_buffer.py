"""RingBuffer: the fixed-capacity, insertion-ordered store behind the live charts (no Qt needed)."""

from __future__ import annotations

import numpy as np
import pytest

from imperium_desk.ui.ring_buffer import RingBuffer, peak_decimate


def test_an_empty_buffer_views_as_no_rows() -> None:
    buf = RingBuffer(4)
    assert len(buf) == 0
    assert buf.view().shape == (2, 0)
    assert buf.column("t").size == 0


def test_appends_view_in_insertion_order_before_wrapping() -> None:
    buf = RingBuffer(4)
    buf.append(0.0, 10.0)
    buf.append(1.0, 11.0)
    assert len(buf) == 2
    np.testing.assert_array_equal(buf.view(), [[0.0, 1.0], [10.0, 11.0]])


def test_wrap_around_keeps_the_newest_rows_oldest_first() -> None:
    buf = RingBuffer(3)
    for i in range(7):
        buf.append(float(i), float(i) * 10.0)
    assert len(buf) == 3
    np.testing.assert_array_equal(buf.column("t"), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(buf.column("y"), [40.0, 50.0, 60.0])


def test_capacity_is_never_exceeded() -> None:
    buf = RingBuffer(5, columns=("t",))
    for i in range(12):
        buf.append(float(i))
        assert len(buf) == min(i + 1, 5)
    assert buf.view().shape == (1, 5)


def test_extend_wraps_across_the_end_of_the_ring() -> None:
    buf = RingBuffer(5)
    buf.extend([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    buf.extend([3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0])  # two fit before the end, two wrap to the front
    np.testing.assert_array_equal(buf.column("t"), [2.0, 3.0, 4.0, 5.0, 6.0])


def test_extend_longer_than_capacity_keeps_the_newest() -> None:
    buf = RingBuffer(4)
    buf.append(-1.0, -1.0)
    t = np.arange(10, dtype=np.float64)
    buf.extend(t, t * 2.0)
    assert len(buf) == 4
    np.testing.assert_array_equal(buf.column("t"), [6.0, 7.0, 8.0, 9.0])
    np.testing.assert_array_equal(buf.column("y"), [12.0, 14.0, 16.0, 18.0])
    buf.append(10.0, 20.0)  # appends carry on from the right slot after a full overwrite
    np.testing.assert_array_equal(buf.column("t"), [7.0, 8.0, 9.0, 10.0])


def test_extend_and_append_interleave_in_order() -> None:
    buf = RingBuffer(6, columns=("t",))
    expected: list[float] = []
    for step in range(20):
        if step % 3 == 0:
            block = [float(len(expected) + k) for k in range(4)]
            buf.extend(block)
            expected.extend(block)
        else:
            buf.append(float(len(expected)))
            expected.append(float(len(expected)))
    np.testing.assert_array_equal(buf.column("t"), expected[-6:])


@pytest.mark.parametrize("appended", [0, 2, 3, 5, 7])
def test_ordered_into_writes_what_view_shows_into_the_callers_array(appended: int) -> None:
    buf = RingBuffer(3)
    for i in range(appended):
        buf.append(float(i), float(i) * 10.0)
    out = np.full((2, 3), np.nan)
    rows = buf.ordered_into(out)
    np.testing.assert_array_equal(rows, buf.view())
    assert rows.base is out  # a slice of the caller's array, not a new one
    column = np.full(5, np.nan)
    np.testing.assert_array_equal(buf.column_into("y", column), buf.column("y"))


def test_ordered_into_refuses_an_array_too_small_for_the_rows() -> None:
    buf = RingBuffer(4)
    for i in range(3):
        buf.append(float(i), 0.0)
    with pytest.raises(ValueError, match=r"out: shape \(2, 2\) cannot hold 2 columns of 3 rows"):
        buf.ordered_into(np.empty((2, 2)))
    with pytest.raises(ValueError, match=r"out: shape \(2,\) cannot hold 3 rows"):
        buf.column_into("t", np.empty(2))


def test_view_is_cached_until_the_next_write_and_read_only() -> None:
    buf = RingBuffer(3)
    buf.append(1.0, 2.0)
    first = buf.view()
    assert buf.view() is first
    with pytest.raises(ValueError):
        first[0, 0] = 9.0
    buf.append(2.0, 3.0)
    assert buf.view() is not first
    np.testing.assert_array_equal(first, [[1.0], [2.0]])  # a held view does not change under later writes


def test_clear_empties_the_buffer() -> None:
    buf = RingBuffer(3)
    buf.extend([1.0, 2.0], [1.0, 2.0])
    buf.clear()
    assert len(buf) == 0
    assert buf.view().shape == (2, 0)
    buf.append(5.0, 6.0)
    np.testing.assert_array_equal(buf.view(), [[5.0], [6.0]])


def test_extend_rejects_mismatched_columns() -> None:
    buf = RingBuffer(3)
    with pytest.raises(ValueError, match="extend"):
        buf.extend([1.0, 2.0])


def test_peak_decimation_keeps_spikes_and_bounds_the_points() -> None:
    x = np.arange(100_000, dtype=np.float64)
    y = np.zeros(100_000)
    y[54_321] = 9.0
    y[77_777] = -4.0
    xs, ys = peak_decimate(x, y, 0.0, 100_000.0, 2000)
    assert xs.size <= 2000 + 100
    assert ys.max() == 9.0 and ys.min() == -4.0
    assert np.all(np.diff(xs) >= 0)  # in time order (a flat bucket repeats its point)


def test_peak_decimation_clips_to_the_window() -> None:
    x = np.arange(1000, dtype=np.float64)
    xs, _ = peak_decimate(x, x.copy(), 100.0, 200.0, 2000)
    assert xs[0] == 99.0 and xs[-1] == 201.0


def test_a_short_series_is_drawn_whole() -> None:
    x = np.arange(10, dtype=np.float64)
    xs, ys = peak_decimate(x, x * 2, -1.0, 100.0, 2000)
    assert xs.tolist() == x.tolist() and ys.tolist() == (x * 2).tolist()


def test_peak_decimate_hands_back_new_arrays_even_when_nothing_is_dropped() -> None:
    x = np.arange(10, dtype=np.float64)
    xs, ys = peak_decimate(x, x * 2.0, 0.0, 9.0, 100)
    np.testing.assert_array_equal(xs, x)
    assert not np.shares_memory(xs, x) and not np.shares_memory(ys, x)  # the caller may overwrite its inputs
