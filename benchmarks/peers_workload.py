"""The workload `benchmarks.peers` runs on every engine, defined once so each engine reads the same numbers.

One option quoted near 100 with a 0.10 spread every 100 ms; P parents of 20 NIFTY lots, alternating buy/sell, one
every 10 s; each parent a TWAP of 10 MARKET children one second apart; order latency normal 50±10 ms; a lognormal
slippage draw (median 1 bp, sigma 0.5) on every fill; every fill recorded. This engine simulates its own market;
the peers replay `quote_series`, a seeded random walk with the same shape.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson
import yaml
from numpy.typing import NDArray
from scipy.signal import lfilter

from imperium_desk.market.config import default_instruments_path

# Where the simulated market starts by default (09:15 IST): the peers' quotes carry the same dates.
START = datetime(2026, 11, 23, 3, 45, tzinfo=UTC)
NS_PER_S = 1_000_000_000
# The walk: AR(1) in price, one step per quote, pulled back to `mid` so a 28-hour run stays near 100
# (stationary deviation 0.02 / sqrt(1 - 0.9999^2) ~ 1.4); prices on the 0.05 tick grid.
WALK_STEP = 0.02
WALK_PULL = 1e-4


def nifty_lot_size() -> int:
    """NIFTY's lot size from `imperium_desk/configs/instruments.yaml`, the file this engine's catalog reads."""
    raw = yaml.safe_load(default_instruments_path().read_text(encoding="utf-8"))
    return int(raw["underlyings"]["NIFTY"]["lot_size"])


@dataclass(frozen=True)
class Workload:
    """Every number of the side-by-side workload; `to_json`/`from_json` carry it to each engine's process."""

    parents: int
    lot_size: int
    lots: int = 20
    parent_spacing_s: float = 10.0
    children: int = 10
    child_spacing_s: float = 1.0
    quote_interval_ms: int = 100
    mid: float = 100.0
    spread: float = 0.10
    tick: float = 0.05
    latency_mean_ms: float = 50.0
    latency_std_ms: float = 10.0
    slippage_median_bps: float = 1.0
    slippage_sigma: float = 0.5
    seed: int = 11

    def __post_init__(self) -> None:
        if self.parents < 1:
            raise ValueError(f"parents must be >= 1, got {self.parents}")
        if self.lots % self.children:
            raise ValueError(f"lots {self.lots} do not split into {self.children} equal children")

    @property
    def parent_qty(self) -> int:
        return self.lots * self.lot_size

    @property
    def child_qty(self) -> int:
        return self.parent_qty // self.children

    @property
    def total_children(self) -> int:
        return self.parents * self.children

    @property
    def horizon_s(self) -> float:
        return self.children * self.child_spacing_s

    @property
    def last_parent_s(self) -> float:
        return (self.parents - 1) * self.parent_spacing_s

    @property
    def span_s(self) -> float:
        """From the first parent to the end of the last one's horizon, plus a second for its last child's fill."""
        return self.last_parent_s + self.horizon_s + 1.0

    @property
    def start_ns(self) -> int:
        return int(START.timestamp()) * NS_PER_S

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Workload:
        return cls(**orjson.loads(text))


@dataclass(frozen=True)
class QuoteSeries:
    """Quotes at fixed steps: `ts_ns` (epoch ns), `bid` and `ask` on the tick grid, `ask - bid` = the spread."""

    ts_ns: NDArray[np.int64]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]

    @property
    def mid(self) -> NDArray[np.float64]:
        return np.asarray((self.bid + self.ask) / 2)


def quote_series(w: Workload) -> QuoteSeries:
    """The peers' quotes: a seeded walk around `w.mid`, one quote every `w.quote_interval_ms` over `w.span_s`.
    Same workload, same arrays (the seed alone decides them)."""
    step_ns = w.quote_interval_ms * 1_000_000
    count = math.ceil(w.span_s * NS_PER_S / step_ns) + 1
    shocks = np.random.default_rng(w.seed).normal(0.0, WALK_STEP, count)
    walk = lfilter([1.0], [1.0, -(1.0 - WALK_PULL)], shocks)
    ticks = np.round((w.mid + walk) / w.tick)
    half_ticks = round(w.spread / w.tick) / 2
    bid = np.round((ticks - math.floor(half_ticks)) * w.tick, 2)
    ask = np.round((ticks + math.ceil(half_ticks)) * w.tick, 2)
    ts = w.start_ns + np.arange(count, dtype=np.int64) * step_ns
    return QuoteSeries(ts, bid, ask)


@dataclass(frozen=True)
class ChildSchedule:
    """When each child is due (`t_s`, seconds from the first parent), its side (`buy`) and its parent."""

    t_s: NDArray[np.float64]
    buy: NDArray[np.bool_]
    parent: NDArray[np.int64]


def child_schedule(w: Workload) -> ChildSchedule:
    """Parent i at i * spacing (buy when i is even), its children at its time + j * child spacing, in time order."""
    parent = np.repeat(np.arange(w.parents, dtype=np.int64), w.children)
    j = np.tile(np.arange(w.children, dtype=np.float64), w.parents)
    t = parent * w.parent_spacing_s + j * w.child_spacing_s
    order = np.argsort(t, kind="stable")
    return ChildSchedule(t[order], (parent % 2 == 0)[order], parent[order])


def slippage_bps(w: Workload, gen: np.random.Generator) -> float:
    """One slippage draw, in basis points against the taker (lognormal, as this engine's `slippage_model`)."""
    return w.slippage_median_bps * math.exp(gen.normal(0.0, w.slippage_sigma))


class FillLog:
    """The peers' telemetry: one JSON line per child fill (child, time ns, side, quantity, price) appended to a real
    file, through a buffered writer flushed by `close`. Single-threaded, like the engines it records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: BinaryIO = path.open("wb")

    def write(self, child: int | str, ts_ns: int, side: str, qty: float, price: float) -> None:
        self._file.write(orjson.dumps({"child": child, "ts_ns": ts_ns, "side": side, "qty": qty, "price": price}))
        self._file.write(b"\n")
        self.count += 1

    def close(self) -> int:
        """Flushes and closes; returns the file's size in bytes."""
        self._file.close()
        return self.path.stat().st_size


def run_info(w: Workload, fills: int, wall_s: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The figures every engine reports, in the same shape."""
    import resource

    return {
        "parents": w.parents,
        "children": w.total_children,
        "child_fills": fills,
        "wall_s": round(wall_s, 3),
        "child_fills_per_s": round(fills / wall_s) if wall_s > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **extra,
    }
