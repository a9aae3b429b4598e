"""Redis Streams sink: the engine keeps its speed while Redis is stopped and restarted.

Starts its own redis-server on a free loopback port (tests/redis_server.py). An "engine" thread builds
fill-sized records (a dict and a timestamp, as the tracker does) and writes them through a `TelemetryHub`
(JSONL + the Redis sink; default flush/fsync policy and buffer bound) while this thread stops the server
(SHUTDOWN SAVE, a managed restart) and starts it again.

- `paced`: a busy desk's rate (`--rate` records/s) for `--phase-s` seconds each with Redis up, down, and
  restarted (while the sink catches up); per record, the engine's time to build and write it (p50/p99/max, us).
- `flat_out`: the engine writing as fast as it can, four windows of `--records`: up, down, restarted, after;
  records/s per window, and the same loop with the JSONL alone. Far past any desk's rate: the sink overflows
  its buffer and catches up from the JSONL in large reads, the worst case for GIL time taken from the engine.
  `after_restart`: seconds from the restart to the sink's next attempt (its backoff, capped at 10 s), and from
  there until the stream held every record.
- `catch_up`: `--records` written while Redis is down, then the restart: the same two times, and the catch-up's
  records/s (read back from the JSONL and sent, with nothing else running).
- `stream`: entries, and whether each seq is there exactly once, in order; `sink_direct`: `RedisStreamSink.write`
  alone (batches of 2000), the sink's own ceiling.

Prints one JSON object.

    .venv/bin/python -m benchmarks.redis_sink [--records N] [--rate R] [--phase-s S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.redis_stream import RedisStreamSink, StreamConsumer
from imperium_desk.telemetry.schema import iso_utc
from imperium_desk.telemetry.secondary import SinkStatus
from imperium_desk.telemetry.sinks import Record
from tests.redis_server import RedisServer, redis_server_path

STREAM = "imperium:bench"
WAIT_LIMIT_S = 90.0


def fill(seq: int, timestamp: str) -> Record:
    """A record shaped and sized like the engine's fills (about 640 bytes of JSON)."""
    return {
        "schema_version": 1, "seq": seq, "event": "fill", "timestamp": timestamp,
        "mode": "paper", "scenario_id": None, "order_id": f"P-{seq:08d}", "parent_id": f"PAR-{seq // 10:07d}",
        "client_tag": f"c{seq:09d}", "asset": "NIFTY26NOV26000CE", "underlying": "NIFTY", "side": "buy",
        "qty": 75, "execution_algo": "TWAP", "child_index": seq % 10, "children": 10, "route": "NFO",
        "queue_priority": "normal", "executed_price": 85.45, "slippage": 0.05, "slippage_bps": 5.85,
        "latency_ms": 48.2, "model_params": {"latency": {"type": "normal", "mean_ms": 50, "std_ms": 10},
                                             "slippage": {"type": "lognormal", "mu": 0, "sigma": 0.1,
                                                          "unit": "bps"}},
        "extra_metrics": {"trade_id": f"T{seq:010d}", "book_price": 85.4},
    }


class Engine(threading.Thread):
    """Writes records from its own thread, flat out (`rate=None`) or paced; `mark()` starts a new window."""

    def __init__(
        self, hub: TelemetryHub, *, total: int = 0, window: int = 0, rate: float | None = None
    ) -> None:
        super().__init__(name="engine", daemon=True)
        self.hub, self.total, self.window, self.rate = hub, total, window or total, rate
        self.seq = 0
        self.windows: list[list[float]] = [[]]  # per window: each record's build+write time (paced)
        self.marks: list[tuple[float, int]] = []  # (time, seq) at each window start (flat out)
        self._stop = threading.Event()

    def mark(self) -> None:
        self.windows.append([])
        self.marks.append((time.perf_counter(), self.seq))

    def stop(self) -> None:
        self._stop.set()
        self.join()
        if self.rate is not None:
            self.marks.append((time.perf_counter(), self.seq))

    def run(self) -> None:
        write, clock, base = self.hub.write, time.perf_counter, 1_795_000_000.0
        self.marks.append((clock(), 0))
        if self.rate is None:
            window = self.window
            for seq in range(1, self.total + 1):
                write(fill(seq, iso_utc(base + seq * 0.001)))
                self.seq = seq
                if seq % window == 0:
                    self.marks.append((clock(), seq))
            return
        interval = 1.0 / self.rate
        due = clock()
        while not self._stop.is_set():
            seq = self.seq + 1
            start = clock()
            write(fill(seq, iso_utc(base + seq * 0.001)))
            self.windows[-1].append(clock() - start)
            self.seq = seq
            due += interval
            pause = due - clock()
            if pause > 0.0005:
                time.sleep(pause)  # the engine's idle time between orders; records in bursts when it falls behind

    def rates(self) -> list[int]:
        return [round((s1 - s0) / (t1 - t0)) for (t0, s0), (t1, s1) in itertools.pairwise(self.marks)]


def wait_until(condition: Callable[[], bool], what: str) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > WAIT_LIMIT_S:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.001)
    return time.perf_counter() - start


def redis_status(hub: TelemetryHub) -> SinkStatus:
    return next(s for s in hub.status() if s.name == "redis")


def redis_hub(path: Path, server: RedisServer, config: TelemetryConfig, desk: str) -> TelemetryHub:
    hub = TelemetryHub(path, config, [RedisStreamSink(server.url, STREAM, desk)], append=False, rotate=False)
    wait_until(lambda: redis_status(hub).state == "live", "the sink to open")
    return hub


def micros(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)

    return {"records": len(ordered), "p50_us": pick(0.5), "p99_us": pick(0.99), "max_us": pick(1.0)}


def paced(work: Path, server: RedisServer, config: TelemetryConfig, rate: float, phase_s: float) -> dict[str, Any]:
    hub = redis_hub(work / "paced.jsonl", server, config, "paced")
    engine = Engine(hub, rate=rate)
    try:
        engine.start()
        time.sleep(phase_s)
        engine.mark()
        server.stop()
        time.sleep(phase_s)
        down_state = redis_status(hub).state
        engine.mark()
        server.start()
        time.sleep(phase_s)
        engine.stop()
        wait_until(lambda: redis_status(hub).stored_seq >= engine.seq, "the paced catch-up")
    finally:
        hub.close()
    up, down, restarted = (micros(w) for w in engine.windows)
    return {"rate_records_per_s": rate, "up": up, "down": {**down, "sink_state": down_state},
            "restarted": restarted}


def flat_out(records: int, work: Path, server: RedisServer, config: TelemetryConfig) -> dict[str, Any]:
    baseline_hub = TelemetryHub(work / "baseline.jsonl", config, [], append=False, rotate=False)
    baseline = Engine(baseline_hub, total=records)
    baseline.start()
    baseline.stop()
    baseline_hub.close()

    hub = redis_hub(work / "flat.jsonl", server, config, "flat")
    engine = Engine(hub, total=4 * records, window=records)
    try:
        engine.start()
        wait_until(lambda: engine.seq >= records, "the first window")
        server.stop()
        wait_until(lambda: engine.seq >= 2 * records, "the second window")
        restarted_at = time.perf_counter()
        server.start()
        wait_until(lambda: redis_status(hub).state != "down", "the sink's next attempt")
        attempt_at = time.perf_counter()
        engine.join()
        wait_until(lambda: redis_status(hub).stored_seq >= engine.seq, "the catch-up")
        done_at = time.perf_counter()
    finally:
        hub.close()
    return {
        "records_per_window": records,
        "jsonl_only_records_per_s": baseline.rates()[0],
        "engine_records_per_s": dict(zip(("up", "down", "restarted", "after"), engine.rates(), strict=True)),
        "after_restart": {
            "next_attempt_s": round(attempt_at - restarted_at, 3),  # the sink's backoff (capped at 10 s)
            "stream_complete_s": round(done_at - attempt_at, 3),  # includes records the engine kept writing
        },
    }


def catch_up(records: int, work: Path, server: RedisServer, config: TelemetryConfig) -> dict[str, Any]:
    """`records` written while Redis is down; after the restart, the time to bring the stream up to date."""
    hub = redis_hub(work / "catch_up.jsonl", server, config, "catch-up")
    try:
        server.stop()
        engine = Engine(hub, total=records)
        engine.start()
        engine.join()
        wait_until(lambda: hub.flushed_seq >= records and redis_status(hub).state == "down", "the backlog")
        restarted_at = time.perf_counter()
        server.start()
        wait_until(lambda: redis_status(hub).state != "down", "the sink's next attempt")
        attempt_at = time.perf_counter()
        wait_until(lambda: redis_status(hub).stored_seq >= records, "the catch-up")
        done_at = time.perf_counter()
    finally:
        hub.close()
    return {
        "records": records,
        "next_attempt_s": round(attempt_at - restarted_at, 3),
        "catch_up_s": round(done_at - attempt_at, 3),
        "catch_up_records_per_s": round(records / (done_at - attempt_at)),
    }


def sink_direct(records: int, server: RedisServer) -> dict[str, Any]:
    sink = RedisStreamSink(server.url, STREAM, "direct")
    sink.open()
    batch = [fill(seq, "2026-11-23T03:45:00.125000Z") for seq in range(1, records + 1)]
    lines = [orjson.dumps(r) for r in batch]
    start = time.perf_counter()
    for lo in range(0, records, 2000):
        sink.write(batch[lo:lo + 2000], lines[lo:lo + 2000])
    elapsed = time.perf_counter() - start
    sink.close()
    return {"records": records, "records_per_s": round(records / elapsed),
            "line_bytes": round(sum(map(len, lines)) / len(lines))}


def run(args: argparse.Namespace, work: Path, server: RedisServer) -> dict[str, Any]:
    config = TelemetryConfig(sinks=["jsonl", "redis"], redis_url=server.url, redis_stream=STREAM, desk_id="bench")
    result: dict[str, Any] = {"paced": paced(work, server, config, args.rate, args.phase_s)}
    result["flat_out"] = flat_out(args.records, work, server, config)
    result["catch_up"] = catch_up(args.records, work, server, config)
    with StreamConsumer(server.url, STREAM, page=10_000) as consumer:
        by_desk: dict[str, list[int]] = {}
        for entry in consumer:
            by_desk.setdefault(entry.desk, []).append(entry.seq)
    result["stream"] = {
        desk: {"entries": len(seqs), "exactly_once_in_order": seqs == list(range(1, len(seqs) + 1))}
        for desk, seqs in by_desk.items()
    }
    result["stream"]["flat"]["complete"] = len(by_desk["flat"]) == 4 * args.records
    result["sink_direct"] = sink_direct(args.records, server)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000, help="records per flat-out window")
    parser.add_argument("--rate", type=float, default=5_000.0, help="paced run: records/s")
    parser.add_argument("--phase-s", type=float, default=3.0, help="paced run: seconds up, down, restarted")
    args = parser.parse_args()
    if redis_server_path() is None:
        print(json.dumps({"error": "redis-server is not installed (scripts/test installs it as root via apt-get)"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="imperium-redis-bench-") as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as server:
            result = run(args, work, server)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
