"""Replay throughput on the virtual clock.

Workload (issue 2): one option priced near 100 with a 0.10 spread, a quote every 100 ms; P parents of 20 lots
alternating buy/sell, one every 10 ms, each a TWAP of 10 MARKET children one second apart; normal latency
50±10 ms and a lognormal slippage draw; telemetry written to a real JSONL file. Throughput is child fills per
wall second of the whole replay (engine build, run, telemetry flushed). Each P runs in its own process so its
peak RSS is its own.

    .venv/bin/python -m benchmarks.replay_throughput                 # P = 1,000, 10,000, 100,000
    .venv/bin/python -m benchmarks.replay_throughput --parents 10000 # one run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imperium_desk.config import config_from_mapping
from imperium_desk.desk import ReplaySummary, load_catalog, run_replay
from imperium_desk.domain.enums import OptionRight
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.spec import LoadedScenario, ScenarioSpec, scenario_from_spec

PARENT_SPACING_S = 0.01
CONFIG: dict[str, Any] = {
    "market": {
        "underlyings": ["NIFTY"],
        "tick_interval_ms": 100,
        "spread": {"base_ticks": 2, "pct_of_price": 0.0001, "cheap_extra_ticks": 0},
        "depth": {"touch_lots": 40},
    },
    "latency_model": {"global": {"type": "normal", "mean_ms": 50, "std_ms": 10}},
    "slippage_model": {"global": {"type": "lognormal", "median": 1.0, "sigma": 0.5, "unit": "bps"}},
    "broker": {"rate_limit_per_s": None, "paper": {"capital": 1e12}},
    "risk": {"max_order_value": 1e12},
    # The engine is what is measured: the JSONL only (no SQLite index, built after a replay) and no markouts
    # (the workload predates them; with them on, add one record and one timer per fill).
    "telemetry": {"fsync": False, "sinks": ["jsonl"], "markouts_s": []},
}


def option_near_100() -> str:
    """The NIFTY nearest-expiry call whose simulated price at the start is closest to 100."""
    from imperium_desk.clock import VirtualClock

    cfg = config_from_mapping(CONFIG, "benchmark")
    catalog = load_catalog(cfg)
    clock = VirtualClock(cfg.market.start.timestamp())
    market = MarketSimulator(cfg.market, catalog, clock, RandomStreams(1))
    expiry = catalog.expiries("NIFTY", clock.now_datetime(), 1)[0]
    best = min(
        (market.subscribe(c) for c in catalog.chain("NIFTY", expiry, market.spot("NIFTY"), 20)
         if c.right is OptionRight.CE),
        key=lambda q: abs(q.mid - 100),
    )
    return best.symbol


def timed_replay(scenario: LoadedScenario) -> tuple[ReplaySummary, float, int]:
    """`scenario` replayed with CONFIG into a temporary folder: its summary, the wall seconds of the whole replay
    (engine build, run, telemetry flushed) and the size of its telemetry.jsonl."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = run_replay(scenario, config_from_mapping(CONFIG, "benchmark"), Path(tmp))
        wall = time.perf_counter() - started
        return summary, wall, (Path(tmp) / "telemetry.jsonl").stat().st_size


def run_one(parents: int) -> dict[str, Any]:
    symbol = option_near_100()
    spec = ScenarioSpec.model_validate({
        "id": f"throughput-{parents}",
        "seed": 11,
        "duration_s": parents * PARENT_SPACING_S,
        "orders": [
            {"every_s": 2 * PARENT_SPACING_S, "from_s": 0, "until_s": (parents - 2) * PARENT_SPACING_S,
             "symbol": symbol, "side": "buy", "lots": 20, "algo": "TWAP",
             "params": {"horizon_s": 10, "max_child_orders": 10, "randomize_slices": False}},
            {"every_s": 2 * PARENT_SPACING_S, "from_s": PARENT_SPACING_S,
             "until_s": (parents - 1) * PARENT_SPACING_S,
             "symbol": symbol, "side": "sell", "lots": 20, "algo": "TWAP",
             "params": {"horizon_s": 10, "max_child_orders": 10, "randomize_slices": False}},
        ],
    })
    summary, wall, size = timed_replay(scenario_from_spec(spec))
    counts = summary.run["counts"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "parents": summary.parents.parents,
        "children": counts["children"],
        "child_fills": counts["fills"],
        "records": summary.run["records"],
        "telemetry_mb": round(size / 2**20, 1),
        "virtual_s": summary.run["virtual_elapsed_s"],
        "wall_s": round(wall, 3),
        "child_fills_per_s": round(counts["fills"] / wall),
        "us_per_fill": round(wall / counts["fills"] * 1e6, 2),  # flat across P when time is linear in P
        "peak_rss_mb": round(peak_mb, 1),
        "symbol": symbol,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parents", type=int, help="one run with this many parents (in this process)")
    args = parser.parse_args()
    if args.parents:
        print(json.dumps(run_one(args.parents)))
        return
    runs = []
    for p in (1_000, 10_000, 100_000):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.replay_throughput", "--parents", str(p)],
            capture_output=True, text=True, check=True,
        )
        runs.append(json.loads(out.stdout))
    at_10k = next(r for r in runs if r["parents"] == 10_000)
    at_100k = next(r for r in runs if r["parents"] == 100_000)
    print(json.dumps({
        "benchmark": "replay_throughput",
        "python": sys.version.split()[0],
        "runs": runs,
        # Issue 18: >= 30,000 child fills/s at P=10,000, peak RSS <= 500 MB at P=100,000, time linear in P.
        "target": {"child_fills_per_s_at_10k": 30_000, "peak_rss_mb_at_100k": 500},
        "meets_target": at_10k["child_fills_per_s"] >= 30_000 and at_100k["peak_rss_mb"] <= 500,
    }, indent=2))


if __name__ == "__main__":
    main()
