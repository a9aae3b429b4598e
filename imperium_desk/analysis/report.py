"""The post-trade report of one telemetry file: summary, per-parent TCA, slippage by algo and by urgency, the
implementation-shortfall breakdown, latency and slippage distributions with ranked fits, and outliers.

One streaming pass reads the file (analysis/reader.py) into per-parent sums (analysis/tca.py), exact running
moments and seeded reservoir samples (analysis/samples.py). Outlier rules need the median and quartiles before
they can flag anything; those come from the reservoir, and when it had to sample (more fills than its capacity),
a second pass over the fill lines applies the rules to every fill, so outlier counts are exact and the listed
ones are the most extreme in the file, not in the sample. Memory is the reservoirs (bounded) plus a few hundred
bytes per parent order (the per-parent TCA is itself part of the output).

The result is a `Report`: a plain dict (JSON-ready: numbers, strings, lists, dicts, None) of everything but the
per-parent rows, which are made one at a time as they are written; it is the input of the JSON file, the HTML
page and the printed tables.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.analysis.distributions import distribution
from imperium_desk.analysis.fees import FeeBreakdown, FeeSchedule
from imperium_desk.analysis.outliers import OutlierScan, robust_stats
from imperium_desk.analysis.reader import Progress, Record, TelemetryReader, scan_events
from imperium_desk.analysis.samples import DEFAULT_CAPACITY, DEFAULT_SEED, Reservoir, RunningStats
from imperium_desk.analysis.tca import (
    ParentFacts,
    ParentTCA,
    RecordError,
    add_record,
    analyse,
    horizon_key,
)

REPORT_VERSION = 1
_FILL_EVENTS = ("fill", "partial_fill")
_READ_SHARE = 0.85  # of the progress bar: the first pass; the rest is the second pass and the fits
_MAX_NAMES = 20  # distinct modes / scenario ids listed in the summary
_SKIPPED_LINES_NAMED = 10  # lines named in the warning about fills whose latency or slippage is unusable
_CHUNK = 65_536  # fills per vectorised outlier check in the second pass


@dataclass(frozen=True)
class ReportOptions:
    """How `build_report` reads a file. `sample_capacity` bounds each reservoir (latency, slippage) and so the
    memory; past it, outlier thresholds come from the sample and a second pass counts outliers exactly. `seed`
    makes the sampled figures reproducible. `progress` is called on the caller's thread with the fraction done
    (0 to 1)."""

    fees: FeeSchedule = field(default_factory=FeeSchedule)
    sample_capacity: int = DEFAULT_CAPACITY
    seed: int = DEFAULT_SEED
    outliers_listed: int = 100  # per metric, the most extreme first
    progress: Progress | None = None


class _Collector:
    """Folds records into per-parent state, samples and counts (one call per record)."""

    def __init__(self, options: ReportOptions, line_no: Callable[[], int] = lambda: 0) -> None:
        self.line_no = line_no  # the line of the record being added, to name the lines whose values are skipped
        # metric -> fills whose value was there but unusable (a string, a negative latency), and their first lines
        self.skipped: dict[str, int] = {}
        self.skipped_lines: dict[str, list[int]] = {}
        self.parents: dict[str, ParentFacts] = {}
        self.parent_list: list[ParentFacts] = []
        self.events: dict[str, int] = {}
        self.latency = RunningStats()
        self.slippage = RunningStats()
        self.latency_sample = Reservoir(options.sample_capacity, options.seed)
        self.slippage_sample = Reservoir(options.sample_capacity, options.seed + 1)
        self.errors: dict[str, int] = {}
        self.retries: dict[str, int] = {}
        self.rejects: dict[str, int] = {}
        self.cancelled_qty = 0
        self.first_timestamp: str | None = None
        self.last_timestamp: str | None = None
        self.modes: set[str] = set()
        self.scenarios: set[str] = set()
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.seq_gaps = 0
        self.seq_out_of_order = 0
        self.protections = _Protections()

    def add(self, record: Record) -> None:
        # The per-record path of a million-record file: plain comparisons, no helper calls where avoidable.
        event: str = record["event"]
        events = self.events
        events[event] = events.get(event, 0) + 1
        seq: int = record["seq"]
        last = self.last_seq
        if last is None or seq > last:
            if last is None:
                self.first_seq = seq
                self.first_timestamp = record.get("timestamp")
            elif seq != last + 1:
                self.seq_gaps += 1
            self.last_seq = seq
            self.last_timestamp = record.get("timestamp")
        else:
            self.seq_out_of_order += 1
        mode, scenario = record.get("mode"), record.get("scenario_id")
        if type(mode) is str and mode not in self.modes and len(self.modes) < _MAX_NAMES:
            self.modes.add(mode)
        if type(scenario) is str and scenario not in self.scenarios and len(self.scenarios) < _MAX_NAMES:
            self.scenarios.add(scenario)
        pid = record.get("parent_id")
        state: ParentFacts | None = None
        if type(pid) is str:
            state = self.parents.get(pid)
            if state is None:
                state = ParentFacts(pid, len(self.parent_list), record)
                self.parents[pid] = state
                self.parent_list.append(state)
            add_record(state, record)
        if event == "fill" or event == "partial_fill":  # noqa: PLR1714 (two compares beat a tuple scan here)
            parent = state.index if state is not None else -1
            latency = record.get("latency_ms")
            if (type(latency) is float or type(latency) is int) and latency >= 0:
                self.latency.add(latency)
                self.latency_sample.add(latency, seq, parent)
            elif latency is not None:  # null: not measured; anything else is a value the figures cannot use
                self._skip("latency_ms")
            slippage = record.get("slippage_bps")
            if type(slippage) is float or type(slippage) is int:
                self.slippage.add(slippage)
                self.slippage_sample.add(slippage, seq, parent)
            elif slippage is not None:
                self._skip("slippage_bps")
        elif event == "error":
            _bump(self.errors, record.get("error_bucket"))
        elif event == "retry":
            _bump(self.retries, record.get("error_bucket"))
        elif event == "reject":
            _bump(self.rejects, record.get("error_bucket"))
        elif event == "cancel":
            qty = record.get("qty")
            if type(qty) is int:
                self.cancelled_qty += qty
        elif event == "protection":
            self.protections.add(record)


    def _skip(self, metric: str) -> None:
        self.skipped[metric] = self.skipped.get(metric, 0) + 1
        lines = self.skipped_lines.setdefault(metric, [])
        if len(lines) < _SKIPPED_LINES_NAMED:
            lines.append(self.line_no())


def _bump(counts: dict[str, int], key: object) -> None:
    name = key if isinstance(key, str) else "unknown"
    counts[name] = counts.get(name, 0) + 1


@dataclass(frozen=True)
class Report:
    """A finished report: `data` holds everything but the per-parent rows (summary, groups, breakdown,
    distributions, outliers, warnings), `parents` the TCA of each parent, turned into rows only as they are
    written (one parent's row is a few hundred bytes as JSON and several times that as a dict)."""

    data: dict[str, Any]
    parents: list[ParentTCA]

    def parent_rows(self) -> Iterator[dict[str, Any]]:
        for t in self.parents:
            yield t.as_dict()

    def worst_parents(self, n: int) -> list[dict[str, Any]]:
        """The `n` parents with the largest shortfall in bps (unknown shortfalls last), as rows."""

        def key(t: ParentTCA) -> tuple[bool, float]:
            bps = t.bps(t.implementation_shortfall)
            return (bps is None, -(bps or 0.0))

        return [t.as_dict() for t in heapq.nsmallest(n, self.parents, key=key)]

    def as_dict(self) -> dict[str, Any]:
        """The whole report in one dict (the JSON document; for small files and tests)."""
        return {**self.data, "parents": list(self.parent_rows())}


def build_report(path: Path, options: ReportOptions | None = None) -> Report:
    """The report of telemetry file `path`. Raises `ReportInputError` (one line per problem) for bad input."""
    options = options or ReportOptions()
    progress = options.progress
    reader = TelemetryReader(path, _scaled(progress, 0.0, _READ_SHARE))
    collector = _Collector(options, lambda: reader.line_no)
    for record in reader:
        try:
            collector.add(record)
        except RecordError as exc:
            reader.fail(f"seq {record['seq']}: {exc}")
    analysed = [analyse(state, options.fees) for state in collector.parent_list]
    outliers = _outliers(path, reader, collector, analysed, options)
    if progress is not None:
        progress(0.95)
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "source": {
            "path": str(path),
            "bytes": reader.bytes_read,
            "records": reader.records,
            "schema_version": reader.schema_version,
            # fills left out of a metric's figures because its value was not a number (or a negative latency)
            "skipped_values": {
                metric: {"fills": count, "first_lines": collector.skipped_lines[metric]}
                for metric, count in sorted(collector.skipped.items())
            },
        },
        "fee_schedule": options.fees.model_dump(mode="json"),
        "summary": _summary(collector, analysed),
        "by_algo": _grouped(analysed, lambda t: t.facts.algo or "unknown"),
        "by_urgency": _grouped(analysed, lambda t: t.facts.urgency_name),
        "is_breakdown": _is_breakdown(analysed),
        "distributions": {
            "latency_ms": distribution(collector.latency, collector.latency_sample, "latency"),
            "slippage_bps": distribution(collector.slippage, collector.slippage_sample, "slippage"),
        },
        "outliers": outliers,
        "protections": collector.protections.summary(collector.parents),
        "warnings": reader.warnings + _warnings(collector),
    }
    if progress is not None:
        progress(1.0)
    return Report(report, analysed)


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction: progress(start + (end - start) * fraction)


# -- summary and groups ------------------------------------------------------------------------------------------
def _summary(c: _Collector, analysed: list[ParentTCA]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for t in analysed:
        _bump(statuses, t.facts.status)
    totals = _Totals()
    for t in analysed:
        totals.add(t)
    fills = c.events.get("fill", 0) + c.events.get("partial_fill", 0)
    return {
        "records": sum(c.events.values()),
        "events": dict(sorted(c.events.items())),
        "first_timestamp": c.first_timestamp,
        "last_timestamp": c.last_timestamp,
        "modes": sorted(c.modes),
        "scenario_ids": sorted(c.scenarios),
        "seq": {"first": c.first_seq, "last": c.last_seq, "gaps": c.seq_gaps, "out_of_order": c.seq_out_of_order},
        "parents": len(analysed),
        "parents_by_status": dict(sorted(statuses.items())),
        "incomplete_parents": sum(1 for t in analysed if not t.facts.complete),
        "children": c.events.get("placed", 0),
        "fills": fills,
        **totals.as_dict(),
        "errors_by_bucket": dict(sorted(c.errors.items())),
        "retries_by_bucket": dict(sorted(c.retries.items())),
        "rejects_by_bucket": dict(sorted(c.rejects.items())),
        "cancelled_qty": c.cancelled_qty,
        "markouts_bps": _markouts(t.facts for t in analysed),
    }


class _Totals:
    """Sums over parents: value-weighted slippage and shortfall (Σ cost / Σ benchmark value · 1e4)."""

    def __init__(self) -> None:
        self.parents = 0
        self.filled_parents = 0
        self.fills = 0
        self.filled_qty = 0
        self.turnover = 0.0
        self.fees = FeeBreakdown()
        self.arrival_cost = 0.0  # Σ s·X·(avg − P_d) = Σ delay + trading
        self.arrival_base = 0.0  # Σ X·P_d
        self.arrival_bps: list[float] = []
        self.shortfall = 0.0
        self.shortfall_base = 0.0  # Σ P_d·Q over parents with a known shortfall
        self.fill_slippage_sum = 0.0
        self.fill_slippage_n = 0

    def add(self, t: ParentTCA) -> None:
        f = t.facts
        self.parents += 1
        self.fills += f.fills
        self.filled_qty += t.filled
        self.turnover += f.notional
        self.fees = self.fees + t.fees
        self.fill_slippage_sum += f.fill_slippage_bps_sum
        self.fill_slippage_n += f.fill_slippage_bps_n
        if t.filled and t.delay_cost is not None and t.trading_cost is not None and t.decision_price is not None:
            self.filled_parents += 1
            self.arrival_cost += t.delay_cost + t.trading_cost
            self.arrival_base += t.filled * t.decision_price
        if t.arrival_slippage_bps is not None:
            self.arrival_bps.append(t.arrival_slippage_bps)
        base = t.benchmark_value
        if t.implementation_shortfall is not None and base is not None:
            self.shortfall += t.implementation_shortfall
            self.shortfall_base += base

    def as_dict(self) -> dict[str, Any]:
        return {
            "filled_qty": self.filled_qty,
            "turnover": round(self.turnover, 2),
            "fees": round(self.fees.total, 4),
            "arrival_slippage_bps": _ratio_bps(self.arrival_cost, self.arrival_base),
            "arrival_slippage_bps_mean": _r(float(np.mean(self.arrival_bps))) if self.arrival_bps else None,
            "fill_slippage_bps_mean": (
                _r(self.fill_slippage_sum / self.fill_slippage_n) if self.fill_slippage_n else None
            ),
            "implementation_shortfall": round(self.shortfall, 4),
            "implementation_shortfall_bps": _ratio_bps(self.shortfall, self.shortfall_base),
        }


def _grouped(analysed: list[ParentTCA], key: Callable[[ParentTCA], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, _Totals] = {}
    for t in analysed:
        name = key(t)
        totals = groups.get(name)
        if totals is None:
            totals = groups[name] = _Totals()
        totals.add(t)
    return {
        name: {"parents": g.parents, "filled_parents": g.filled_parents, "fills": g.fills, **g.as_dict()}
        for name, g in sorted(groups.items())
    }


def _is_breakdown(analysed: list[ParentTCA]) -> dict[str, Any]:
    """Totals of the shortfall's components over the parents whose shortfall is known, in ₹ and in bps of their
    Σ P_d·Q; fee components over every parent."""
    parts = {"delay_cost": 0.0, "trading_cost": 0.0, "opportunity_cost": 0.0, "fees": 0.0}
    base = 0.0
    counted = 0
    fees = FeeBreakdown()
    for t in analysed:
        fees = fees + t.fees
        value = t.benchmark_value
        if t.implementation_shortfall is None or value is None:
            continue
        counted += 1
        base += value
        parts["delay_cost"] += t.delay_cost or 0.0
        parts["trading_cost"] += t.trading_cost or 0.0
        parts["opportunity_cost"] += t.opportunity_cost or 0.0
        parts["fees"] += t.fees.total
    total = sum(parts.values())
    out: dict[str, Any] = {name: round(v, 4) for name, v in parts.items()}
    out["implementation_shortfall"] = round(total, 4)
    for name, v in [*parts.items(), ("implementation_shortfall", total)]:
        out[f"{name}_bps"] = _ratio_bps(v, base)
    out.update(benchmark_value=round(base, 2), parents=counted, parents_excluded=len(analysed) - counted)
    out["fee_breakdown"] = fees.as_dict()
    return out


def _markouts(facts: Iterable[ParentFacts]) -> dict[str, float | None]:
    sums: dict[float, list[float]] = {}
    for f in facts:
        for h, qbps, q in f.markout_sums():
            acc = sums.setdefault(h, [0.0, 0.0])
            acc[0] += qbps
            acc[1] += q
    return {horizon_key(h): _r(s[0] / s[1]) if s[1] else None for h, s in sorted(sums.items())}


def _warnings(c: _Collector) -> list[str]:
    out = []
    for metric, count in sorted(c.skipped.items()):
        lines = c.skipped_lines[metric]
        named = ", ".join(map(str, lines)) + (", ..." if count > len(lines) else "")
        needed = "a non-negative number" if metric == "latency_ms" else "a number"
        where = "line" if count == 1 else "lines"
        out.append(f"{count} fill record(s) have a {metric} that is not {needed} ({where} {named}); "
                   f"left out of the {metric} figures")
    if c.seq_gaps or c.seq_out_of_order:
        out.append(
            f"seq is not gap-free: {c.seq_gaps} gaps, {c.seq_out_of_order} records out of order or repeated "
            "(records missing from this file, or several files joined)"
        )
    incomplete = sum(1 for f in c.parent_list if not f.complete)
    if incomplete and c.events.get("parent"):
        out.append(
            f"parents without a parent record: {incomplete} (still working when the file ended?); "
            "analysed from their children and flagged incomplete"
        )
    return out


# -- protective exits ------------------------------------------------------------------------------------------
class _Protections:
    """The `protection` records: actions counted, and each triggered exit's trigger price and level, matched at the
    end with the exit parent's fills (its average price) for the cost of the stop."""

    def __init__(self) -> None:
        self.actions: dict[str, int] = {}
        # exit parent id -> (reason, exit side sign, trigger price, level)
        self.exits: dict[str, tuple[str, int, float, float]] = {}

    def add(self, record: Record) -> None:
        body = record.get("protection")
        if not isinstance(body, dict):
            return
        _bump(self.actions, body.get("action"))
        exit_id, trigger, level = body.get("exit_parent_id"), body.get("trigger_price"), body.get("level")
        if (body.get("action") == "triggered" and isinstance(exit_id, str)
                and isinstance(trigger, (int, float)) and isinstance(level, (int, float)) and trigger > 0):
            reason = body.get("exit_reason")
            sign = -1 if record.get("side") == "buy" else 1  # a long's exit sells
            self.exits[exit_id] = (reason if isinstance(reason, str) else "unknown", sign, float(trigger), float(level))

    def summary(self, parents: dict[str, ParentFacts]) -> dict[str, Any]:
        """Exits by reason: how many filled, and the mean cost of the stop in bps (adverse positive) against the
        trigger price (the exit's own execution) and against the level (what the gap through it cost)."""
        groups: dict[str, dict[str, Any]] = {}
        all_trigger: list[float] = []
        all_level: list[float] = []
        for exit_id, (reason, sign, trigger, level) in self.exits.items():
            g = groups.setdefault(reason, {"exits": 0, "filled": 0, "trigger": [], "level": []})
            g["exits"] += 1
            facts = parents.get(exit_id)
            if facts is None or not facts.filled_qty:
                continue
            g["filled"] += 1 if facts.status == "complete" else 0
            average = facts.notional / facts.filled_qty
            g["trigger"].append(sign * (average - trigger) / trigger * 1e4)
            g["level"].append(sign * (average - level) / level * 1e4)
        by_reason: dict[str, dict[str, Any]] = {}
        for reason, g in sorted(groups.items()):
            all_trigger += g["trigger"]
            all_level += g["level"]
            by_reason[reason] = {
                "exits": g["exits"], "filled": g["filled"],
                "cost_vs_trigger_bps_mean": _mean(g["trigger"]), "cost_vs_level_bps_mean": _mean(g["level"]),
            }
        return {
            "actions": dict(sorted(self.actions.items())),
            "exits": len(self.exits),
            "cost_vs_trigger_bps_mean": _mean(all_trigger),
            "cost_vs_level_bps_mean": _mean(all_level),
            "by_reason": by_reason,
        }


def _mean(values: list[float]) -> float | None:
    return _r(sum(values) / len(values)) if values else None


# -- outliers ----------------------------------------------------------------------------------------------------
def _outliers(
    path: Path, reader: TelemetryReader, c: _Collector, analysed: list[ParentTCA], options: ReportOptions
) -> dict[str, Any]:
    limit = options.outliers_listed
    scans: dict[str, OutlierScan] = {}
    fill_metrics = (("latency_ms", c.latency_sample), ("slippage_bps", c.slippage_sample))
    for metric, reservoir in fill_metrics:
        if reservoir.seen:
            scans[metric] = OutlierScan(metric, robust_stats(reservoir.array()), limit)
    second_pass = [m for m, r in fill_metrics if m in scans and not r.complete]
    for metric, reservoir in fill_metrics:
        if metric in scans and metric not in second_pass:  # the reservoir holds every value: scan it
            parents = [c.parent_list[i] if i >= 0 else None for i in reservoir.parents]
            scans[metric].add_all(
                reservoir.array(),
                list(reservoir.seqs),
                [p.parent_id if p else None for p in parents],
                [p.asset if p else None for p in parents],
            )
    if second_pass:
        _second_pass(path, reader.bytes_read, [scans[m] for m in second_pass], options.progress)
    per_parent: dict[str, Callable[[ParentTCA], float | None]] = {
        "arrival_slippage_bps": lambda t: t.arrival_slippage_bps,
        "implementation_shortfall_bps": lambda t: t.bps(t.implementation_shortfall),
    }
    for metric, value_of in per_parent.items():
        known = [(t, v) for t in analysed if (v := value_of(t)) is not None]
        if not known:
            continue
        values = np.array([v for _, v in known])
        found = scans[metric] = OutlierScan(metric, robust_stats(values), limit)
        found.add_all(
            values,
            [t.facts.parent_seq if t.facts.parent_seq is not None else t.facts.first_seq for t, _ in known],
            [t.facts.parent_id for t, _ in known],
            [t.facts.asset for t, _ in known],
        )
    return {
        "rules": {"mad": "|0.6745 (x - median) / MAD| > 3.5", "iqr": "x < Q1 - 1.5 IQR or x > Q3 + 1.5 IQR"},
        "metrics": {
            metric: {
                "stats": {k: _r(v) if isinstance(v, float) else v for k, v in s.stats.as_dict().items()},
                "thresholds_from_sample": metric in second_pass,
                "counts": dict(s.counts),
                "listed": [o.as_dict() for o in s.listed()],
            }
            for metric, s in scans.items()
        },
    }


def _second_pass(path: Path, until: int, scans: list[OutlierScan], progress: Progress | None) -> None:
    """Applies the rules to every fill of the file (the reservoir only sampled them), a chunk at a time: the
    rules run on numpy arrays, and only the flagged values reach the (Python) outlier lists."""
    metrics = [(s, s.metric) for s in scans]
    chunk: dict[str, tuple[array[float], list[int], list[str | None], list[str | None]]] = {
        metric: (array("d"), [], [], []) for _, metric in metrics
    }

    def flush() -> None:
        for s, metric in metrics:
            values, seqs, pids, assets = chunk[metric]
            if values:
                s.add_all(np.frombuffer(values, dtype=np.float64), seqs, pids, assets)
            chunk[metric] = (array("d"), [], [], [])

    pending = 0
    for record in scan_events(path, until, _FILL_EVENTS, _scaled(progress, _READ_SHARE, 0.93)):
        for _, metric in metrics:
            v = record.get(metric)
            if (type(v) is float or type(v) is int) and (v >= 0 or metric != "latency_ms"):
                values, seqs, pids, assets = chunk[metric]
                values.append(v)
                seqs.append(record["seq"])
                pids.append(record.get("parent_id"))
                assets.append(record.get("asset"))
        pending += 1
        if pending == _CHUNK:
            flush()
            pending = 0
    flush()


def _ratio_bps(cost: float, base: float) -> float | None:
    return _r(cost / base * 1e4) if base > 0 else None


def _r(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) + 0.0
