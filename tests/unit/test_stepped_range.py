"""Stepped axis ranges: they move a few times as data grow, not on every new point."""

from __future__ import annotations

import pytest

from imperium_desk.ui.stepped_range import GrowingRange, SteppedRange


def test_the_first_data_set_the_range_with_headroom() -> None:
    assert SteppedRange(headroom=0.25).update(0.0, 4.0) == (-1.0, 5.0)


def test_data_inside_the_range_keep_it() -> None:
    r = SteppedRange()
    r.update(0.0, 4.0)
    assert r.update(0.5, 4.5) is None


def test_data_leaving_the_range_move_it() -> None:
    r = SteppedRange(headroom=0.25)
    r.update(0.0, 4.0)
    assert r.update(0.0, 8.0) == (-2.0, 10.0)


def test_data_using_a_small_part_of_the_range_shrink_it() -> None:
    r = SteppedRange(headroom=0.25, shrink_below=0.3)
    r.update(0.0, 100.0)
    assert r.update(10.0, 20.0) == (7.5, 22.5)


def test_a_growing_time_axis_changes_rarely_as_points_arrive() -> None:
    r = GrowingRange(headroom=0.25)
    changes = sum(r.update(0.0, t / 30.0) is not None for t in range(1, 30 * 600))
    assert changes < 40  # ten minutes of 30 frames a second


def test_a_growing_time_axis_starts_at_the_first_point() -> None:
    lo, hi = GrowingRange(headroom=0.5).update(3.0, 7.0) or (0.0, 0.0)
    assert (lo, hi) == (3.0, 9.0)


def test_non_finite_data_leave_the_range_alone() -> None:
    assert SteppedRange().update(float("nan"), 1.0) is None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="headroom"):
        SteppedRange(headroom=0.0)
