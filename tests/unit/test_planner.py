"""ExecutionAlgoPlanner: static schedules (IMMEDIATE, TWAP, VWAP, IS) and the POV schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imperium_desk.domain.enums import Algo, Urgency
from imperium_desk.execution.planner import (
    SESSION_SECONDS,
    ExecutionAlgoPlanner,
    PlannedChild,
    PlanRequest,
    PovSchedule,
)

STATIC_ALGOS = (Algo.IMMEDIATE, Algo.TWAP, Algo.VWAP, Algo.IS)
LOT_SIZES = (1, 15, 20, 25, 30, 65, 75, 120)
PROPERTY = settings(max_examples=200, deadline=None)


def request(**overrides: Any) -> PlanRequest:
    fields: dict[str, Any] = {
        "algo": Algo.TWAP,
        "quantity": 100 * 75,
        "lot_size": 75,
        "max_child_qty": 1800,
        "max_child_orders": 10,
        "horizon_s": 60.0,
        "urgency": Urgency.NORMAL,
        "randomize": False,
        "participation_rate": 0.1,
    }
    fields.update(overrides)
    return PlanRequest(**fields)


def plan(req: PlanRequest, seed: int = 0, profile: tuple[float, ...] | None = None) -> list[PlannedChild]:
    return ExecutionAlgoPlanner(np.random.default_rng(seed), profile).plan(req)


def lots_of(children: list[PlannedChild], lot: int) -> list[int]:
    return [c.qty // lot for c in children]


@st.composite
def static_requests(draw: st.DrawFn, algo: Algo) -> PlanRequest:
    lot = draw(st.sampled_from(LOT_SIZES))
    lots = draw(st.integers(1, 300))
    # Caps from one lot up to well above the parent, so both binding and slack caps are exercised.
    cap_lots = draw(st.integers(1, 400))
    return PlanRequest(
        algo=algo,
        quantity=lots * lot,
        lot_size=lot,
        max_child_qty=cap_lots * lot,
        max_child_orders=draw(st.integers(1, 50)),
        horizon_s=draw(st.floats(1.0, 3600.0)),
        urgency=draw(st.sampled_from(list(Urgency))),
        randomize=draw(st.booleans()),
        participation_rate=0.1,
        session_offset_s=draw(st.floats(-600.0, SESSION_SECONDS + 3600.0)),
    )


seeds = st.integers(0, 2**32 - 1)


# --- static schedules: invariants for every algorithm ---------------------------------------------


@pytest.mark.parametrize("algo", STATIC_ALGOS)
@PROPERTY
@given(data=st.data(), seed=seeds)
def test_slices_sum_to_parent(algo: Algo, data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(algo))
    assert sum(c.qty for c in plan(req, seed)) == req.quantity


@pytest.mark.parametrize("algo", STATIC_ALGOS)
@PROPERTY
@given(data=st.data(), seed=seeds)
def test_each_slice_is_a_positive_lot_multiple(algo: Algo, data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(algo))
    for child in plan(req, seed):
        assert child.qty > 0
        assert child.qty % req.lot_size == 0


@pytest.mark.parametrize("algo", STATIC_ALGOS)
@PROPERTY
@given(data=st.data(), seed=seeds)
def test_no_slice_exceeds_the_freeze_cap(algo: Algo, data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(algo))
    assert all(c.qty <= req.max_child_qty for c in plan(req, seed))


@pytest.mark.parametrize("algo", STATIC_ALGOS)
@PROPERTY
@given(data=st.data(), seed=seeds)
def test_offsets_are_sorted_and_inside_the_horizon(algo: Algo, data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(algo))
    offsets = [c.offset_s for c in plan(req, seed)]
    assert offsets == sorted(offsets)
    assert all(0.0 <= t < req.horizon_s for t in offsets)


@PROPERTY
@given(data=st.data(), algo=st.sampled_from(STATIC_ALGOS), seed=seeds)
def test_indexes_are_contiguous_from_zero(data: st.DataObject, algo: Algo, seed: int) -> None:
    children = plan(data.draw(static_requests(algo)), seed)
    assert [c.index for c in children] == list(range(len(children)))


@PROPERTY
@given(data=st.data(), seed=seeds)
def test_immediate_sends_everything_at_offset_zero(data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(Algo.IMMEDIATE))
    children = plan(req, seed)
    assert all(c.offset_s == 0.0 for c in children)
    assert len(children) == -(-req.lots // req.cap_lots)


@PROPERTY
@given(data=st.data(), algo=st.sampled_from(STATIC_ALGOS), seed=seeds)
def test_same_seed_gives_the_same_plan(data: st.DataObject, algo: Algo, seed: int) -> None:
    req = data.draw(static_requests(algo))
    assert plan(req, seed) == plan(req, seed)


# --- freeze cap vs max_child_orders ---------------------------------------------------------------


def test_freeze_cap_wins_over_max_child_orders() -> None:
    # 100 lots with a 24-lot freeze cap cannot go as one order: ceil(100 / 24) = 5 children.
    children = plan(request(algo=Algo.TWAP, max_child_orders=1, quantity=100 * 75, max_child_qty=24 * 75))
    assert len(children) == 5
    assert sum(c.qty for c in children) == 100 * 75


def test_immediate_splits_above_the_freeze_cap_into_near_equal_slices() -> None:
    children = plan(request(algo=Algo.IMMEDIATE, quantity=50 * 75, max_child_qty=24 * 75))
    assert lots_of(children, 75) == [17, 17, 16]


def test_immediate_within_the_freeze_cap_is_one_child() -> None:
    children = plan(request(algo=Algo.IMMEDIATE, quantity=10 * 75))
    assert children == [PlannedChild(index=0, offset_s=0.0, qty=750)]


def test_child_count_never_exceeds_the_lot_count() -> None:
    children = plan(request(algo=Algo.TWAP, quantity=3 * 75, max_child_orders=50))
    assert lots_of(children, 75) == [1, 1, 1]


# --- TWAP -----------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_twap_unrandomised_slices_differ_by_at_most_one_lot(data: st.DataObject) -> None:
    req = data.draw(static_requests(Algo.TWAP).filter(lambda r: not r.randomize))
    lots = lots_of(plan(req), req.lot_size)
    assert max(lots) - min(lots) <= 1


def test_twap_children_start_on_an_even_grid() -> None:
    children = plan(request(algo=Algo.TWAP, horizon_s=60.0, max_child_orders=10))
    assert [c.offset_s for c in children] == pytest.approx([6.0 * i for i in range(10)])


@PROPERTY
@given(data=st.data(), seed=seeds)
def test_randomised_times_stay_within_ten_percent_of_the_grid(data: st.DataObject, seed: int) -> None:
    req = data.draw(static_requests(Algo.TWAP).filter(lambda r: r.randomize))
    n = max(min(req.max_child_orders, req.lots), -(-req.lots // req.cap_lots))
    children = plan(req, seed)
    assume(len(children) == n)  # a zero-lot child was dropped: positions no longer map to grid slots
    interval = req.horizon_s / n
    assert children[0].offset_s == 0.0
    for i, child in enumerate(children):
        assert abs(child.offset_s - i * interval) <= 0.1 * interval + 1e-9


def test_randomised_plan_differs_from_the_unrandomised_one() -> None:
    base = request(algo=Algo.TWAP, quantity=200 * 75, max_child_qty=200 * 75, max_child_orders=10)
    randomised = request(
        algo=Algo.TWAP, quantity=200 * 75, max_child_qty=200 * 75, max_child_orders=10, randomize=True
    )
    assert plan(randomised, seed=3) != plan(base, seed=3)


# --- IS -------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_is_first_slice_is_at_least_the_last(data: st.DataObject) -> None:
    req = data.draw(static_requests(Algo.IS).filter(lambda r: not r.randomize))
    children = plan(req)
    assume(len(children) >= 2)
    assert children[0].qty >= children[-1].qty


@PROPERTY
@given(lots=st.integers(20, 300), n=st.integers(2, 50))
def test_is_higher_urgency_front_loads_more(lots: int, n: int) -> None:
    # Cap slack so only the trajectory shapes the slices; rounding may cost a lot either way, hence + 1.
    def first_lots(urgency: Urgency) -> int:
        req = request(
            algo=Algo.IS, quantity=lots * 65, lot_size=65, max_child_qty=lots * 65,
            max_child_orders=n, urgency=urgency,
        )  # fmt: skip
        return plan(req)[0].qty // 65

    assert first_lots(Urgency.HIGH) + 1 >= first_lots(Urgency.NORMAL)
    assert first_lots(Urgency.NORMAL) + 1 >= first_lots(Urgency.LOW)


def test_is_urgency_orders_the_first_slice_strictly() -> None:
    def first_lots(urgency: Urgency) -> int:
        return plan(request(algo=Algo.IS, quantity=100 * 75, max_child_qty=100 * 75, urgency=urgency))[0].qty

    assert first_lots(Urgency.HIGH) > first_lots(Urgency.NORMAL) > first_lots(Urgency.LOW)


def test_is_slices_decrease_along_the_horizon() -> None:
    lots = lots_of(plan(request(algo=Algo.IS, quantity=100 * 75, max_child_qty=100 * 75)), 75)
    assert lots == sorted(lots, reverse=True)
    assert lots[0] > lots[-1]


# --- VWAP -----------------------------------------------------------------------------------------


def test_vwap_puts_more_in_opening_slices_than_midday_ones() -> None:
    req = request(
        algo=Algo.VWAP, quantity=2500, lot_size=1, max_child_qty=2500, max_child_orders=25,
        horizon_s=SESSION_SECONDS,
    )  # fmt: skip
    children = plan(req)
    assert len(children) == 25
    assert children[0].qty > children[12].qty
    assert children[1].qty > children[11].qty


def test_vwap_at_the_open_trades_faster_than_the_same_window_at_midday() -> None:
    # Two children: the first 15 minutes vs the next 15. At the open the first bucket is heavier.
    def first_share(session_offset_s: float) -> float:
        req = request(
            algo=Algo.VWAP, quantity=1000, lot_size=1, max_child_qty=1000, max_child_orders=2,
            horizon_s=1800.0, session_offset_s=session_offset_s,
        )  # fmt: skip
        return plan(req)[0].qty / 1000

    assert first_share(0.0) > 0.55
    assert first_share(0.0) > first_share(SESSION_SECONDS / 2)


def test_vwap_sizes_follow_a_custom_profile() -> None:
    req = request(
        algo=Algo.VWAP, quantity=400, lot_size=1, max_child_qty=400, max_child_orders=2,
        horizon_s=SESSION_SECONDS,
    )  # fmt: skip
    assert [c.qty for c in plan(req, profile=(1.0, 3.0))] == [100, 300]


def test_vwap_past_the_close_uses_the_last_bucket() -> None:
    # Half the window before the close (bucket weight 1), half after it (extended at the last bucket's rate).
    req = request(
        algo=Algo.VWAP, quantity=400, lot_size=1, max_child_qty=400, max_child_orders=2,
        horizon_s=200.0, session_offset_s=SESSION_SECONDS - 100.0,
    )  # fmt: skip
    assert [c.qty for c in plan(req, profile=(3.0, 1.0))] == [200, 200]


def test_vwap_skips_windows_with_no_expected_volume() -> None:
    req = request(
        algo=Algo.VWAP, quantity=400, lot_size=1, max_child_qty=400, max_child_orders=4,
        horizon_s=SESSION_SECONDS,
    )  # fmt: skip
    children = plan(req, profile=(1.0, 0.0))
    assert [c.qty for c in children] == [200, 200]
    assert [c.index for c in children] == [0, 1]


# --- one planner, many parents ----------------------------------------------------------------------


def test_one_planner_sizes_each_parent_by_its_own_quantity() -> None:
    planner = ExecutionAlgoPlanner(np.random.default_rng(0))
    small, large = planner.plan(request(quantity=10 * 75)), planner.plan(request(quantity=100 * 75))
    assert (sum(c.qty for c in small), sum(c.qty for c in large)) == (10 * 75, 100 * 75)


def test_one_planner_weighs_vwap_by_each_parents_time_of_day() -> None:
    planner = ExecutionAlgoPlanner(np.random.default_rng(0))

    def first(session_offset_s: float) -> int:
        req = request(
            algo=Algo.VWAP, quantity=1000, lot_size=1, max_child_qty=1000, max_child_orders=2,
            horizon_s=1800.0, session_offset_s=session_offset_s,
        )  # fmt: skip
        return planner.plan(req)[0].qty

    assert first(0.0) > first(SESSION_SECONDS / 2)


def test_changing_a_returned_schedule_leaves_the_next_one_whole() -> None:
    planner = ExecutionAlgoPlanner(np.random.default_rng(0))
    planner.plan(request()).clear()
    assert len(planner.plan(request())) == 10


# --- POV ------------------------------------------------------------------------------------------


@dataclass
class PovRun:
    children: list[PlannedChild]
    market_volume: int  # traded over the whole horizon
    seen_volume: int  # traded before the last check: what the schedule could respond to
    schedule: PovSchedule


def run_pov(req: PlanRequest, mean_volume_per_s: float, seed: int) -> PovRun:
    """Feed a Poisson volume stream (one draw per second) through the schedule's checks.

    A check at offset t sees only the volume of the whole seconds before t: it never sees the future.
    """
    horizon = int(np.ceil(req.horizon_s))
    per_second = np.random.default_rng(seed).poisson(mean_volume_per_s, size=horizon)
    cumulative = np.concatenate(([0], np.cumsum(per_second)))
    schedule = ExecutionAlgoPlanner(np.random.default_rng(seed)).pov(req)
    children, seen = [], 0
    for t in schedule.check_times():
        seen = int(cumulative[int(t)])
        child = schedule.next_child(seen)
        if child is not None:
            children.append(child)
    return PovRun(children, int(cumulative[-1]), seen, schedule)


def pov_request(**overrides: Any) -> PlanRequest:
    return request(**{"algo": Algo.POV, "participation_rate": 0.2, "pov_interval_s": 1.0, **overrides})


def slack_pov_request(lot: int, rate: float, horizon: int) -> PlanRequest:
    # Quantity and cap far above anything the stream can ask for, so neither binds.
    big = 10**9 * lot
    return pov_request(
        quantity=big, lot_size=lot, max_child_qty=big, participation_rate=rate, horizon_s=float(horizon)
    )


@PROPERTY
@given(
    lot=st.sampled_from(LOT_SIZES),
    rate=st.floats(0.02, 0.5),
    horizon=st.integers(120, 3600),
    lots_per_second=st.floats(0.5, 30.0),
    seed=seeds,
)
def test_pov_realised_participation_is_within_two_points_of_target(
    lot: int, rate: float, horizon: int, lots_per_second: float, seed: int
) -> None:
    # The shortfall is under one lot (rounding, carried forward) plus the participation owed on the volume
    # after the last check, which no check sees. Condition: the run trades >= 100 lots (one lot <= 1 point)
    # and the unseen tail is <= 2% of the volume (rate <= 0.5 owes <= 1 point on it).
    run = run_pov(slack_pov_request(lot, rate, horizon), lots_per_second * lot, seed)
    assume(run.market_volume >= 100 * lot)
    assume(run.market_volume - run.seen_volume <= 0.02 * run.market_volume)
    realised = run.schedule.sent / run.market_volume
    assert abs(realised - rate) <= 0.02


@PROPERTY
@given(
    lot=st.sampled_from(LOT_SIZES),
    rate=st.floats(0.01, 1.0),
    horizon=st.integers(1, 600),
    lots_per_second=st.floats(0.0, 50.0),
    seed=seeds,
)
def test_pov_shortfall_is_under_one_lot_of_the_volume_it_saw(
    lot: int, rate: float, horizon: int, lots_per_second: float, seed: int
) -> None:
    run = run_pov(slack_pov_request(lot, rate, horizon), lots_per_second * lot, seed)
    target = rate * run.seen_volume
    assert target - lot < run.schedule.sent <= target + 1e-6 * lot


@st.composite
def tight_pov_requests(draw: st.DrawFn) -> PlanRequest:
    # Small parents and caps against heavy volume, so both limits bind often.
    lot = draw(st.sampled_from(LOT_SIZES))
    return pov_request(
        quantity=draw(st.integers(1, 300)) * lot,
        lot_size=lot,
        max_child_qty=draw(st.integers(1, 50)) * lot,
        participation_rate=draw(st.floats(0.01, 1.0)),
        horizon_s=float(draw(st.integers(1, 600))),
    )


@PROPERTY
@given(req=tight_pov_requests(), lots_per_second=st.floats(0.0, 200.0), seed=seeds)
def test_pov_never_exceeds_the_parent_or_the_freeze_cap(
    req: PlanRequest, lots_per_second: float, seed: int
) -> None:
    run = run_pov(req, lots_per_second * req.lot_size, seed)
    assert sum(c.qty for c in run.children) <= req.quantity
    assert run.schedule.sent + run.schedule.remaining == req.quantity
    for child in run.children:
        assert 0 < child.qty <= req.max_child_qty
        assert child.qty % req.lot_size == 0


@PROPERTY
@given(horizon=st.floats(0.01, 3600.0), interval=st.floats(0.1, 60.0))
def test_pov_check_times_start_at_zero_and_stay_inside_the_horizon(horizon: float, interval: float) -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(
        pov_request(horizon_s=horizon, pov_interval_s=interval)
    )
    checks = schedule.check_times()
    assert checks[0] == 0.0
    assert all(0.0 <= t < horizon for t in checks)
    assert np.allclose(np.diff(checks), interval)
    assert checks[-1] + interval >= horizon * (1 - 1e-12)


def test_pov_zero_size_check_sends_nothing() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(pov_request(lot_size=75, quantity=7500))
    assert schedule.next_child(0) is None
    assert schedule.next_child(374) is None  # 20% of 374 = 74.8 units: under one lot
    child = schedule.next_child(375)
    assert child == PlannedChild(index=0, offset_s=2.0, qty=75)


def test_pov_carries_the_rounding_remainder_forward() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(pov_request(lot_size=75, quantity=7500))
    sizes = [schedule.next_child(v) for v in (0, 600, 1200)]  # targets 120 and 240 units
    assert [c.qty if c else 0 for c in sizes] == [0, 75, 150]


def test_pov_freeze_cap_holds_back_and_catches_up() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(
        pov_request(lot_size=75, quantity=7500, max_child_qty=150)
    )
    sizes = [schedule.next_child(v) for v in (0, 2250, 2250, 2250)]  # target 450 units: six lots due
    assert [c.qty if c else 0 for c in sizes] == [0, 150, 150, 150]


def test_pov_stops_at_the_parent_quantity() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(
        pov_request(lot_size=75, quantity=150, max_child_qty=7500)
    )
    schedule.next_child(0)
    child = schedule.next_child(10**6)
    assert child is not None and child.qty == 150
    assert schedule.done and schedule.remaining == 0
    assert schedule.next_child(2 * 10**6) is None


def test_pov_is_done_when_the_checks_run_out() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(pov_request(horizon_s=3.0))
    for _ in schedule.check_times():
        assert not schedule.done
        schedule.next_child(0)
    assert schedule.done
    assert schedule.next_child(10**6) is None
    assert schedule.sent == 0


def test_pov_rejects_a_falling_volume() -> None:
    schedule = ExecutionAlgoPlanner(np.random.default_rng(0)).pov(pov_request())
    schedule.next_child(100)
    with pytest.raises(ValueError, match="cumulative_market_volume"):
        schedule.next_child(99)


def test_plan_refuses_pov() -> None:
    with pytest.raises(ValueError, match="POV"):
        plan(pov_request())


def test_pov_refuses_a_static_algo() -> None:
    with pytest.raises(ValueError, match="TWAP"):
        ExecutionAlgoPlanner(np.random.default_rng(0)).pov(request(algo=Algo.TWAP))


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 0),
        ("quantity", -75),
        ("quantity", 100),  # not a multiple of 75
        ("quantity", 150.0),
        ("lot_size", 0),
        ("max_child_qty", 100),
        ("max_child_qty", 0),
        ("max_child_orders", 0),
        ("horizon_s", 0.0),
        ("horizon_s", -1.0),
        ("horizon_s", float("nan")),
        ("horizon_s", float("inf")),
        ("participation_rate", 0.0),
        ("participation_rate", 1.01),
        ("participation_rate", -0.1),
        ("pov_interval_s", 0.0),
        ("session_offset_s", float("nan")),
        ("algo", "SNIPER"),
        ("urgency", "panic"),
    ],
)
def test_invalid_request_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        request(**{field: value})


def test_invalid_request_message_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"1\.5"):
        request(participation_rate=1.5)


def test_participation_rate_of_one_is_valid() -> None:
    assert request(participation_rate=1.0).participation_rate == 1.0


def test_string_enum_values_are_normalised() -> None:
    req = request(algo="VWAP", urgency="high")
    assert req.algo is Algo.VWAP and req.urgency is Urgency.HIGH


@pytest.mark.parametrize(
    ("profile", "problem"),
    [((), "empty"), ((1.0, -0.5), ">= 0"), ((0.0, 0.0), "positive sum"), ((1.0, float("nan")), "finite")],
)
def test_invalid_vwap_profile_raises_naming_the_problem(profile: tuple[float, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=f"vwap_profile.*{problem}"):
        ExecutionAlgoPlanner(np.random.default_rng(0), profile)


def test_pov_interval_too_fine_for_the_horizon_is_rejected() -> None:
    with pytest.raises(ValueError, match="pov_interval_s"):
        ExecutionAlgoPlanner(np.random.default_rng(0)).pov(pov_request(horizon_s=3600.0, pov_interval_s=1e-6))
