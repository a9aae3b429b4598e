"""What a sweep ships to its workers (`SweepInputs`) and how a cluster seed's files come back (`sweep.cluster`)."""

from __future__ import annotations

import dataclasses
import shutil
import stat
from pathlib import Path
from typing import Any, cast

import pytest
from distributed import Client

from imperium_desk import __version__
from imperium_desk.config import ConfigError, load_config
from imperium_desk.scenarios.spec import load_scenario
from imperium_desk.sweep import SeedRun, SweepInputs
from imperium_desk.sweep.cluster import (
    SeedFiles,
    SeedRejected,
    _check_workers,
    replay_seed_files,
    write_seed_files,
)

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "imperium_desk" / "configs" / "scenarios" / "risk-tightening.yaml"


def test_inputs_load_as_the_files_load_relative_model_data_paths_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    scenario_path = Path("imperium_desk/configs/scenarios/risk-tightening.yaml")
    config_path = Path("imperium_desk/configs/demo.yaml")
    inputs = SweepInputs.read(scenario_path, config_path)
    monkeypatch.chdir(tmp_path)  # a worker's folder is not the client's
    scenario, config = inputs.load()
    monkeypatch.chdir(REPO)
    assert scenario.sha256 == load_scenario(scenario_path).sha256
    assert config.sha256() == load_config(config_path).sha256()  # its historical models' CSV paths resolve alike


def test_inputs_need_the_files_no_more_once_read(tmp_path: Path) -> None:
    copy = tmp_path / "drill.yaml"
    shutil.copy(SCENARIO, copy)
    inputs = SweepInputs.read(copy, None)
    copy.unlink()
    assert inputs.load()[0].sha256 == load_scenario(SCENARIO).sha256


def test_a_worker_of_another_version_rejects_the_seed() -> None:
    inputs = dataclasses.replace(SweepInputs.read(SCENARIO, None), version="0.0.0-other")
    assert isinstance(replay_seed_files(inputs, 1), SeedRejected)


def test_a_seeds_files_are_written_with_their_modes_and_no_temporary_left(tmp_path: Path) -> None:
    run = SeedRun(3, Path("seed-3"), 1, 0.1, 1.0, "0" * 64, {"run": {}})
    files = {"telemetry.jsonl": (0o600, b"{}\n"), "run.json": (0o644, b"{}\n")}
    folder = write_seed_files(tmp_path, SeedFiles(run, files)).out_dir
    assert folder == tmp_path / "seed-3"
    assert {p.name: (stat.S_IMODE(p.stat().st_mode), p.read_bytes()) for p in folder.iterdir()} == files


class _Workers:
    """A client whose workers answer `run` with these values (a version, or the error a worker raised)."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def run(self, function: Any, on_error: str) -> dict[str, object]:
        return self.answers


@pytest.mark.parametrize("answer", ["0.0.0-other", ModuleNotFoundError("No module named 'imperium_desk'")])
def test_a_cluster_with_a_worker_that_cannot_run_this_version_is_refused_before_the_sweep(answer: object) -> None:
    client = cast(Client, _Workers({"tcp://a:1": __version__, "tcp://b:1": answer}))
    with pytest.raises(ConfigError):
        _check_workers(client, "tcp://s:8786")


def test_a_cluster_whose_workers_all_run_this_version_is_accepted() -> None:
    _check_workers(cast(Client, _Workers({"tcp://a:1": __version__})), "tcp://s:8786")
