"""SQLite telemetry index: build rate and query latency on N realistic records (default 1,000,000).

Writes N fill records (~650 bytes each) to a JSONL file, builds the index with `rebuild` (what `imperium-desk
reindex` runs), measures the live write path (`SqliteIndex.write` in the hub's batches of 2,000) on a
separate index, then times each query kind from a read-only `IndexReader`: "records since seq X, limit 500"
(X uniform over the log), since a time, by asset (underlying and trading symbol), scenario, parent and event.
Query times include decoding the 500 records. Prints JSON.

    .venv/bin/python -m benchmarks.sqlite_query [--records N] [--queries Q]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from benchmarks.telemetry_records import SCENARIOS, START, SYMBOLS, fill_record
from imperium_desk.telemetry.sqlite_index import IndexReader, SqliteIndex, rebuild

LIVE_RECORDS = 200_000
LIVE_BATCH = 2_000


def write_jsonl(path: Path, records: int) -> None:
    with open(path, "wb") as file:
        for base in range(1, records + 1, 10_000):
            top = min(base + 10_000, records + 1)
            lines = [orjson.dumps(fill_record(s), option=orjson.OPT_APPEND_NEWLINE) for s in range(base, top)]
            file.write(b"".join(lines))


def live_write_rate(path: Path, records: int) -> float:
    index = SqliteIndex(path)
    index.open()
    elapsed = 0.0
    for base in range(1, records + 1, LIVE_BATCH):
        batch = [fill_record(s) for s in range(base, min(base + LIVE_BATCH, records + 1))]
        lines = [orjson.dumps(r) for r in batch]
        t0 = time.perf_counter()
        index.write(batch, lines)
        elapsed += time.perf_counter() - t0
    index.close()
    return records / elapsed


def timed(queries: int, make: Callable[[random.Random], dict[str, Any]], reader: IndexReader) -> dict[str, Any]:
    rng = random.Random(11)
    samples, sizes = [], []
    for _ in range(queries):
        kwargs = make(rng)
        t0 = time.perf_counter()
        found = reader.query(**kwargs)
        samples.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(found))
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3), "max_ms": round(max(samples), 3),
            "mean_rows": round(float(np.mean(sizes)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        jsonl, db = Path(tmp) / "t.jsonl", Path(tmp) / "t.sqlite"
        write_jsonl(jsonl, n)
        t0 = time.perf_counter()
        rebuild(db, [jsonl])
        build_s = time.perf_counter() - t0
        live_rate = live_write_rate(Path(tmp) / "live.sqlite", min(n, LIVE_RECORDS))
        reader = IndexReader(db)
        top = max(1, n - 500)
        kinds: dict[str, Callable[[random.Random], dict[str, Any]]] = {
            "since_seq_limit_500": lambda r: {"since_seq": r.randrange(0, top)},
            "since_time_limit_500": lambda r: {"since_time": START + r.randrange(0, top) * 0.005},
            "asset_underlying_since_seq": lambda r: {"asset": "BANKNIFTY", "since_seq": r.randrange(0, top)},
            "asset_symbol_since_seq": lambda r: {"asset": r.choice(SYMBOLS)[0], "since_seq": r.randrange(0, top)},
            "scenario_since_seq": lambda r: {"scenario_id": r.choice([s for s in SCENARIOS if s]),
                                             "since_seq": r.randrange(0, top)},
            "parent": lambda r: {"parent_id": f"P{r.randrange(0, n // 10):07d}"},
            "event_fill_since_seq": lambda r: {"event": "fill", "since_seq": r.randrange(0, top)},
        }
        queries = {name: timed(args.queries, make, reader) for name, make in kinds.items()}
        reader.close()
        result = {
            "benchmark": "sqlite_query",
            "records": n,
            "jsonl_mb": round(jsonl.stat().st_size / 2**20, 1),
            "index_mb": round(db.stat().st_size / 2**20, 1),
            "rebuild_s": round(build_s, 2),
            "rebuild_records_per_s": round(n / build_s),
            "live_write_records_per_s": round(live_rate),
            "target_since_seq_p99_ms": 20,
            "queries": queries,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
