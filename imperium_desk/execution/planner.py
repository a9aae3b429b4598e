"""Execution-algorithm planner: turns a parent order into child orders.

Static schedules (IMMEDIATE, TWAP, VWAP, IS) are planned up front by `ExecutionAlgoPlanner.plan`. POV
depends on the volume the market actually trades, so `ExecutionAlgoPlanner.pov` returns a `PovSchedule`
that sizes each child when its check comes round.

Every static schedule is built the same way, so the invariants live in one place:

1. child count `n` and start times on a grid over the horizon (jittered when randomised);
2. one target weight per child -- the only part that differs between algorithms;
3. whole lots allocated from the weights by the largest-remainder method, so the slices always sum
   exactly to the parent;
4. the exchange freeze cap enforced by moving overflow lots to the earliest children with room;
5. zero-lot children dropped and the survivors renumbered 0..k-1.

Freeze cap vs `max_child_orders`: the exchange rejects any order above the freeze quantity, whereas
`max_child_orders` is a preference, so the freeze cap wins: `n >= ceil(lots / cap_lots)` always, even
when that exceeds `max_child_orders` (and IMMEDIATE sends exactly that many slices).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Final

import numpy as np
import numpy.typing as npt

from imperium_desk.domain.enums import Algo, Urgency

FloatArray = npt.NDArray[np.float64]

SESSION_SECONDS: Final = 22_500.0  # NSE/BSE continuous session, 09:15-15:30 IST

# Relative traded volume per 15-minute bucket of the session. A stylised U-shape (the opening auction
# spill-over and the closing VWAP/settlement window carry two to three times the midday rate); pass a
# measured profile to `ExecutionAlgoPlanner` when one is available.
DEFAULT_VWAP_PROFILE: Final[tuple[float, ...]] = (
    2.60, 1.85, 1.45, 1.25, 1.10, 1.00, 0.92, 0.86, 0.82, 0.78, 0.75, 0.73, 0.72,
    0.72, 0.73, 0.75, 0.78, 0.82, 0.87, 0.93, 1.00, 1.10, 1.25, 1.50, 2.10,
)  # fmt: skip

# Almgren-Chriss urgency as the dimensionless kappa*T, kappa = sqrt(risk_aversion * sigma^2 / eta).
# 0.5 is close to a straight line (TWAP-like); 2.0 sends about a fifth of the parent in the first tenth
# of the horizon; 5.0 sends about two fifths there and almost all of it in the first half.
URGENCY_KAPPA_T: Final[Mapping[Urgency, float]] = {
    Urgency.LOW: 0.5,
    Urgency.NORMAL: 2.0,
    Urgency.HIGH: 5.0,
}

WEIGHT_JITTER: Final = (0.8, 1.2)  # randomised target weights are scaled by a factor in this range
TIME_JITTER: Final = 0.10  # randomised child times move by up to this share of one slice interval
MAX_POV_CHECKS: Final = 1_000_000  # a finer pov_interval_s is a config mistake, not a schedule

# Lot flooring tolerates float representation error (0.3 * 200 = 59.999...) so a due lot is not
# carried forward to the next check for no reason.
_LOT_EPSILON: Final = 1e-9
_PLAN_CACHE_SIZE: Final = 1024  # distinct deterministic schedules kept (cleared when full)


@dataclass(slots=True)
class PlannedChild:
    """One slice of a parent's schedule: send `qty` units (whole lots, > 0) `offset_s` seconds after the parent starts.
    A plan, not an order: when its time comes the stack adds what earlier children left unfilled and caps the sum at
    the freeze quantity. A static plan numbers its children 0..k-1 in time order and their quantities sum exactly to
    the parent's; a `PovSchedule` makes one per check that has volume due.
    """

    # Not frozen: a frozen dataclass's __init__ costs ~3x more, and one is built per child on the hot path.
    index: int  # 0-based
    offset_s: float  # seconds after the parent starts
    qty: int  # units (a multiple of lot_size)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A parent order as the planner sees it. Validated on construction (ValueError naming the field)."""

    algo: Algo
    quantity: int  # units, a positive multiple of lot_size
    lot_size: int
    max_child_qty: int  # freeze cap in units (a multiple of lot_size, >= lot_size)
    max_child_orders: int  # >= 1
    horizon_s: float  # > 0
    urgency: Urgency
    randomize: bool
    participation_rate: float  # POV only, in (0, 1]
    session_offset_s: float = 0.0  # seconds since the session open (09:15 IST) at parent start; VWAP uses it
    pov_interval_s: float = 1.0  # POV: how often it sizes a child

    def __post_init__(self) -> None:
        # Fast path first: the stack builds these from validated config on the hot path (~1 µs here, ~10 µs
        # through the general normalisation below).
        if not _plain(self):
            _normalise(self)
        lot, quantity, cap = self.lot_size, self.quantity, self.max_child_qty
        if lot <= 0:
            raise ValueError(f"lot_size must be a positive integer, got {lot}")
        if quantity <= 0 or quantity % lot:
            raise ValueError(f"quantity must be a positive multiple of lot_size {lot}, got {quantity}")
        if cap <= 0 or cap % lot:
            raise ValueError(f"max_child_qty must be a positive multiple of lot_size {lot}, got {cap}")
        if self.max_child_orders < 1:
            raise ValueError(f"max_child_orders must be >= 1, got {self.max_child_orders}")
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s}")
        if not 0 < self.participation_rate <= 1:
            raise ValueError(f"participation_rate must be in (0, 1], got {self.participation_rate}")
        if not self.pov_interval_s > 0:
            raise ValueError(f"pov_interval_s must be > 0, got {self.pov_interval_s}")

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_size

    @property
    def cap_lots(self) -> int:
        return self.max_child_qty // self.lot_size


_INT_FIELDS: Final = ("lot_size", "quantity", "max_child_qty", "max_child_orders")
_FLOAT_FIELDS: Final = ("horizon_s", "participation_rate", "session_offset_s", "pov_interval_s")


def _plain(req: PlanRequest) -> bool:
    """Exactly the plain Python types a validated caller passes (no numpy scalars, strings or bools). Spelled out
    field by field: it runs once per parent, and generators over the field names cost several times more."""
    isfinite = math.isfinite
    return (
        type(req.algo) is Algo
        and type(req.urgency) is Urgency
        and type(req.randomize) is bool
        and type(req.lot_size) is int
        and type(req.quantity) is int
        and type(req.max_child_qty) is int
        and type(req.max_child_orders) is int
        and type(req.horizon_s) is float and isfinite(req.horizon_s)
        and type(req.participation_rate) is float and isfinite(req.participation_rate)
        and type(req.session_offset_s) is float and isfinite(req.session_offset_s)
        and type(req.pov_interval_s) is float and isfinite(req.pov_interval_s)
    )


def _normalise(req: PlanRequest) -> None:
    """Convert string enums and numpy numbers to plain types, naming the field when one cannot be."""
    _set(req, "algo", _enum_field("algo", req.algo, Algo))
    _set(req, "urgency", _enum_field("urgency", req.urgency, Urgency))
    for name in _INT_FIELDS:
        _set(req, name, _int_field(name, getattr(req, name)))
    for name in _FLOAT_FIELDS:
        _set(req, name, _float_field(name, getattr(req, name)))
    # Store plain Python values: numpy scalars from config arrays would leak into every child record.
    _set(req, "randomize", bool(req.randomize))


def _set(req: PlanRequest, name: str, value: object) -> None:
    # Normalising a frozen dataclass field in __post_init__ is the documented use of object.__setattr__.
    object.__setattr__(req, name, value)


def _enum_field[E: (Algo, Urgency)](name: str, value: object, kind: type[E]) -> E:
    try:
        return kind(value if isinstance(value, str) else repr(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}") from None


def _int_field(name: str, value: object) -> int:
    # bool is an int subclass, and a float quantity means the caller mixed up lots and units somewhere.
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _float_field(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class ExecutionAlgoPlanner:
    """Plans child orders for a parent. Draws randomness only from the generator it is given."""

    def __init__(self, rng: np.random.Generator, vwap_profile: Sequence[float] | None = None) -> None:
        self._rng = rng
        self._profile = _validated_profile(DEFAULT_VWAP_PROFILE if vwap_profile is None else vwap_profile)
        self._bucket_s = SESSION_SECONDS / len(self._profile)
        self._knots = np.arange(len(self._profile) + 1, dtype=np.float64) * self._bucket_s
        self._cum_volume_at_knots = np.concatenate(([0.0], np.cumsum(self._profile)))
        self._profile_list: list[float] = self._profile.tolist()
        self._cum_list: list[float] = self._cum_volume_at_knots.tolist()
        self._plans: dict[tuple[Hashable, ...], list[PlannedChild]] = {}  # deterministic schedules, by request shape

    @property
    def vwap_profile(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self._profile)

    def plan(self, req: PlanRequest) -> list[PlannedChild]:
        """The child schedule of a static algorithm (IMMEDIATE, IS, TWAP, VWAP). The `PlannedChild`s may be shared
        with other plans: read them, do not change them."""
        if req.algo is Algo.POV:
            raise ValueError("algo POV has no static schedule: use ExecutionAlgoPlanner.pov()")
        if req.randomize or req.algo is Algo.VWAP:
            return self._plan(req)
        # Without randomisation a schedule draws nothing and (but for VWAP, which reads the time of day) depends on
        # the order's size and shape alone: a replay's thousands of identical parents share one.
        key = (req.algo, req.quantity, req.lot_size, req.max_child_qty, req.max_child_orders, req.horizon_s,
               req.urgency)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[key] = self._plan(req)
        return list(plan)

    def _plan(self, req: PlanRequest) -> list[PlannedChild]:
        n = _child_count(req)
        if n == 1:
            return [PlannedChild(index=0, offset_s=0.0, qty=req.quantity)]
        # Plain lists, not numpy: schedules are a few to a few hundred children, where numpy's per-call
        # overhead costs more than the arithmetic (this is on the execute() hot path).
        # Times are drawn before weights so VWAP and IS weigh the intervals the children really cover.
        times = self._child_times(req, n)
        weights = self._target_weights(req, times)
        if req.randomize:
            jitter = self._rng.uniform(*WEIGHT_JITTER, size=n).tolist()
            weights = [w * j for w, j in zip(weights, jitter, strict=True)]
        lots = _allocate_lots(weights, req.lots, req.cap_lots)
        return _children(times, lots, req.lot_size)

    def pov(self, req: PlanRequest) -> PovSchedule:
        """The volume-driven schedule of a POV parent."""
        if req.algo is not Algo.POV:
            raise ValueError(f"algo {req.algo.value} is static: use ExecutionAlgoPlanner.plan()")
        return PovSchedule(req)

    def _child_times(self, req: PlanRequest, n: int) -> list[float]:
        if req.algo is Algo.IMMEDIATE:
            return [0.0] * n
        interval = req.horizon_s / n
        times = [i * interval for i in range(n)]
        if req.randomize and n > 1:
            # The first child stays at 0: the parent's arrival price is the benchmark for the whole schedule.
            jitter = self._rng.uniform(-TIME_JITTER, TIME_JITTER, size=n - 1).tolist()
            times[1:] = [t + j * interval for t, j in zip(times[1:], jitter, strict=True)]
        # Jitter is under half an interval so order is kept; clipping only guards float edge cases.
        last = math.nextafter(req.horizon_s, 0.0)
        return sorted(min(max(t, 0.0), last) for t in times)

    def _target_weights(self, req: PlanRequest, times: list[float]) -> list[float]:
        bounds = [*times, req.horizon_s]
        if req.algo is Algo.VWAP:
            return self._vwap_weights([req.session_offset_s + b for b in bounds])
        if req.algo is Algo.IS:
            return _is_weights([b / req.horizon_s for b in bounds], URGENCY_KAPPA_T[req.urgency])
        return [1.0] * len(times)

    def _vwap_weights(self, session_bounds: list[float]) -> list[float]:
        cum = [self._cumulative_volume(t) for t in session_bounds]
        weights = [b - a for a, b in itertools.pairwise(cum)]
        # A profile with empty buckets can give a window no expected volume at all; trade it evenly then.
        return weights if sum(weights) > 0 else [1.0] * len(weights)

    def _cumulative_volume(self, t: float) -> float:
        """Expected volume from the open to session time t; outside the session the edge buckets go on."""
        profile, bucket = self._profile_list, self._bucket_s
        if t <= 0.0:
            return t * profile[0] / bucket
        if t >= SESSION_SECONDS:
            return self._cum_list[-1] + (t - SESSION_SECONDS) * profile[-1] / bucket
        k = min(int(t // bucket), len(profile) - 1)
        return self._cum_list[k] + (t - k * bucket) * profile[k] / bucket


def _validated_profile(profile: Sequence[float]) -> FloatArray:
    values = np.asarray(list(profile), dtype=np.float64)
    if values.size == 0:
        raise ValueError("vwap_profile must not be empty")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"vwap_profile values must be finite, got {list(profile)}")
    if np.any(values < 0):
        raise ValueError(f"vwap_profile values must be >= 0, got {list(profile)}")
    if values.sum() <= 0:
        raise ValueError("vwap_profile must have a positive sum")
    return values


def _child_count(req: PlanRequest) -> int:
    freeze_minimum = -(-req.lots // req.cap_lots)
    if req.algo is Algo.IMMEDIATE:
        return freeze_minimum
    # The freeze cap wins over max_child_orders: the exchange rejects an order above the freeze quantity,
    # so a parent needs at least ceil(lots / cap_lots) children however few the trader asked for.
    # A child is at least one lot, hence never more children than lots.
    return max(min(req.max_child_orders, req.lots), freeze_minimum)


def _is_weights(tau: list[float], kappa_t: float) -> list[float]:
    """Almgren-Chriss holdings x(tau) = sinh(kT(1 - tau)) / sinh(kT); a child trades x(tau_i) - x(tau_i+1)."""
    denominator = math.sinh(kappa_t)
    holdings = [math.sinh(kappa_t * (1.0 - t)) / denominator for t in tau]
    return [a - b for a, b in itertools.pairwise(holdings)]


def _allocate_lots(weights: list[float], total_lots: int, cap_lots: int) -> list[int]:
    """Whole lots per child by largest remainder (exact total), then the freeze cap."""
    scale = total_lots / sum(weights)
    quotas = [w * scale for w in weights]
    lots = [math.floor(q) for q in quotas]
    # Stable sort: equal remainders go to the earlier child, which keeps schedules front-biased and stable.
    by_remainder = sorted(range(len(quotas)), key=lambda i: lots[i] - quotas[i])
    for k in range(total_lots - sum(lots)):
        lots[by_remainder[k % len(lots)]] += 1
    return _enforce_cap(lots, cap_lots)


def _enforce_cap(lots: list[int], cap_lots: int) -> list[int]:
    overflow = sum(max(0, n - cap_lots) for n in lots)
    capped = [min(n, cap_lots) for n in lots]
    # Earliest first: moving lots later would delay them past where the algorithm wanted them.
    for i, n in enumerate(capped):
        if overflow == 0:
            break
        moved = min(cap_lots - n, overflow)
        capped[i] += moved
        overflow -= moved
    if overflow:
        raise RuntimeError(
            f"freeze cap of {cap_lots} lots cannot hold {sum(lots)} lots in {len(lots)} children"
        )
    return capped


def _children(times: list[float], lots: list[int], lot_size: int) -> list[PlannedChild]:
    kept = [(t, n) for t, n in zip(times, lots, strict=True) if n > 0]
    return [PlannedChild(i, t, n * lot_size) for i, (t, n) in enumerate(kept)]


class PovSchedule:
    """Percentage-of-volume: sizes each child from the market volume traded so far.

    Call `next_child` once per entry of `check_times()`, in order, with the volume traded since the
    parent started. Each child is the lot-rounded-down shortfall against `participation_rate * volume`,
    capped by the freeze cap and the remaining quantity; what rounding or the cap holds back is carried
    forward, so cumulative participation stays within one lot of target unless the cap binds. Whatever
    is unsent when the checks run out is the caller's to handle: POV never chases past its horizon.
    """

    def __init__(self, req: PlanRequest) -> None:
        if req.algo is not Algo.POV:
            raise ValueError(f"algo must be POV for a PovSchedule, got {req.algo.value}")
        self._req = req
        self._checks = _check_times(req.horizon_s, req.pov_interval_s)
        self._next_check = 0
        self._sent = 0
        self._children = 0
        self._last_volume = 0

    @property
    def request(self) -> PlanRequest:
        return self._req

    def check_times(self) -> list[float]:
        """Offsets of the checks: every pov_interval_s from 0, all < horizon_s."""
        return list(self._checks)

    @property
    def next_check_s(self) -> float | None:
        """Offset of the check the next `next_child` call stands for; None once the checks are used up."""
        return self._checks[self._next_check] if self._next_check < len(self._checks) else None

    @property
    def sent(self) -> int:
        return self._sent

    @property
    def remaining(self) -> int:
        return self._req.quantity - self._sent

    @property
    def done(self) -> bool:
        """Nothing more will be sent: the parent is fully sent or every check has been used."""
        return self.remaining == 0 or self._next_check >= len(self._checks)

    def next_child(self, cumulative_market_volume: int) -> PlannedChild | None:
        """Consume the next check; the child to send now, or None when nothing is due."""
        volume = self._validated_volume(cumulative_market_volume)
        offset = self.next_check_s
        if offset is None:
            return None
        self._next_check += 1
        qty = self._due_qty(volume)
        if qty <= 0:
            return None
        child = PlannedChild(index=self._children, offset_s=offset, qty=qty)
        self._children += 1
        self._sent += qty
        return child

    def _validated_volume(self, volume: int) -> int:
        value = _int_field("cumulative_market_volume", volume)
        if value < self._last_volume:
            raise ValueError(
                f"cumulative_market_volume must not decrease: got {value} after {self._last_volume}"
            )
        self._last_volume = value
        return value

    def _due_qty(self, volume: int) -> int:
        req = self._req
        shortfall = req.participation_rate * volume - self._sent
        due_lots = math.floor(shortfall / req.lot_size + _LOT_EPSILON)
        lots = min(due_lots, req.cap_lots, self.remaining // req.lot_size)
        return max(lots, 0) * req.lot_size


def _check_times(horizon_s: float, interval_s: float) -> list[float]:
    count = math.ceil(horizon_s / interval_s)
    if count > MAX_POV_CHECKS:
        raise ValueError(
            f"pov_interval_s {interval_s} gives {count} checks over horizon_s {horizon_s}; "
            f"at most {MAX_POV_CHECKS} are allowed"
        )
    # One spare index: horizon/interval can round down across an integer; the filter keeps offsets < horizon.
    return [k * interval_s for k in range(count + 1) if k * interval_s < horizon_s]
