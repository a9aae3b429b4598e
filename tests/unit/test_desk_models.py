"""The desk's model operations (what the models panel and the REST API call), on the virtual clock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from imperium_desk.clock import VirtualClock
from imperium_desk.config import ConfigError, load_config
from imperium_desk.desk import Desk, DeskEvent, MessageEvent, ModelConfigError, ModelsChanged
from tests.unit.test_desk import make_desk, run

NORMAL = {"type": "normal", "mean_ms": 30, "std_ms": 4}


def test_model_rows_list_each_underlying_with_the_scope_it_resolved_from(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path, {"latency_model": {"per_asset": {"BANKNIFTY": NORMAL}}})
    rows = {(r.asset, r.kind): r for r in desk.model_rows()}
    assert rows[("NIFTY", "latency")].scope == "global"
    assert rows[("BANKNIFTY", "latency")].scope == "BANKNIFTY"
    assert rows[("BANKNIFTY", "latency")].params == NORMAL
    assert rows[("NIFTY", "slippage")].params["type"] == "constant"
    run(clock, desk.stop())


def test_a_valid_switch_changes_the_model_and_is_announced(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    switch = run(clock, desk.switch_model("latency", "NIFTY", NORMAL))
    assert switch.new == NORMAL and switch.old is None
    assert desk.models_config()[0].per_asset["NIFTY"].model_dump(exclude_none=True)["mean_ms"] == 30
    assert next(e for e in events if isinstance(e, ModelsChanged)).switches == [switch]
    run(clock, desk.stop())


def test_a_negative_std_is_refused_naming_the_field_and_nothing_changes(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    before = desk.models_config()
    with pytest.raises(ModelConfigError) as caught:
        run(clock, desk.switch_model("latency", "NIFTY", {**NORMAL, "std_ms": -1}))
    assert "latency_model.per_asset.NIFTY" in caught.value.errors[0]
    assert "std_ms" in caught.value.errors[0]
    assert desk.models_config() == before
    run(clock, desk.stop())


def test_an_unknown_model_type_is_refused(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    with pytest.raises(ModelConfigError, match="gamma"):
        run(clock, desk.switch_model("latency", "global", {"type": "gamma", "shape": 2}))
    run(clock, desk.stop())


def test_removing_the_global_model_is_refused_as_bad_input(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    with pytest.raises(ModelConfigError, match="cannot be removed"):
        run(clock, desk.switch_model("latency", "global", None))
    run(clock, desk.stop())


def test_preview_draws_the_requested_number_of_samples_of_the_model(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    samples = run(clock, desk.preview_samples("latency", NORMAL, n=5000))
    assert samples.shape == (5000,)
    assert samples.mean() == pytest.approx(30, abs=0.5)
    run(clock, desk.stop())


# -- config reload -------------------------------------------------------------------------------------------
def desk_on_file(tmp_path: Path, latency: dict[str, Any]) -> tuple[Desk, VirtualClock, list[DeskEvent], Path]:
    path = tmp_path / "desk.yaml"
    write_config(path, latency)
    cfg = load_config(path)
    clock = VirtualClock(cfg.market.start.timestamp())
    desk = Desk(cfg, home=tmp_path, clock=clock, config_path=path)
    events: list[DeskEvent] = []
    desk.add_listener(events.append)
    return desk, clock, events, path


def write_config(path: Path, latency: dict[str, Any]) -> None:
    raw = {
        "market": {"underlyings": ["NIFTY"]},
        "latency_model": {"global": latency},
        "telemetry": {"fsync": False},
    }
    path.write_text(yaml.safe_dump(raw))


def test_reload_switches_in_the_models_of_the_edited_file(tmp_path: Path) -> None:
    desk, clock, _, path = desk_on_file(tmp_path, NORMAL)
    write_config(path, {**NORMAL, "mean_ms": 80})
    switches = run(clock, desk.reload_config())
    assert [(s.scope, s.new["mean_ms"] if s.new else None) for s in switches] == [("global", 80)]
    assert desk.models_config()[0].global_.model_dump()["mean_ms"] == 80
    run(clock, desk.stop())


def test_an_invalid_reload_keeps_the_old_models_and_says_why(tmp_path: Path) -> None:
    desk, clock, events, path = desk_on_file(tmp_path, NORMAL)
    before = desk.models_config()
    write_config(path, {**NORMAL, "std_ms": -5})
    with pytest.raises(ConfigError):
        run(clock, desk.reload_config())
    assert desk.models_config() == before
    messages = [e.text for e in events if isinstance(e, MessageEvent)]
    assert any("latency_model.global.std_ms" in m and "unchanged" in m for m in messages)
    run(clock, desk.stop())


def test_the_running_desk_picks_up_an_edited_config_file(tmp_path: Path) -> None:
    desk, clock, events, path = desk_on_file(tmp_path, NORMAL)

    async def main() -> None:
        desk.start()
        await clock.sleep(0.5)
        old = path.stat().st_mtime
        write_config(path, {"type": "constant", "value_ms": 12})
        os.utime(path, (old + 10, old + 10))  # a coarse file-system clock may not have moved yet
        await clock.sleep(1.5)
        await desk.stop()

    run(clock, main())
    assert desk.models_config()[0].global_.model_dump()["value_ms"] == 12
    assert any(isinstance(e, ModelsChanged) for e in events)


def test_a_preview_of_an_absurd_size_is_refused(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    with pytest.raises(ModelConfigError, match="n: 0"):
        run(clock, desk.preview_samples("latency", NORMAL, n=0))
    run(clock, desk.stop())
