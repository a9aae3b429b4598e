"""Hot path: `ExecutionStack.execute()` to the first child reaching an in-memory zero-latency broker.

IMMEDIATE orders on the wall clock (plain asyncio, as under `serve`), a zero-latency paper exchange, telemetry
written by the real JSONL writer. Measures the time from calling `execute()` to the broker's `place_order`
being entered, for N sequential orders after a warm-up. Prints JSON.

    .venv/bin/python -m benchmarks.hot_path [--orders N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.clock import WallClock
from imperium_desk.config import config_from_mapping
from imperium_desk.desk import build_engine
from imperium_desk.domain.enums import Mode, OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.telemetry.jsonl import JsonlWriter

CONFIG = {
    "latency_model": {"global": {"type": "constant", "value_ms": 0}},
    "slippage_model": {"global": {"type": "constant", "value": 0, "unit": "bps"}},
    "broker": {"rate_limit_per_s": None, "paper": {"capital": 1e12}},
    "risk": {"max_order_value": 1e12},
}


async def measure(orders: int, warmup: int, telemetry: Path) -> list[float]:
    cfg = config_from_mapping(CONFIG, "benchmark")
    writer = JsonlWriter(telemetry)
    clock = WallClock()
    engine = build_engine(cfg, clock=clock, seed=1, mode=Mode.PAPER, sink=writer.write)
    paper = engine.paper
    assert paper is not None  # the paper venue: the probe sits in front of the simulated exchange
    entered: list[float] = []
    place = paper.place_order

    async def probe(**kwargs: Any) -> str:
        entered.append(time.perf_counter())
        return await place(**kwargs)

    paper.place_order = probe  # type: ignore[method-assign,assignment]
    expiry = engine.catalog.expiries("NIFTY", clock.now_datetime(), 1)[0]
    strike = engine.catalog.atm_strike("NIFTY", engine.market.spot("NIFTY"))
    contract = engine.catalog.contract("NIFTY", expiry, strike, OptionRight.CE)
    requests = [
        ExecutionRequest(symbol=contract.symbol, side=Side.BUY if i % 2 == 0 else Side.SELL, quantity=65)
        for i in range(orders + warmup)
    ]
    samples: list[float] = []
    for i, request in enumerate(requests):
        started = time.perf_counter()
        await engine.stack.execute(request)
        if i >= warmup:
            samples.append(entered[-1] - started)
    writer.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = asyncio.run(measure(args.orders, args.warmup, Path(tmp) / "t.jsonl"))
    us = np.asarray(samples) * 1e6
    result = {
        "benchmark": "hot_path_execute_to_first_child",
        "orders": args.orders,
        "python": sys.version.split()[0],
        "p50_us": round(float(np.percentile(us, 50)), 2),
        "p90_us": round(float(np.percentile(us, 90)), 2),
        "p99_us": round(float(np.percentile(us, 99)), 2),
        "max_us": round(float(us.max()), 2),
        "target": {"p50_us": 30, "p99_us": 100},
    }
    result["meets_target"] = result["p50_us"] <= 30 and result["p99_us"] <= 100
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
