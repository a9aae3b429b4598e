"""What the command line prints: progress bars and the result tables of `replay`, sweeps and `fit`."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imperium_desk.models.fitting import FitResult

def print_fit_table(results: Sequence[FitResult]) -> None:
    header = ("#", "family", "loglik", "AIC", "BIC", "KS stat", "KS p", "params")
    rows = []
    for rank, r in enumerate(results, start=1):
        if r.fitted:
            numbers = (f"{r.loglik:.1f}", f"{r.aic:.1f}", f"{r.bic:.1f}", f"{r.ks_stat:.4f}", f"{r.ks_pvalue:.3g}")
            rows.append((str(rank), r.family, *numbers, _describe(r.params)))
        else:
            rows.append(("-", r.family, "", "", "", "", "", f"skipped: {r.skipped}"))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [
            cell.rjust(w) if 1 < i < 7 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]))


def _describe(params: Mapping[str, Any]) -> str:
    """A model config in one line: `lognormal(median_ms=40, sigma=0.3)`, mixtures as weighted sums."""
    fields = {k: v for k, v in params.items() if k not in ("type", "unit", "model", "components", "weight")}
    if params["type"] == "mixture":
        return " + ".join(f"{c['weight']:.4g}*{_describe(c)}" for c in params["components"])
    inside = ", ".join(f"{k}={v:g}" for k, v in fields.items())
    if params["type"] == "shifted":
        return f"{inside} + {_describe(params['model'])}"
    return f"{params['type']}({inside})"


class ProgressBar:
    """Virtual-time progress on stderr, redrawn at most 10 times a wall second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        filled = int(fraction * 30)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}%")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def print_summary(run: dict[str, object], telemetry: Path) -> None:
    counts = run["counts"]
    assert isinstance(counts, dict)
    statuses = run["parent_status"]
    assert isinstance(statuses, dict)
    quality = run["fill_quality"]
    assert isinstance(quality, dict)
    failures = run.get("parent_failures", {})
    assert isinstance(failures, dict)
    rows = [
        ("scenario", str(run["id"])),
        ("seed", str(run["seed"])),
        ("virtual time", f"{run['virtual_elapsed_s']} s (wall {run['wall_s']} s)"),
        ("parents", " ".join(f"{k}={v}" for k, v in statuses.items() if v) or "0"),
        ("stopped short", " ".join(f"{k}={v}" for k, v in failures.items() if v) or "none"),
        ("children / fills", f"{counts['children']} / {counts['fills']}"),
        ("errors / retries", f"{counts['errors']} / {counts['retries']}"),
    ]
    sessions = run.get("sessions")
    if isinstance(sessions, dict) and sessions.get("closes"):
        rows.append(("sessions", f"{_ist(run['start'])} to {_ist(run['end'])}: {sessions['closes']} close(s), "
                                 f"{sessions['children_cancelled_at_close']} child order(s) cancelled at a close"))
    for name, unit in (("latency_ms", "ms"), ("slippage_bps", "bps")):
        stats = quality.get(name)
        if isinstance(stats, dict):
            rows.append(
                (name.split("_")[0], f"mean {stats['mean']} {unit}, p50 {stats['p50']}, p95 {stats['p95']}")
            )
    rows.append(("telemetry", str(telemetry)))
    width = max(len(r[0]) for r in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


def _ist(iso: object) -> str:
    """An ISO UTC instant from run.json as the exchange's local time, to the second."""
    from datetime import datetime

    from imperium_desk.domain.instruments import IST

    return f"{datetime.fromisoformat(str(iso)).astimezone(IST):%a %Y-%m-%d %H:%M:%S} IST"


def print_outcome(outcome: dict[str, object], path: Path) -> None:
    """The drill against the same orders with no events: one row per metric that moved or is non-zero."""
    from imperium_desk.scenarios.outcome import outcome_rows

    rows = [("outcome", "with events", "no events", "change"), *outcome_rows(outcome)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                      strict=True))))
    learning = outcome.get("learning")
    if isinstance(learning, dict) and learning.get("assets"):
        print("\nlearning: the model against the realised fills, before and after recalibration")
        for asset, kinds in learning["assets"].items():
            for kind, entry in kinds.items():
                before, after = entry["before"], entry["after"]
                print(f"  {asset} {kind}: error {_pct(before['error_pct'])} before, {_pct(after['error_pct'])} after "
                      f"({entry.get('changes', 0)} change(s), {after['fills']} fills after)")
    print(f"outcome saved to {path}")


def _pct(value: object) -> str:
    return f"{value:+.1f}%" if isinstance(value, (int, float)) else "-"


def print_sweep(sweep: dict[str, Any], path: Path) -> None:
    """Each metric across the seeds: mean [p5, p95], with events, without, and the change."""
    from imperium_desk.scenarios.sweep_stats import sweep_rows

    runs = sweep["runs"]
    print(f"scenario  {sweep['id']}")
    executor = sweep.get("executor", {})
    if executor.get("kind") == "dask":
        where = f"{executor['workers']} Dask worker(s) ({sweep['jobs']} thread(s)) at {executor['cluster']}"
    else:
        where = f"{sweep['jobs']} process(es)"
    print(f"seeds     {len(runs)} ({runs[0]['seed']}..{runs[-1]['seed']}), {where}, wall {sweep['wall_s']} s")
    has_baseline = "baseline" in sweep["aggregate"]
    header = ("metric", "with events", "no events", "change") if has_baseline else ("metric", "run", "", "")
    rows = [header, *sweep_rows(sweep["aggregate"])]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print("\nacross seeds: mean [p5, p95]")
    for row in rows:
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                              strict=True))]
        print("  ".join(cells).rstrip())
    print(f"sweep saved to {path}")
