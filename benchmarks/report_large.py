"""`imperium-desk report` on a large telemetry file: wall time and peak memory. Prints JSON.

A synthetic but realistic telemetry file is generated first (orjson, numpy draws): parent orders of ~10 children
(TWAP/VWAP/POV/IS, some IMMEDIATE of 1 child), each child `placed`, `ack`, one `fill` or two `partial_fill`s
(10%), a `markout` per fill, a few `error`/`retry` pairs, and the parent's `parent` record; lognormal latency with
a slow tail, slippage on the tick grid, mids that walk. The report then runs as the user runs it, a CLI
subprocess writing `--json` and `--html`; its wall time is timed end to end (interpreter start and imports
included) and its peak resident memory (VmHWM, Linux) reported by the child itself. Run at two sizes and against
a baseline (the interpreter with the report's imports), memory should stay flat apart from per-parent state: the
samples are bounded (a 200,000-value reservoir each), the records are never held. Target: 1,000,000 records in
≤ 30 s.

    .venv/bin/python -m benchmarks.report_large [--records N] [--small N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from imperium_desk.telemetry.schema import iso_utc

TARGET_S = 30.0
ALGOS = ("TWAP", "VWAP", "POV", "IS", "IMMEDIATE")
URGENCIES = ("low", "normal", "high")
_PRIORITY = {"high": 0, "normal": 1, "low": 2}
HORIZONS = [1.0, 10.0, 60.0]


START = 1_795_405_500.0  # 2026-11-23 03:45 UTC (09:15 IST), the simulated session start


def _iso(t: float) -> str:
    return iso_utc(START + t)


def generate(path: Path, records: int, seed: int = 11) -> int:
    """Writes about `records` records (whole parents); returns the number written."""
    rng = np.random.default_rng(seed)
    seq = 0
    t = 0.0
    mid = 100.0
    written = 0
    parent_no = 0
    with path.open("wb") as out:
        buffer: list[bytes] = []
        while written < records:
            parent_no += 1
            pid = f"RP{parent_no:07d}"
            algo = ALGOS[int(rng.integers(0, len(ALGOS)))]
            urgency = URGENCIES[int(rng.integers(0, 3))]
            side, sign = ("buy", 1) if rng.random() < 0.5 else ("sell", -1)
            underlying = "SENSEX" if rng.random() < 0.15 else "NIFTY"
            asset = f"{underlying}26NOV{26000 + 50 * int(rng.integers(-5, 6))}{'CE' if rng.random() < 0.5 else 'PE'}"
            children = 1 if algo == "IMMEDIATE" else int(rng.integers(8, 13))
            lot = 20 if underlying == "SENSEX" else 65
            child_qty = lot * int(rng.integers(1, 4))
            qty = child_qty * children
            decision = round(mid, 2)
            started = t
            common = {
                "schema_version": 1,
                "seq": 0,
                "event": "",
                "timestamp": "",
                "mode": "replay",
                "scenario_id": "bench",
                "order_id": None,
                "parent_id": pid,
                "client_tag": None,
                "asset": asset,
                "underlying": underlying,
                "side": side,
                "qty": 0,
                "execution_algo": algo,
                "child_index": None,
                "children": children,
                "route": "take",
                "queue_priority": _PRIORITY[urgency],
            }
            # One batch of draws per parent (a numpy call per value would cost more than the records).
            latencies = (
                np.where(
                    rng.random(children) < 0.03,
                    rng.lognormal(np.log(400), 0.4, children),
                    rng.lognormal(np.log(45), 0.3, children),
                )
                .round(3)
                .tolist()
            )
            steps = rng.normal(0, 0.05, children).tolist()
            gaps = rng.exponential(3.0, children).tolist()
            flags = rng.random((children, 2)).tolist()  # [error-and-retry, split into two fills]
            ticks = np.round(rng.normal(0.2, 1.0, (children, 2))).astype(int).tolist()
            moves = (rng.normal(0, 1.0, (children, 2, 3)) * np.sqrt(HORIZONS) * 0.1).tolist()
            filled = 0
            first_mid = None
            for child in range(children):
                mid = max(mid + steps[child], 5.0)
                t += gaps[child]
                tag = f"{pid}C{child}"
                oid = f"R{parent_no:07d}{child:03d}"
                base = {**common, "client_tag": tag, "child_index": child, "qty": child_qty}
                intended = round(mid + sign * 0.05, 2)
                first_mid = first_mid if first_mid is not None else round(mid, 4)
                stamp = _iso(t)
                seq += 1
                rows: list[dict[str, Any]] = [
                    {
                        **base,
                        "seq": seq,
                        "event": "placed",
                        "timestamp": stamp,
                        "arrival_price": decision,
                        "intended_price": intended,
                        "limit_price": None,
                        "expected_slippage": 0.39,
                        "impact_estimate": 0.34,
                        "extra_metrics": {"expected_cost_bps": 45.6, "spread": 0.1, "mid": round(mid, 4)},
                    }
                ]
                if flags[child][0] < 0.02:
                    seq += 1
                    rows.append(
                        {
                            **base,
                            "seq": seq,
                            "event": "error",
                            "timestamp": stamp,
                            "order_id": None,
                            "error_bucket": "throttle",
                            "error": "429 too many requests",
                            "attempt": 1,
                        }
                    )
                    seq += 1
                    rows.append(
                        {
                            **base,
                            "seq": seq,
                            "event": "retry",
                            "timestamp": stamp,
                            "error_bucket": "throttle",
                            "attempt": 2,
                            "extra_metrics": {"backoff_ms": 200.0},
                        }
                    )
                latency = latencies[child]
                t_ack = t + latency / 1000.0
                ack_stamp, markout_stamp = _iso(t_ack), _iso(t_ack + HORIZONS[-1])
                seq += 1
                rows.append(
                    {**base, "seq": seq, "event": "ack", "timestamp": ack_stamp, "order_id": oid, "latency_ms": latency}
                )
                parts = [child_qty // 2, child_qty - child_qty // 2] if flags[child][1] < 0.1 else [child_qty]
                for i, part in enumerate(parts):
                    price = round(intended + sign * 0.05 * ticks[child][i], 2)
                    slippage = round((price - intended) * sign, 6)
                    seq += 1
                    fill_seq = seq
                    rows.append(
                        {
                            **base,
                            "seq": seq,
                            "event": "fill" if i == len(parts) - 1 else "partial_fill",
                            "timestamp": ack_stamp,
                            "order_id": oid,
                            "qty": part,
                            "executed_price": price,
                            "slippage": slippage,
                            "slippage_bps": round(slippage / intended * 1e4, 4),
                            "latency_ms": latency,
                            "model_params": {"latency": {"scope": "global", "type": "lognormal"}},
                            "extra_metrics": {"trade_id": f"T{fill_seq}", "book_price": price},
                        }
                    )
                    mids = [round(mid + move, 4) for move in moves[child][i]]
                    seq += 1
                    rows.append(
                        {
                            **base,
                            "seq": seq,
                            "event": "markout",
                            "timestamp": markout_stamp,
                            "order_id": oid,
                            "qty": part,
                            "markout": {
                                "fill_seq": fill_seq,
                                "executed_price": price,
                                "horizons_s": HORIZONS,
                                "mids": mids,
                                "bps": [round((m - price) * sign / price * 1e4, 4) for m in mids],
                            },
                        }
                    )
                    filled += part
                buffer.extend(orjson.dumps(r) for r in rows)
                written += len(rows)
            seq += 1
            buffer.append(
                orjson.dumps(
                    {
                        **common,
                        "seq": seq,
                        "event": "parent",
                        "timestamp": _iso(t),
                        "qty": qty,
                        "route": None,
                        "parent": {
                            "status": "COMPLETE",
                            "filled_qty": filled,
                            "average_price": None,
                            "reason": "",
                            "urgency": urgency,
                            "exchange": "BFO" if underlying == "SENSEX" else "NFO",
                            "lot_size": lot,
                            "decision_price": decision,
                            "started_at": _iso(started),
                            "first_sent_mid": first_mid,
                            "end_mid": round(mid, 4),
                            "interval_volume": 50 * qty,
                            "interval_vwap": round(mid - 0.01, 4),
                        },
                    }
                )
            )
            written += 1
            if len(buffer) >= 50_000:
                out.write(b"\n".join(buffer) + b"\n")
                buffer.clear()
        if buffer:
            out.write(b"\n".join(buffer) + b"\n")
    return written


# The report CLI in a child that states its own peak RSS: VmHWM belongs to the process's memory after exec, while
# rusage's ru_maxrss would include this parent's size at fork. `--baseline` only imports what the report imports.
_CHILD = """
import sys
from imperium_desk.cli import main
import imperium_desk.analysis.html, imperium_desk.analysis.output, imperium_desk.analysis.report
code = 0 if sys.argv[1] == "--baseline" else main(["report", *sys.argv[1:]])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
sys.stderr.write(f"peak_rss_kb={peak}\\n")
raise SystemExit(code)
"""


def run_child(*args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the child."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"report failed ({done.returncode}): {done.stderr}")
    peak = next(line for line in done.stderr.splitlines() if line.startswith("peak_rss_kb="))
    return wall, int(peak.split("=")[1]) / 1024


def run_report(telemetry: Path, out: Path) -> dict[str, Any]:
    wall, peak = run_child(str(telemetry), "--json", str(out / "report.json"), "--html", str(out / "report.html"))
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak, 1),
        "json_mb": round((out / "report.json").stat().st_size / 2**20, 1),
        "html_kb": round((out / "report.html").stat().st_size / 1024, 1),
    }


def measure(records: int, work: Path) -> dict[str, Any]:
    folder = work / f"n{records}"
    folder.mkdir()
    telemetry = folder / "telemetry.jsonl"
    started = time.perf_counter()
    written = generate(telemetry, records)
    generated_s = time.perf_counter() - started
    result = run_report(telemetry, folder)
    report = orjson.loads((folder / "report.json").read_bytes())
    parents = report["summary"]["parents"]
    return {
        "records": written,
        "file_mb": round(telemetry.stat().st_size / 2**20, 1),
        "parents": parents,
        "fills": report["summary"]["fills"],
        "generate_s": round(generated_s, 2),
        **result,
        "records_per_s": round(written / result["wall_s"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=250_000, help="a second, smaller run to compare memory with")
    parser.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="report_large_"))
    try:
        baseline_s, baseline_mb = run_child("--baseline")
        small = measure(args.small, work)
        large = measure(args.records, work)
        print(
            json.dumps(
                {
                    "benchmark": "report_large",
                    "target_s": TARGET_S,
                    "baseline": {
                        "what": "interpreter + the report's imports",
                        "wall_s": round(baseline_s, 2),
                        "peak_rss_mb": round(baseline_mb, 1),
                    },
                    "small": small,
                    "large": large,
                    "meets_target": large["wall_s"] <= TARGET_S,
                    "rss_growth_mb_per_1k_parents": round(
                        (large["peak_rss_mb"] - small["peak_rss_mb"])
                        / max((large["parents"] - small["parents"]) / 1000, 1e-9),
                        2,
                    ),
                },
                indent=2,
            )
        )
    finally:
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
