"""The simulated market's quote path on the virtual clock (issue 18).

* `one_contract`: one subscribed contract (NIFTY only), the simulator ticking on a `VirtualClock` with one listener
  that reads that contract's quote every tick; wall microseconds per tick, timer included. Target <= 5.
* `chain`: the desk's whole chain, 5 underlyings x (ATM +-15 strikes) x CE/PE = 310 contracts, on an engine built
  by `build_engine` in REPLAY mode (the engine's own listeners: paper exchange, client feed), no orders; wall
  microseconds per tick. Target <= 100.
* `--day`: one full trading day (22,500 s of 250 ms ticks) of that chain with 1,000 TWAP parents spread over the day
  (10 instruments across the 5 underlyings, buy and sell alternating), telemetry written to a JSONL file, markouts
  on: wall seconds.

Each figure is the median of `--repeats` runs (the machine is noisy). `--baseline DIR` measures the same workloads on
the code at DIR (e.g. the main branch's tree) in a second interpreter and prints the ratios; `--sweep` measures the
per-tick figures at several block sizes (how the default `market.block_ticks` was chosen).

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


def _market(block: int | None, **fields: Any) -> dict[str, Any]:
    """A `market:` section; `block_ticks` only where the code knows it (a baseline tree may predate it)."""
    from imperium_desk.market.config import MarketConfig

    section: dict[str, Any] = {"tick_interval_ms": TICK_MS, **fields}
    if block is not None and "block_ticks" in MarketConfig.model_fields:
        section["block_ticks"] = block
    return section


def one_contract(ticks: int, block: int | None) -> float:
    """Microseconds per tick: one contract, one listener reading its quote."""
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
    read: list[float] = []
    sim.add_listener(lambda _batch: read.append(quote(symbol).bid))
    return _tick(clock, sim.start, sim.stop, ticks, lambda: len(read))


def chain(ticks: int, block: int | None) -> float:
    """Microseconds per tick: the desk's chain on a whole engine, no orders."""
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
          count: Callable[[], int] | None) -> float:
    async def main() -> None:
        start()
        # Half a tick of slack: a sleep ending exactly on a tick wakes first and would stop it.
        await clock.sleep((ticks + 0.5) * TICK_MS / 1000.0)
        stop()

    began = time.perf_counter()
    clock.run(main())
    wall = time.perf_counter() - began
    if count is not None:
        assert count() == ticks, (count(), ticks)
    return wall / ticks * 1e6


def day(block: int | None) -> dict[str, Any]:
    """One trading day of the chain with 1,000 TWAP parents, telemetry to a JSONL file: wall seconds and counts."""
    from imperium_desk.scenarios.runner import ScenarioRunner
    from imperium_desk.scenarios.spec import ScenarioSpec
    from imperium_desk.telemetry.replay_files import ReplayTelemetry

    spacing = DAY_S / DAY_PARENTS
    rules = len(DAY_INSTRUMENTS)
    orders = [
        {"every_s": spacing * rules, "from_s": spacing * k, "until_s": DAY_S - spacing * (rules - k),
         "instrument": {"underlying": u, "strike": f"ATM{offset:+d}" if offset else "ATM", "right": right},
         "side": "buy" if k % 2 == 0 else "sell", "lots": 2, "algo": "TWAP",
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
        began = time.perf_counter()
        from imperium_desk.config import config_from_mapping

        telemetry = config_from_mapping(overrides, "benchmark").telemetry
        writer = ReplayTelemetry(Path(tmp), telemetry, "quote-path-day")
        engine, clock = _chain_engine(block, sink=writer.write, overrides=overrides)
        runner = ScenarioRunner(spec, clock=clock, stack=engine.stack, market=engine.feed, catalog=engine.catalog)

        async def main() -> list[Any]:
            engine.market.start()
            try:
                results = await runner.run()
                await engine.settle_markouts()
                return results
            finally:
                engine.market.stop()

        results = clock.run(main())
        writer.commit()
        wall = time.perf_counter() - began
        size = (Path(tmp) / "telemetry.jsonl").stat().st_size
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    return {"wall_s": round(wall, 2), "parents": len(results), "records": writer.written,
            "telemetry_mb": round(size / 2**20, 1), "virtual_s": round(clock.monotonic(), 1), "status": statuses}


def _median(measure: Callable[[], float], repeats: int) -> dict[str, Any]:
    runs = [measure() for _ in range(repeats)]
    return {"median_us_per_tick": round(statistics.median(runs), 2), "runs": [round(r, 2) for r in runs]}


def _child(tree: str, args: Sequence[str]) -> Any:
    """This file run as a script by a second interpreter that imports `imperium_desk` from `tree`."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env,
                         cwd=tree)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=20_000, help="ticks per one-contract run")
    parser.add_argument("--chain-ticks", type=int, default=4_000, help="ticks per chain run")
    parser.add_argument("--block", type=int, default=None, help="market.block_ticks (default: the config's)")
    parser.add_argument("--baseline", help="a source tree to measure the same way (e.g. /work/main)")
    parser.add_argument("--day", action="store_true", help="also replay a full trading day of the chain")
    parser.add_argument("--sweep", action="store_true", help="per-tick figures at several block sizes")
    parser.add_argument("--only", choices=["one_contract", "chain", "day"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only is not None:  # a child run: one figure, as JSON
        if args.only == "day":
            print(json.dumps(day(args.block)))
        else:
            measure = one_contract if args.only == "one_contract" else chain
            ticks = args.ticks if args.only == "one_contract" else args.chain_ticks
            print(json.dumps(_median(lambda: measure(ticks, args.block), args.repeats)))
        return
    result: dict[str, Any] = {"benchmark": "quote_path", "python": sys.version.split()[0]}
    from imperium_desk.market.config import MarketConfig

    result["block_ticks"] = args.block or MarketConfig().block_ticks
    result["one_contract"] = _median(lambda: one_contract(args.ticks, args.block), args.repeats)
    result["chain_310"] = _median(lambda: chain(args.chain_ticks, args.block), args.repeats)
    result["target_us_per_tick"] = {"one_contract": 5, "chain_310": 100}
    result["meets_target"] = (result["one_contract"]["median_us_per_tick"] <= 5
                              and result["chain_310"]["median_us_per_tick"] <= 100)
    if args.sweep:
        result["sweep"] = {
            str(block): {
                "one_contract": _median(lambda b=block: one_contract(args.ticks, b), args.repeats)[
                    "median_us_per_tick"],
                "chain_310": _median(lambda b=block: chain(args.chain_ticks, b), args.repeats)["median_us_per_tick"],
            }
            for block in (1, 8, 32, 64, 128, 256, 512)
        }
    if args.day:
        result["day"] = day(args.block)
    if args.baseline:
        common = ["--repeats", str(args.repeats), "--ticks", str(args.ticks), "--chain-ticks", str(args.chain_ticks)]
        base: dict[str, Any] = {"tree": args.baseline}
        base["one_contract"] = _child(args.baseline, [*common, "--only", "one_contract"])
        base["chain_310"] = _child(args.baseline, [*common, "--only", "chain"])
        ratios = {
            key: round(base[key]["median_us_per_tick"] / result[key]["median_us_per_tick"], 1)
            for key in ("one_contract", "chain_310")
        }
        if args.day:
            base["day"] = _child(args.baseline, ["--only", "day"])
            ratios["day"] = round(base["day"]["wall_s"] / result["day"]["wall_s"], 1)
        result["baseline"] = base
        result["speedup_vs_baseline"] = ratios
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a script by `_child`: the tree under test comes first on sys.path
        sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0])
    main()
