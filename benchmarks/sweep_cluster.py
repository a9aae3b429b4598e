"""A sweep on local processes against the same sweep on a 2-worker Dask LocalCluster (issue 18).

Both run `run_sweep` in-process, as `replay SCENARIO --seeds 1..S --jobs 2` and `... --cluster local --jobs 2` do:
the wall time covers everything the command does once its input is checked, the pool's or the cluster's start-up
included, every seed's files written into the output folder and `sweep.json`. The cluster path pays for what a
remote cluster needs (each seed's files travel back as bytes and are written by the client, tasks go through the
scheduler); the figure is what that costs on one machine, where the local pool needs none of it.

This VM's load from other work varies by up to 2x within minutes, so the two run alternately, `--repeats` times
each, and each reports its best run (all runs are listed).

    .venv/bin/python -m benchmarks.sweep_cluster                # 200 seeds of risk-tightening, jobs/workers 2
    .venv/bin/python -m benchmarks.sweep_cluster --seeds 50 --scenario imperium_desk/configs/scenarios/news-gap.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from imperium_desk.sweep import run_sweep

SCENARIOS = Path(__file__).resolve().parents[1] / "imperium_desk" / "configs" / "scenarios"


def timed_sweep(scenario: Path, seeds: list[int], workers: int, cluster: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sweep = run_sweep(scenario, None, seeds, Path(tmp) / "sweep", jobs=workers, cluster=cluster)
        wall = time.perf_counter() - started
    replaying = sum(r["wall_s"] for r in sweep["runs"])
    return {
        "executor": sweep["executor"],
        "wall_s": round(wall, 3),
        "seeds_per_s": round(len(seeds) / wall, 2),
        "replay_s_mean": round(replaying / len(seeds), 4),  # one seed's run_replay, on its worker
        # The share of the workers' time spent replaying: what the executor costs, whatever the machine's load did
        # to the replays themselves (on this shared VM the replays' own speed varies by up to 2x between runs).
        "efficiency": round(replaying / (wall * workers), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="--jobs for both: processes, or cluster workers")
    parser.add_argument("--scenario", type=Path, default=SCENARIOS / "risk-tightening.yaml")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternating (the best is reported)")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    runs: dict[str, list[dict[str, Any]]] = {"local_processes": [], "dask_local_cluster": []}
    for _ in range(args.repeats):
        runs["local_processes"].append(timed_sweep(args.scenario, seeds, args.workers, None))
        runs["dask_local_cluster"].append(timed_sweep(args.scenario, seeds, args.workers, "local"))
    best = {name: max(found, key=lambda r: float(r["seeds_per_s"])) for name, found in runs.items()}
    print(json.dumps({
        "scenario": args.scenario.stem,
        "seeds": args.seeds,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        **best,
        "cluster_over_local": round(best["dask_local_cluster"]["seeds_per_s"] / best["local_processes"]["seeds_per_s"],
                                    3),
        "all_runs": {name: [(r["seeds_per_s"], r["efficiency"]) for r in found] for name, found in runs.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
