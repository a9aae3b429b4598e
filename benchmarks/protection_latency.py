"""Protective exits: tick-to-exit-order latency and the per-tick check cost (issue 21).

Workload: one engine on the virtual clock (the code the desk runs), the NIFTY ladder of 15 strikes a side subscribed
(62 contracts ticking every 250 ms), 200 one-lot entries with a stop and a trailing stop each that the market never
reaches (armed by a fill record, as the stack writes it: every tick checks them), then `--triggers` entries filled ten
rupees over the bid with a stop one tick under the fill, so the next tick of that contract crosses it. Wall-clock
figures (`time.perf_counter`):

- `tick_to_exit_order_ms`: from the entry of the manager's tick listener, on the tick that triggers a stop, to the
  exit's `place_order` call at the broker (the tick listener, the exit request, the send as the replay runner does
  it, the loop turn to the exit's task, the stack's validation, risk gate, planning and routing): p50, p99, max;
- `check_per_tick_us`: the manager's tick listener per tick with the 200 protections armed on the 62 contracts
  (p50, p99, mean), and the same with none armed (the cost every tick pays for the feature being there);
- `write_ahead_ms`: in the desk a triggered protection is saved before its exit is sent (the desk's home, off the
  loop): one save of the 200 armed protections to a real file, fsynced (`ProtectionStore.save`), which the desk's
  tick-to-exit latency adds to the figure above.

    .venv/bin/python -m benchmarks.protection_latency            # prints JSON
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.clock import VirtualClock
from imperium_desk.config import config_from_mapping
from imperium_desk.desk.engine import build_engine
from imperium_desk.domain.enums import Mode, Side
from imperium_desk.domain.protection import ProtectionSpec
from imperium_desk.execution.protection_store import ProtectionStore
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.market.port import Quote

CONFIG: dict[str, Any] = {
    "market": {"underlyings": ["NIFTY"], "tick_interval_ms": 250, "strikes_each_side": 15},
    "broker": {"rate_limit_per_s": None},
    "risk": {"max_order_value": 1e12, "max_order_lots": 1000},
    "latency_model": {"global": {"type": "constant", "value_ms": 40}},
    "telemetry": {"markouts_s": []},
}
ARMED = 200
ATM_FIRST = 26  # the chain is lowest strike first, call and put per strike: 26..35 are the five strikes around ATM
FAR = ProtectionSpec.model_validate({"stop_loss": {"value": 95, "unit": "percent"},
                                     "trailing_stop": {"value": 90, "unit": "percent"}})
TIGHT = ProtectionSpec.model_validate({"stop_loss": {"value": 0.05}})


def _stats(values: list[float], digits: int = 3) -> dict[str, float]:
    arr = np.array(values)
    return {"n": len(values), "p50": round(float(np.percentile(arr, 50)), digits),
            "p99": round(float(np.percentile(arr, 99)), digits), "max": round(float(arr.max()), digits),
            "mean": round(float(arr.mean()), digits)}


def measure(triggers: int, idle_s: float) -> dict[str, Any]:
    config = config_from_mapping(CONFIG, "benchmark")
    clock = VirtualClock(config.market.start.timestamp())
    engine = build_engine(config, clock=clock, seed=5, mode=Mode.REPLAY, sink=lambda record: None, id_prefix="B")
    manager, stack, feed = engine.protections, engine.stack, engine.feed
    expiry = engine.catalog.expiries("NIFTY", clock.now_datetime(), 1)[0]
    contracts = engine.market.chain("NIFTY", expiry, 15)  # subscribed: they tick
    assert len(contracts) == 62

    # The manager's tick listener, timed where the feed calls it.
    tick_started = [0.0]
    check_us: list[float] = []
    listeners: list[Callable[[Sequence[Quote]], None]] = feed._listeners  # type: ignore[attr-defined]
    index = next(i for i, fn in enumerate(listeners) if getattr(fn, "__self__", None) is manager)
    inner = listeners[index]

    def timed(quotes: Sequence[Quote]) -> None:
        start = tick_started[0] = time.perf_counter()
        inner(quotes)
        check_us.append((time.perf_counter() - start) * 1e6)

    listeners[index] = timed

    # The exit's place_order at the broker, timed against the tick that triggered it.
    exits: dict[str, float] = {}  # exit parent id -> tick listener entry
    latency_ms: list[float] = []
    placed: asyncio.Future[None] | None = None
    place_order = engine.broker.place_order

    async def timed_place(**kw: Any) -> str:
        nonlocal placed
        parent = kw["tag"].rsplit("C", 1)[0]
        started = exits.pop(parent, None)
        if started is not None:
            latency_ms.append((time.perf_counter() - started) * 1000.0)
            if placed is not None and not placed.done():
                placed.set_result(None)
        return await place_order(**kw)

    engine.broker.place_order = timed_place  # type: ignore[method-assign]

    running: set[asyncio.Future[Any]] = set()

    def send_exit(request: ExecutionRequest) -> str:
        stack.validate(request)
        parent_id = stack.reserve_parent_id()
        exits[parent_id] = tick_started[0]
        task = asyncio.ensure_future(stack.execute(request, parent_id))
        running.add(task)
        task.add_done_callback(running.discard)
        return parent_id

    manager.attach(send_exit)

    def arm(pid: str, i: int, spec: ProtectionSpec, above_bid: float) -> None:
        """An entry of one lot on contract `i`, filled (a fill record, as the stack writes it) `above_bid` over the
        bid: the far protections arm without trading, the tight stops arm already crossed."""
        contract = contracts[i % len(contracts)]
        request = ExecutionRequest(symbol=contract.symbol, side=Side.BUY, quantity=contract.lot_size, protection=spec)
        manager.watch_entry(pid, request, contract)
        price = round(feed.quote(contract.symbol).bid + above_bid, 2)
        engine.tracker.external(
            {"event": "fill", "parent_id": pid, "qty": contract.lot_size, "executed_price": price}, {})

    async def main() -> dict[str, Any]:
        nonlocal placed
        engine.market.start()
        await clock.sleep(1.0)
        check_us.clear()
        await clock.sleep(idle_s)
        idle = list(check_us)
        for i in range(ARMED):
            arm(f"F{i}", i, FAR, 0.1)
        await clock.sleep(0.5)
        armed_now = manager.armed_count
        check_us.clear()
        await clock.sleep(idle_s)
        loaded = list(check_us)
        for i in range(triggers):
            placed = clock.create_future()
            arm(f"T{i}", ATM_FIRST + i % 10, TIGHT, 10.0)
            await asyncio.wait_for(placed, 30.0)
            await clock.sleep(0.3)  # the exit fills before the next trigger
        engine.market.stop()
        return {"idle": idle, "loaded": loaded, "armed": armed_now}

    out = clock.run(main())
    snapshot = manager.snapshot()
    save_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ProtectionStore(Path(tmp) / "protections_live.json")
        for _ in range(50):
            started = time.perf_counter()
            store.save(snapshot)
            save_ms.append((time.perf_counter() - started) * 1000.0)
    return {
        "benchmark": "protection_latency",
        "contracts_ticking": len(contracts),
        "protections_armed": out["armed"],
        "tick_to_exit_order_ms": _stats(latency_ms),
        "check_per_tick_us": {"armed_200": _stats(out["loaded"], 2), "none_armed": _stats(out["idle"], 2)},
        "write_ahead_ms": {"protections_saved": len(snapshot), **_stats(save_ms)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=200, help="stops triggered (latency samples)")
    parser.add_argument("--idle-s", type=float, default=60.0, help="virtual seconds of ticks per check-cost sample")
    args = parser.parse_args()
    print(json.dumps(measure(args.triggers, args.idle_s), indent=2))


if __name__ == "__main__":
    main()
