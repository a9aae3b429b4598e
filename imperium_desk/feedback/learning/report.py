"""The `learning` section of a replay's outcome: for every asset whose model a learner changed, how far the model
was from what the fills realised before the change, and after it.

Before: the replaced model against the fills the proposal rested on (from the detected change to the switch).
After: the applied model against the fills from the switch until the world or the model next changes: another
switch of that model, or the start or end of a latency burst covering the asset (a latency model is judged
against the regime it learned, not the next one), or the run's end.
Latency is compared by median (ms), slippage by mean (the model's unit); the error is model minus realised.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from imperium_desk.feedback.learning.configured import ConfiguredModels
from imperium_desk.feedback.learning.model_stats import StatsCache
from imperium_desk.feedback.learning.proposal import Decision
from imperium_desk.feedback.learning.samples import ORDER_EVENTS, LimitChildren, latency_sample, slippage_draw
from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER


class _Series:
    """One asset's samples of one kind, in time order (ISO timestamps sort as strings)."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[str] = []
        self.values: list[float] = []

    def between(self, start: str | None, end: str | None, *, include_start: bool) -> list[float]:
        lo = 0 if start is None else (bisect.bisect_left if include_start else bisect.bisect_right)(self.times, start)
        hi = len(self.times) if end is None else bisect.bisect_right(self.times, end)
        return self.values[lo:hi]


class LearningReport:
    """A tracker listener keeping each asset's realised latency and slippage draws, and the summary built from
    them and the host's decisions."""

    def __init__(self, models: ConfiguredModels, tick_size: Callable[[str], float | None] | None = None,
                 stats: StatsCache | None = None) -> None:
        self._models = models
        self._tick_size = tick_size
        self._stats = stats or StatsCache()
        self._series: dict[tuple[str, str], _Series] = {}
        self._limits = LimitChildren()
        self._switches: dict[tuple[str, str], list[str]] = {}  # (kind, scope) -> times its order model changed
        self._bursts: list[tuple[str, str | None]] = []  # (time, target) of each latency burst start and end

    def add(self, record: Mapping[str, Any]) -> None:
        event = record["event"]
        if event != "fill":
            if event in ORDER_EVENTS:
                self._limits.observe(record)
            elif event == "model_switch":
                switch = record["model_switch"]
                if switch["lane"] == "order":
                    self._switches.setdefault((switch["kind"], switch["scope"]), []).append(record["timestamp"])
            elif event == "scenario" and record["scenario"]["type"] == "latency_burst":
                self._bursts.append((record["timestamp"], record["scenario"]["target"]))
            return
        symbol, underlying = record.get("asset"), record.get("underlying")
        if not symbol or not underlying:
            return
        limit = self._limits.final_fill(record)
        timestamp = record["timestamp"]
        latency = latency_sample(record)
        if latency is not None:
            self._append("latency", self._models.own_scope("latency", symbol, underlying), timestamp, latency)
        draw = None if limit else slippage_draw(record, self._tick_size)
        if draw is not None:
            self._append(f"slippage:{draw[0]}", self._models.own_scope("slippage", symbol, underlying), timestamp,
                         draw[1])

    def _append(self, kind: str, scope: str, timestamp: str, value: float) -> None:
        series = self._series.get((kind, scope))
        if series is None:
            series = self._series[(kind, scope)] = _Series()
        series.times.append(timestamp)
        series.values.append(value)

    def summary(self, decisions: Sequence[Decision], *, learners: Sequence[str], auto_apply: bool) -> dict[str, Any]:
        counts = Counter(d.status for d in decisions)
        applied: dict[tuple[str, str], list[Decision]] = {}
        for d in decisions:
            if d.status == "applied" and d.proposal.lane == "order":
                applied.setdefault((d.proposal.kind, d.proposal.scope), []).append(d)
        assets: dict[str, dict[str, Any]] = {}
        for (kind, scope), changes in sorted(applied.items(), key=lambda item: (item[0][1], item[0][0])):
            entry = self._entry(kind, scope, sorted(changes, key=lambda d: d.decided_at or ""))
            assets.setdefault(scope, {})[kind] = entry
        return {
            "learners": list(learners),
            "auto_apply": auto_apply,
            "decisions": {s: counts.get(s, 0) for s in ("applied", "pending", "refused", "rejected", "failed")},
            "assets": assets,
        }

    def _entry(self, kind: str, scope: str, changes: list[Decision]) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for d in changes:
            p = d.proposal
            parsed = p.parsed
            series_kind = "latency" if kind == "latency" else f"slippage:{parsed.unit}"
            series = self._series.get((series_kind, scope), _Series())
            end = self._regime_end(kind, scope, d.decided_at or "")
            old = _parse(kind, d.replaces)
            rows.append({
                "at": d.decided_at,
                "proposal": d.id,
                "model": p.model,
                "before": self._error(kind, old, series.between(p.evidence.window_start, d.decided_at,
                                                                include_start=True)),
                "after": self._error(kind, parsed, series.between(d.decided_at, end, include_start=False)),
            })
        return {"changes": len(rows), "before": rows[0]["before"], "after": rows[-1]["after"], "history": rows}

    def _regime_end(self, kind: str, scope: str, start: str) -> str | None:
        """The first change after `start` of the model of `scope` or, for latency, of a burst covering it."""
        later = [t for t in self._switches.get((kind, scope), ()) if t > start]
        if kind == "latency":
            covered = (None, scope, self._models.underlying_of(scope))
            later += [t for t, target in self._bursts if t > start and target in covered]
        return min(later) if later else None

    def _error(self, kind: str, cfg: Any, values: list[float]) -> dict[str, Any]:
        name = "median_ms" if kind == "latency" else "mean"
        out: dict[str, Any] = {"fills": len(values), f"model_{name}": None, f"realised_{name}": None,
                               "error": None, "error_pct": None}
        if cfg is not None:
            stats = self._stats.of("latency" if kind == "latency" else "slippage", cfg)
            model = stats.median if kind == "latency" else stats.mean
            out[f"model_{name}"] = _round(model)
        if not values or out[f"model_{name}"] is None:
            return out
        arr = np.asarray(values, dtype=np.float64)
        realised = float(np.median(arr)) if kind == "latency" else float(arr.mean())
        out[f"realised_{name}"] = _round(realised)
        error = out[f"model_{name}"] - realised
        out["error"] = _round(error)
        out["error_pct"] = round(error / abs(realised) * 100.0, 3) if realised else None
        return out


def _parse(kind: str, mapping: dict[str, Any] | None) -> Any:
    if mapping is None:
        return None
    adapter: Any = LATENCY_ADAPTER if kind == "latency" else SLIPPAGE_ADAPTER
    try:
        return adapter.validate_python(mapping)
    except ValueError:  # e.g. a historical model whose file has gone since: its figures are left out
        return None


def _round(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None
