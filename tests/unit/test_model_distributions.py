"""Every model family draws from the distribution it states: KS tests of vectorised samples and of scalar draws
against the sampler's own CDF, latency never negative, and the stated mean matching the sample mean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER
from imperium_desk.models.historical import silverman_bandwidth
from imperium_desk.models.samplers import Empirical, Sampler, Smoothed, latency_sampler, slippage_sampler
from imperium_desk.rng import BufferedDraws, RandomStreams

KS_N = 20_000
MEAN_N = 200_000
KS_P_MIN = 0.01
LATENCY_CSV = "<latency csv>"
SLIPPAGE_CSV = "<slippage csv>"
NEAR_ZERO_CSV = "<near-zero latency csv>"

LATENCY_CASES: dict[str, dict[str, Any]] = {
    "normal": {"type": "normal", "mean_ms": 50, "std_ms": 10},
    "normal_truncated": {"type": "normal", "mean_ms": 5, "std_ms": 50},
    "lognormal_median": {"type": "lognormal", "median_ms": 40, "sigma": 0.3},
    "lognormal_mu": {"type": "lognormal", "mu": 3.0, "sigma": 0.5},
    "exponential": {"type": "exponential", "mean_ms": 20},
    "student_t": {"type": "student_t", "loc_ms": 50, "scale_ms": 8, "df": 4},
    "student_t_truncated": {"type": "student_t", "loc_ms": 2, "scale_ms": 10, "df": 3},
    "shifted_lognormal": {
        "type": "shifted",
        "floor_ms": 15,
        "model": {"type": "lognormal", "median_ms": 10, "sigma": 0.5},
    },
    "shifted_exponential": {"type": "shifted", "floor_ms": 5, "model": {"type": "exponential", "mean_ms": 10}},
    "mixture": {
        "type": "mixture",
        "components": [
            {"weight": 0.95, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
            {"weight": 0.05, "type": "normal", "mean_ms": 400, "std_ms": 80},
        ],
    },
    "mixture_of_t_shifted_historical": {
        "type": "mixture",
        "components": [
            {"weight": 0.5, "type": "student_t", "loc_ms": 30, "scale_ms": 5, "df": 5},
            {"weight": 0.3, "type": "shifted", "floor_ms": 50, "model": {"type": "exponential", "mean_ms": 20}},
            {"weight": 0.2, "type": "historical", "source": LATENCY_CSV, "bandwidth_ms": 2.0},
        ],
    },
    "historical": {"type": "historical", "source": LATENCY_CSV},
    "historical_bandwidth": {"type": "historical", "source": LATENCY_CSV, "bandwidth_ms": 3.0},
    "historical_silverman": {"type": "historical", "source": LATENCY_CSV, "bandwidth_ms": "silverman"},
    "historical_reflected_at_zero": {"type": "historical", "source": NEAR_ZERO_CSV, "bandwidth_ms": 2.0},
}
SLIPPAGE_CASES: dict[str, dict[str, Any]] = {
    "normal": {"type": "normal", "mean": 1, "std": 2},
    "lognormal": {"type": "lognormal", "mu": 0, "sigma": 0.5, "unit": "ticks"},
    "exponential": {"type": "exponential", "mean": 2},
    "student_t": {"type": "student_t", "loc": 0.5, "scale": 1, "df": 3},
    "shifted": {"type": "shifted", "floor": -1, "model": {"type": "lognormal", "median": 2, "sigma": 0.4}},
    "mixture": {
        "type": "mixture",
        "unit": "price",
        "components": [
            {"weight": 0.8, "type": "normal", "mean": 0.1, "std": 0.05},
            {"weight": 0.2, "type": "lognormal", "median": 0.5, "sigma": 0.5},
        ],
    },
    "historical": {"type": "historical", "source": SLIPPAGE_CSV},
    "historical_bandwidth": {"type": "historical", "source": SLIPPAGE_CSV, "bandwidth": 0.5},
}
CASES = [("latency", name) for name in LATENCY_CASES] + [("slippage", name) for name in SLIPPAGE_CASES]
CASE_IDS = [f"{kind}-{name}" for kind, name in CASES]


@pytest.fixture(scope="module")
def csv_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Sample files: 1,000 values each (enough atoms that the bootstrap's steps barely show in a KS test)."""
    folder = tmp_path_factory.mktemp("samples")
    rng = np.random.default_rng(20260102)
    columns = {
        LATENCY_CSV: ("latency_ms", rng.lognormal(np.log(40.0), 0.35, 1000)),
        NEAR_ZERO_CSV: ("latency_ms", rng.exponential(1.5, 1000)),
        SLIPPAGE_CSV: ("slippage", rng.normal(0.8, 1.5, 1000)),
    }
    paths = {}
    for i, (key, (column, values)) in enumerate(columns.items()):
        path = folder / f"samples_{i}.csv"
        path.write_text(column + "\n" + "\n".join(f"{v:.6f}" for v in values) + "\n", encoding="utf-8")
        paths[key] = str(path)
    return paths


def _with_paths(node: Any, paths: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _with_paths(v, paths) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_paths(v, paths) for v in node]
    return paths.get(node, node) if isinstance(node, str) else node


def sampler_for(kind: str, name: str, paths: dict[str, str]) -> Sampler:
    if kind == "latency":
        return latency_sampler(LATENCY_ADAPTER.validate_python(_with_paths(LATENCY_CASES[name], paths)))
    return slippage_sampler(SLIPPAGE_ADAPTER.validate_python(_with_paths(SLIPPAGE_CASES[name], paths)))


def vectorised(sampler: Sampler, n: int, seed: int = 20260103) -> np.ndarray:
    return sampler.sample(np.random.default_rng(seed), n)


def scalar(sampler: Sampler, n: int, seed: int = 20260104) -> np.ndarray:
    draws: BufferedDraws = RandomStreams(seed).buffered("test", "distributions")
    return np.fromiter((sampler.draw(draws) for _ in range(n)), dtype=np.float64, count=n)


# --- KS against the model's own CDF ------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), CASES, ids=CASE_IDS)
def test_vectorised_samples_follow_the_models_own_cdf(kind: str, name: str, csv_paths: dict[str, str]) -> None:
    sampler = sampler_for(kind, name, csv_paths)
    assert stats.kstest(vectorised(sampler, KS_N), sampler.cdf).pvalue > KS_P_MIN


@pytest.mark.parametrize(("kind", "name"), CASES, ids=CASE_IDS)
def test_scalar_draws_follow_the_models_own_cdf(kind: str, name: str, csv_paths: dict[str, str]) -> None:
    sampler = sampler_for(kind, name, csv_paths)
    assert stats.kstest(scalar(sampler, KS_N), sampler.cdf).pvalue > KS_P_MIN


def test_ks_rejects_samples_of_a_different_model(csv_paths: dict[str, str]) -> None:
    # The KS tests above can fail: a 10% shift of the median is caught.
    sampler = sampler_for("latency", "lognormal_median", csv_paths)
    shifted = vectorised(sampler, KS_N) * 1.1
    assert stats.kstest(shifted, sampler.cdf).pvalue < KS_P_MIN


# --- latency support and means -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LATENCY_CASES))
def test_vectorised_latency_samples_are_never_negative(name: str, csv_paths: dict[str, str]) -> None:
    assert vectorised(sampler_for("latency", name, csv_paths), MEAN_N).min() >= 0.0


@pytest.mark.parametrize("name", list(LATENCY_CASES))
def test_scalar_latency_draws_are_never_negative(name: str, csv_paths: dict[str, str]) -> None:
    assert scalar(sampler_for("latency", name, csv_paths), KS_N).min() >= 0.0


@pytest.mark.parametrize(("kind", "name"), CASES, ids=CASE_IDS)
def test_mean_matches_the_sample_mean(kind: str, name: str, csv_paths: dict[str, str]) -> None:
    sampler = sampler_for(kind, name, csv_paths)
    values = vectorised(sampler, MEAN_N)
    standard_error = values.std() / np.sqrt(values.size)
    assert abs(values.mean() - sampler.mean) < 5 * standard_error


def test_student_t_with_at_most_one_degree_of_freedom_has_an_infinite_latency_mean() -> None:
    cfg = LATENCY_ADAPTER.validate_python({"type": "student_t", "loc_ms": 10, "scale_ms": 2, "df": 1})
    assert latency_sampler(cfg).mean == np.inf


# --- CDFs checked against independent references -----------------------------------------------------


def test_truncated_normal_cdf_matches_scipy_truncnorm() -> None:
    sampler = latency_sampler(LATENCY_ADAPTER.validate_python({"type": "normal", "mean_ms": 5, "std_ms": 50}))
    x = np.array([-1.0, 0.0, 3.0, 40.0, 200.0])
    expected = stats.truncnorm.cdf(x, -0.1, np.inf, loc=5, scale=50)
    np.testing.assert_allclose(sampler.cdf(x), expected, atol=1e-12)


def test_truncated_student_t_cdf_integrates_the_renormalised_density() -> None:
    cfg = LATENCY_ADAPTER.validate_python({"type": "student_t", "loc_ms": 2, "scale_ms": 10, "df": 3})
    kept = stats.t.sf(0.0, 3, loc=2, scale=10)
    expected, _ = integrate.quad(lambda v: stats.t.pdf(v, 3, loc=2, scale=10) / kept, 0.0, 7.0)
    assert latency_sampler(cfg).cdf(np.array([7.0]))[0] == pytest.approx(expected, abs=1e-9)


def test_reflected_kernel_cdf_integrates_the_reflected_density() -> None:
    data = np.array([0.1, 0.5, 2.0, 3.0])
    sampler = Smoothed(data, bandwidth=1.0, reflect=True)

    def density(y: float) -> float:
        return float(np.mean(stats.norm.pdf(y, data, 1.0) + stats.norm.pdf(-y, data, 1.0)))

    expected, _ = integrate.quad(density, 0.0, 1.3)
    assert sampler.cdf(np.array([1.3]))[0] == pytest.approx(expected, abs=1e-9)


def test_reflected_kernel_cdf_is_zero_below_zero_and_one_far_above() -> None:
    sampler = Smoothed(np.array([0.1, 0.5, 2.0]), bandwidth=1.0, reflect=True)
    np.testing.assert_allclose(sampler.cdf(np.array([-0.5, 100.0])), [0.0, 1.0], atol=1e-12)


def test_empirical_cdf_steps_by_one_over_n_at_each_sample() -> None:
    sampler = Empirical(np.array([3.0, 1.0, 2.0, 2.0]))
    np.testing.assert_allclose(sampler.cdf(np.array([0.5, 1.0, 2.0, 2.5, 3.0])), [0.0, 0.25, 0.75, 0.75, 1.0])


def test_mixture_cdf_is_the_weighted_sum_of_component_cdfs() -> None:
    cfg = SLIPPAGE_ADAPTER.validate_python(SLIPPAGE_CASES["mixture"])
    x = np.array([0.0, 0.1, 0.5, 2.0])
    expected = 0.8 * stats.norm.cdf(x, 0.1, 0.05) + 0.2 * stats.lognorm.cdf(x, 0.5, scale=0.5)
    np.testing.assert_allclose(slippage_sampler(cfg).cdf(x), expected, atol=1e-12)


def test_shifted_cdf_is_the_inner_cdf_moved_by_the_floor() -> None:
    cfg = LATENCY_ADAPTER.validate_python(LATENCY_CASES["shifted_exponential"])
    x = np.array([4.0, 5.0, 15.0])
    np.testing.assert_allclose(latency_sampler(cfg).cdf(x), stats.expon.cdf(x, loc=5, scale=10), atol=1e-12)


# --- other sampler behaviour -------------------------------------------------------------------------


def test_constant_sample_and_draw_return_the_value() -> None:
    sampler = latency_sampler(LATENCY_ADAPTER.validate_python({"type": "constant", "value_ms": 7.5}))
    assert set(vectorised(sampler, 100).tolist()) == set(scalar(sampler, 100).tolist()) == {7.5}


def test_constant_cdf_is_a_step_at_the_value() -> None:
    sampler = latency_sampler(LATENCY_ADAPTER.validate_python({"type": "constant", "value_ms": 7.5}))
    np.testing.assert_array_equal(sampler.cdf(np.array([7.0, 7.5, 8.0])), [0.0, 1.0, 1.0])


def test_sample_returns_n_float64_values(csv_paths: dict[str, str]) -> None:
    values = vectorised(sampler_for("latency", "mixture", csv_paths), 1234)
    assert values.shape == (1234,)
    assert values.dtype == np.dtype(np.float64)


def test_sample_is_reproducible_for_the_same_seed(csv_paths: dict[str, str]) -> None:
    sampler = sampler_for("latency", "mixture_of_t_shifted_historical", csv_paths)
    assert vectorised(sampler, 1000, seed=3).tolist() == vectorised(sampler, 1000, seed=3).tolist()


def test_historical_bootstrap_draws_only_the_files_values(csv_paths: dict[str, str]) -> None:
    sampler = sampler_for("slippage", "historical", csv_paths)
    assert isinstance(sampler, Empirical)
    assert set(vectorised(sampler, 5000).tolist()) <= set(sampler.samples.tolist())


def test_historical_sample_does_not_write_into_the_shared_samples(csv_paths: dict[str, str]) -> None:
    sampler = sampler_for("latency", "historical_bandwidth", csv_paths)
    assert isinstance(sampler, Smoothed)
    before = sampler.samples.copy()
    vectorised(sampler, 1000)
    np.testing.assert_array_equal(sampler.samples, before)


def test_silverman_bandwidth_follows_the_rule_of_thumb() -> None:
    values = np.random.default_rng(5).normal(0.0, 2.0, 10_000)
    iqr = float(np.subtract(*np.percentile(values, [75, 25])))
    expected = 0.9 * min(float(values.std(ddof=1)), iqr / 1.34) * values.size ** (-0.2)
    assert silverman_bandwidth(values) == pytest.approx(expected)


def test_silverman_on_identical_values_falls_back_to_the_bootstrap(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    path.write_text("latency_ms\n5\n5\n5\n", encoding="utf-8")
    cfg = LATENCY_ADAPTER.validate_python({"type": "historical", "source": str(path), "bandwidth_ms": "silverman"})
    assert isinstance(latency_sampler(cfg), Empirical)


# --- BufferedDraws primitives the families use -------------------------------------------------------


def buffered(seed: int = 11, block: int = 64) -> BufferedDraws:
    return RandomStreams(seed).buffered("test", "primitives", block=block)


def test_buffered_index_stays_in_range() -> None:
    draws = buffered()
    values = [draws.index(7) for _ in range(5000)]
    assert (min(values), max(values)) == (0, 6)


def test_buffered_exponentials_follow_the_standard_exponential() -> None:
    draws = buffered()
    values = [draws.exponential() for _ in range(KS_N)]
    assert stats.kstest(values, "expon").pvalue > KS_P_MIN


def test_buffered_student_t_follows_its_degrees_of_freedom() -> None:
    draws = buffered()
    values = [draws.student_t(3.0) for _ in range(KS_N)]
    assert stats.kstest(values, "t", args=(3.0,)).pvalue > KS_P_MIN


def test_buffered_draws_of_every_kind_are_reproducible_for_the_same_seed() -> None:
    def run(draws: BufferedDraws) -> list[float]:
        return [
            v
            for _ in range(100)  # crosses block boundaries (block=64)
            for v in (draws.uniform(), draws.normal(), draws.exponential(), draws.student_t(4.0), draws.student_t(2.0))
        ]

    assert run(buffered(seed=5)) == run(buffered(seed=5))
