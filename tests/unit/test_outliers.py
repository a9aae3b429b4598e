"""Outlier rules (analysis/outliers.py): the robust z-score by MAD and the IQR fences, on hand-worked data."""

from __future__ import annotations

import numpy as np
import pytest

from imperium_desk.analysis.outliers import (
    OutlierScan,
    iqr_outliers,
    mad_outliers,
    robust_stats,
    robust_z,
    rules_hit,
)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# [10, 11, 12, 13, 14, 100]: median 12.5; |x − median| = 2.5, 1.5, 0.5, 0.5, 1.5, 87.5 → MAD 1.5;
# quartiles (linear): Q1 = 11.25, Q3 = 13.75, IQR 2.5, fences 7.5 and 17.5.
ONE_FAR = arr(10, 11, 12, 13, 14, 100)


def test_robust_stats_of_a_small_sample() -> None:
    s = robust_stats(ONE_FAR)
    assert (s.median, s.mad, s.q1, s.q3) == (12.5, 1.5, 11.25, 13.75)
    assert (s.low_fence, s.high_fence) == (7.5, 17.5)


def test_robust_z_is_0_6745_times_the_distance_in_mads() -> None:
    z = robust_z(ONE_FAR, robust_stats(ONE_FAR))
    # 100: 0.6745 · 87.5 / 1.5 = 39.3458; 10: 0.6745 · (−2.5) / 1.5 = −1.1242
    assert z[-1] == pytest.approx(39.345833) and z[0] == pytest.approx(-1.124167)


def test_a_far_value_breaks_both_rules() -> None:
    s = robust_stats(ONE_FAR)
    assert mad_outliers(ONE_FAR, s).tolist() == [False] * 5 + [True]
    assert iqr_outliers(ONE_FAR, s).tolist() == [False] * 5 + [True]
    assert rules_hit(100.0, s) == ("mad", "iqr")


def test_a_value_outside_the_iqr_fences_but_within_3_5_robust_z_is_an_iqr_outlier_only() -> None:
    # 1..20 and 35: median 11, MAD 5 → z(35) = 0.6745 · 24 / 5 = 3.2376 (< 3.5);
    # Q1 = 6, Q3 = 16, IQR 10 → high fence 31 < 35.
    x = arr(*range(1, 21), 35)
    s = robust_stats(x)
    assert robust_z(x, s)[-1] == pytest.approx(3.2376)
    assert rules_hit(35.0, s) == ("iqr",)


def test_a_value_beyond_3_5_robust_z_inside_the_fences_is_a_mad_outlier_only() -> None:
    # [0, 0, 1, 8, 10, 10, 11, 11, 11]: median 10, MAD 1 → z(0) = −6.745, z(1) = −6.0705;
    # Q1 = 1, Q3 = 11, IQR 10 → fences −14 and 26 hold everything.
    x = arr(0, 0, 1, 8, 10, 10, 11, 11, 11)
    s = robust_stats(x)
    assert mad_outliers(x, s).tolist() == [True, True, True] + [False] * 6
    assert not iqr_outliers(x, s).any()
    assert rules_hit(0.0, s) == ("mad",)


def test_with_mad_zero_the_mean_absolute_deviation_scales_z() -> None:
    # [5, 5, 5, 5, 5, 5, 6, 20]: MAD 0 (six of eight equal the median 5); MeanAD = (1 + 15)/8 = 2;
    # z = (x − 5)/(1.253314 · 2): z(20) = 5.9841 (outlier), z(6) = 0.3989 (not)
    x = arr(5, 5, 5, 5, 5, 5, 6, 20)
    s = robust_stats(x)
    assert s.mad == 0 and s.z_basis == "mean_ad"
    z = robust_z(x, s)
    assert z[-1] == pytest.approx(5.984131) and z[-2] == pytest.approx(0.398942)
    assert mad_outliers(x, s).tolist() == [False] * 7 + [True]


def test_all_equal_values_have_no_outliers() -> None:
    x = arr(3, 3, 3, 3)
    s = robust_stats(x)
    assert s.z_basis == "none"
    assert not mad_outliers(x, s).any() and not iqr_outliers(x, s).any()


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        robust_stats(arr())


def test_a_scan_lists_outliers_with_seq_parent_asset_value_and_rules() -> None:
    scan = OutlierScan("latency_ms", robust_stats(ONE_FAR))
    for seq, value in enumerate(ONE_FAR.tolist(), start=1):
        scan.add(value, seq, f"P{seq}", "NIFTY26NOV26000CE")
    (found,) = scan.listed()
    assert found.as_dict() == {
        "metric": "latency_ms", "seq": 6, "parent_id": "P6", "asset": "NIFTY26NOV26000CE", "value": 100.0,
        "robust_z": 39.346, "rules": ["mad", "iqr"],
    }


def test_a_scan_counts_every_outlier_but_lists_only_the_most_extreme() -> None:
    s = robust_stats(ONE_FAR)
    scan = OutlierScan("slippage_bps", s, limit=2)
    for seq, value in enumerate([100.0, 300.0, 12.0, 200.0, -50.0], start=1):
        scan.add(value, seq, None, None)
    assert scan.counts == {"mad": 4, "iqr": 4, "either": 4, "both": 4}
    assert [o.value for o in scan.listed()] == [300.0, 200.0]  # largest |z| first


def test_add_all_flags_the_same_values_as_one_at_a_time() -> None:
    x = arr(*range(1, 21), 35, -40)
    s = robust_stats(x)
    bulk, single = OutlierScan("m", s), OutlierScan("m", s)
    seqs = list(range(x.size))
    bulk.add_all(x, seqs, [None] * x.size, [None] * x.size)
    for i, v in enumerate(x.tolist()):
        single.add(v, i, None, None)
    assert bulk.counts == single.counts
    assert [o.seq for o in bulk.listed()] == [o.seq for o in single.listed()] == [21, 20]
