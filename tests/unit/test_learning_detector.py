"""Change detection: the two-sided CUSUM on standardised residuals and the window mean test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imperium_desk.feedback.learning.detector import Cusum, mean_shift


def cusum() -> Cusum:
    return Cusum(drift=0.5, threshold=10.0, clip=3.0)


def first_alarm(detector: Cusum, residuals: np.ndarray) -> tuple[int, object] | None:
    for i, r in enumerate(residuals):
        alarm = detector.update(float(r))
        if alarm is not None:
            return i, alarm
    return None


def test_no_alarm_on_residuals_from_the_model_itself() -> None:
    residuals = np.random.default_rng(1).standard_normal(20_000)
    assert first_alarm(cusum(), residuals) is None


def test_an_upward_shift_raises_an_alarm_within_a_few_samples() -> None:
    rng = np.random.default_rng(2)
    residuals = np.concatenate([rng.standard_normal(500), rng.standard_normal(100) + 4.0])
    found = first_alarm(cusum(), residuals)
    assert found is not None
    at, alarm = found
    assert alarm.direction == "up" and 500 <= at <= 506  # type: ignore[attr-defined]


def test_the_change_is_dated_at_the_shift_in_most_runs() -> None:
    errors = []
    for seed in range(50):
        rng = np.random.default_rng(seed)
        residuals = np.concatenate([rng.standard_normal(500), rng.standard_normal(100) + 4.0])
        found = first_alarm(cusum(), residuals)
        assert found is not None
        errors.append(found[1].start - 500)  # type: ignore[attr-defined]
    assert sum(e == 0 for e in errors) >= 40 and sum(abs(e) <= 2 for e in errors) >= 45


def test_a_downward_shift_alarms_down() -> None:
    rng = np.random.default_rng(4)
    residuals = np.concatenate([rng.standard_normal(300), rng.standard_normal(100) - 4.0])
    found = first_alarm(cusum(), residuals)
    assert found is not None and found[1].direction == "down"  # type: ignore[attr-defined]


def test_one_huge_residual_does_not_alarm() -> None:
    residuals = np.zeros(50)
    residuals[10] = 1e6  # a mixture's slow tail: clipped to 3
    assert first_alarm(cusum(), residuals) is None


def test_skipped_samples_keep_the_index_counting() -> None:
    detector = cusum()
    detector.skip()
    detector.skip()
    found = first_alarm(detector, np.full(20, 5.0))
    assert found is not None and found[1].start == 2  # type: ignore[attr-defined]


def test_cusum_refuses_a_non_positive_threshold() -> None:
    with pytest.raises(ValueError, match="positive"):
        Cusum(drift=0.5, threshold=0.0, clip=3.0)


def test_mean_shift_measures_the_gap_in_standard_errors() -> None:
    shift = mean_shift([1.0, 3.0] * 50, reference=1.0, floor=0.1)
    assert shift is not None
    se = math.sqrt(np.var([1.0, 3.0] * 50, ddof=1) / 100)
    assert shift.mean == pytest.approx(2.0) and shift.z == pytest.approx(1.0 / se)
    assert shift.relative == pytest.approx(1.0)


def test_mean_shift_uses_the_floor_for_a_tiny_reference() -> None:
    shift = mean_shift([0.5, 0.7], reference=0.01, floor=1.0)
    assert shift is not None and shift.relative == pytest.approx(0.59)


def test_mean_shift_of_a_window_without_spread_is_infinite_when_it_differs() -> None:
    shift = mean_shift([5.0] * 10, reference=1.0, floor=1.0)
    assert shift is not None and shift.z == math.inf
