"""The floor under a child: what CPython spends on the bare skeleton of `replay_throughput`'s workload, beside the
engine on that workload, in one run.

The workload is `benchmarks/replay_throughput.py`'s: P parents one every 10 ms, each a TWAP of 10 MARKET children one
second apart, order latency 50 ms, every child filled on arrival. The skeleton does only what no implementation on
this design can leave out, on the engine's own `VirtualEventLoop` (one engine on both clocks, async/await kept):

- a task per parent, started by a timer; per child, a sleep until its slot (a timer and a future), the send (a
  future for the broker's answer, a timer for the order's arrival at the exchange and one for the answer) and the
  task's two wake-ups;
- the records: the three records of a filled child (`placed`, `ack`, `fill`, with the keys and sizes the engine
  writes) and one `parent` record per parent, each a template copy plus its own fields, a timestamp and a seq:
  `serialised` only turns each into its line (orjson) and drops it, `written` sends it through the engine's own JSONL
  writer (`JsonlWriter`, serialised on the caller as a replay does) to a real file.

It has no market, no pricing, no risk, no exchange book, no account, no latency or slippage draws and no order
state: everything the engine does besides these is what `engine - skeleton` measures.

`--peers` runs the peers' workload instead (`benchmarks/peers.py`: parents one every 10 s, so about 100 quotes per
parent): the skeleton gains a timer every 100 ms that does nothing (a tick no one reads), the engine figure comes
from `benchmarks.peers_imperium`, and backtrader runs beside them when it is installed (the `peers` extra).

    .venv/bin/python -m benchmarks.child_floor                 # P = 10,000
    .venv/bin/python -m benchmarks.child_floor --parents 1000
    .venv/bin/python -m benchmarks.child_floor --peers --parents 1000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import peers_imperium
from benchmarks.peers_workload import Workload, nifty_lot_size
from benchmarks.replay_throughput import run_one
from imperium_desk.clock import VirtualClock
from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.schema import iso_utc

PARENT_SPACING_S = 0.01
PEERS_PARENT_SPACING_S = 10.0
TICK_S = 0.1
CHILDREN = 10
CHILD_SPACING_S = 1.0
LATENCY_S = 0.05
START_EPOCH = 1_795_412_700.0  # 2026-11-23 09:15 IST, the simulated market's default start
TARGET_US_PER_FILL = 1e6 / 30_000  # issue 18: >= 30,000 child fills/s at P = 10,000

# The keys every child record carries (as the engine's child template), and each event's own (as it writes them).
_CHILD = {
    "schema_version": 1, "mode": "replay", "scenario_id": "throughput-10000", "order_id": None,
    "parent_id": "RP000001", "client_tag": "RP000001C0", "asset": "NIFTY26NOV26000CE", "underlying": "NIFTY",
    "side": "buy", "qty": 130, "execution_algo": "TWAP", "child_index": 0, "children": 10, "route": "take",
    "queue_priority": 1,
}
_MODELS = {
    "latency": {"scope": "global", "type": "normal", "mean_ms": 50.0, "std_ms": 10.0},
    "slippage": {"scope": "global", "type": "lognormal", "mu": 0.0, "sigma": 0.5, "unit": "bps"},
}


class _Lines:
    """Records to their lines, counted and dropped: the serialisation without a file (or the memory to hold it)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, record: dict[str, Any]) -> None:
        self.bytes += len(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))


class _Skeleton:
    """The bare workload on a virtual clock; without a writer it leaves the records out (the machinery alone)."""

    def __init__(self, parents: int, writer: JsonlWriter | _Lines | None, peers: bool = False) -> None:
        self.parents = parents
        self.spacing_s = PEERS_PARENT_SPACING_S if peers else PARENT_SPACING_S
        self.ticks = peers
        self.clock = VirtualClock(START_EPOCH)
        self.loop = self.clock.virtual_loop
        self.writer = writer
        self.seq = 0
        self.fills = 0
        self.next_id = 0

    def emit(self, record: dict[str, Any]) -> None:
        self.seq += 1
        record["seq"] = self.seq
        record["timestamp"] = iso_utc(self.clock.now())
        assert self.writer is not None
        self.writer.write(record)

    async def main(self) -> None:
        loop = self.loop
        done = loop.create_future()
        left = [self.parents]

        def ended(_task: object) -> None:
            left[0] -= 1
            if not left[0]:
                done.set_result(None)

        def start(i: int) -> None:
            loop.create_task(self.parent(i)).add_done_callback(ended)

        for i in range(self.parents):
            loop.call_later(i * self.spacing_s, start, i)
        if self.ticks:
            loop.call_later(TICK_S, self.tick, done)
        await done

    def tick(self, done: Any) -> None:
        if not done.done():
            self.loop.call_later(TICK_S, self.tick, done)

    async def parent(self, i: int) -> None:
        loop, clock = self.loop, self.clock
        parent_id = f"RP{i:06d}"
        side = "buy" if i % 2 == 0 else "sell"
        start = loop.time()
        template = {**_CHILD, "parent_id": parent_id, "side": side} if self.writer is not None else None
        for k in range(CHILDREN):
            wait = start + k * CHILD_SPACING_S - loop.time()
            if wait > 0:
                await clock.sleep(wait)
            tag = f"{parent_id}C{k}"
            if template is not None:
                child = {**template, "client_tag": tag, "child_index": k}
                self.emit({**child, "event": "placed", "arrival_price": 99.95, "intended_price": 100.0,
                           "limit_price": None, "expected_slippage": 0.389493, "impact_estimate": 0.339493,
                           "extra_metrics": {"expected_cost_bps": 45.6348, "spread": 0.1, "mid": 99.95}})
            else:
                child = {}
            answer = loop.create_future()
            order = [tag, child, 0]
            loop.call_later(LATENCY_S / 2, self.arrive, order)
            loop.call_later(LATENCY_S, self.answer, answer, order)
            await answer
        if template is not None:
            self.emit({**template, "event": "parent", "client_tag": None, "child_index": None, "route": None,
                       "parent": {"status": "complete", "filled_qty": 1300, "average_price": 100.0}})

    def arrive(self, order: list[Any]) -> None:
        order[2] = 130  # filled whole on arrival

    def answer(self, answer: Any, order: list[Any]) -> None:
        self.next_id += 1
        order_id = f"R{self.next_id:010d}"
        answer.set_result(order_id)
        self.fills += 1
        child = order[1]
        if self.writer is not None:
            self.emit({**child, "event": "ack", "order_id": order_id, "latency_ms": 50.0})
            self.emit({**child, "event": "fill", "order_id": order_id, "intended_price": 100.0,
                       "executed_price": 100.0, "slippage": 0.0, "slippage_bps": 0.0, "latency_ms": 50.0,
                       "model_params": _MODELS, "extra_metrics": {"trade_id": f"RT{self.next_id:010d}",
                                                                  "book_price": 100.0}})


def run_skeleton(parents: int, records: str | None, peers: bool = False) -> dict[str, Any]:
    """`records`: None (the machinery alone), "serialised" (to lines, dropped) or "written" (to a JSONL file)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        writer: JsonlWriter | _Lines | None = None
        if records == "written":
            writer = JsonlWriter(Path(tmp) / "telemetry.jsonl", fsync=False, serialize_on_caller=True)
        elif records == "serialised":
            writer = _Lines()
        skeleton = _Skeleton(parents, writer, peers)
        skeleton.clock.run(skeleton.main())
        if isinstance(writer, JsonlWriter):
            writer.close()
        wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), "child_fills": skeleton.fills, "records": skeleton.seq,
            "us_per_fill": round(wall / skeleton.fills * 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parents", type=int, default=10_000)
    parser.add_argument("--peers", action="store_true", help="the peers' workload (a parent every 10 s)")
    args = parser.parse_args()
    machinery = run_skeleton(args.parents, None, args.peers)
    serialised = run_skeleton(args.parents, "serialised", args.peers)
    skeleton = run_skeleton(args.parents, "written", args.peers)
    figures = {
        "machinery (timers, futures, task wake-ups)": machinery["us_per_fill"],
        "machinery + the records serialised (no file)": serialised["us_per_fill"],
        "skeleton (machinery + the records through JsonlWriter)": skeleton["us_per_fill"],
    }
    out: dict[str, Any] = {"benchmark": "child_floor", "python": sys.version.split()[0], "parents": args.parents,
                           "workload": "peers (a parent every 10 s)" if args.peers else "replay_throughput"}
    if args.peers:
        w = Workload(parents=args.parents, lot_size=nifty_lot_size())
        engine = peers_imperium.run(w)
        figures["engine (run_replay)"] = round(engine["wall_s"] / engine["child_fills"] * 1e6, 2)
        if importlib.util.find_spec("backtrader") is not None:
            from benchmarks import peers_backtrader

            backtrader = peers_backtrader.run(w)
            figures["backtrader"] = round(backtrader["wall_s"] / backtrader["child_fills"] * 1e6, 2)
            # Issue 18: >= 10x backtrader's fills/s, i.e. at most a tenth of its time per fill.
            out["target_us_per_fill"] = round(figures["backtrader"] / 10.0, 2)
    else:
        engine = run_one(args.parents)
        figures["engine (run_replay)"] = engine["us_per_fill"]
        out["target_us_per_fill"] = round(TARGET_US_PER_FILL, 2)
    out["us_per_fill"] = figures
    floor = figures["skeleton (machinery + the records through JsonlWriter)"]
    out["engine_over_skeleton"] = round(figures["engine (run_replay)"] / floor, 2)
    if "target_us_per_fill" in out:
        out["target_over_skeleton"] = round(out["target_us_per_fill"] / floor, 2)
    out["runs"] = {"machinery": machinery, "serialised": serialised, "skeleton": skeleton}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
