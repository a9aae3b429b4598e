"""The Must-show learner test: a replay with a scripted latency burst that replaces NIFTY's order-lane latency
model, the recalibration learner auto-applying on the virtual clock.

Stated window: by the 200th NIFTY fill after the burst starts (100 s of virtual time at two NIFTY orders a
second), the NIFTY latency model the desk uses has a median within 10% of the burst model's true median. The
first switch comes earlier, after 50 fills of the new regime, with the error of a 50-fill estimate (within 15%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from imperium_desk.config import ConfigError, config_from_mapping
from imperium_desk.desk import ReplaySummary, run_replay
from imperium_desk.scenarios.spec import load_scenario

TRUE_MEDIAN_MS = 150.0
CONFIGURED_MEDIAN_MS = 50.0
WINDOW_FILLS = 200
BURST_AT_S = 60

BURST_FILE = Path(__file__).resolve().parents[2] / "imperium_desk" / "configs" / "learning" / "latency-burst.yaml"
SCENARIO: dict[str, Any] = yaml.safe_load(BURST_FILE.read_text(encoding="utf-8"))


def replay(tmp_path: Path, scenario: dict[str, Any] = SCENARIO, name: str = "run") -> ReplaySummary:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return run_replay(load_scenario(path), config_from_mapping({}, "test"), tmp_path / name)


def records(summary: ReplaySummary) -> list[dict[str, Any]]:
    return [json.loads(line) for line in summary.telemetry_path.read_text().splitlines()]


def learner_switches(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in recs if r["event"] == "model_switch" and r["model_switch"]["source"] == "learner:recalibration"]


def nifty_median_after_burst_fills(recs: list[dict[str, Any]], fills: int) -> tuple[float, int | None]:
    """(the NIFTY median the desk uses once `fills` NIFTY fills of the burst have come in, the burst fill after
    which the first learner switch came)."""
    burst_started, seen, first_switch = False, 0, None
    median = CONFIGURED_MEDIAN_MS
    for r in recs:
        if r["event"] == "scenario" and r["scenario"]["phase"] == "start":
            burst_started = True
        elif r["event"] == "model_switch" and r["model_switch"]["scope"] == "NIFTY":
            if seen > fills:
                break
            median = r["model_switch"]["new"]["median_ms"]
            first_switch = seen if first_switch is None else first_switch
        elif burst_started and r["event"] == "fill" and r["underlying"] == "NIFTY":
            seen += 1
    return median, first_switch


@pytest.fixture(scope="module")
def burst_run(tmp_path_factory: pytest.TempPathFactory) -> ReplaySummary:
    return replay(tmp_path_factory.mktemp("burst"))


def test_the_recalibrated_median_is_within_10_percent_of_the_burst_within_the_window(
    burst_run: ReplaySummary,
) -> None:
    median, _ = nifty_median_after_burst_fills(records(burst_run), WINDOW_FILLS)
    assert median == pytest.approx(TRUE_MEDIAN_MS, rel=0.10)


def test_the_first_switch_comes_after_about_fifty_fills_of_the_burst(burst_run: ReplaySummary) -> None:
    recs = records(burst_run)
    _, first = nifty_median_after_burst_fills(recs, WINDOW_FILLS)
    assert first is not None and 48 <= first <= 60
    assert learner_switches(recs)[0]["model_switch"]["new"]["median_ms"] == pytest.approx(TRUE_MEDIAN_MS, rel=0.15)


def test_the_learner_leaves_the_calm_asset_and_the_calm_minutes_alone(burst_run: ReplaySummary) -> None:
    recs = records(burst_run)
    burst_start = next(r["seq"] for r in recs if r["event"] == "scenario")
    switches = learner_switches(recs)
    assert switches and all(s["model_switch"]["scope"] == "NIFTY" and s["seq"] > burst_start for s in switches)


def test_the_outcome_reports_the_error_before_and_after_recalibration(burst_run: ReplaySummary) -> None:
    assert burst_run.outcome is not None
    learning = burst_run.outcome["learning"]
    nifty = learning["assets"]["NIFTY"]["latency"]
    assert nifty["before"]["model_median_ms"] == CONFIGURED_MEDIAN_MS and nifty["before"]["error_pct"] < -50
    assert abs(nifty["after"]["error_pct"]) < 10 and nifty["after"]["fills"] > 0
    assert set(learning["assets"]) == {"NIFTY"} and learning["decisions"]["applied"] == nifty["changes"]


def test_the_outcome_file_carries_the_learning_section(burst_run: ReplaySummary) -> None:
    written = json.loads((burst_run.telemetry_path.parent / "outcome.json").read_text())
    assert written["learning"] == burst_run.outcome["learning"]  # type: ignore[index]


def test_a_replay_with_learning_is_reproducible(tmp_path: Path, burst_run: ReplaySummary) -> None:
    again = replay(tmp_path)
    assert again.telemetry_path.read_bytes() == burst_run.telemetry_path.read_bytes()


def test_an_unknown_learner_is_an_input_error_and_nothing_is_written(tmp_path: Path) -> None:
    config = {**SCENARIO["config"], "feedback": {"learning": {"enabled": True, "learners": ["nope"]}}}
    with pytest.raises(ConfigError, match=r"feedback\.learning\.learners\.0: no learner 'nope'"):
        replay(tmp_path, {**SCENARIO, "config": config})
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_the_replay_command_prints_the_learning_lines(tmp_path: Path) -> None:
    from tests.integration.test_cli_replay import cli

    path = tmp_path / "burst.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    result = cli("replay", path, "--out", tmp_path / "out", home=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("NIFTY latency: error"))
    assert "before" in line and "after" in line and "change(s)" in line
