"""Sweeps: one scenario replayed over many seeds in parallel, the outcomes aggregated.

Each seed is an ordinary replay (`run_replay`) into `<out>/seed-<N>/`, so each stays individually reproducible:
`replay SCENARIO --seed N` writes the same files, byte for byte (`run.json` but its `wall_s`; `sweep.json` lists each
run's telemetry SHA-256 to check it by). The runs share nothing but the input files, read once by the process that
starts the sweep (`SweepInputs`) and handed to every run as text.

Two executors run the seeds: local processes (here), and a Dask distributed cluster (`sweep.cluster`, imported only
when asked for, so the desk's start-up does not pay for Dask). Local workers come from a forkserver that has imported
the engine once: a worker starts in milliseconds rather than re-importing numpy/scipy/pydantic, and nothing of the
parent process (threads, open files) is inherited.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imperium_desk import __version__
from imperium_desk.config import Config, config_from_mapping
from imperium_desk.desk import prepare_replay, run_replay, write_json_atomic
from imperium_desk.domain.documents import parse_document, read_document_text
from imperium_desk.scenarios.spec import LoadedScenario, scenario_from_text
from imperium_desk.scenarios.sweep_stats import aggregate

SeedProgress = Callable[[int, int], None]  # (runs done, runs in all)


@dataclass(frozen=True, slots=True)
class SweepInputs:
    """The scenario and config files of a sweep, read once by the process that starts it. Every seed, in a local
    process or on another host, loads them from this text as `replay` loads the files, so workers need no access
    to the files (no shared disk) and a file edited while the sweep runs changes none of its seeds.

    Paths are absolute, as the starting process saw them: the config's relative model data paths resolve against
    its folder, and `run.json` records the scenario's path, exactly as a `replay` of the file does. `version` is
    the desk version that read them: a worker running another version refuses the run. Immutable, picklable."""

    scenario_path: Path
    scenario_text: str
    config_path: Path | None
    config_text: str | None
    version: str

    @classmethod
    def read(cls, scenario_path: Path, config_path: Path | None) -> SweepInputs:
        """Read both files (ConfigError naming the file if one cannot be read)."""
        scenario = scenario_path.absolute()
        config = None if config_path is None else config_path.absolute()
        return cls(scenario, read_document_text(scenario), config,
                   None if config is None else read_document_text(config), __version__)

    def load(self) -> tuple[LoadedScenario, Config]:
        """The scenario and config, validated as `load_scenario` and `load_config` validate the files."""
        scenario = scenario_from_text(self.scenario_text, self.scenario_path, str(self.scenario_path))
        if self.config_path is None or self.config_text is None:
            return scenario, Config()
        source = str(self.config_path)
        return scenario, config_from_mapping(parse_document(self.config_text, source), source, self.config_path.parent)


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One seed of a sweep as its worker reports it: where its files are, its record count, its wall and virtual
    seconds, its telemetry's SHA-256 (what a later `replay --seed` must reproduce) and its outcome document."""

    seed: int
    out_dir: Path
    records: int
    wall_s: float
    virtual_s: float
    telemetry_sha256: str
    document: dict[str, Any]  # the outcome (run, baseline, delta) or, with no events, {"run": metrics}


def seed_dir(out_dir: Path, seed: int) -> Path:
    return out_dir / f"seed-{seed}"


def run_seed(inputs: SweepInputs, seed: int, out_dir: Path) -> SeedRun:
    """One seed of a sweep, as `replay --seed` runs it (a worker's whole job)."""
    scenario, config = inputs.load()
    summary = run_replay(scenario, config, out_dir, seed=seed)
    digest = hashlib.sha256(summary.telemetry_path.read_bytes()).hexdigest()
    document = summary.outcome if summary.outcome is not None else {"run": summary.metrics}
    return SeedRun(seed, out_dir, int(summary.run["records"]), float(summary.run["wall_s"]),
                   float(summary.run["virtual_elapsed_s"]), digest, document)


def check_sweep(scenario: LoadedScenario, config: Config, seeds: Sequence[int]) -> None:
    """Everything that can reject the sweep, before any process starts or any file is written."""
    prepare_replay(scenario, config)
    if not seeds:
        raise ValueError("no seeds to run")


def run_sweep(
    scenario_path: Path,
    config_path: Path | None,
    seeds: Sequence[int],
    out_dir: Path,
    *,
    jobs: int,
    cluster: str | None = None,
    progress: SeedProgress | None = None,
) -> dict[str, Any]:
    """Replay `seeds` and write and return `sweep.json` (written last, atomically).

    With `cluster` None, up to `jobs` local processes run them; with a Dask scheduler's address, its workers do
    (`local`: a LocalCluster of `jobs` worker processes started for the sweep). Raises ConfigError, before any file
    is written, for input the sweep cannot run, an unreachable cluster included."""
    inputs = SweepInputs.read(scenario_path, config_path)
    scenario, config = inputs.load()
    check_sweep(scenario, config, seeds)
    jobs = max(1, min(jobs, len(seeds)))
    started = time.perf_counter()
    if cluster is not None:
        from imperium_desk.sweep.cluster import ClusterSweep

        with ClusterSweep.connect(cluster, workers=jobs) as session:  # an unreachable cluster: nothing written
            out_dir.mkdir(parents=True, exist_ok=True)
            runs = session.run(inputs, seeds, out_dir, progress)
            executor, jobs = session.describe(), session.threads
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        runs = _run_local(inputs, seeds, out_dir, jobs, progress)
        executor = {"kind": "processes", "jobs": jobs}
    wall_s = time.perf_counter() - started
    ordered = [runs[s] for s in seeds]
    sweep = {
        "id": scenario.spec.id,
        "scenario_sha256": scenario.sha256,
        "config_sha256": config.sha256(),
        "seeds": list(seeds),
        "jobs": jobs,
        "executor": executor,
        "wall_s": round(wall_s, 3),
        "cpu_count": os.cpu_count(),
        "runs": [
            {"seed": r.seed, "out": r.out_dir.name, "records": r.records, "wall_s": r.wall_s,
             "virtual_s": r.virtual_s, "telemetry_sha256": r.telemetry_sha256, "metrics": r.document["run"]}
            for r in ordered
        ],
        "aggregate": aggregate(r.document for r in ordered),
    }
    write_json_atomic(out_dir / "sweep.json", sweep)
    return sweep


def _run_local(
    inputs: SweepInputs, seeds: Sequence[int], out_dir: Path, jobs: int, progress: SeedProgress | None
) -> dict[int, SeedRun]:
    runs: dict[int, SeedRun] = {}
    if jobs == 1:
        for seed in seeds:  # no pool: a single job pays no process start
            runs[seed] = run_seed(inputs, seed, seed_dir(out_dir, seed))
            if progress is not None:
                progress(len(runs), len(seeds))
        return runs
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["imperium_desk.sweep"])
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future[SeedRun], int] = {
            pool.submit(run_seed, inputs, seed, seed_dir(out_dir, seed)): seed for seed in seeds
        }
        try:
            for future in as_completed(futures):
                runs[futures[future]] = future.result()
                if progress is not None:
                    progress(len(runs), len(seeds))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # runs in flight finish; queued ones never start
            raise
    return runs
