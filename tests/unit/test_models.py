"""Latency/slippage model configs, their samplers, and the per-asset resolver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy.stats import truncnorm

from imperium_desk.config import ConfigError, config_from_mapping, load_config, resolve_relative_paths
from imperium_desk.models.config import (
    LATENCY_ADAPTER,
    LATENCY_FAMILIES,
    SLIPPAGE_ADAPTER,
    SLIPPAGE_FAMILIES,
    ConstantLatency,
    ConstantSlippage,
    ExponentialLatency,
    ExponentialSlippage,
    HistoricalLatency,
    LaneModels,
    LatencyLanes,
    LatencyModels,
    LognormalLatency,
    LognormalSlippage,
    MixtureLatency,
    MixtureSlippage,
    NormalLatency,
    NormalSlippage,
    ScaleWith,
    ShiftedLatency,
    ShiftedSlippage,
    SlippageModels,
    StudentTLatency,
    StudentTSlippage,
)
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.models.samplers import Normal, Sampler, latency_sampler, slippage_sampler
from imperium_desk.rng import BufferedDraws, RandomStreams

N = 200_000
LATENCY: TypeAdapter[Any] = LATENCY_ADAPTER
SLIPPAGE: TypeAdapter[Any] = SLIPPAGE_ADAPTER
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
    return np.fromiter((sampler.draw(draws) for _ in range(n)), dtype=float, count=n)


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
                    {"weight": 0.5, "type": "constant", "value": 1, "unit": "ticks"},
                    {"weight": 0.5, "type": "normal", "mean": 2, "std": 1, "unit": "ticks"},
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
def test_unknown_fields_and_types_are_rejected(adapter: TypeAdapter[Any], raw: dict[str, Any], where: str) -> None:
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
            {"weight": 0.5, "type": "constant", "value": 1, "unit": "bps"},
            {"weight": 0.5, "type": "constant", "value": 2, "unit": "ticks"},
        ],
    }
    with pytest.raises(ValidationError, match=r"components\.1\.unit 'ticks' differs"):
        slippage(raw)


def test_empty_mixture_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        latency({"type": "mixture", "components": []})


def test_latency_exponential_parses() -> None:
    assert latency({"type": "exponential", "mean_ms": 20}) == ExponentialLatency(type="exponential", mean_ms=20)


def test_latency_student_t_parses() -> None:
    cfg = latency({"type": "student_t", "loc_ms": 50, "scale_ms": 8, "df": 4})
    assert isinstance(cfg, StudentTLatency)
    assert (cfg.loc_ms, cfg.scale_ms, cfg.df) == (50, 8, 4)


def test_latency_shifted_parses_with_its_inner_model() -> None:
    cfg = latency({"type": "shifted", "floor_ms": 15, "model": {"type": "lognormal", "median_ms": 10, "sigma": 0.5}})
    assert isinstance(cfg, ShiftedLatency)
    assert isinstance(cfg.model, LognormalLatency)
    assert cfg.floor_ms == 15


def test_mixture_components_may_be_shifted_or_historical(tmp_path: Path) -> None:
    path = csv(tmp_path, "latency_ms\n1\n2\n")
    cfg = latency(
        {
            "type": "mixture",
            "components": [
                {"weight": 0.5, "type": "shifted", "floor_ms": 5, "model": {"type": "exponential", "mean_ms": 3}},
                {"weight": 0.5, "type": "historical", "source": str(path)},
            ],
        }
    )
    assert isinstance(cfg.components[0], ShiftedLatency)
    assert isinstance(cfg.components[1], HistoricalLatency)


@pytest.mark.parametrize(
    ("raw", "cls"),
    [
        ({"type": "exponential", "mean": 2, "unit": "ticks"}, ExponentialSlippage),
        ({"type": "student_t", "loc": -0.5, "scale": 1, "df": 3, "unit": "ticks"}, StudentTSlippage),
        (
            {"type": "shifted", "floor": -1, "unit": "ticks", "model": {"type": "exponential", "mean": 2}},
            ShiftedSlippage,
        ),
    ],
)
def test_new_slippage_families_parse_with_their_unit(raw: dict[str, Any], cls: type) -> None:
    cfg = slippage(raw)
    assert (type(cfg), cfg.unit) == (cls, "ticks")


def test_slippage_component_without_unit_takes_the_mixtures_unit() -> None:
    cfg = slippage({"type": "mixture", "unit": "price", "components": [{"weight": 1, "type": "constant", "value": 1}]})
    assert cfg.components[0].unit == "price"


def test_shifted_slippage_inner_model_takes_the_shifted_unit() -> None:
    cfg = slippage({"type": "shifted", "floor": 1, "unit": "ticks", "model": {"type": "exponential", "mean": 2}})
    assert cfg.model.unit == "ticks"


def test_shifted_slippage_inner_model_with_a_different_unit_is_rejected() -> None:
    raw = {"type": "shifted", "floor": 1, "unit": "ticks", "model": {"type": "exponential", "mean": 2, "unit": "bps"}}
    with pytest.raises(ValidationError, match=r"model\.unit 'bps' differs"):
        slippage(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "exponential", "mean_ms": 0}, "mean_ms"),
        ({"type": "student_t", "loc_ms": 5, "scale_ms": 0, "df": 3}, "scale_ms"),
        ({"type": "student_t", "loc_ms": 5, "scale_ms": 1, "df": 0}, "df"),
        ({"type": "shifted", "floor_ms": -1, "model": {"type": "constant", "value_ms": 1}}, "floor_ms"),
    ],
)
def test_out_of_range_parameters_of_new_families_are_rejected(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        latency(raw)


def test_family_registries_map_each_type_name_to_its_class() -> None:
    for families in (LATENCY_FAMILIES, SLIPPAGE_FAMILIES):
        assert list(families) == [
            "constant",
            "normal",
            "lognormal",
            "exponential",
            "student_t",
            "shifted",
            "mixture",
            "historical",
        ]
        assert all(get_args(cls.model_fields["type"].annotation) == (name,) for name, cls in families.items())


def test_adapters_validate_to_the_registered_class() -> None:
    assert (
        type(LATENCY_ADAPTER.validate_python({"type": "exponential", "mean_ms": 2})) is LATENCY_FAMILIES["exponential"]
    )
    assert (
        type(SLIPPAGE_ADAPTER.validate_python({"type": "exponential", "mean": 2})) is SLIPPAGE_FAMILIES["exponential"]
    )


# --- historical models: the CSV is read when the config is validated ----------------------------------


def csv(folder: Path, text: str, name: str = "samples.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def historical_errors(tmp_path: Path, text: str | None, **fields: Any) -> list[str]:
    """Errors of a config whose NIFTY latency model is historical over a file with `text` (None: no file)."""
    if text is not None:
        csv(tmp_path, text)
    model = {"type": "historical", "source": "samples.csv", **fields}
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"latency_model": {"per_asset": {"NIFTY": model}}}, "desk.yaml", base=tmp_path)
    return caught.value.errors


def test_historical_reads_the_column_as_float_samples(tmp_path: Path) -> None:
    cfg = latency({"type": "historical", "source": str(csv(tmp_path, "x,latency_ms\n9,1.5\n9,2.5\n"))})
    assert isinstance(cfg, HistoricalLatency)
    assert cfg.samples.tolist() == [1.5, 2.5]
    assert cfg.samples.dtype == np.dtype(np.float64)


def test_historical_reads_the_named_column(tmp_path: Path) -> None:
    cfg = slippage({"type": "historical", "source": str(csv(tmp_path, "a,b\n1,-2\n3,4\n")), "column": "b"})
    assert cfg.samples.tolist() == [-2.0, 4.0]


@pytest.mark.parametrize("bandwidth", [2.5, "silverman", None])
def test_historical_bandwidth_is_a_positive_number_silverman_or_none(tmp_path: Path, bandwidth: Any) -> None:
    cfg = latency({"type": "historical", "source": str(csv(tmp_path, "latency_ms\n1\n2\n")), "bandwidth_ms": bandwidth})
    assert cfg.bandwidth_ms == bandwidth


@pytest.mark.parametrize("bandwidth", [0, -1, "scott"])
def test_historical_bandwidth_that_is_not_positive_or_silverman_is_rejected(tmp_path: Path, bandwidth: Any) -> None:
    errors = historical_errors(tmp_path, "latency_ms\n1\n2\n", bandwidth_ms=bandwidth)
    assert all(e.startswith("desk.yaml: latency_model.per_asset.NIFTY.bandwidth_ms") for e in errors)


def test_missing_csv_names_the_source_field_and_the_file(tmp_path: Path) -> None:
    (error,) = historical_errors(tmp_path, None)
    assert error.startswith(f"desk.yaml: latency_model.per_asset.NIFTY.source: Value error, {tmp_path / 'samples.csv'}")
    assert "cannot read: No such file or directory" in error


def test_malformed_csv_names_the_file_and_line(tmp_path: Path) -> None:
    (error,) = historical_errors(tmp_path, "latency_ms,other\n1,2\n3\n")
    assert "samples.csv: malformed CSV: line 3 has 1 field(s), the header has 2" in error


def test_csv_that_is_not_text_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "samples.csv").write_bytes(b"latency_ms\n\xff\xfe\x00\n")
    (error,) = historical_errors(tmp_path, None)
    assert "samples.csv: malformed CSV" in error


def test_empty_csv_file_asks_for_a_header_row(tmp_path: Path) -> None:
    (error,) = historical_errors(tmp_path, "")
    assert "samples.csv: empty file, expected a header row naming the column 'latency_ms'" in error


def test_missing_column_names_the_column_and_lists_the_columns(tmp_path: Path) -> None:
    (error,) = historical_errors(tmp_path, "latency,other\n1,2\n")
    assert "samples.csv: no column 'latency_ms' (columns: latency, other)" in error


@pytest.mark.parametrize("text", ["latency_ms\n", "latency_ms,x\n,1\n,2\n"])
def test_empty_column_is_rejected(tmp_path: Path, text: str) -> None:
    (error,) = historical_errors(tmp_path, text)
    assert "samples.csv: column 'latency_ms' is empty" in error


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("abc", "is not a number"),
        ("", "is not a number"),
        ("nan", "is not a finite number"),
        ("inf", "is not a finite number"),
    ],
)
def test_bad_value_names_the_column_row_and_line(tmp_path: Path, cell: str, problem: str) -> None:
    (error,) = historical_errors(tmp_path, f"latency_ms,x\n1,0\n{cell},0\n")
    assert f"samples.csv: column 'latency_ms', row 2 (line 3): '{cell}' {problem}" in error


def test_negative_latency_in_csv_names_the_row(tmp_path: Path) -> None:
    (error,) = historical_errors(tmp_path, "latency_ms\n1\n2\n-0.5\n")
    assert "samples.csv: column 'latency_ms', row 3 (line 4): negative latency '-0.5'" in error


def test_negative_slippage_in_csv_is_accepted(tmp_path: Path) -> None:
    cfg = slippage({"type": "historical", "source": str(csv(tmp_path, "slippage\n-1.5\n2\n"))})
    assert cfg.samples.min() == -1.5


def test_bad_csv_inside_a_mixture_component_names_the_component_source(tmp_path: Path) -> None:
    model = {"type": "mixture", "components": [{"weight": 1, "type": "historical", "source": "none.csv"}]}
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"latency_model": {"global": model}}, "desk.yaml", base=tmp_path)
    assert caught.value.errors[0].startswith("desk.yaml: latency_model.global.components.0.source: ")


def test_historical_source_is_resolved_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    csv(tmp_path / "data", "latency_ms\n4\n6\n", "nifty.csv")
    config_file = tmp_path / "desk.yaml"
    config_file.write_text(
        "latency_model:\n  per_asset:\n    NIFTY: {type: historical, source: data/nifty.csv}\n", encoding="utf-8"
    )
    model = load_config(config_file).latency_model.per_asset["NIFTY"]
    assert isinstance(model, HistoricalLatency)
    assert (model.source, model.samples.tolist()) == ((tmp_path / "data" / "nifty.csv").resolve(), [4.0, 6.0])


def test_relative_sources_in_components_shifted_models_and_lanes_are_resolved(tmp_path: Path) -> None:
    csv(tmp_path, "latency_ms,slippage\n4,1\n6,2\n")
    historical = {"type": "historical", "source": "samples.csv"}
    raw = {
        "latency_model": {
            "global": {"type": "mixture", "components": [{"weight": 1, **historical}]},
            "lanes": {"report": {"per_asset": {"NIFTY": {"type": "shifted", "floor_ms": 1, "model": historical}}}},
        },
        "slippage_model": {"per_asset": {"NIFTY": historical}},
    }
    cfg = config_from_mapping(raw, "desk.yaml", base=tmp_path)
    report = cfg.latency_model.lanes.report
    assert report is not None
    sources = [
        cfg.latency_model.global_.components[0].source,  # type: ignore[union-attr]
        report.per_asset["NIFTY"].model.source,  # type: ignore[union-attr]
        cfg.slippage_model.per_asset["NIFTY"].source,  # type: ignore[union-attr]
    ]
    assert sources == [(tmp_path / "samples.csv").resolve()] * 3


def test_absolute_source_is_kept_as_written(tmp_path: Path) -> None:
    path = csv(tmp_path, "latency_ms\n4\n")
    raw = {"latency_model": {"global": {"type": "historical", "source": str(path)}}}
    cfg = config_from_mapping(raw, "desk.yaml", base=tmp_path / "elsewhere")
    assert cfg.latency_model.global_.source == path  # type: ignore[union-attr]


def test_resolving_relative_paths_leaves_the_given_mapping_unchanged(tmp_path: Path) -> None:
    raw = {"latency_model": {"per_asset": {"NIFTY": {"type": "historical", "source": "a.csv"}}}}
    before = json.dumps(raw)
    resolve_relative_paths(raw, tmp_path)
    assert json.dumps(raw) == before


def test_two_loads_of_the_same_csv_make_equal_configs(tmp_path: Path) -> None:
    raw = {"type": "historical", "source": str(csv(tmp_path, "latency_ms\n1\n2\n"))}
    assert latency(raw) == latency(dict(raw))


def test_a_changed_csv_is_read_again(tmp_path: Path) -> None:
    path = csv(tmp_path, "latency_ms\n1\n2\n")
    latency({"type": "historical", "source": str(path)})
    path.write_text("latency_ms\n1\n2\n30\n", encoding="utf-8")
    assert latency({"type": "historical", "source": str(path)}).samples.tolist() == [1.0, 2.0, 30.0]


# --- serialisation round trip ------------------------------------------------------------------------


def dump(cfg: Any) -> Any:
    return cfg.model_dump(mode="json", by_alias=True, exclude_none=True)


ROUND_TRIP_LATENCY = [
    {"type": "constant", "value_ms": 12},
    {"type": "normal", "mean_ms": 50, "std_ms": 10, "scale_with": {"volatility": 1.5, "message_rate": 0.5}},
    {"type": "lognormal", "median_ms": 40, "sigma": 0.3},
    {"type": "lognormal", "mu": 3.5, "sigma": 0.3},
    {"type": "exponential", "mean_ms": 20},
    {"type": "student_t", "loc_ms": 50, "scale_ms": 8, "df": 4},
    {"type": "shifted", "floor_ms": 15, "model": {"type": "lognormal", "median_ms": 10, "sigma": 0.5}},
    BANKNIFTY_MIXTURE,
]
ROUND_TRIP_SLIPPAGE = [
    {"type": "constant", "value": 1, "unit": "ticks"},
    {"type": "normal", "mean": 1, "std": 2, "scale_with": {"participation": 0.5, "reference_participation": 0.2}},
    {"type": "lognormal", "median": 2, "sigma": 0.1},
    {"type": "exponential", "mean": 2, "unit": "price"},
    {"type": "student_t", "loc": 0.5, "scale": 1, "df": 3},
    {"type": "shifted", "floor": -1, "unit": "ticks", "model": {"type": "exponential", "mean": 2}},
    {
        "type": "mixture",
        "unit": "ticks",
        "components": [
            {"weight": 0.3, "type": "constant", "value": 1},
            {"weight": 0.7, "type": "normal", "mean": 2, "std": 1},
        ],
    },
]


@pytest.mark.parametrize("raw", ROUND_TRIP_LATENCY, ids=lambda r: r["type"])
def test_latency_dump_validates_back_to_an_equal_model(raw: dict[str, Any]) -> None:
    cfg = latency(raw)
    assert latency(json.loads(json.dumps(dump(cfg)))) == cfg


@pytest.mark.parametrize("raw", ROUND_TRIP_SLIPPAGE, ids=lambda r: r["type"])
def test_slippage_dump_validates_back_to_an_equal_model(raw: dict[str, Any]) -> None:
    cfg = slippage(raw)
    assert slippage(json.loads(json.dumps(dump(cfg)))) == cfg


def test_historical_dump_is_its_source_not_its_samples(tmp_path: Path) -> None:
    path = csv(tmp_path, "latency_ms\n1\n2\n")
    cfg = latency({"type": "historical", "source": str(path), "bandwidth_ms": "silverman"})
    assert dump(cfg) == {"type": "historical", "column": "latency_ms", "bandwidth_ms": "silverman", "source": str(path)}
    assert latency(dump(cfg)) == cfg


def test_mixture_components_dump_flat_with_their_weight() -> None:
    assert dump(latency(BANKNIFTY_MIXTURE))["components"][1] == {
        "weight": 0.05,
        "type": "normal",
        "mean_ms": 400.0,
        "std_ms": 80.0,
    }


def test_latency_models_with_lanes_round_trip(tmp_path: Path) -> None:
    models = LatencyModels.model_validate(
        {
            "global": BANKNIFTY_MIXTURE,
            "per_asset": {"NIFTY": {"type": "exponential", "mean_ms": 20}},
            "lanes": {
                "insert": {"global": {"type": "constant", "value_ms": 5}},
                "market_data": {"per_asset": {"NIFTY": {"type": "normal", "mean_ms": 30, "std_ms": 3}}},
            },
        }
    )
    assert LatencyModels.model_validate(json.loads(json.dumps(dump(models)))) == models


# --- scale_with --------------------------------------------------------------------------------------


def test_scale_with_is_accepted_on_a_top_level_model() -> None:
    cfg = latency({"type": "normal", "mean_ms": 50, "std_ms": 10, "scale_with": {"volatility": 2}})
    assert cfg.scale_with is not None
    assert (cfg.scale_with.volatility, cfg.scale_with.message_rate) == (2.0, 0.0)


def test_scale_with_defaults_reference_participation_to_a_tenth() -> None:
    cfg = slippage({"type": "constant", "value": 1, "scale_with": {"participation": 1}})
    assert cfg.scale_with == ScaleWith(participation=1.0, reference_participation=0.1)


def model_errors(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw, "desk.yaml")
    return caught.value.errors


def test_scale_with_in_a_mixture_component_is_rejected_at_its_path() -> None:
    component = {"weight": 1, "type": "normal", "mean_ms": 5, "std_ms": 1, "scale_with": {"volatility": 1}}
    (error,) = model_errors({"latency_model": {"global": {"type": "mixture", "components": [component]}}})
    assert error.startswith("desk.yaml: latency_model.global.components.0.scale_with: Value error, scale_with goes")


def test_scale_with_in_a_shifted_inner_model_is_rejected_at_its_path() -> None:
    inner = {"type": "exponential", "mean": 2, "scale_with": {"volatility": 1}}
    (error,) = model_errors({"slippage_model": {"global": {"type": "shifted", "floor": 0, "model": inner}}})
    assert error.startswith("desk.yaml: slippage_model.global.model.scale_with: Value error, scale_with goes")


def test_participation_scaling_on_a_latency_model_is_rejected() -> None:
    raw = {"type": "constant", "value_ms": 5, "scale_with": {"participation": 1}}
    (error,) = model_errors({"latency_model": {"global": raw}})
    assert error.startswith("desk.yaml: latency_model.global.scale_with.participation: Value error, participation")


@pytest.mark.parametrize("reference", [0, 1.5])
def test_reference_participation_outside_zero_to_one_is_rejected(reference: float) -> None:
    raw = {"type": "constant", "value": 5, "scale_with": {"participation": 1, "reference_participation": reference}}
    (error,) = model_errors({"slippage_model": {"global": raw}})
    assert error.startswith("desk.yaml: slippage_model.global.scale_with.reference_participation: ")


# --- lanes -------------------------------------------------------------------------------------------


def test_lanes_are_unset_by_default() -> None:
    assert LatencyModels().lanes == LatencyLanes(insert=None, report=None, cancel=None, market_data=None)


def test_a_lane_takes_a_global_model_and_per_asset_overrides() -> None:
    models = LatencyModels.model_validate(
        {
            "lanes": {
                "cancel": {"global": {"type": "constant", "value_ms": 5}, "per_asset": {"NIFTY": BANKNIFTY_MIXTURE}}
            }
        }
    )
    cancel = models.lanes.cancel
    assert cancel == LaneModels(
        global_=ConstantLatency(type="constant", value_ms=5), per_asset={"NIFTY": latency(BANKNIFTY_MIXTURE)}
    )


def test_a_lane_without_a_global_model_has_none() -> None:
    models = LatencyModels.model_validate(
        {"lanes": {"report": {"per_asset": {"NIFTY": {"type": "constant", "value_ms": 5}}}}}
    )
    assert models.lanes.report is not None
    assert models.lanes.report.global_ is None


def test_unknown_lane_is_rejected() -> None:
    (error,) = model_errors({"latency_model": {"lanes": {"fill": {}}}})
    assert error.startswith("desk.yaml: latency_model.lanes.fill: Extra inputs are not permitted")


# --- error paths read as written ---------------------------------------------------------------------


def test_negative_std_in_a_mixture_component_names_the_path_as_written() -> None:
    mixture = {
        "type": "mixture",
        "components": [
            {"weight": 0.5, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
            {"weight": 0.5, "type": "normal", "mean_ms": 400, "std_ms": -80},
        ],
    }
    (error,) = model_errors({"latency_model": {"per_asset": {"NIFTY": mixture}}})
    assert error == (
        "desk.yaml: latency_model.per_asset.NIFTY.components.1.std_ms: "
        "Input should be greater than or equal to 0 (got -80)"
    )


def test_weights_not_summing_to_one_name_components_and_the_sum() -> None:
    mixture = {
        "type": "mixture",
        "components": [
            {"weight": 0.6, "type": "constant", "value_ms": 1},
            {"weight": 0.3, "type": "constant", "value_ms": 2},
        ],
    }
    (error,) = model_errors({"latency_model": {"global": mixture}})
    assert error.startswith("desk.yaml: latency_model.global.components: Value error, ")
    assert "must sum to 1, they sum to 0.9" in error


def test_weights_within_a_millionth_of_one_are_accepted() -> None:
    cfg = latency(
        {
            "type": "mixture",
            "components": [
                {"weight": 0.3333333, "type": "constant", "value_ms": 1},
                {"weight": 0.6666666, "type": "constant", "value_ms": 2},
            ],
        }
    )
    assert len(cfg.components) == 2


def test_unknown_type_names_the_model_and_the_known_types() -> None:
    (error,) = model_errors({"slippage_model": {"per_asset": {"NIFTY": {"type": "gamma", "shape": 2}}}})
    assert error.startswith("desk.yaml: slippage_model.per_asset.NIFTY: Input tag 'gamma' found using 'type'")
    assert "'student_t', 'shifted', 'mixture', 'historical'" in error


def test_bad_field_in_a_lane_model_names_the_lane_path() -> None:
    raw = {"lanes": {"insert": {"global": {"type": "normal", "mean_ms": 5, "std_ms": -1}}}}
    (error,) = model_errors({"latency_model": raw})
    assert error.startswith("desk.yaml: latency_model.lanes.insert.global.std_ms: ")


def test_bad_field_in_a_shifted_inner_model_names_its_path() -> None:
    raw = {"type": "shifted", "floor_ms": 1, "model": {"type": "exponential", "mean_ms": 2, "rate": 3}}
    (error,) = model_errors({"latency_model": {"global": raw}})
    assert error.startswith("desk.yaml: latency_model.global.model.rate: Extra inputs are not permitted")


def test_mixture_inside_a_mixture_is_rejected() -> None:
    inner = {"weight": 1, "type": "mixture", "components": [{"weight": 1, "type": "constant", "value_ms": 1}]}
    (error,) = model_errors({"latency_model": {"global": {"type": "mixture", "components": [inner]}}})
    assert error.startswith("desk.yaml: latency_model.global.components.0: Input tag 'mixture'")


def test_shifted_inside_a_shifted_model_is_rejected() -> None:
    inner = {"type": "shifted", "floor_ms": 1, "model": {"type": "constant", "value_ms": 1}}
    (error,) = model_errors({"latency_model": {"global": {"type": "shifted", "floor_ms": 1, "model": inner}}})
    assert error.startswith("desk.yaml: latency_model.global.model: Input tag 'shifted'")


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
                {"weight": 0.2, "type": "constant", "value_ms": 1},
                {"weight": 0.3, "type": "constant", "value_ms": 2},
                {"weight": 0.5, "type": "constant", "value_ms": 3},
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
    lat = r.resolve(SYMBOL, "NIFTY").latency
    assert (lat.scope, lat.sampler.mean) == (SYMBOL, 1.0)


def test_underlying_wins_over_global() -> None:
    r = resolver({SYMBOL: {"type": "constant", "value_ms": 1}, "NIFTY": {"type": "constant", "value_ms": 2}})
    lat = r.resolve("NIFTY26D0826000PE", "NIFTY").latency
    assert (lat.scope, lat.sampler.mean) == ("NIFTY", 2.0)


def test_global_applies_when_nothing_else_matches() -> None:
    r = resolver({"NIFTY": {"type": "constant", "value_ms": 2}})
    resolved = r.resolve("BANKNIFTY26DEC58000CE", "BANKNIFTY")
    assert (resolved.latency.scope, resolved.latency.sampler.mean) == ("global", 3.0)
    assert resolved.slippage.scope == "global"


def test_active_models_say_their_kind_and_unit() -> None:
    r = ModelResolver(
        LatencyModels(),
        SlippageModels.model_validate({"global": {"type": "constant", "value": 1, "unit": "ticks"}}),
    )
    resolved = r.resolve(SYMBOL, "NIFTY")
    lat, slip = resolved.latency, resolved.slippage
    assert (lat.kind, lat.unit, slip.kind, slip.unit) == ("latency", "ms", "slippage", "ticks")


def test_params_are_the_config_dumped_as_json() -> None:
    r = resolver({"NIFTY": BANKNIFTY_MIXTURE})
    resolved = r.resolve(SYMBOL, "NIFTY")
    assert resolved.latency.params == {
        "type": "mixture",
        "components": [
            {"type": "lognormal", "median_ms": 40.0, "sigma": 0.3, "weight": 0.95},
            {"type": "normal", "mean_ms": 400.0, "std_ms": 80.0, "weight": 0.05},
        ],
    }
    assert resolved.slippage.params == {"type": "lognormal", "mu": 0.0, "sigma": 0.1, "unit": "bps"}
    assert json.loads(json.dumps(resolved.model_params)) == resolved.model_params


def test_a_switch_changes_later_resolutions() -> None:
    r = resolver(global_ms=3.0)
    r.resolve(SYMBOL, "NIFTY")  # fills the cache
    r.switch("latency", "global", LATENCY.validate_python({"type": "constant", "value_ms": 9}))
    lat = r.resolve(SYMBOL, "NIFTY").latency
    assert (lat.sampler.mean, lat.params) == (9.0, {"type": "constant", "value_ms": 9.0})


def test_a_switch_leaves_an_earlier_resolution_unchanged() -> None:
    r = resolver(global_ms=3.0)
    before = r.resolve(SYMBOL, "NIFTY").latency
    r.switch("latency", "global", LATENCY.validate_python({"type": "constant", "value_ms": 9}))
    assert (before.sampler.mean, before.params) == (3.0, {"type": "constant", "value_ms": 3.0})


def test_a_latency_switch_keeps_the_slippage_models() -> None:
    slippage_models = SlippageModels.model_validate({"global": {"type": "constant", "value": 4, "unit": "price"}})
    r = ModelResolver(LatencyModels(), slippage_models)
    r.switch("latency", "global", LATENCY.validate_python({"type": "constant", "value_ms": 9}))
    assert r.resolve(SYMBOL, "NIFTY").slippage.params == {"type": "constant", "value": 4.0, "unit": "price"}


@pytest.mark.parametrize(
    ("section", "model", "field"),
    [
        ("latency_model", {"type": "constant", "value_ms": 1e308}, "value_ms"),
        ("latency_model", {"type": "lognormal", "median_ms": 40, "sigma": 1e6}, "sigma"),
        ("latency_model", {"type": "lognormal", "mu": 800, "sigma": 0.3}, "mu"),
        ("slippage_model", {"type": "normal", "mean": 1e300, "std": 1}, "mean"),
    ],
)
def test_a_model_whose_numbers_could_overflow_is_refused_naming_the_field(
    section: str, model: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{section}\.global.*{field}"):
        config_from_mapping({section: {"global": model}}, "test")
