"""The desk config: defaults, loading, error lines with field paths, merging, and the config hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from imperium_desk.config import Config, ConfigError, config_from_mapping, load_config, merged_config
from imperium_desk.models.config import ConstantLatency, MixtureLatency, NormalLatency

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "imperium_desk" / "configs" / "default.yaml"


def write(tmp_path: Path, text: str, name: str = "desk.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_for(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw, "desk.yaml")
    return caught.value.errors


# --- defaults and the shipped file -------------------------------------------------------------------


def test_load_config_none_gives_the_defaults() -> None:
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.broker.kind == "paper"
    assert cfg.broker.rate_limit_per_s == 10.0
    risk = cfg.risk
    assert (risk.max_order_lots, risk.max_order_value, risk.kill_switch) == (50, 2_000_000.0, False)
    assert cfg.latency_model.global_ == NormalLatency(type="normal", mean_ms=50, std_ms=10)


def test_default_yaml_loads_with_its_values() -> None:
    cfg = load_config(DEFAULT_YAML)
    assert cfg.market.underlyings == ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX"]
    assert cfg.market.strikes_each_side == 10
    assert isinstance(cfg.latency_model.per_asset["BANKNIFTY"], MixtureLatency)
    assert cfg.slippage_model.global_.unit == "bps"


def test_default_yaml_matches_the_embedded_defaults() -> None:
    # The file's header says the same values are embedded in the code.
    assert load_config(DEFAULT_YAML).risk == load_config(None).risk
    assert load_config(DEFAULT_YAML).broker == load_config(None).broker


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config()


def test_json_file_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '{"risk": {"max_order_lots": 7}}', name="desk.json"))
    assert cfg.risk.max_order_lots == 7


# --- rejected input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "value"),
    [
        ({"brokr": {}}, "brokr", "{...}"),
        ({"risk": {"max_lots": 3}}, "risk.max_lots", "3"),
        ({"execution": {"retry": {"max_atempts": 3}}}, "execution.retry.max_atempts", "3"),
        ({"broker": {"paper": {"capitol": 5}}}, "broker.paper.capitol", "5"),
        ({"market": {"smile": {"skw": 0.1}}}, "market.smile.skw", "0.1"),
    ],
)
def test_unknown_field_at_any_depth_names_its_dotted_path_and_value(raw: Any, path: str, value: str) -> None:
    errors = errors_for(raw)
    assert len(errors) == 1
    assert errors[0].startswith(f"desk.yaml: {path}: Extra inputs are not permitted")
    assert errors[0].endswith(f"(got {value})")


NORMAL_WITH_TYPO = {"latency_model": {"global": {"type": "normal", "mean_ms": 5, "std_ms": 1, "foo": 1}}}


def test_unknown_field_inside_a_model_is_rejected() -> None:
    errors = errors_for(NORMAL_WITH_TYPO)
    assert len(errors) == 1
    assert "foo" in errors[0]
    assert errors[0].startswith("desk.yaml: latency_model.global.")


def test_unknown_field_inside_a_model_names_the_path_as_written() -> None:
    errors = errors_for(NORMAL_WITH_TYPO)
    assert errors[0].startswith("desk.yaml: latency_model.global.foo:")


@pytest.mark.parametrize(
    ("raw", "path", "value"),
    [
        ({"risk": {"max_order_lots": "many"}}, "risk.max_order_lots", '"many"'),
        ({"risk": {"kill_switch": "perhaps"}}, "risk.kill_switch", '"perhaps"'),
        ({"market": {"tick_interval_ms": 1}}, "market.tick_interval_ms", "1"),
        ({"execution": {"retry": {"max_attempts": 0}}}, "execution.retry.max_attempts", "0"),
        ({"market": {"underlyings": "NIFTY"}}, "market.underlyings", '"NIFTY"'),
    ],
)
def test_wrong_type_or_range_names_path_and_value(raw: Any, path: str, value: str) -> None:
    errors = errors_for(raw)
    assert len(errors) == 1
    assert errors[0].startswith(f"desk.yaml: {path}: ")
    assert errors[0].endswith(f"(got {value})")


def test_every_error_is_reported_not_just_the_first() -> None:
    errors = errors_for({"risk": {"max_order_lots": 0, "kill_switch": "x"}, "brokr": 1})
    assert sorted(e.split(": ")[1] for e in errors) == ["brokr", "risk.kill_switch", "risk.max_order_lots"]


@pytest.mark.parametrize(("raw", "kind"), [([1, 2], "list"), ("risk", "str"), (5, "int")])
def test_non_mapping_top_level_is_rejected(raw: Any, kind: str) -> None:
    assert errors_for(raw) == [f"desk.yaml: the top level must be a mapping, got {kind}"]


def test_non_mapping_top_level_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "- risk\n- broker\n")
    with pytest.raises(ConfigError, match=f"^{path}: the top level must be a mapping"):
        load_config(path)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "risk:\n  max_order_lots: 5\n  kill_switch: true: false\nbroker: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [f"{path}: line 3 not valid YAML/JSON: mapping values are not allowed here"]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=f"^{path}: cannot read"):
        load_config(path)


def test_errors_in_a_file_carry_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "execution:\n  retry:\n    max_atempts: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        f"{path}: execution.retry.max_atempts: Extra inputs are not permitted (got 3)"
    ]


# --- merging -----------------------------------------------------------------------------------------


def test_merge_overrides_a_nested_field_and_keeps_its_siblings() -> None:
    base = load_config(DEFAULT_YAML)
    merged = merged_config(base, {"execution": {"retry": {"max_attempts": 2}}}, "scenario")
    assert merged.execution.retry.max_attempts == 2
    assert merged.execution.retry.base_delay_ms == base.execution.retry.base_delay_ms
    assert merged.execution.horizon_s == base.execution.horizon_s
    assert merged.latency_model == base.latency_model
    assert merged.market == base.market


def test_merge_with_nothing_gives_an_equal_config() -> None:
    base = load_config(DEFAULT_YAML)
    assert merged_config(base, {}, "scenario") == base


def test_null_rate_limit_survives_a_merge_of_another_section() -> None:
    base = config_from_mapping({"broker": {"rate_limit_per_s": None}}, "desk.yaml")
    assert base.broker.rate_limit_per_s is None
    merged = merged_config(base, {"risk": {"kill_switch": True}}, "scenario")
    assert merged.broker.rate_limit_per_s is None
    assert merged.risk.kill_switch is True


def test_merge_can_switch_a_latency_model_to_another_type() -> None:
    override = {"latency_model": {"global": {"type": "constant", "value_ms": 5}}}
    merged = merged_config(load_config(None), override, "scenario.yaml")
    assert merged.latency_model.global_ == ConstantLatency(type="constant", value_ms=5)


def test_merge_can_relocate_a_lognormal_by_median_instead_of_mu() -> None:
    override = {"slippage_model": {"global": {"type": "lognormal", "median": 2, "sigma": 0.1}}}
    merged = merged_config(load_config(None), override, "scenario.yaml")
    assert merged.slippage_model.global_.model_dump(exclude_none=True) == {
        "type": "lognormal",
        "median": 2.0,
        "sigma": 0.1,
        "unit": "bps",
    }


def test_invalid_merge_is_rejected_naming_the_source_and_leaves_the_base_alone() -> None:
    base = load_config(None)
    with pytest.raises(ConfigError, match=r"^scenario\.yaml: risk\.max_order_lots: "):
        merged_config(base, {"risk": {"max_order_lots": -1}}, "scenario.yaml")
    assert base.risk.max_order_lots == 50


# --- hash --------------------------------------------------------------------------------------------


def test_sha256_is_stable_for_equal_configs() -> None:
    assert load_config(DEFAULT_YAML).sha256() == load_config(DEFAULT_YAML).sha256()


def test_sha256_ignores_key_order_in_the_file(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    reordered = write(tmp_path, yaml.safe_dump(dict(reversed(list(raw.items()))), sort_keys=False))
    assert load_config(reordered).sha256() == load_config(DEFAULT_YAML).sha256()


def test_sha256_changes_when_a_value_changes() -> None:
    base = load_config(DEFAULT_YAML)
    changed = merged_config(base, {"market": {"seed": 8}}, "s")
    assert changed.sha256() != base.sha256()


def test_sha256_is_a_hex_digest() -> None:
    digest = Config().sha256()
    assert len(digest) == 64
    assert int(digest, 16) >= 0
