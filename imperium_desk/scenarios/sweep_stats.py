"""A sweep's figures: one scenario run over many seeds, each metric summarised across the seeds.

The numbers of every run's outcome (with events, no events, change) or, for a scenario without events, of its
run summary, become distributions over seeds: mean, standard deviation, the 5th/50th/95th percentiles and the
range. A metric a run did not have (no fills, so no latency) is left out of that metric's sample and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

SECTIONS = ("run", "baseline", "delta")


def parse_seeds(text: str) -> list[int]:
    """`1..100`, `3,5,8`, `1..4,10`: the seeds in the order given, each once. Raises ValueError naming the part."""
    seeds: list[int] = []
    seen: set[int] = set()  # `s not in seeds` made 1..100000 take a minute
    for raw in text.split(","):
        part = raw.strip()
        low, sep, high = part.partition("..")
        try:
            first, last = (int(low), int(high)) if sep else (int(part), int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a seed or a range like 1..100") from None
        if first < 0 or last < 0:
            raise ValueError(f"{part!r}: seeds are non-negative integers")
        if last < first:
            raise ValueError(f"{part!r}: a range runs upwards (low..high)")
        fresh = [s for s in range(first, last + 1) if s not in seen]
        seen.update(fresh)
        seeds.extend(fresh)
    return seeds


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number of a nested document under its dotted path (`latency_ms.p95`, `rejects.transient`)."""
    out: dict[str, float] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(flatten(value, path))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def describe(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    p5, p50, p95 = np.percentile(arr, (5, 50, 95))
    return {
        "mean": round(float(arr.mean()), 6),
        "std": round(float(arr.std(ddof=1)) if arr.size > 1 else 0.0, 6),
        "p5": round(float(p5), 6),
        "p50": round(float(p50), 6),
        "p95": round(float(p95), 6),
        "min": round(float(arr.min()), 6),
        "max": round(float(arr.max()), 6),
        "n": int(arr.size),
    }


def aggregate(documents: Iterable[Mapping[str, Any]], sections: Sequence[str] = SECTIONS) -> dict[str, Any]:
    """Per section (`run`, `baseline`, `delta` of outcomes), per metric path: the metric across documents."""
    samples: dict[str, dict[str, list[float]]] = {s: {} for s in sections}
    for doc in documents:
        for section in sections:
            part = doc.get(section)
            if not isinstance(part, Mapping):
                continue
            for path, value in flatten(part).items():
                samples[section].setdefault(path, []).append(value)
    return {section: {path: describe(values) for path, values in metrics.items()}
            for section, metrics in samples.items() if metrics}


def sweep_rows(aggregated: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, with events, no events, change) rows, each cell `mean [p5, p95]` across seeds, for the table.
    Metrics that are zero for every seed in every section are left out (they say nothing)."""
    run = aggregated.get("run", {})
    base = aggregated.get("baseline", {})
    delta = aggregated.get("delta", {})
    rows = []
    for path in run:
        if path == "parents":
            continue
        cells = [_cell(section.get(path)) for section in (run, base, delta)]
        if all(_all_zero(section.get(path)) for section in (run, base, delta)):
            continue
        rows.append((path, *cells))
    return rows


def _cell(stats: Mapping[str, float] | None) -> str:
    if stats is None:
        return "-"
    return f"{stats['mean']:.4g} [{stats['p5']:.4g}, {stats['p95']:.4g}]"


def _all_zero(stats: Mapping[str, float] | None) -> bool:
    return stats is None or (stats["min"] == 0 and stats["max"] == 0)
