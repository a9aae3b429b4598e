"""Fitting model families to samples (models/fitting.py) and reading sample files (models/samples_io.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imperium_desk.config import config_from_mapping
from imperium_desk.models.fitting import FAMILIES, FitResult, Kind, config_mapping, fit_all, most_common
from imperium_desk.models.samples_io import SampleFileError, column_kind, read_samples

BIG = 100_000  # the claim: parameters within 3% at 100,000 samples


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def only(samples: np.ndarray, kind: Kind, family: str) -> dict[str, Any]:
    (result,) = fit_all(samples, kind, families=[family])
    assert result.fitted, result.skipped
    return result.params


def close(value: float, truth: float) -> bool:
    return abs(value - truth) <= 0.03 * abs(truth)


# -- parameter recovery (within 3% at 100,000 samples) -----------------------------------------------------------
def test_normal_fit_recovers_mean_and_std() -> None:
    params = only(rng(1).normal(3.0, 0.8, BIG), "slippage", "normal")
    assert close(params["mean"], 3.0) and close(params["std"], 0.8)


def test_lognormal_fit_recovers_median_and_sigma() -> None:
    params = only(rng(2).lognormal(math.log(40.0), 0.3, BIG), "latency", "lognormal")
    assert close(params["median_ms"], 40.0) and close(params["sigma"], 0.3)


def test_exponential_fit_recovers_the_mean() -> None:
    params = only(rng(3).exponential(25.0, BIG), "latency", "exponential")
    assert close(params["mean_ms"], 25.0)


def test_shifted_lognormal_fit_recovers_floor_median_and_sigma() -> None:
    samples = 15.0 + rng(4).lognormal(math.log(25.0), 0.5, BIG)
    params = only(samples, "latency", "shifted_lognormal")
    assert close(params["floor_ms"], 15.0)
    assert close(params["model"]["median_ms"], 25.0) and close(params["model"]["sigma"], 0.5)


def test_shifted_exponential_fit_recovers_floor_and_mean() -> None:
    samples = 12.0 + rng(5).exponential(30.0, BIG)
    params = only(samples, "latency", "shifted_exponential")
    assert close(params["floor_ms"], 12.0) and close(params["model"]["mean_ms"], 30.0)


def test_student_t_fit_recovers_loc_scale_and_df() -> None:
    samples = 1.5 + 2.0 * rng(6).standard_t(3.0, BIG)
    params = only(samples, "slippage", "student_t")
    assert close(params["loc"], 1.5) and close(params["scale"], 2.0) and close(params["df"], 3.0)


def test_two_component_lognormal_mixture_fit_recovers_weights_and_medians() -> None:
    g = rng(7)
    slow = g.random(BIG) < 0.2
    samples = np.where(slow, g.lognormal(math.log(120.0), 0.3, BIG), g.lognormal(math.log(30.0), 0.25, BIG))
    fast, slow_part = only(samples, "latency", "mixture_2")["components"]
    assert close(fast["weight"], 0.8) and close(slow_part["weight"], 0.2)
    assert close(fast["median_ms"], 30.0) and close(slow_part["median_ms"], 120.0)
    assert close(fast["sigma"], 0.25) and close(slow_part["sigma"], 0.3)


# -- the right family wins on clearly separated cases ----------------------------------------------------------
N = 10_000


def winner(samples: np.ndarray, kind: Kind) -> str:
    return fit_all(samples, kind)[0].family


def test_lognormal_with_sigma_0_8_beats_every_other_family() -> None:
    assert winner(rng(11).lognormal(math.log(40.0), 0.8, N), "latency") == "lognormal"


def test_exponential_beats_lognormal_on_exponential_samples() -> None:
    assert winner(rng(12).exponential(30.0, N), "latency") == "exponential"


def test_normal_wins_on_normal_slippage() -> None:
    assert winner(rng(13).normal(1.0, 2.0, N), "slippage") == "normal"


def test_a_bimodal_latency_sample_is_fitted_by_a_two_component_mixture() -> None:
    g = rng(14)
    samples = np.where(g.random(N) < 0.7, g.lognormal(math.log(30.0), 0.15, N), g.lognormal(math.log(90.0), 0.15, N))
    assert winner(samples, "latency") == "mixture_2"


def test_heavy_tailed_slippage_is_fitted_by_student_t() -> None:
    assert winner(0.5 + rng(15).standard_t(2.5, N), "slippage") == "student_t"


# -- results ---------------------------------------------------------------------------------------------------
def test_results_are_ranked_by_the_chosen_criterion() -> None:
    samples = rng(21).lognormal(3.0, 0.5, 2_000)
    for criterion in ("aic", "bic"):
        scores = [getattr(r, criterion) for r in fit_all(samples, "latency", criterion=criterion)]
        assert scores == sorted(scores)


def test_aic_and_bic_follow_from_loglik_and_parameter_count() -> None:
    samples = rng(22).normal(5.0, 1.0, 1_000)
    for r in fit_all(samples, "slippage"):
        if r.fitted:
            assert r.aic == pytest.approx(2 * r.n_params - 2 * r.loglik)
            assert r.bic == pytest.approx(r.n_params * math.log(1_000) - 2 * r.loglik)


def test_every_family_is_fitted_or_skipped_once() -> None:
    results = fit_all(rng(23).normal(1.0, 1.0, 1_000), "slippage")
    assert sorted(r.family for r in results) == sorted(FAMILIES)


def test_families_that_need_positive_samples_are_skipped_with_a_reason_for_signed_slippage() -> None:
    results = {r.family: r for r in fit_all(rng(24).normal(0.5, 1.0, 1_000), "slippage")}
    assert "> 0" in str(results["lognormal"].skipped)
    assert "negative" in str(results["exponential"].skipped)
    assert results["normal"].fitted and results["student_t"].fitted


def test_skipped_families_come_after_every_fitted_one() -> None:
    fitted = [r.fitted for r in fit_all(rng(24).normal(0.5, 1.0, 1_000), "slippage")]
    assert fitted == [True] * 6 + [False] * 2


def test_ks_test_accepts_the_true_family_and_rejects_a_wrong_one() -> None:
    results = {r.family: r for r in fit_all(rng(25).lognormal(3.0, 0.6, 5_000), "latency")}
    assert results["lognormal"].ks_pvalue > 0.05
    assert results["normal"].ks_pvalue < 1e-6


def test_the_latency_normal_loglik_includes_the_truncation_at_zero() -> None:
    samples = np.abs(rng(26).normal(2.0, 2.0, 1_000))  # much of a plain normal fit's mass lies below zero
    (result,) = fit_all(samples, "latency", families=["normal"])
    mean, std = result.params["mean_ms"], result.params["std_ms"]
    plain = float(np.sum(-0.5 * ((samples - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))))
    assert result.loglik > plain + 50


def test_a_latency_floor_stays_below_the_smallest_sample() -> None:
    samples = 15.0 + rng(27).lognormal(math.log(25.0), 0.5, 2_000)
    for family in ("shifted_lognormal", "shifted_exponential"):
        assert only(samples, "latency", family)["floor_ms"] < samples.min()


def point_mass_sample() -> np.ndarray:
    """Like a short replay's slippage: many fills at exactly zero, the rest spread widely."""
    return np.concatenate([np.zeros(19), rng(30).normal(-3.0, 35.0, 23)])


def test_a_mixture_that_collapses_onto_tied_values_is_skipped_as_degenerate() -> None:
    (result,) = fit_all(point_mass_sample(), "slippage", families=["mixture_2"])
    assert result.skipped is not None
    assert "degenerate" in result.skipped and "19 of 42 samples equal 0" in result.skipped


def test_a_student_t_that_collapses_onto_tied_values_is_skipped_as_degenerate() -> None:
    (result,) = fit_all(point_mass_sample(), "slippage", families=["student_t"])
    assert result.skipped is not None and "degrees of freedom run to their 0.2 bound" in result.skipped


def test_most_common_finds_a_point_mass() -> None:
    assert most_common(point_mass_sample()) == (0.0, 19)


def test_rounded_mixture_weights_sum_to_one() -> None:
    samples = rng(28).lognormal(3.0, 0.7, 3_000)
    for family in ("mixture_2", "mixture_3"):
        weights = [c["weight"] for c in only(samples, "latency", family)["components"]]
        assert abs(math.fsum(weights) - 1.0) < 1e-9


def test_fitting_is_deterministic() -> None:
    samples = rng(29).lognormal(3.0, 0.5, 3_000)
    assert fit_all(samples, "latency") == fit_all(samples, "latency")


# -- emitted configs load as is --------------------------------------------------------------------------------
SAMPLES: dict[str, np.ndarray] = {
    "latency": 10.0 + rng(31).lognormal(3.0, 0.4, 2_000),
    "slippage": 0.5 + rng(32).standard_t(4.0, 2_000),
    "positive slippage": rng(33).lognormal(0.0, 0.5, 2_000),
}


EMIT_CASES = [
    (case, family)
    for case in sorted(SAMPLES)
    for family in FAMILIES
    if not (case == "slippage" and family in ("lognormal", "exponential"))  # negative samples: skipped
]


@pytest.mark.parametrize(("case", "family"), EMIT_CASES)
def test_every_fitted_family_emits_a_config_that_loads(case: str, family: str) -> None:
    kind: Kind = "latency" if case == "latency" else "slippage"
    (result,) = fit_all(SAMPLES[case], kind, unit="ticks", families=[family])
    config = config_from_mapping(config_mapping(result, kind), "fit")
    model = getattr(config, f"{kind}_model").global_
    assert model.type == result.params["type"]
    if kind == "slippage":
        assert model.unit == "ticks"


def test_a_skipped_result_has_no_config() -> None:
    (result,) = fit_all(rng(34).normal(0.0, 1.0, 100), "slippage", families=["lognormal"])
    with pytest.raises(ValueError, match="lognormal was not fitted"):
        config_mapping(result, "slippage")


# -- input nothing can be fitted to ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("samples", "kind", "message"),
    [
        ([1.0, 2.0, 3.0], "latency", "need at least 10 samples to fit, got 3"),
        ([5.0] * 50, "latency", "all 50 samples equal 5.0"),
        ([1.0, 2.0, math.nan, *range(20)], "slippage", "1 samples are not finite numbers (first at index 2"),
        ([1.0, math.inf, *range(20)], "slippage", "not finite"),
        ([3.0, -1.0, *range(20)], "latency", "latency cannot be negative: 1 samples are (first at index 1: -1.0)"),
        (list(range(20)), "volume", "kind must be latency or slippage"),
    ],
)
def test_degenerate_input_raises_a_value_error_naming_the_problem(
    samples: list[float], kind: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_all(np.asarray(samples), kind)


def test_an_unknown_family_or_criterion_is_a_value_error() -> None:
    samples = rng(35).normal(size=100)
    with pytest.raises(ValueError, match="unknown families"):
        fit_all(samples, "slippage", families=["gamma"])
    with pytest.raises(ValueError, match="criterion"):
        fit_all(samples, "slippage", criterion="hqc")  # type: ignore[arg-type]


def test_slippage_may_be_all_negative() -> None:
    results = fit_all(-np.abs(rng(36).normal(1.0, 1.0, 500)), "slippage")
    assert isinstance(results[0], FitResult) and results[0].fitted


# -- reading sample files --------------------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_default_column_is_latency_ms(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "venue,latency_ms\nNSE,10.5\nNSE,12\n\n")
    samples = read_samples(path)
    assert samples.column == "latency_ms" and samples.values.tolist() == [10.5, 12.0]


def test_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("\ufefflatency_ms\n1\n2\n".encode())
    assert read_samples(path).values.tolist() == [1.0, 2.0]


def test_a_one_column_csv_needs_no_column_name(tmp_path: Path) -> None:
    assert read_samples(write(tmp_path / "s.csv", "fill_delay\n1\n2\n")).column == "fill_delay"


def test_telemetry_jsonl_reads_fill_records_only(tmp_path: Path) -> None:
    records = [
        {"event": "placed", "latency_ms": None, "slippage_bps": None},
        {"event": "ack", "latency_ms": 40.0},
        {"event": "fill", "latency_ms": 40.0, "slippage_bps": 1.5},
        {"event": "partial_fill", "latency_ms": 55.0, "slippage_bps": -0.5},
    ]
    path = write(tmp_path / "t.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    assert read_samples(path).values.tolist() == [40.0, 55.0]
    assert read_samples(path, "slippage_bps").values.tolist() == [1.5, -0.5]


def test_plain_jsonl_reads_every_record_with_the_column(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", '{"latency_ms": 1}\n{"other": 2}\n{"latency_ms": 3.5}\n')
    assert read_samples(path).values.tolist() == [1.0, 3.5]


@pytest.mark.parametrize(
    ("column", "kind", "unit"),
    [
        ("latency_ms", "latency", "bps"),
        ("slippage_bps", "slippage", "bps"),
        ("slippage", "slippage", "price"),
        ("slip_ticks", "slippage", "ticks"),
    ],
)
def test_the_column_name_says_what_the_samples_are(column: str, kind: str, unit: str) -> None:
    assert column_kind(column) == (kind, unit)


@pytest.mark.parametrize(
    ("name", "text", "column", "message"),
    [
        ("a.csv", "latency_ms,venue\n1,NSE\n2\n", None, "malformed CSV: row 2 (line 3) has 1 fields, the header has 2"),
        ("a.csv", "", None, "empty file"),
        ("a.csv", "a,a\n1,2\n", "a", "header names 'a' twice"),
        ("a.csv", "latency_ms\n1\n", "lat", "no column 'lat' (columns: latency_ms)"),
        ("a.csv", "x,y\n1,2\n", None, "no latency_ms / slippage / slippage_bps column; name one with --column"),
        ("a.csv", "latency_ms\n", None, "column 'latency_ms' has no values"),
        ("a.csv", "latency_ms\n1\nfast\n", None, "column 'latency_ms': row 2 (line 3): 'fast' is not a number"),
        ("a.csv", 'latency_ms\n1\n""\n', None, "row 2 (line 3): an empty value is not a number"),
        ("a.csv", "latency_ms\n1\nnan\n", None, "row 2 (line 3): 'nan' is not a finite number"),
        ("a.csv", "latency_ms\n1\n-2\n", None, "row 2 (line 3): '-2' is negative (latency cannot be)"),
        ("a.csv", "slippage_bps\n1\n-2\n", None, None),
        ("a.jsonl", '{"latency_ms": 1}\n{"latency_ms": \n', None, "line 2: not valid JSON"),
        ("a.jsonl", "[1, 2]\n", None, "line 1: expected a JSON object, got list"),
        ("a.jsonl", '{"latency_ms": 1}\n{"latency_ms": "x"}\n', None, "column 'latency_ms': line 2: 'x' is not"),
        ("a.jsonl", '{"latency_ms": 1}\n{"latency_ms": true}\n', None, "line 2: true is not a number"),
        ("a.jsonl", '{"latency_ms": 1}\n', "slippage", "no column 'slippage' in any record (keys: latency_ms)"),
        ("a.jsonl", '{"latency_ms": null}\n', None, "column 'latency_ms' has no values"),
    ],
)
def test_bad_sample_files_are_rejected_with_the_file_column_and_row(
    tmp_path: Path, name: str, text: str, column: str | None, message: str | None
) -> None:
    path = write(tmp_path / name, text)
    if message is None:  # the control: the same shape with a valid value loads
        assert read_samples(path, column).values.size == 2
        return
    with pytest.raises(SampleFileError) as caught:
        read_samples(path, column)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_rejected_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match=r"nope\.csv: cannot read: No such file"):
        read_samples(tmp_path / "nope.csv")


def test_a_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"latency_ms\n\xff\xfe\x00\n")
    with pytest.raises(SampleFileError, match="not UTF-8"):
        read_samples(path)
