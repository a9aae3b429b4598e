"""Sweeps: one scenario replayed over many seeds in parallel processes, the outcomes aggregated.

Each seed is an ordinary replay (`run_replay`) into `<out>/seed-<N>/`, so each stays individually reproducible:
`replay SCENARIO --seed N` writes the same telemetry, byte for byte (`sweep.json` lists each run's telemetry
SHA-256 to check it by). The runs share nothing but the input files, which every worker reads afresh.

Workers come from a forkserver that has imported the engine once: a worker starts in milliseconds rather than
re-importing numpy/scipy/pydantic, and nothing of the parent process (threads, open files) is inherited.
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

from imperium_desk.config import Config, load_config
from imperium_desk.desk import prepare_replay, run_replay, write_json_atomic
from imperium_desk.scenarios.spec import LoadedScenario, load_scenario
from imperium_desk.scenarios.sweep_stats import aggregate

SeedProgress = Callable[[int, int], None]  # (runs done, runs in all)


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One seed of a sweep as its worker process reports it: where its files are, its record count, its wall and virtual
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


def run_seed(scenario_path: Path, config_path: Path | None, seed: int, out_dir: Path) -> SeedRun:
    """One seed of a sweep, as `replay --seed` runs it (a worker process's whole job)."""
    summary = run_replay(load_scenario(scenario_path), load_config(config_path), out_dir, seed=seed)
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
    progress: SeedProgress | None = None,
) -> dict[str, Any]:
    """Replay `seeds` with up to `jobs` processes; write and return `sweep.json` (written last, atomically)."""
    scenario = load_scenario(scenario_path)
    config = load_config(config_path)
    check_sweep(scenario, config, seeds)
    jobs = max(1, min(jobs, len(seeds)))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs: dict[int, SeedRun] = {}
    if jobs == 1:
        for seed in seeds:  # no pool: a single job pays no process start
            runs[seed] = run_seed(scenario_path, config_path, seed, seed_dir(out_dir, seed))
            if progress is not None:
                progress(len(runs), len(seeds))
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["imperium_desk.sweep"])
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures: dict[Future[SeedRun], int] = {
                pool.submit(run_seed, scenario_path, config_path, seed, seed_dir(out_dir, seed)): seed
                for seed in seeds
            }
            try:
                for future in as_completed(futures):
                    runs[futures[future]] = future.result()
                    if progress is not None:
                        progress(len(runs), len(seeds))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # runs in flight finish; queued ones never start
                raise
    wall_s = time.perf_counter() - started
    ordered = [runs[s] for s in seeds]
    sweep = {
        "id": scenario.spec.id,
        "scenario_sha256": scenario.sha256,
        "config_sha256": config.sha256(),
        "seeds": list(seeds),
        "jobs": jobs,
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
