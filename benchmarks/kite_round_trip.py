"""Order round trip through the Kite adapter to a fake Kite on loopback, and a placement run with faults mixed in.

Both phases drive the real `ExecutionStack` over `KiteBroker` -> `KiteRest` -> the official `kiteconnect` client ->
HTTP on 127.0.0.1 -> `tests/fake_kite` (the paper exchange behind Kite's REST; its own order round trip is
`FakeKiteConfig.latency_ms`, 2 ms). One process: the fake runs on a thread of its own, so both sides share one
monotonic clock and the GIL (a real venue would not take the GIL from the desk: the figures are upper bounds).

1. Round trip (`--orders N`, one parent at a time, so nothing queues): per parent, from the call to `execute()` to
   the fake's acceptance of the order (the instant it logged the placement, after creating it), and to the stack's
   acknowledgement (the `ack` record) and the parent's end (the fill's order update, over the ticker websocket as in
   the desk; the order-book poll every 0.5 s is the backstop). Client and fake
   limits are raised for this phase: at the exchange's 10 orders/s, a sequence of ~5 ms round trips would measure
   the pacing, not the path.
2. Fault run (`--fault-placements M`, default 5,000 parents of one MARKET child each, `--concurrency` in flight):
   a fault every ~8 placements, cycling through answers lost after the order was created (held past the 0.25 s read
   timeout, or the connection dropped), 429s (single and storms), HTML 502s before and after acting, and 500s.
   Counted: orders the fake holds per tag (duplicates), the stack's `duplicate_orders`, parent statuses and failure
   kinds, faults applied by kind, and whether every unit the fake filled is one the stack counted.

    .venv/bin/python -m benchmarks.kite_round_trip [--orders N] [--fault-placements M] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.broker.kite.config import KiteLimits
from imperium_desk.execution.request import ParentResult
from tests.fake_kite.faults import Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.stack_support import FAST_RETRY, FAULT_CYCLE, KiteRig, kite_rig, market_order

RAISED = KiteLimits(orders_per_second=1_000, orders_per_minute=1_000_000, orders_per_day=1_000_000,
                    reads_per_second=1_000)


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    data = np.asarray(values_ms)
    return {
        "p50_ms": round(float(np.percentile(data, 50)), 3),
        "p99_ms": round(float(np.percentile(data, 99)), 3),
        "max_ms": round(float(data.max()), 3),
        "mean_ms": round(float(data.mean()), 3),
    }


async def _round_trips(rig: KiteRig, orders: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pool = rig.contracts(4)
    started: dict[str, float] = {}  # broker order id -> loop time execute() was called
    ended_ms: list[float] = []
    warmup = 20
    for i in range(orders + warmup):
        t0 = loop.time()
        result = await rig.stack.execute(market_order(pool[i % len(pool)]))
        if i >= warmup:
            ended_ms.append((loop.time() - t0) * 1000.0)
            started.update(dict.fromkeys(result.child_order_ids, t0))
    accepted = {w.order_id: w.at for w in rig.kite.order_writes(Route.PLACE) if w.order_id is not None}
    to_acceptance = [(accepted[oid] - t0) * 1000.0 for oid, t0 in started.items()]
    acks = [r["latency_ms"] for r in rig.records if r["event"] == "ack" and r["latency_ms"] is not None]
    return {
        "orders": orders,
        "execute_to_fake_acceptance": _percentiles(to_acceptance),
        "send_to_ack_at_the_stack": _percentiles(acks[warmup:]),
        "execute_to_parent_end": _percentiles(ended_ms),
        "poll_interval_s": rig.broker.poll_interval_s,
    }


async def _fault_run(rig: KiteRig, parents: int, concurrency: int) -> dict[str, Any]:
    pool = rig.contracts(8)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> ParentResult:
        async with gate:
            return await rig.stack.execute(market_order(pool[i % len(pool)]))

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(parents)))
    elapsed = time.perf_counter() - t0
    kite = rig.kite
    orders = kite.orders()
    hits = kite.faults.hits()
    adopted = sorted(oid for r in results for oid in r.child_order_ids)
    return {
        "parents": parents,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "placements_received": len(kite.order_writes(Route.PLACE)),
        "orders_at_fake": len(orders),
        "duplicate_tags_at_fake": len(kite.duplicate_tags()),
        "stack_duplicate_orders": len(rig.stack.duplicate_orders),
        "statuses": dict(Counter(r.status.value for r in results)),
        "failures": dict(Counter(r.failure.value for r in results if r.failure is not None)),
        "faults_applied": dict(Counter(
            f"{h.fault.kind.value}:{h.fault.status}:{h.fault.phase.value}" for h in hits
        )),
        "every_order_at_fake_adopted": adopted == sorted(o["order_id"] for o in orders),
        "filled_units_at_fake": sum(o["filled_quantity"] for o in orders),
        "filled_units_counted_by_stack": sum(r.filled_qty for r in results),
        "client_limiter_waits": rig.rest.limits.orders.waited,
        "order_book_reads": sum(r.route is Route.ORDERS for r in kite.requests()),
    }


async def _phase(kite: FakeKite, cache: Path, run: str, count: int, concurrency: int) -> dict[str, Any]:
    # Order updates come over the ticker websocket, as in the desk; the book poll stays as the backstop.
    rig = await kite_rig(kite, cache, limits=RAISED, read_timeout_s=0.25, poll_interval_s=0.5, retry=FAST_RETRY,
                         ticker=True)
    try:
        if run == "round_trip":
            return await _round_trips(rig, count)
        return await _fault_run(rig, count, concurrency)
    finally:
        await rig.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000, help="round-trip parents, one at a time")
    parser.add_argument("--fault-placements", type=int, default=5_000, help="parents in the fault run")
    parser.add_argument("--concurrency", type=int, default=100, help="fault-run parents in flight at once")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        with FakeKite(FakeKiteConfig(orders_per_s=None)) as kite:
            out["round_trip"] = asyncio.run(_phase(kite, cache, "round_trip", args.orders, 1))
        # Capital for 5,000 bought lots: a parent refused for margin would end "rejected", which is not the point.
        with FakeKite(FakeKiteConfig(orders_per_s=None, capital=1e10)) as kite:
            faults = args.fault_placements // 8
            for fault, gap in itertools.islice(itertools.cycle(FAULT_CYCLE), faults):
                kite.faults.inject(Route.PLACE, fault, skip=gap)
            out["fault_run"] = asyncio.run(
                _phase(kite, cache, "faults", args.fault_placements, args.concurrency)
            )
            out["fault_run"]["faults_armed"] = faults
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
