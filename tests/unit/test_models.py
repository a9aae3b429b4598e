"""Latency/slippage model configs, their samplers, and the per-asset resolver."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy.stats import truncnorm

from imperium_desk.models.config import (
    ConstantLatency,
    ConstantSlippage,
    LatencyModelConfig,
    LatencyModels,
    LognormalLatency,
    LognormalSlippage,
    MixtureLatency,
    MixtureSlippage,
    NormalLatency,
    NormalSlippage,
    SlippageModelConfig,
    SlippageModels,
)
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.models.samplers import Normal, Sampler, latency_sampler, slippage_sampler
from imperium_desk.rng import BufferedDraws, RandomStreams

N = 200_000
LATENCY: TypeAdapter[Any] = TypeAdapter(LatencyModelConfig)
SLIPPAGE: TypeAdapter[Any] = TypeAdapter(SlippageModelConfig)
BANKNIFTY_MIXTURE = {
    "type": "mixture",
    "components": [
        {"weight": 0.95, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
        {"weight": 0.05, "type": "normal", "mean_ms": 400, "std_ms": 80},
    ],
}


def latency(raw: dict[str, Any]) -> Any:
    return LATENCY.validate_python(raw)


def slippage(raw: dict[str, Any]) -> Any:
    return SLIPPAGE.validate_python(raw)


def samples(sampler: Sampler, n: int = N, seed: int = 20260101) -> np.ndarray:
    draws: BufferedDraws = RandomStreams(seed).buffered("test", "models")
    return np.fromiter((sampler.sample(draws) for _ in range(n)), dtype=float, count=n)


# --- config spellings (DESIGN.md §4) ----------------------------------------------------------------


def test_latency_constant_parses() -> None:
    assert latency({"type": "constant", "value_ms": 12}) == ConstantLatency(type="constant", value_ms=12)


def test_latency_normal_parses() -> None:
    cfg = latency({"type": "normal", "mean_ms": 50, "std_ms": 10})
    assert isinstance(cfg, NormalLatency)
    assert (cfg.mean_ms, cfg.std_ms) == (50, 10)


def test_latency_lognormal_by_median_parses() -> None:
    cfg = latency({"type": "lognormal", "median_ms": 40, "sigma": 0.3})
    assert isinstance(cfg, LognormalLatency)
    assert (cfg.median_ms, cfg.mu, cfg.sigma) == (40, None, 0.3)


def test_latency_lognormal_by_mu_parses() -> None:
    cfg = latency({"type": "lognormal", "mu": 3.5, "sigma": 0.3})
    assert isinstance(cfg, LognormalLatency)
    assert (cfg.median_ms, cfg.mu) == (None, 3.5)


def test_latency_mixture_parses_flat_weighted_components() -> None:
    cfg = latency(BANKNIFTY_MIXTURE)
    assert isinstance(cfg, MixtureLatency)
    assert [(c.type, c.weight) for c in cfg.components] == [("lognormal", 0.95), ("normal", 0.05)]


@pytest.mark.parametrize(
    ("raw", "cls", "unit"),
    [
        ({"type": "constant", "value": 0.5, "unit": "ticks"}, ConstantSlippage, "ticks"),
        ({"type": "normal", "mean": 1, "std": 2, "unit": "price"}, NormalSlippage, "price"),
        ({"type": "lognormal", "mu": 0, "sigma": 0.1, "unit": "bps"}, LognormalSlippage, "bps"),
        ({"type": "lognormal", "median": 2, "sigma": 0.1, "unit": "ticks"}, LognormalSlippage, "ticks"),
        (
            {
                "type": "mixture",
                "unit": "ticks",
                "components": [
                    {"weight": 1, "type": "constant", "value": 1, "unit": "ticks"},
                    {"weight": 1, "type": "normal", "mean": 2, "std": 1, "unit": "ticks"},
                ],
            },
            MixtureSlippage,
            "ticks",
        ),
    ],
)
def test_slippage_spellings_parse_with_their_unit(raw: dict[str, Any], cls: type, unit: str) -> None:
    cfg = slippage(raw)
    assert isinstance(cfg, cls)
    assert getattr(cfg, "unit", None) == unit


def test_slippage_unit_defaults_to_bps() -> None:
    assert slippage({"type": "constant", "value": 1}).unit == "bps"


@pytest.mark.parametrize(
    ("adapter", "raw", "where"),
    [
        (LATENCY, {"type": "normal", "mean_ms": 50, "std_ms": 10, "stdev_ms": 3}, "stdev_ms"),
        (LATENCY, {"type": "constant", "value": 5}, "value"),  # slippage spelling in a latency model
        (SLIPPAGE, {"type": "normal", "mean_ms": 1, "std_ms": 1}, "mean_ms"),  # latency spelling
        (LATENCY, {"type": "gamma", "shape": 2}, "gamma"),
    ],
)
def test_unknown_fields_and_types_are_rejected(
    adapter: TypeAdapter[Any], raw: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError, match=where):
        adapter.validate_python(raw)


@pytest.mark.parametrize(
    ("adapter", "raw"),
    [
        (LATENCY, {"type": "normal", "mean_ms": 50, "std_ms": -1}),
        (SLIPPAGE, {"type": "normal", "mean": 0, "std": -0.1}),
        (LATENCY, {"type": "lognormal", "median_ms": 40, "sigma": -0.3}),
    ],
)
def test_negative_std_is_rejected(adapter: TypeAdapter[Any], raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        adapter.validate_python(raw)


def test_lognormal_with_both_median_and_mu_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of median_ms or mu"):
        latency({"type": "lognormal", "median_ms": 40, "mu": 3.7, "sigma": 0.3})


def test_lognormal_with_neither_median_nor_mu_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of median_ms or mu"):
        latency({"type": "lognormal", "sigma": 0.3})


def test_mixture_component_with_a_different_unit_is_rejected() -> None:
    raw = {
        "type": "mixture",
        "unit": "bps",
        "components": [
            {"weight": 1, "type": "constant", "value": 1, "unit": "bps"},
            {"weight": 1, "type": "constant", "value": 2, "unit": "ticks"},
        ],
    }
    with pytest.raises(ValidationError, match=r"components\.1\.unit 'ticks' differs"):
        slippage(raw)


def test_empty_mixture_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        latency({"type": "mixture", "components": []})


# --- samplers ----------------------------------------------------------------------------------------


def test_latency_samples_are_never_negative_even_when_most_mass_is_below_zero() -> None:
    values = samples(latency_sampler(latency({"type": "normal", "mean_ms": 5, "std_ms": 50})))
    assert values.min() >= 0.0


def test_truncated_normal_sample_mean_matches_the_truncated_mean() -> None:
    sampler = latency_sampler(latency({"type": "normal", "mean_ms": 5, "std_ms": 50}))
    assert isinstance(sampler, Normal)
    # Checked against scipy's truncated normal: far above the untruncated mean of 5.
    assert sampler.mean == pytest.approx(truncnorm.mean(-0.1, np.inf, loc=5, scale=50), rel=1e-9)
    assert samples(sampler).mean() == pytest.approx(sampler.mean, rel=0.02)


def test_lognormal_median_ms_40_has_sample_median_40() -> None:
    values = samples(latency_sampler(latency({"type": "lognormal", "median_ms": 40, "sigma": 0.3})))
    assert float(np.median(values)) == pytest.approx(40.0, rel=0.01)


def test_lognormal_by_mu_is_exp_mu_at_the_median() -> None:
    values = samples(latency_sampler(latency({"type": "lognormal", "mu": 3.0, "sigma": 0.5})))
    assert float(np.median(values)) == pytest.approx(float(np.exp(3.0)), rel=0.01)


def test_mixture_component_shares_match_the_weights() -> None:
    cfg = latency(
        {
            "type": "mixture",
            "components": [
                {"weight": 2, "type": "constant", "value_ms": 1},
                {"weight": 3, "type": "constant", "value_ms": 2},
                {"weight": 5, "type": "constant", "value_ms": 3},
            ],
        }
    )
    values = samples(latency_sampler(cfg))
    shares = [float(np.mean(values == v)) for v in (1.0, 2.0, 3.0)]
    assert shares == pytest.approx([0.2, 0.3, 0.5], abs=0.01)


def test_constant_sampler_always_returns_its_value() -> None:
    values = samples(latency_sampler(latency({"type": "constant", "value_ms": 7.5})), n=100)
    assert set(values.tolist()) == {7.5}


def test_slippage_normal_is_not_truncated() -> None:
    values = samples(slippage_sampler(slippage({"type": "normal", "mean": 0, "std": 1})), n=10_000)
    assert values.min() < 0.0


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("latency", {"type": "constant", "value_ms": 12}),
        ("latency", {"type": "normal", "mean_ms": 50, "std_ms": 10}),
        ("latency", {"type": "normal", "mean_ms": 5, "std_ms": 50}),
        ("latency", {"type": "lognormal", "median_ms": 40, "sigma": 0.3}),
        ("latency", BANKNIFTY_MIXTURE),
        ("slippage", {"type": "normal", "mean": 2, "std": 1}),
        ("slippage", {"type": "lognormal", "mu": 0, "sigma": 0.1}),
        (
            "slippage",
            {
                "type": "mixture",
                "components": [
                    {"weight": 0.8, "type": "constant", "value": 1},
                    {"weight": 0.2, "type": "lognormal", "median": 5, "sigma": 0.5},
                ],
            },
        ),
    ],
)
def test_sampler_mean_matches_the_sample_mean(kind: str, raw: dict[str, Any]) -> None:
    sampler = latency_sampler(latency(raw)) if kind == "latency" else slippage_sampler(slippage(raw))
    assert samples(sampler).mean() == pytest.approx(sampler.mean, rel=0.02)


def test_samplers_are_reproducible_for_the_same_seed() -> None:
    sampler = latency_sampler(latency(BANKNIFTY_MIXTURE))
    assert samples(sampler, n=1000, seed=3).tolist() == samples(sampler, n=1000, seed=3).tolist()


# --- resolver ----------------------------------------------------------------------------------------

SYMBOL = "NIFTY26D0126000CE"


def resolver(per_asset: dict[str, Any] | None = None, global_ms: float = 3.0) -> ModelResolver:
    latency_models = LatencyModels.model_validate(
        {"global": {"type": "constant", "value_ms": global_ms}, "per_asset": per_asset or {}}
    )
    return ModelResolver(latency_models, SlippageModels())


def test_full_symbol_wins_over_underlying_and_global() -> None:
    r = resolver({SYMBOL: {"type": "constant", "value_ms": 1}, "NIFTY": {"type": "constant", "value_ms": 2}})
    lat, _ = r.resolve(SYMBOL, "NIFTY")
    assert (lat.scope, lat.sampler.mean) == (SYMBOL, 1.0)


def test_underlying_wins_over_global() -> None:
    r = resolver({SYMBOL: {"type": "constant", "value_ms": 1}, "NIFTY": {"type": "constant", "value_ms": 2}})
    lat, _ = r.resolve("NIFTY26D0826000PE", "NIFTY")
    assert (lat.scope, lat.sampler.mean) == ("NIFTY", 2.0)


def test_global_applies_when_nothing_else_matches() -> None:
    r = resolver({"NIFTY": {"type": "constant", "value_ms": 2}})
    lat, slip = r.resolve("BANKNIFTY26DEC58000CE", "BANKNIFTY")
    assert (lat.scope, lat.sampler.mean) == ("global", 3.0)
    assert slip.scope == "global"


def test_active_models_say_their_kind_and_unit() -> None:
    r = ModelResolver(
        LatencyModels(),
        SlippageModels.model_validate({"global": {"type": "constant", "value": 1, "unit": "ticks"}}),
    )
    lat, slip = r.resolve(SYMBOL, "NIFTY")
    assert (lat.kind, lat.unit, slip.kind, slip.unit) == ("latency", "ms", "slippage", "ticks")


def test_params_are_the_config_dumped_as_json() -> None:
    r = resolver({"NIFTY": BANKNIFTY_MIXTURE})
    lat, slip = r.resolve(SYMBOL, "NIFTY")
    assert lat.params == {
        "type": "mixture",
        "components": [
            {"type": "lognormal", "median_ms": 40.0, "sigma": 0.3, "weight": 0.95},
            {"type": "normal", "mean_ms": 400.0, "std_ms": 80.0, "weight": 0.05},
        ],
    }
    assert slip.params == {"type": "lognormal", "mu": 0.0, "sigma": 0.1, "unit": "bps"}
    assert json.loads(json.dumps(lat.params)) == lat.params


def test_replace_changes_later_resolutions() -> None:
    r = resolver(global_ms=3.0)
    r.resolve(SYMBOL, "NIFTY")  # fills the cache
    r.replace(latency=LatencyModels.model_validate({"global": {"type": "constant", "value_ms": 9}}))
    lat, _ = r.resolve(SYMBOL, "NIFTY")
    assert (lat.sampler.mean, lat.params) == (9.0, {"type": "constant", "value_ms": 9.0})


def test_replace_leaves_an_earlier_active_model_unchanged() -> None:
    r = resolver(global_ms=3.0)
    before, _ = r.resolve(SYMBOL, "NIFTY")
    r.replace(latency=LatencyModels.model_validate({"global": {"type": "constant", "value_ms": 9}}))
    assert (before.sampler.mean, before.params) == (3.0, {"type": "constant", "value_ms": 3.0})


def test_replace_of_latency_only_keeps_the_slippage_models() -> None:
    slippage_models = SlippageModels.model_validate(
        {"global": {"type": "constant", "value": 4, "unit": "price"}}
    )
    r = ModelResolver(LatencyModels(), slippage_models)
    r.replace(latency=LatencyModels.model_validate({"global": {"type": "constant", "value_ms": 9}}))
    _, slip = r.resolve(SYMBOL, "NIFTY")
    assert slip.params == {"type": "constant", "value": 4.0, "unit": "price"}
