"""`imperium-desk replay SCENARIO --seeds ... --jobs N`: a sweep over seeds in parallel processes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.integration.test_cli_replay import REPO, cli

STORM = REPO / "imperium_desk" / "configs" / "scenarios" / "reject-storm.yaml"


def test_a_sweep_writes_one_folder_per_seed_and_aggregates_their_outcomes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("replay", STORM, "--seeds", "1..3", "--jobs", "2", "--out", out, home=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert [r["seed"] for r in sweep["runs"]] == [1, 2, 3] and sweep["jobs"] == 2
    for seed in (1, 2, 3):
        assert (out / f"seed-{seed}" / "outcome.json").is_file()
    rejects_delta = sweep["aggregate"]["delta"]["fill_rate"]
    assert rejects_delta["n"] == 3 and rejects_delta["max"] < 0  # the storm costs fills on every seed
    assert "across seeds" in result.stdout


def test_each_run_of_a_sweep_is_reproduced_by_a_single_replay_of_its_seed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert cli("replay", STORM, "--seeds", "4,5", "--jobs", "2", "--out", out, home=tmp_path).returncode == 0
    single = tmp_path / "single"
    assert cli("replay", STORM, "--seed", "5", "--out", single, home=tmp_path).returncode == 0
    swept = (out / "seed-5" / "telemetry.jsonl").read_bytes()
    assert swept == (single / "telemetry.jsonl").read_bytes()
    listed = json.loads((out / "sweep.json").read_text())["runs"][1]["telemetry_sha256"]
    assert listed == hashlib.sha256(swept).hexdigest()


def test_seeds_that_differ_give_different_telemetry_within_a_sweep(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert cli("replay", STORM, "--seeds", "1,2", "--jobs", "1", "--out", out, home=tmp_path).returncode == 0
    hashes = {r["telemetry_sha256"] for r in json.loads((out / "sweep.json").read_text())["runs"]}
    assert len(hashes) == 2


def test_a_malformed_seed_list_is_exit_2_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("replay", STORM, "--seeds", "5..2", "--out", out, home=tmp_path)
    assert result.returncode == 2
    assert "--seeds: '5..2'" in result.stderr
    assert not out.exists()


def test_jobs_without_seeds_is_exit_2(tmp_path: Path) -> None:
    result = cli("replay", STORM, "--jobs", "2", "--out", tmp_path / "x", home=tmp_path)
    assert result.returncode == 2 and "--jobs: only with --seeds" in result.stderr


def test_seed_and_seeds_together_are_refused(tmp_path: Path) -> None:
    result = cli("replay", STORM, "--seed", "1", "--seeds", "1..2", home=tmp_path)
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_a_bad_scenario_stops_the_sweep_before_any_process_or_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nseed: 1\nduration_s: 10\nevents: [{type: meteor, at_s: 1}]\n", encoding="utf-8")
    out = tmp_path / "sweep"
    result = cli("replay", bad, "--seeds", "1..3", "--out", out, home=tmp_path)
    assert result.returncode == 2 and "events.0" in result.stderr
    assert not out.exists()
