"""JSONL sink throughput with the default fsync policy (fsync at most every 100 ms, flush every 100 records).

N realistic fill records (~650 bytes of JSON each) are made first (not timed), then handed to the sink as fast
as one producer thread can call `write()`, in both serialisation modes: the desk's (the writer thread
serialises) and a replay's (the caller serialises each full batch). Measures the engine-side cost of
`write()` (mean over all calls and the worst block of 10,000 while the writer competes for the GIL, and alone
with the writer thread idle) and the wall time from the first write until the last record is acknowledged as
flushed (written and fsynced). The file is on the home disk, not tmpfs. Prints JSON.

    .venv/bin/python -m benchmarks.telemetry_sink [--records N]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.telemetry_records import fill_record
from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.jsonl import JsonlWriter

BLOCK = 10_000


def run(records: list[dict[str, Any]], folder: Path, *, on_caller: bool) -> dict[str, Any]:
    path = folder / ("replay.jsonl" if on_caller else "desk.jsonl")
    config = TelemetryConfig()  # the defaults: fsync on, 100 ms / 100 records
    last = records[-1]["seq"]
    done = threading.Event()
    fsyncs = [0]

    def on_flushed(seq: int) -> None:
        fsyncs[0] += 1
        if seq >= last:
            done.set()

    writer = JsonlWriter(
        path, flush_interval_s=config.flush_interval_ms / 1000, flush_records=config.flush_records,
        fsync=config.fsync, serialize_on_caller=on_caller, on_flushed=on_flushed,
    )
    write = writer.write
    worst_block = 0.0
    started = time.perf_counter()
    for base in range(0, len(records), BLOCK):
        t0 = time.perf_counter()
        for rec in records[base : base + BLOCK]:
            write(rec)
        worst_block = max(worst_block, (time.perf_counter() - t0) / min(BLOCK, len(records) - base))
    produced = time.perf_counter()
    done.wait()
    flushed = time.perf_counter()
    writer.close()
    wall = flushed - started
    return {
        "mode": "replay (serialise on caller)" if on_caller else "desk (writer thread serialises)",
        "records": len(records),
        "write_ns_per_record_mean": round((produced - started) / len(records) * 1e9, 1),
        "write_ns_per_record_worst_block": round(worst_block * 1e9, 1),
        "wall_until_flushed_s": round(wall, 3),
        "records_per_s_until_flushed": round(len(records) / wall),
        "acknowledgements": fsyncs[0],
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


def uncontended_write_ns(records: list[dict[str, Any]], folder: Path) -> float:
    """write() alone: the writer thread asleep (no batch due) so it never competes for the GIL meanwhile."""
    writer = JsonlWriter(folder / "idle.jsonl", flush_records=len(records) + 1, flush_interval_s=3600)
    write = writer.write
    started = time.perf_counter()
    for rec in records:
        write(rec)
    elapsed = time.perf_counter() - started
    writer.close()
    return round(elapsed / len(records) * 1e9, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    records = [fill_record(seq) for seq in range(1, args.records + 1)]
    gc.collect()
    gc.freeze()  # a million live dicts would otherwise make every full GC pass part of the measurement
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:  # a real disk, where fsync costs what it costs
        results = [run(records, Path(tmp), on_caller=c) for c in (False, True)]
        idle_ns = uncontended_write_ns(records[:100_000], Path(tmp))
    print(json.dumps({
        "benchmark": "telemetry_sink",
        "target_records_per_s": 100_000,
        "write_ns_per_record_writer_idle": idle_ns,
        "runs": results,
    }, indent=2))


if __name__ == "__main__":
    main()
