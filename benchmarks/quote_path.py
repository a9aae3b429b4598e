"""The simulated market's quote path on the virtual clock (issue 18).

* `one_contract`: one subscribed contract (NIFTY only), the simulator ticking on a `VirtualClock` with one listener
  that reads that contract's quote every tick (its touch; `one_contract_depth` reads its depth levels too); wall
  microseconds per tick, timer included. Target <= 5.
* `chain_310`: the desk's whole chain, 5 underlyings x (ATM +-15 strikes) x CE/PE = 310 contracts, on an engine built
  by `build_engine` in REPLAY mode (the engine's own listeners: paper exchange, client feed), no orders; wall
  microseconds per tick. Target <= 100.
* `--day`: one full trading day (22,500 s of 250 ms ticks) of that chain with 1,000 TWAP parents spread over the day
  (10 instruments across the 5 underlyings, buy and sell alternating, 6 lots in 6 children each), telemetry written
  to a JSONL file, markouts on: wall and CPU seconds.

Each per-tick figure is the median of `--repeats` runs, in wall time and in CPU time of the process (this machine
is shared: under load the wall figure is mostly waiting for a core). `--baseline DIR` measures the same workloads on
the code at DIR (e.g. the main branch's tree) in a second interpreter and prints the speed-ups; `--sweep` measures the
per-tick CPU figures at several block sizes (how the default `market.block_ticks` was chosen).

    .venv/bin/python -m benchmarks.quote_path
    .venv/bin/python -m benchmarks.quote_path --baseline /work/main --day
    .venv/bin/python -m benchmarks.quote_path --sweep
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TICK_MS = 250
STRIKES_EACH_SIDE = 15
DAY_S = 22_500.0
DAY_PARENTS = 1_000
# (underlying, ATM offset, right): the day's instruments, each traded by 100 parents.
DAY_INSTRUMENTS = [
    ("NIFTY", 0, "CE"), ("NIFTY", -2, "PE"), ("NIFTY", 3, "CE"), ("BANKNIFTY", 0, "PE"), ("BANKNIFTY", 2, "CE"),
    ("FINNIFTY", -1, "CE"), ("FINNIFTY", 1, "PE"), ("MIDCPNIFTY", 0, "CE"), ("SENSEX", 0, "PE"), ("SENSEX", -3, "CE"),
]
TARGETS_US = {"one_contract": 5, "chain_310": 100}


def _market(block: int | None, **fields: Any) -> dict[str, Any]:
    """A `market:` section; `block_ticks` only where the code knows it (a baseline tree may predate it)."""
    from imperium_desk.market.config import MarketConfig

    section: dict[str, Any] = {"tick_interval_ms": TICK_MS, **fields}
    if block is not None and "block_ticks" in MarketConfig.model_fields:
        section["block_ticks"] = block
    return section


def one_contract(ticks: int, block: int | None, *, depth: bool = False) -> tuple[float, float]:
    """(wall, CPU) microseconds per tick: one contract, one listener reading its quote (`depth`: and its levels)."""
    from imperium_desk.clock import VirtualClock
    from imperium_desk.domain.enums import OptionRight
    from imperium_desk.domain.instruments import InstrumentCatalog
    from imperium_desk.market.config import MarketConfig
    from imperium_desk.market.simulator import MarketSimulator
    from imperium_desk.rng import RandomStreams

    config = MarketConfig.model_validate(_market(block, underlyings=["NIFTY"]))
    catalog = InstrumentCatalog.load(config.instruments_path())
    clock = VirtualClock(config.start.timestamp())
    sim = MarketSimulator(config, catalog, clock, RandomStreams(7))
    expiry = catalog.expiries("NIFTY", config.start, 1)[0]
    contract = catalog.contract("NIFTY", expiry, catalog.strike_offset("NIFTY", sim.spot("NIFTY"), 0),
                                OptionRight.CE)
    symbol = sim.subscribe(contract).symbol
    quote = sim.quote
    read: list[object] = []
    if depth:
        sim.add_listener(lambda _batch: read.append(quote(symbol).asks))
    else:
        sim.add_listener(lambda _batch: read.append(quote(symbol).bid))
    return _tick(clock, sim.start, sim.stop, ticks, lambda: len(read))


def chain(ticks: int, block: int | None) -> tuple[float, float]:
    """(wall, CPU) microseconds per tick: the desk's chain on a whole engine, no orders."""
    engine, clock = _chain_engine(block, sink=lambda _record: None)
    market = engine.market
    return _tick(clock, market.start, market.stop, ticks, None)


def _chain_engine(block: int | None, sink: Callable[[Any], None],
                  overrides: dict[str, Any] | None = None) -> tuple[Any, Any]:
    from imperium_desk.clock import VirtualClock
    from imperium_desk.config import config_from_mapping
    from imperium_desk.desk.engine import build_engine
    from imperium_desk.domain.enums import Mode

    config = config_from_mapping({"market": _market(block), **(overrides or {})}, "benchmark")
    clock = VirtualClock(config.market.start.timestamp())
    engine = build_engine(config, clock=clock, seed=7, mode=Mode.REPLAY, sink=sink, scenario_id="bench",
                          id_prefix="R")
    subscribed = 0
    for underlying in engine.market.underlyings:
        expiry = engine.catalog.expiries(underlying, clock.now_datetime(), 1)[0]
        subscribed += len(engine.market.chain(underlying, expiry, STRIKES_EACH_SIDE))
    assert subscribed == 5 * 2 * (2 * STRIKES_EACH_SIDE + 1), subscribed
    return engine, clock


def _tick(clock: Any, start: Callable[[], None], stop: Callable[[], None], ticks: int,
          count: Callable[[], int] | None) -> tuple[float, float]:
    async def run() -> None:
        start()
        # Half a tick of slack: a sleep ending exactly on a tick wakes first and would stop it.
        await clock.sleep((ticks + 0.5) * TICK_MS / 1000.0)
        stop()

    wall, cpu = time.perf_counter(), time.process_time()
    clock.run(run())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if count is not None:
        assert count() == ticks, (count(), ticks)
    return wall / ticks * 1e6, cpu / ticks * 1e6


def day(block: int | None) -> dict[str, Any]:
    """One trading day of the chain with 1,000 TWAP parents, telemetry to a JSONL file: wall seconds and counts."""
    from imperium_desk.config import config_from_mapping
    from imperium_desk.scenarios.runner import ScenarioRunner
    from imperium_desk.scenarios.spec import ScenarioSpec
    from imperium_desk.telemetry.replay_files import ReplayTelemetry

    spacing = DAY_S / DAY_PARENTS
    rules = len(DAY_INSTRUMENTS)
    orders = [
        {"every_s": spacing * rules, "from_s": spacing * k, "until_s": DAY_S - spacing * (rules - k),
         "instrument": {"underlying": u, "strike": f"ATM{offset:+d}" if offset else "ATM", "right": right},
         "side": "buy" if k % 2 == 0 else "sell", "lots": 6, "algo": "TWAP",
         "params": {"horizon_s": 120, "max_child_orders": 6, "randomize_slices": False}}
        for k, (u, offset, right) in enumerate(DAY_INSTRUMENTS)
    ]
    spec = ScenarioSpec.model_validate({"id": "quote-path-day", "seed": 7, "duration_s": DAY_S, "orders": orders})
    overrides = {
        "broker": {"rate_limit_per_s": None, "paper": {"capital": 1e12}},
        "risk": {"max_order_value": 1e12},
        "telemetry": {"fsync": False, "sinks": ["jsonl"]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        began, cpu = time.perf_counter(), time.process_time()
        writer = ReplayTelemetry(Path(tmp), config_from_mapping(overrides, "benchmark").telemetry, "quote-path-day")
        engine, clock = _chain_engine(block, sink=writer.write, overrides=overrides)
        runner = ScenarioRunner(spec, clock=clock, stack=engine.stack, market=engine.feed, catalog=engine.catalog)

        async def run() -> Any:
            engine.market.start()
            try:
                results = await runner.run()
                await engine.settle_markouts()
                return results
            finally:
                engine.market.stop()

        results = clock.run(run())
        writer.commit()
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        telemetry = Path(tmp) / "telemetry.jsonl"
        size = telemetry.stat().st_size
        with telemetry.open(encoding="utf-8") as lines:
            events = Counter(json.loads(line)["event"] for line in lines)
    if isinstance(results, list):
        parents, status = len(results), dict(Counter(r.status.value for r in results))
    else:  # a tree whose runner tallies the parents instead of keeping them
        parents, status = results.parents, {k: v for k, v in results.status_counts().items() if v}
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "parents": parents, "status": status,
            "records": dict(events), "telemetry_mb": round(size / 2**20, 1), "virtual_s": round(clock.monotonic(), 1)}


Measure = Callable[[argparse.Namespace, "int | None"], tuple[float, float]]
FIGURES: dict[str, Measure] = {
    "one_contract": lambda args, block: one_contract(args.ticks, block),
    "one_contract_depth": lambda args, block: one_contract(args.ticks, block, depth=True),
    "chain_310": lambda args, block: chain(args.chain_ticks, block),
}


def _median(measure: Callable[[], tuple[float, float]], repeats: int) -> dict[str, Any]:
    runs = [measure() for _ in range(repeats)]
    return {
        "median_us_per_tick": round(statistics.median(wall for wall, _ in runs), 2),
        "median_cpu_us_per_tick": round(statistics.median(cpu for _, cpu in runs), 2),
        "runs_us": [round(wall, 2) for wall, _ in runs],
    }


def _figure(name: str, args: argparse.Namespace, block: int | None) -> dict[str, Any]:
    measure = FIGURES[name]
    return _median(lambda: measure(args, block), args.repeats)


def _child(tree: str, args: Sequence[str]) -> Any:
    """This file run as a script by a second interpreter that imports `imperium_desk` from `tree`."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env,
                         cwd=tree)
    return json.loads(out.stdout)


def _baseline(args: argparse.Namespace, result: dict[str, Any]) -> None:
    common = ["--repeats", str(args.repeats), "--ticks", str(args.ticks), "--chain-ticks", str(args.chain_ticks)]
    base: dict[str, Any] = {"tree": args.baseline}
    speedup: dict[str, dict[str, float]] = {}
    for name in FIGURES:
        base[name] = _child(args.baseline, [*common, "--only", name])
        speedup[name] = {
            "wall": round(base[name]["median_us_per_tick"] / result[name]["median_us_per_tick"], 1),
            "cpu": round(base[name]["median_cpu_us_per_tick"] / result[name]["median_cpu_us_per_tick"], 1),
        }
    if args.day:
        base["day"] = _child(args.baseline, ["--only", "day"])
        speedup["day"] = {"wall": round(base["day"]["wall_s"] / result["day"]["wall_s"], 1),
                          "cpu": round(base["day"]["cpu_s"] / result["day"]["cpu_s"], 1)}
    result["baseline"] = base
    result["speedup_vs_baseline"] = speedup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=20_000, help="ticks per one-contract run")
    parser.add_argument("--chain-ticks", type=int, default=4_000, help="ticks per chain run")
    parser.add_argument("--block", type=int, default=None, help="market.block_ticks (default: the config's)")
    parser.add_argument("--baseline", help="a source tree to measure the same way (e.g. /work/main)")
    parser.add_argument("--day", action="store_true", help="also replay a full trading day of the chain")
    parser.add_argument("--sweep", action="store_true", help="per-tick CPU figures at several block sizes")
    parser.add_argument("--only", choices=[*FIGURES, "day"], help=argparse.SUPPRESS)  # a child run's one figure
    args = parser.parse_args()
    if args.only is not None:
        print(json.dumps(day(args.block) if args.only == "day" else _figure(args.only, args, args.block)))
        return
    from imperium_desk.market.config import MarketConfig

    result: dict[str, Any] = {
        "benchmark": "quote_path", "python": sys.version.split()[0], "load_average_1min": os.getloadavg()[0],
        "block_ticks": args.block or MarketConfig().block_ticks,
    }
    for name in FIGURES:
        result[name] = _figure(name, args, args.block)
    result["target_us_per_tick"] = TARGETS_US
    result["meets_target_wall"] = all(result[k]["median_us_per_tick"] <= v for k, v in TARGETS_US.items())
    result["meets_target_cpu"] = all(result[k]["median_cpu_us_per_tick"] <= v for k, v in TARGETS_US.items())
    if args.sweep:
        result["sweep_cpu_us_per_tick"] = {
            str(block): {name: _figure(name, args, block)["median_cpu_us_per_tick"] for name in FIGURES}
            for block in (1, 8, 32, 64, 128, 256, 512, 1024)
        }
    if args.day:
        result["day"] = day(args.block)
    if args.baseline:
        _baseline(args, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a script by `_child`: the tree under test comes first on sys.path
        sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0])
    main()
