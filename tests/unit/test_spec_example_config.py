"""The configuration example of the execution-modelling specification loads as written, and its
`{type: stochastic, distribution, params}` spelling is the same model as the plain `{type: <family>, ...}`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.config import ConfigError, config_from_mapping, load_config
from imperium_desk.models.config import (
    LATENCY_ADAPTER,
    SLIPPAGE_ADAPTER,
    HistoricalLatency,
    LognormalSlippage,
    MixtureSlippage,
    NormalLatency,
)

REPO = Path(__file__).resolve().parents[2]

# The specification's `...`: a real mixture, mostly small adverse slippage with a rare heavy tail.
MIXTURE_PARAMS: dict[str, Any] = {
    "components": [
        {"weight": 0.9, "type": "lognormal", "median": 1.5, "sigma": 0.4},
        {"weight": 0.1, "type": "exponential", "mean": 8},
    ]
}
STOCHASTIC_MIXTURE: dict[str, Any] = {"type": "stochastic", "distribution": "mixture", "params": MIXTURE_PARAMS}
SPEC_EXAMPLE: dict[str, Any] = {
    "latency_model": {
        "global": {"type": "normal", "mean_ms": 50, "std_ms": 10},
        "per_asset": {"NIFTY": {"type": "historical", "source": "latency_nifty.csv"}},
    },
    "slippage_model": {
        "global": {"type": "lognormal", "mu": 0, "sigma": 0.1},
        "per_asset": {"BANKNIFTY": STOCHASTIC_MIXTURE},
    },
}


def _error_paths(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw, "desk.json")
    return [line.split(": ")[1] for line in caught.value.errors]  # `source: path: message (got value)`


def _with_banknifty(model: dict[str, Any]) -> dict[str, Any]:
    return {"slippage_model": {"per_asset": {"BANKNIFTY": model}}}


def test_the_specification_example_loads_as_written(tmp_path: Path) -> None:
    shutil.copy(REPO / "imperium_desk" / "resources" / "latency_nifty.csv", tmp_path / "latency_nifty.csv")
    path = tmp_path / "desk.json"
    path.write_text(json.dumps(SPEC_EXAMPLE), encoding="utf-8")
    config = load_config(path)
    assert isinstance(config.latency_model.global_, NormalLatency)
    assert isinstance(config.latency_model.per_asset["NIFTY"], HistoricalLatency)
    assert isinstance(config.slippage_model.global_, LognormalSlippage)
    assert isinstance(config.slippage_model.per_asset["BANKNIFTY"], MixtureSlippage)


def test_stochastic_mixture_is_the_same_model_as_the_plain_mixture() -> None:
    alias = SLIPPAGE_ADAPTER.validate_python(STOCHASTIC_MIXTURE)
    assert alias == SLIPPAGE_ADAPTER.validate_python({"type": "mixture", **MIXTURE_PARAMS})


def test_stochastic_latency_is_the_same_model_as_the_plain_latency() -> None:
    alias = LATENCY_ADAPTER.validate_python(
        {"type": "stochastic", "distribution": "lognormal", "params": {"median_ms": 40, "sigma": 0.3}}
    )
    assert alias == LATENCY_ADAPTER.validate_python({"type": "lognormal", "median_ms": 40, "sigma": 0.3})


def test_a_stochastic_component_with_its_weight_beside_params_is_the_plain_component() -> None:
    written = {"type": "mixture", "components": [
        {"weight": 0.5, "type": "stochastic", "distribution": "normal", "params": {"mean": 1, "std": 0.5}},
        {"weight": 0.5, "type": "constant", "value": 2},
    ]}
    plain = {"type": "mixture", "components": [
        {"weight": 0.5, "type": "normal", "mean": 1, "std": 0.5}, {"weight": 0.5, "type": "constant", "value": 2},
    ]}
    assert SLIPPAGE_ADAPTER.validate_python(written) == SLIPPAGE_ADAPTER.validate_python(plain)


def test_a_stochastic_model_dumps_in_the_plain_spelling() -> None:
    alias = SLIPPAGE_ADAPTER.validate_python(STOCHASTIC_MIXTURE)
    assert SLIPPAGE_ADAPTER.dump_python(alias, mode="json")["type"] == "mixture"


def test_the_unit_of_a_stochastic_slippage_component_follows_its_mixture() -> None:
    mixture = SLIPPAGE_ADAPTER.validate_python({"type": "mixture", "unit": "ticks", "components": [
        {"weight": 1, "type": "stochastic", "distribution": "constant", "params": {"value": 1}},
    ]})
    assert isinstance(mixture, MixtureSlippage) and mixture.components[0].unit == "ticks"


def test_a_historical_stochastic_model_reads_its_file_beside_the_config(tmp_path: Path) -> None:
    shutil.copy(REPO / "imperium_desk" / "resources" / "latency_nifty.csv", tmp_path / "latency_nifty.csv")
    path = tmp_path / "desk.yaml"
    path.write_text("latency_model:\n  global: {type: stochastic, distribution: historical, "
                    "params: {source: latency_nifty.csv}}\n", encoding="utf-8")
    assert isinstance(load_config(path).latency_model.global_, HistoricalLatency)


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ({"type": "stochastic", "distribution": "mixture", "params": {"components": [
            {"weight": -0.9, "type": "lognormal", "median": 1.5, "sigma": 0.4},
            {"weight": 0.1, "type": "exponential", "mean": 8},
        ]}}, "slippage_model.per_asset.BANKNIFTY.params.components.0.weight"),
        ({"type": "stochastic", "distribution": "normal", "params": {"mean": 1, "std": -1}},
         "slippage_model.per_asset.BANKNIFTY.params.std"),
        ({"type": "stochastic", "distribution": "normal", "params": {"mean": 1}},
         "slippage_model.per_asset.BANKNIFTY.params.std"),
        ({"type": "stochastic", "distribution": "normal", "params": {"mean": 1, "std": 1, "spread": 2}},
         "slippage_model.per_asset.BANKNIFTY.params.spread"),
        ({"type": "stochastic", "distribution": "gaussian", "params": {"mean": 1, "std": 1}},
         "slippage_model.per_asset.BANKNIFTY.distribution"),
        ({"type": "stochastic", "params": {"mean": 1, "std": 1}}, "slippage_model.per_asset.BANKNIFTY.distribution"),
        ({"type": "stochastic", "distribution": "normal", "params": [1, 2]},
         "slippage_model.per_asset.BANKNIFTY.params"),
        ({"type": "stochastic", "distribution": "normal", "unit": "bps",
          "params": {"mean": 1, "std": 1, "unit": "bps"}},
         "slippage_model.per_asset.BANKNIFTY.params.unit"),
        ({"type": "stochastic", "distribution": "normal", "params": {"type": "normal", "mean": 1, "std": 1}},
         "slippage_model.per_asset.BANKNIFTY.params.type"),
        ({"type": "stochastic", "distribution": "lognormal", "params": {"median": 1, "mu": 0, "sigma": 1}},
         "slippage_model.per_asset.BANKNIFTY.params"),
    ],
    ids=["weight_in_a_component", "field_out_of_range", "missing_field", "unknown_field", "unknown_family",
         "no_family", "params_not_a_mapping", "field_given_twice", "type_inside_params", "model_level_rule"],
)
def test_an_error_inside_a_stochastic_model_names_the_path_as_written(model: dict[str, Any], path: str) -> None:
    assert _error_paths(_with_banknifty(model)) == [path]
