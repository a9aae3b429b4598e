"""Live execution aggregates: rolling-window fill quality per key, updated in O(1) per telemetry record.

`LiveAggregates.add(record)` is a tracker listener: it sees every record the engine emits, on the loop thread,
right after the sink. Each record counts under three keys: "All", its `underlying` and its `asset` (the trading
symbol; a record whose asset is its underlying counts once). Figures per key and window:

* latency p50/p95/p99 in ms, from the `latency_ms` of `fill` and `partial_fill` records (a fill without a
  latency counts as a fill but adds no latency point);
* slippage mean (exact) and p95 in bps, from their `slippage_bps` (signed, adverse positive);
* fill rate = filled qty / placed qty: the units of the `fill` and `partial_fill` records in the window (each
  record's `qty` is that fill's own quantity) over the units of the `placed` records in the window (each child
  once, as sent: a retried child re-sends under the same `placed`, so retries do not inflate it). Over a rolling
  window this compares two flows, so it can pass 100% while fills of children placed before the window arrive;
  over the session it is the share of everything sent that has filled (children still working count unfilled);
* partial-fill share = partial_fill records / (fill + partial_fill records);
* counts of fills, and of `reject`, `retry` and `error` records per `error_bucket` (a parent refused by risk
  before sending is a `reject` too, with the parent's quantity; it places nothing).
Other events (ack, cancel, scenario, model_switch, parent, markout) are ignored.

How it stays O(1): time is cut into slots of `slot_s` (1 s) on the clock the engine runs on (`now`, the desk
passes `desk.clock.now`; a replay on the virtual clock aggregates deterministically). Each key keeps a ring of
slots as long as its longest finite window; a record updates the current slot of its three keys (a few counter
increments and two histogram bins), nothing else. When a key's first record of a new slot arrives, the slot it
leaves (which can no longer change) is compacted from dicts to small arrays, a few µs once per key and slot. A
slot reused after a ring's turn, or after an idle gap longer than the ring, first folds its contents into the
key's retired totals, which the session window adds back. Windows are summed when a snapshot is asked for (the UI
asks about twice a second): one pass over the ring and a few vectorised sums, O(slots × occupied bins) whatever
the number of records, cached until the next record or the next slot. Memory is bounded the same way.

A window of `w` seconds holds the last `w / slot_s` slots, the current (partly elapsed) one included, so it spans
between `w - slot_s` and `w` seconds: a record at time t stays in it until the clock reaches the start of slot
`floor(t / slot_s) + w / slot_s`.

Percentiles come from fixed log-scale histograms whose bins grow by `BIN_RATIO` (2%), reported at each bin's
geometric centre: an order statistic is off by at most sqrt(1.02) - 1 < 1% of its value, and a percentile
(numpy's default linear interpolation between the two order statistics around its rank, done the same way on the
bin centres) by at most 1% of the value plus the zero bin's width (`LATENCY_FLOOR_MS`, `SLIPPAGE_FLOOR_BPS`):
magnitudes below the floor are counted as 0. Values beyond `LATENCY_CEIL_MS` / `SLIPPAGE_CEIL_BPS` pile into the
outermost bin. Means are exact sums.

Not thread-safe: `add` and the snapshots run on the loop thread (the Qt thread under qasync).
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from imperium_desk.domain.enums import ErrorBucket

ALL: Final = "All"
DEFAULT_WINDOWS: Final = (60.0, 300.0, None)
ERROR_BUCKETS: Final = tuple(b.value for b in ErrorBucket)  # display order

BIN_RATIO: Final = 1.02
PRECISION: Final = math.sqrt(BIN_RATIO) - 1.0  # worst relative error of a binned value (0.995%)
LATENCY_FLOOR_MS: Final = 1e-3
LATENCY_CEIL_MS: Final = 1e7  # ~2.8 h
SLIPPAGE_FLOOR_BPS: Final = 1e-2
SLIPPAGE_CEIL_BPS: Final = 1e6

_INV_LOG_RATIO: Final = 1.0 / math.log(BIN_RATIO)
# Bins above the floor on one side of zero: [floor·r^k, floor·r^(k+1)) for k in 0..n-1.
_LAT_SIDE: Final = math.ceil(math.log(LATENCY_CEIL_MS / LATENCY_FLOOR_MS) * _INV_LOG_RATIO)
_SLIP_SIDE: Final = math.ceil(math.log(SLIPPAGE_CEIL_BPS / SLIPPAGE_FLOOR_BPS) * _INV_LOG_RATIO)
_LAT_BINS: Final = 1 + _LAT_SIDE  # bin 0: [0, floor) (and anything negative); bin 1 + k: the k-th log bin
_SLIP_ZERO: Final = _SLIP_SIDE  # bin of |x| < floor; positive x above it, negative below, mirrored
_SLIP_BINS: Final = 2 * _SLIP_SIDE + 1


def _centres(floor: float, side: int) -> NDArray[np.float64]:
    """Geometric centre of each log bin on one side: floor·r^(k + 1/2)."""
    return floor * BIN_RATIO ** (np.arange(side, dtype=np.float64) + 0.5)


_LAT_CENTRES: Final = np.concatenate(([0.0], _centres(LATENCY_FLOOR_MS, _LAT_SIDE)))
_SLIP_CENTRES: Final = np.concatenate(
    (-_centres(SLIPPAGE_FLOOR_BPS, _SLIP_SIDE)[::-1], [0.0], _centres(SLIPPAGE_FLOOR_BPS, _SLIP_SIDE))
)


_log = math.log
# bin = int(log(x / floor) / log(ratio)), with the division folded into one multiply-add (this runs per fill)
_LAT_OFFSET: Final = 1.0 - math.log(LATENCY_FLOOR_MS) * _INV_LOG_RATIO  # + 1: bin 0 is the zero bin
_SLIP_OFFSET: Final = -math.log(SLIPPAGE_FLOOR_BPS) * _INV_LOG_RATIO


def latency_bin(ms: float) -> int:
    """The histogram bin of a latency; -1 for NaN (not counted)."""
    if ms < LATENCY_FLOOR_MS:
        return 0  # also a negative latency, which no clock should produce
    if ms < LATENCY_CEIL_MS:
        return int(_log(ms) * _INV_LOG_RATIO + _LAT_OFFSET)
    return -1 if math.isnan(ms) else _LAT_SIDE


def slippage_bin(bps: float) -> int:
    """The histogram bin of a slippage; -1 for NaN (not counted)."""
    if bps >= SLIPPAGE_FLOOR_BPS:
        return _SLIP_ZERO + 1 + (int(_log(bps) * _INV_LOG_RATIO + _SLIP_OFFSET) if bps < SLIPPAGE_CEIL_BPS
                                 else _SLIP_SIDE - 1)
    if bps <= -SLIPPAGE_FLOOR_BPS:
        return _SLIP_ZERO - 1 - (int(_log(-bps) * _INV_LOG_RATIO + _SLIP_OFFSET) if bps > -SLIPPAGE_CEIL_BPS
                                 else _SLIP_SIDE - 1)
    return -1 if math.isnan(bps) else _SLIP_ZERO


def binned_percentiles(
    counts: NDArray[np.float64], centres: NDArray[np.float64], q: tuple[float, ...]
) -> tuple[float, ...]:
    """numpy's default (linear) percentiles of the binned sample, each order statistic taken as its bin centre."""
    n = int(counts.sum())
    if n == 0:
        return tuple(math.nan for _ in q)
    h = (n - 1) * np.asarray(q, dtype=np.float64) / 100.0
    lo = np.floor(h)
    ranks = np.concatenate((lo, np.minimum(lo + 1.0, n - 1)))
    bins = np.searchsorted(np.cumsum(counts), ranks, side="right")
    below, above = centres[bins[: len(q)]], centres[bins[len(q):]]
    return tuple(float(v) for v in below + (h - lo) * (above - below))


# -- per-slot state -----------------------------------------------------------------------------------------
_FILL, _PARTIAL, _PLACED, _ERROR, _RETRY, _REJECT = range(6)  # fills first: one compare picks them
_KINDS: Final[dict[Any, int]] = {
    "placed": _PLACED, "fill": _FILL, "partial_fill": _PARTIAL, "error": _ERROR, "retry": _RETRY, "reject": _REJECT,
}
_SCALARS: Final = 6  # placed, placed_qty, fills, partials, filled_qty, slippage_sum


@dataclass(frozen=True, slots=True)
class _Parts:
    """A slot's contents compacted: each histogram sparse as packed uint32 (bin, count) pairs, the counts and sums
    as a tuple (`_SCALARS` order)."""

    scalars: tuple[float, ...]
    latency: bytes
    slippage: bytes
    errors: dict[str, int]
    retries: dict[str, int]
    rejects: dict[str, int]


_U32: Final = next(code for code in "IL" if array(code).itemsize == 4)  # np.uint32's twin in the array module


def _sparse(hist: dict[int, int]) -> bytes:
    # 8 bytes a bin against ~75 in the dict, and one small object rather than numpy arrays (~100 bytes of header
    # each): a key's 300 slots are held for 5 minutes
    return array(_U32, chain.from_iterable(hist.items())).tobytes()


def _pairs(packed: list[bytes]) -> NDArray[np.uint32]:
    """Many slots' packed (bin, count) pairs as one n x 2 array."""
    return np.frombuffer(b"".join(packed), dtype=np.uint32).reshape(-1, 2)


class _Slot:
    """What one key saw in one slot. Written only while it is the clock's current slot; once the clock has moved
    on it never changes, so it is compacted once (`parts`), when the key's next slot opens or a snapshot finds it
    complete, whichever comes first."""

    __slots__ = ("errors", "filled_qty", "fills", "frozen", "index", "latency", "partials", "placed",
                 "placed_qty", "rejects", "retries", "slippage", "slippage_sum")

    def __init__(self, index: int) -> None:
        self.index = index
        self.placed = 0
        self.placed_qty = 0
        self.fills = 0
        self.partials = 0
        self.filled_qty = 0
        self.slippage_sum = 0.0
        # bin -> count: sparse, a slot touches few bins (defaultdict: `+= 1` costs less than get-and-set)
        self.latency: defaultdict[int, int] = defaultdict(int)
        self.slippage: defaultdict[int, int] = defaultdict(int)
        self.errors: dict[str, int] = {}  # error_bucket -> count
        self.retries: dict[str, int] = {}
        self.rejects: dict[str, int] = {}
        self.frozen: _Parts | None = None

    def parts(self, complete: bool) -> _Parts:
        """The contents compacted; a `complete` slot (the clock is past it) keeps them and drops its dicts."""
        if self.frozen is not None:
            return self.frozen
        parts = _Parts(
            (self.placed, self.placed_qty, self.fills, self.partials, self.filled_qty, self.slippage_sum),
            _sparse(self.latency), _sparse(self.slippage), self.errors, self.retries, self.rejects,
        )
        if complete:
            self.frozen = parts
            self.latency.clear()  # the arrays hold them now
            self.slippage.clear()
        return parts

    def reset(self, index: int) -> None:
        self.index = index
        self.placed = self.placed_qty = self.fills = self.partials = self.filled_qty = 0
        self.slippage_sum = 0.0
        self.latency.clear()
        self.slippage.clear()
        self.errors, self.retries, self.rejects = {}, {}, {}  # new dicts: the frozen parts may still hold the old
        self.frozen = None


class _Totals:
    """Summed contents of many slots, dense: what a view is made from."""

    __slots__ = ("errors", "latency", "rejects", "retries", "scalars", "slippage")

    def __init__(self) -> None:
        self.scalars = np.zeros(_SCALARS)
        self.latency = np.zeros(_LAT_BINS)
        self.slippage = np.zeros(_SLIP_BINS)
        self.errors: dict[str, int] = {}
        self.retries: dict[str, int] = {}
        self.rejects: dict[str, int] = {}

    def add(self, parts: list[_Parts]) -> None:
        """Add many slots with a few vectorised calls (a per-slot numpy call would cost more than the data)."""
        if not parts:
            return
        self.scalars += np.sum([p.scalars for p in parts], axis=0)
        latency = _pairs([p.latency for p in parts])
        self.latency += np.bincount(latency[:, 0], latency[:, 1], _LAT_BINS)
        slippage = _pairs([p.slippage for p in parts])
        self.slippage += np.bincount(slippage[:, 0], slippage[:, 1], _SLIP_BINS)
        for p in parts:
            if p.errors or p.retries or p.rejects:  # most slots have none
                for mine, theirs in ((p.errors, self.errors), (p.retries, self.retries), (p.rejects, self.rejects)):
                    for bucket, count in mine.items():
                        theirs[bucket] = theirs.get(bucket, 0) + count

    def copy(self) -> _Totals:
        twin = _Totals.__new__(_Totals)
        twin.scalars, twin.latency, twin.slippage = self.scalars.copy(), self.latency.copy(), self.slippage.copy()
        twin.errors, twin.retries, twin.rejects = dict(self.errors), dict(self.retries), dict(self.rejects)
        return twin

    def add_totals(self, other: _Totals) -> None:
        self.scalars += other.scalars
        self.latency += other.latency
        self.slippage += other.slippage
        for mine, theirs in ((other.errors, self.errors), (other.retries, self.retries),
                             (other.rejects, self.rejects)):
            for bucket, count in mine.items():
                theirs[bucket] = theirs.get(bucket, 0) + count


class _KeyState:
    __slots__ = ("base", "base_at", "cache", "cache_at", "current", "key", "retired", "ring")

    def __init__(self, key: str, ring: int) -> None:
        self.key = key
        self.ring: list[_Slot | None] = [None] * ring
        self.current = _Slot(-(2**62))  # a placeholder until the first record; never in the ring
        self.retired = _Totals()  # every slot the ring has let go: the session adds it back
        self.cache: tuple[AggregateView, ...] | None = None
        self.cache_at = (-1, -1)
        # The complete slots' totals per window (narrowest first, the session last), as of slot `base_at`: until
        # the clock enters the next slot only the current slot changes, so a snapshot adds just that one.
        self.base: list[_Totals] = []
        self.base_at = -1

    def slot(self, index: int) -> _Slot:
        """The slot for `index` (the clock's current slot), taking over its ring position."""
        # The slot the clock just left is complete: compact it now (a few us, once per key and slot), so a ring
        # holds arrays rather than dicts whether or not anyone looks at this key.
        self.current.parts(complete=True)
        pos = index % len(self.ring)
        slot = self.ring[pos]
        if slot is None:
            slot = self.ring[pos] = _Slot(index)
        elif slot.index != index:  # a turn of the ring (or an idle gap) ago: into the session totals first
            self.retired.add([slot.parts(complete=True)])
            slot.reset(index)
        self.current = slot
        return slot


# -- snapshots ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AggregateView:
    """One key's figures over one window (`window_s` None = the session). NaN where there is no data."""

    key: str
    window_s: float | None
    placed: int  # children placed
    placed_qty: int
    fills: int  # fill + partial_fill records
    partial_fills: int
    filled_qty: int
    fill_rate: float  # filled_qty / placed_qty (see the module docstring); NaN when nothing was placed
    partial_share: float  # partial_fills / fills; NaN without fills
    latency_n: int  # fills that carried a latency
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    slippage_n: int
    slippage_mean_bps: float
    slippage_p95_bps: float
    errors: Mapping[str, int]  # error_bucket -> count; only buckets seen, in `ERROR_BUCKETS` order
    retries: Mapping[str, int]
    rejects: Mapping[str, int]

    @property
    def errors_total(self) -> int:
        return sum(self.errors.values())

    @property
    def retries_total(self) -> int:
        return sum(self.retries.values())

    @property
    def rejects_total(self) -> int:
        return sum(self.rejects.values())

    @classmethod
    def empty(cls, key: str, window_s: float | None) -> AggregateView:
        return _view(key, window_s, _Totals())


_EMPTY_COUNTS: Final[Mapping[str, int]] = MappingProxyType({})
_BUCKET_ORDER: Final = {b: i for i, b in enumerate(ERROR_BUCKETS)}


def _buckets(counts: dict[str, int]) -> Mapping[str, int]:
    if not counts:
        return _EMPTY_COUNTS
    ordered = sorted(counts, key=lambda k: (_BUCKET_ORDER.get(k, len(_BUCKET_ORDER)), k))
    return MappingProxyType({k: counts[k] for k in ordered})


def _view(key: str, window_s: float | None, totals: _Totals) -> AggregateView:
    nan = math.nan
    placed, placed_qty, fills, partials, filled_qty, slippage_sum = totals.scalars.tolist()
    p50, p95, p99 = binned_percentiles(totals.latency, _LAT_CENTRES, (50.0, 95.0, 99.0))
    (slip95,) = binned_percentiles(totals.slippage, _SLIP_CENTRES, (95.0,))
    latency_n, slippage_n = int(totals.latency.sum()), int(totals.slippage.sum())
    return AggregateView(
        key=key,
        window_s=window_s,
        placed=int(placed),
        placed_qty=int(placed_qty),
        fills=int(fills),
        partial_fills=int(partials),
        filled_qty=int(filled_qty),
        fill_rate=filled_qty / placed_qty if placed_qty else nan,
        partial_share=partials / fills if fills else nan,
        latency_n=latency_n,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        slippage_n=slippage_n,
        slippage_mean_bps=slippage_sum / slippage_n if slippage_n else nan,
        slippage_p95_bps=slip95,
        errors=_buckets(totals.errors),
        retries=_buckets(totals.retries),
        rejects=_buckets(totals.rejects),
    )


# -- the aggregator -------------------------------------------------------------------------------------------
class LiveAggregates:
    """Rolling-window execution figures per key ("All", underlyings, symbols); see the module docstring.

    `add(record)` is the tracker listener; `snapshot(key, window_s)` one window's figures, `views(key)` every
    window's (in `windows_s` order), `keys()` the keys seen so far.
    """

    def __init__(
        self,
        now: Callable[[], float],
        windows_s: tuple[float | None, ...] = DEFAULT_WINDOWS,
        *,
        slot_s: float = 1.0,
    ) -> None:
        if not (math.isfinite(slot_s) and slot_s > 0):
            raise ValueError(f"slot_s: {slot_s} must be a positive number of seconds")
        if not windows_s:
            raise ValueError("windows_s: give at least one window (None = the session)")
        if len(set(windows_s)) != len(windows_s):
            raise ValueError(f"windows_s: {windows_s} lists a window twice")
        slots: list[int] = []
        for w in windows_s:
            if w is None:
                continue
            n = round(w / slot_s) if math.isfinite(w) else 0
            if n < 1 or not math.isclose(n * slot_s, w, rel_tol=1e-9):
                raise ValueError(f"windows_s: {w} must be a positive whole number of {slot_s} s slots (or None)")
            slots.append(n)
        self._now = now
        self.slot_s = slot_s
        self.windows_s = tuple(windows_s)
        self._window_slots = {w: n for w, n in zip((w for w in windows_s if w is not None), slots, strict=True)}
        self._ring = max(slots, default=1)
        self._last_slot = -(2**62)  # records and snapshots never go below it (see `add`)
        self._records = 0  # records counted: with the slot, what a cached snapshot is valid for
        self._states: dict[str, _KeyState] = {ALL: _KeyState(ALL, self._ring)}
        self._routes: dict[Any, tuple[_KeyState, ...]] = {}
        self._symbols: dict[str, list[str]] = {}  # underlying -> its symbols seen, in order seen
        self._underlying_of: dict[str, str] = {}

    # -- feeding (the hot path) ------------------------------------------------------------------------------
    def add(self, record: Mapping[str, Any]) -> None:
        """Count one telemetry record (any event; those not aggregated are ignored)."""
        kind = _KINDS.get(record.get("event"))
        if kind is None:
            return
        index = int(self._now() // self.slot_s)
        if index < self._last_slot:  # a clock never runs back, but a slot a snapshot has frozen must not reopen
            index = self._last_slot
        else:
            self._last_slot = index
        self._records += 1
        asset = record.get("asset")
        route = self._routes.get(asset)
        if route is None:
            route = self._route(asset, record.get("underlying"))
        if kind <= _PARTIAL:
            qty = record.get("qty") or 0
            latency = record.get("latency_ms")
            lb = -1 if latency is None else latency_bin(latency)
            bps = record.get("slippage_bps")
            sb = -1 if bps is None else slippage_bin(bps)  # a NaN (-1) is counted as a fill without a value
            partial = kind == _PARTIAL
            for state in route:
                slot = state.current
                if slot.index != index:
                    slot = state.slot(index)
                slot.fills += 1
                slot.filled_qty += qty
                if partial:
                    slot.partials += 1
                if lb >= 0:
                    slot.latency[lb] += 1
                if sb >= 0:
                    slot.slippage[sb] += 1
                    slot.slippage_sum += bps  # type: ignore[operator]  # sb >= 0 means bps is a number
        elif kind == _PLACED:
            qty = record.get("qty") or 0
            for state in route:
                slot = state.current
                if slot.index != index:
                    slot = state.slot(index)
                slot.placed += 1
                slot.placed_qty += qty
        else:
            bucket = record.get("error_bucket") or "unknown"
            for state in route:
                slot = state.current
                if slot.index != index:
                    slot = state.slot(index)
                counts = slot.errors if kind == _ERROR else slot.retries if kind == _RETRY else slot.rejects
                counts[bucket] = counts.get(bucket, 0) + 1

    def _route(self, asset: Any, underlying: Any) -> tuple[_KeyState, ...]:
        """The keys a record of `asset` counts under (cached: one dict hit per record after the first)."""
        states = [self._states[ALL]]
        if isinstance(underlying, str) and underlying:
            states.append(self._state(underlying))
            self._symbols.setdefault(underlying, [])
        if isinstance(asset, str) and asset and asset != underlying:
            states.append(self._state(asset))
            if isinstance(underlying, str) and underlying and asset not in self._underlying_of:
                self._underlying_of[asset] = underlying
                self._symbols[underlying].append(asset)
        route = tuple(states)
        if isinstance(asset, str) and asset:  # a record without an asset is routed by its underlying, uncached
            self._routes[asset] = route
        return route

    def _state(self, key: str) -> _KeyState:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _KeyState(key, self._ring)
        return state

    # -- reading ---------------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """"All", then each underlying seen followed by its symbols (sorted), then symbols without one."""
        keys = [ALL]
        for underlying, symbols in self._symbols.items():
            keys.append(underlying)
            keys += sorted(symbols)
        keys += sorted(k for k in self._states if k not in keys)
        return keys

    def underlying_of(self, key: str) -> str | None:
        """The underlying of a symbol key; None for "All", an underlying, or a key not seen."""
        return self._underlying_of.get(key)

    def snapshot(self, key: str = ALL, window_s: float | None = 60.0) -> AggregateView:
        """One window's figures for `key` (an empty view, NaN figures, for a key with no records yet)."""
        if window_s not in self.windows_s:
            raise ValueError(f"window_s: {window_s} is not one of the configured windows {self.windows_s}")
        return self.views(key)[self.windows_s.index(window_s)]

    def views(self, key: str = ALL) -> tuple[AggregateView, ...]:
        """Every window's figures for `key`, in `windows_s` order (one pass over the key's ring)."""
        state = self._states.get(key)
        if state is None:
            return tuple(AggregateView.empty(key, w) for w in self.windows_s)
        now = max(int(self._now() // self.slot_s), self._last_slot)
        self._last_slot = now  # the slots before `now` are frozen below: later records go to `now` or after
        if state.cache is not None and state.cache_at == (self._records, now):
            return state.cache
        views = self._compute(state, now)
        state.cache, state.cache_at = views, (self._records, now)
        return views

    def _compute(self, state: _KeyState, now: int) -> tuple[AggregateView, ...]:
        order = [*sorted(self._window_slots, key=self._window_slots.__getitem__), None]  # narrowest first
        if state.base_at != now:
            state.base, state.base_at = self._complete_totals(state, now), now
        current = state.current
        extra = [current.parts(complete=False)] if current.index == now else []
        by_window: dict[float | None, AggregateView] = {}
        for window, base in zip(order, state.base, strict=True):
            totals = base
            if extra:
                totals = base.copy()
                totals.add(extra)
            by_window[window] = _view(state.key, window, totals)
        return tuple(by_window[w] for w in self.windows_s)

    def _complete_totals(self, state: _KeyState, now: int) -> list[_Totals]:
        """Cumulative totals of the complete slots (before `now`) per window, narrowest first, the session last.
        Each slot goes to the narrowest window holding it (by age) and the groups are totalled from the narrowest
        out, so each slot is read once whatever the number of windows."""
        limits = sorted(self._window_slots.values())
        groups: list[list[_Parts]] = [[] for _ in range(len(limits) + 1)]  # the last: the session only
        for slot in state.ring:
            if slot is None or slot.index >= now:
                continue
            age = now - slot.index
            parts = slot.parts(complete=True)
            for i, n in enumerate(limits):
                if age < n:
                    groups[i].append(parts)
                    break
            else:
                groups[-1].append(parts)
        cumulative: list[_Totals] = []
        totals = _Totals()
        for group in groups[:-1]:
            totals.add(group)
            cumulative.append(totals.copy())
        totals.add(groups[-1])
        totals.add_totals(state.retired)  # a slot moving from the ring to `retired` leaves the session unchanged
        cumulative.append(totals)
        return cumulative
