"""A scenario's outcome: its run against the same orders with no events (same seed), metric by metric.

What a drill did to execution: fill rate, arrival slippage, latency percentiles, and rejects, errors and retries
per error bucket. The figures come from the telemetry records as the run writes them (a tracker listener), so
the run and its baseline are measured the same way.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Record = dict[str, Any]
BUCKETS = ("transient", "throttle", "risk", "fatal")


@dataclass
class OutcomeMetrics:
    """Listens to a run's records and sums up its execution quality."""

    parents: int = 0
    qty: int = 0
    filled_qty: int = 0
    slippage_weighted: float = 0.0  # sum of filled qty x arrival slippage bps
    latency_ms: array[float] = field(default_factory=lambda: array("d"))  # packed: 8 bytes a fill
    rejects: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)

    def __call__(self, record: Record) -> None:
        # Called for every record of a run: fills (the most frequent records it reads) are tested first, and a
        # record it does not read (placed, ack, cancel) costs one key lookup and the comparisons.
        event = record["event"]
        if event in {"fill", "partial_fill"}:
            latency = record["latency_ms"]
            if latency is not None:
                self.latency_ms.append(latency)
        elif event == "parent":
            parent = record["parent"]
            self.parents += 1
            self.qty += record["qty"]
            filled = parent["filled_qty"]
            self.filled_qty += filled
            if filled and parent["average_price"] is not None and parent["decision_price"]:
                sign = 1.0 if record["side"] == "buy" else -1.0
                decision = parent["decision_price"]
                bps = sign * (parent["average_price"] - decision) / decision * 10_000.0
                self.slippage_weighted += filled * bps
        elif event == "reject":
            self.rejects[record["error_bucket"]] += 1
        elif event == "error":
            self.errors[record["error_bucket"]] += 1
        elif event == "retry":
            self.retries[record["error_bucket"]] += 1

    def summary(self) -> dict[str, Any]:
        p50 = p95 = p99 = None
        if self.latency_ms:
            values = np.frombuffer(self.latency_ms, dtype=np.float64)
            p50, p95, p99 = (round(float(v), 3) for v in np.percentile(values, (50, 95, 99)))
        return {
            "parents": self.parents,
            "fill_rate": round(self.filled_qty / self.qty, 6) if self.qty else None,
            "arrival_slippage_bps": round(self.slippage_weighted / self.filled_qty, 4) if self.filled_qty else None,
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
            "rejects": {b: self.rejects[b] for b in BUCKETS},
            "errors": {b: self.errors[b] for b in BUCKETS},
            "retries": {b: self.retries[b] for b in BUCKETS},
        }


def compare(scenario_id: str, seed: int, run: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The outcome document: both summaries and, for every number, run minus baseline."""
    return {"scenario_id": scenario_id, "seed": seed, "run": run, "baseline": baseline,
            "delta": _delta(run, baseline)}


def _delta(run: Any, base: Any) -> Any:
    if isinstance(run, dict):
        return {key: _delta(run[key], base.get(key) if isinstance(base, dict) else None) for key in run}
    if isinstance(run, (int, float)) and isinstance(base, (int, float)):
        return round(run - base, 6)
    return None


def outcome_rows(outcome: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, run, baseline, delta) rows for the printed table."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(prefix: str, run: Any, base: Any, delta: Any) -> None:
        if isinstance(run, dict):
            for key in run:
                walk(f"{prefix}.{key}" if prefix else key, run[key], base.get(key), delta.get(key))
            return
        if prefix == "parents":
            return
        rows.append((prefix, _fmt(run), _fmt(base), _fmt(delta, signed=True)))

    walk("", outcome["run"], outcome["baseline"], outcome["delta"])
    return [r for r in rows if not (r[1] == r[2] == "0")]  # buckets that stayed at zero say nothing


def _fmt(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.4g}" if signed else f"{value:.4g}"
