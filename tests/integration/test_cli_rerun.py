"""`imperium-desk replay RUN.json`: a replay re-run from its run.json, in another process, byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_cli_replay import REPO, cli

NEWS_GAP = REPO / "imperium_desk" / "configs" / "scenarios" / "news-gap.yaml"


@pytest.fixture
def first_run(tmp_path: Path) -> Path:
    """news-gap replayed with seed 11 from a copy of its file, which is then deleted: run.json must suffice."""
    scenario = tmp_path / "drill.yaml"
    shutil.copy(NEWS_GAP, scenario)
    out = tmp_path / "first"
    result = cli("replay", scenario, "--seed", "11", "--out", out, "--quiet", home=tmp_path)
    assert result.returncode == 0, result.stderr
    scenario.unlink()
    return out


def edited(run_dir: Path, tmp_path: Path, edit: dict[str, object]) -> Path:
    run = json.loads((run_dir / "run.json").read_text())
    for dotted, value in edit.items():
        *parents, key = dotted.split(".")
        target = run
        for part in parents:
            target = target[part]
        target[key] = value
    path = tmp_path / "edited-run.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


def test_a_run_json_re_runs_its_run_byte_for_byte_with_its_own_seed(first_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = cli("replay", first_run / "run.json", "--out", again, "--quiet", home=tmp_path, hash_seed="7")
    assert result.returncode == 0, result.stderr
    assert (again / "telemetry.jsonl").read_bytes() == (first_run / "telemetry.jsonl").read_bytes()
    assert json.loads((again / "run.json").read_text())["seed"] == 11
    assert (again / "outcome.json").read_bytes() == (first_run / "outcome.json").read_bytes()


def test_an_edited_scenario_in_a_run_json_is_refused_and_nothing_is_written(first_run: Path, tmp_path: Path) -> None:
    text = json.loads((first_run / "run.json").read_text())["rerun"]["scenario"]
    path = edited(first_run, tmp_path, {"rerun.scenario": text.replace("seed:", "seed: 5 #", 1)})
    result = cli("replay", path, "--out", tmp_path / "out", home=tmp_path)
    assert result.returncode == 2
    assert "rerun.scenario: its SHA-256" in result.stderr and "the run.json was edited" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_config_that_no_longer_gives_the_recorded_hash_is_refused(first_run: Path, tmp_path: Path) -> None:
    path = edited(first_run, tmp_path, {"rerun.config.risk.max_order_lots": 7})
    result = cli("replay", path, "--out", tmp_path / "out", home=tmp_path)
    assert result.returncode == 2
    assert "config_sha256: the recorded config now reads as" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_json_with_a_bad_seed_names_the_field(first_run: Path, tmp_path: Path) -> None:
    result = cli("replay", edited(first_run, tmp_path, {"seed": -3}), "--out", tmp_path / "out", home=tmp_path)
    assert result.returncode == 2
    assert "seed: must be a non-negative integer, got -3" in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "3"], "--seed: a run.json re-runs its own seed"),
        (["--config", str(REPO / "imperium_desk" / "configs" / "default.yaml")],
         "--config: a run.json re-runs its own config"),
        (["--seeds", "1..3"], "--seeds:"),
    ],
)
def test_a_run_json_refuses_flags_that_would_change_the_run(
    first_run: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    result = cli("replay", first_run / "run.json", *flags, "--out", tmp_path / "out", home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
