# mypy: disallow-untyped-calls=False
# (Client, LocalCluster and Client.processing have unannotated signatures)
"""`imperium-desk replay SCENARIO --seeds ... --cluster ADDRESS`: a sweep on a Dask cluster, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from imperium_desk import cli as cli_module
from imperium_desk.sweep import cluster as cluster_module
from tests.integration.test_cli_replay import REPO, cli

# the shortest shipped drill, with events
SHORT = REPO / "imperium_desk" / "configs" / "scenarios" / "risk-tightening.yaml"
SEEDS = "1..6"
TIMING = {"wall_s"}  # the only keys two runs of one seed may differ in


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same sweep on local processes."""
    home = tmp_path_factory.mktemp("local")
    out = home / "sweep"
    result = cli("replay", SHORT, "--seeds", SEEDS, "--jobs", "2", "--out", out, home=home)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def own_cluster() -> Iterator[tuple[LocalCluster, Client]]:
    """A 2-worker cluster the test holds (and can kill workers of), reached by the CLI at its address."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield cluster, client


def assert_same_sweep(swept: Path, reference: Path) -> None:
    """Every seed folder holds the same files with the same bytes (run.json: but its wall time), and sweep.json
    the same runs (but their wall time)."""
    ours, theirs = (json.loads((d / "sweep.json").read_text()) for d in (swept, reference))
    assert [strip(r) for r in ours["runs"]] == [strip(r) for r in theirs["runs"]]
    assert ours["aggregate"] == theirs["aggregate"]
    for run in theirs["runs"]:
        mine, ref = swept / run["out"], reference / run["out"]
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in ref.iterdir())
        for path in ref.iterdir():
            if path.name == "run.json":
                assert strip(json.loads((mine / path.name).read_text())) == strip(json.loads(path.read_text()))
            else:
                assert (mine / path.name).read_bytes() == path.read_bytes(), path.name
            assert (mine / path.name).stat().st_mode == path.stat().st_mode, path.name


def strip(document: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in document.items() if k not in TIMING}


def test_a_sweep_on_a_local_cluster_writes_the_files_local_processes_write(tmp_path: Path, local_sweep: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("replay", SHORT, "--seeds", SEEDS, "--cluster", "local", "--jobs", "2", "--out", out, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_sweep(out, local_sweep)
    assert json.loads((out / "sweep.json").read_text())["executor"]["kind"] == "dask"


def test_a_worker_killed_during_the_sweep_does_not_change_the_result(
    tmp_path: Path, local_sweep: Path, own_cluster: tuple[LocalCluster, Client]
) -> None:
    cluster, client = own_cluster
    pids: dict[str, int] = client.run(os.getpid)
    out = tmp_path / "sweep"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "imperium_desk", "replay", str(SHORT), "--seeds", SEEDS, "--cluster",
         cluster.scheduler_address, "--out", str(out), "--home", str(tmp_path), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and sweep.poll() is None:
            busy = [w for w, keys in client.processing().items() if any(str(k).startswith("seed-") for k in keys)]
            if busy:  # a worker holding a seed's task: killed before it can hand the seed back
                victim = busy[0]
                os.kill(pids[victim], signal.SIGKILL)
            else:
                time.sleep(0.02)
        _, stderr = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert victim is not None, "no worker was ever running a seed"
    assert sweep.returncode == 0, stderr
    assert_same_sweep(out, local_sweep)


def test_an_unreachable_cluster_is_exit_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 0.5)
    out = tmp_path / "sweep"
    closed = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    code = cli_module.main(["replay", str(SHORT), "--seeds", "1..2", "--cluster", closed, "--out", str(out),
                            "--home", str(tmp_path)])
    assert code == cli_module.EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("error: --cluster:")
    assert not out.exists()


def test_a_malformed_cluster_address_is_exit_2_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("replay", SHORT, "--seeds", "1..2", "--cluster", "nowhere", "--out", out, home=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --cluster:")
    assert not out.exists()


def test_cluster_without_seeds_is_exit_2(tmp_path: Path) -> None:
    result = cli("replay", SHORT, "--cluster", "local", "--out", tmp_path / "x", home=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --cluster:")


def test_jobs_with_a_remote_cluster_is_exit_2(tmp_path: Path) -> None:
    result = cli("replay", SHORT, "--seeds", "1..2", "--jobs", "2", "--cluster", "tcp://127.0.0.1:9",
                 "--out", tmp_path / "x", home=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --jobs:")
