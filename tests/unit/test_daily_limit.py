"""The day's P&L limits (`risk.daily_loss_limit`, `risk.profit_lock`): the guard's rule, a replay drill crossing the
loss limit, and the running desk's EXIT ALL on a crossing."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from imperium_desk.clock import VirtualClock
from imperium_desk.desk import Desk, run_replay
from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.domain.orders import Position
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.config import RiskConfig
from imperium_desk.execution.daily_limit import DailyLimitGuard, DayPnl, positions_pnl
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.scenarios.spec import load_scenario
from tests.support import config

DAY_S = 24 * 3600.0


class _Clock:
    """Only `now` is read by the guard."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def _guard(**limits: float) -> tuple[DailyLimitGuard, _Clock]:
    clock = _Clock(config().market.start.timestamp())
    risk = RiskConfig(**limits)
    return DailyLimitGuard(lambda: risk, clock), clock  # type: ignore[arg-type]


# -- config -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["daily_loss_limit", "profit_lock"])
def test_a_limit_that_is_not_positive_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig(**{field: 0})
    assert info.value.errors()[0]["loc"] == (field,)


def test_limits_that_are_off_leave_the_config_hash_as_before() -> None:
    assert set(RiskConfig().model_dump()) == {"max_order_lots", "max_order_value", "kill_switch"}
    assert RiskConfig(daily_loss_limit=5000).model_dump()["daily_loss_limit"] == 5000


# -- the guard ----------------------------------------------------------------------------------------------------
def test_the_guard_fires_when_the_days_pnl_reaches_minus_the_limit() -> None:
    guard, _ = _guard(daily_loss_limit=1000)
    assert guard.observe(DayPnl(-400.0, -599.99)) is None
    crossing = guard.observe(DayPnl(-400.0, -600.0))
    assert crossing is not None and crossing.reason is ExitReason.DAILY_LOSS_LIMIT
    assert crossing.pnl == DayPnl(-400.0, -600.0) and crossing.limit == 1000


def test_the_guard_fires_once_a_trading_day() -> None:
    guard, _ = _guard(daily_loss_limit=1000)
    assert guard.observe(DayPnl(0.0, -2000.0)) is not None
    assert guard.observe(DayPnl(0.0, -3000.0)) is None
    assert guard.fired is ExitReason.DAILY_LOSS_LIMIT


def test_the_profit_lock_fires_at_its_level() -> None:
    guard, _ = _guard(profit_lock=500)
    assert guard.observe(DayPnl(200.0, 299.0)) is None
    crossing = guard.observe(DayPnl(200.0, 300.0))
    assert crossing is not None and crossing.reason is ExitReason.PROFIT_LOCK


def test_a_new_trading_day_counts_from_what_was_carried_into_it() -> None:
    guard, clock = _guard(daily_loss_limit=1000)
    assert guard.observe(DayPnl(-900.0, 0.0)) is None
    clock.t += DAY_S
    assert guard.observe(DayPnl(-900.0, 0.0)) is None  # the new day's zero
    assert guard.day_pnl.total == 0.0
    crossing = guard.observe(DayPnl(-1900.0, 0.0))
    assert crossing is not None and crossing.pnl.total == -1000.0


def test_a_new_trading_day_may_fire_again() -> None:
    guard, clock = _guard(daily_loss_limit=1000)
    assert guard.observe(DayPnl(-1000.0, 0.0)) is not None
    clock.t += DAY_S
    assert guard.fired is ExitReason.DAILY_LOSS_LIMIT
    assert guard.observe(DayPnl(-1000.0, 0.0)) is None
    assert guard.fired is None
    assert guard.observe(DayPnl(-2000.0, 0.0)) is not None


def test_no_limit_set_never_fires() -> None:
    guard, _ = _guard()
    assert not guard.active
    assert guard.observe(DayPnl(-1e9, 0.0)) is None


def test_the_state_reports_the_share_of_the_loss_limit_used() -> None:
    guard, _ = _guard(daily_loss_limit=1000)
    guard.observe(DayPnl(-100.0, -270.0))
    state = guard.state()
    assert state.loss_used == pytest.approx(0.37) and state.fired is None


def test_positions_pnl_values_open_quantity_at_the_last_price() -> None:
    positions = [Position("A", quantity=10, average_price=100.0, realised_pnl=50.0),
                 Position("B", quantity=-5, average_price=20.0, realised_pnl=-10.0), Position("C")]
    pnl = positions_pnl(positions, {"A": 90.0, "B": 22.0, "C": 1.0}.__getitem__)
    assert pnl == DayPnl(40.0, -110.0)


# -- a replay drill -------------------------------------------------------------------------------------------------
DRILL = """\
id: loss-limit-drill
description: calls bought and puts sold, then a gap down through the loss limit; a later entry meets the kill switch
seed: 5
duration_s: 120
orders:
  - {at_s: 0, instrument: {underlying: NIFTY, strike: ATM, right: CE}, side: buy, lots: 10, algo: IMMEDIATE}
  - {at_s: 5, instrument: {underlying: NIFTY, strike: ATM, right: PE}, side: sell, lots: 5, algo: IMMEDIATE}
  - {at_s: 60, instrument: {underlying: NIFTY, strike: ATM, right: CE}, side: buy, lots: 2, algo: IMMEDIATE}
events:
  - {type: news_shock, at_s: 30, duration_s: 20, underlying: NIFTY, jump_pct: -2.0, spread_mult: 2, vol_mult: 1}
"""


@pytest.fixture(scope="module")
def drill_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    base = tmp_path_factory.mktemp("drill")
    path = base / "loss-limit-drill.yaml"
    path.write_text(DRILL, encoding="utf-8")
    summary = run_replay(load_scenario(path), config({"risk": {"daily_loss_limit": 20_000}}), base / "out")
    return [orjson.loads(line) for line in summary.telemetry_path.read_bytes().splitlines()]


def _parents(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["parent_id"]: r for r in records if r["event"] == "parent"}


def test_a_drill_crossing_the_loss_limit_writes_one_risk_limit_record(drill_records: list[dict[str, Any]]) -> None:
    limits = [r for r in drill_records if r["event"] == "risk_limit"]
    assert len(limits) == 1
    body = limits[0]["risk_limit"]
    assert ExitReason(body["reason"]) is ExitReason.DAILY_LOSS_LIMIT
    assert body["pnl"] <= -20_000 and body["kill_switch"] is True
    assert body["pnl"] == pytest.approx(body["realised"] + body["unrealised"])


def test_a_drill_crossing_the_loss_limit_closes_every_position(drill_records: list[dict[str, Any]]) -> None:
    body = next(r for r in drill_records if r["event"] == "risk_limit")["risk_limit"]
    parents = _parents(drill_records)
    exits = [parents[pid] for pid in body["exit_parent_ids"]]
    assert len(exits) == 2  # the calls bought and the puts sold
    assert all(ParentStatus(p["parent"]["status"]) is ParentStatus.COMPLETE for p in exits)
    net: dict[str, int] = {}
    for p in parents.values():
        sign = 1 if Side(p["side"]) is Side.BUY else -1
        net[p["asset"]] = net.get(p["asset"], 0) + sign * p["parent"]["filled_qty"]
    assert set(net.values()) == {0}


def test_after_the_crossing_no_new_entry_is_accepted(drill_records: list[dict[str, Any]]) -> None:
    limit_seq = next(r["seq"] for r in drill_records if r["event"] == "risk_limit")
    entries_after = [p for p in _parents(drill_records).values()
                     if p["seq"] > limit_seq and p["parent_id"] not in
                     next(r for r in drill_records if r["event"] == "risk_limit")["risk_limit"]["exit_parent_ids"]]
    assert len(entries_after) == 1
    assert ParentStatus(entries_after[0]["parent"]["status"]) is ParentStatus.REJECTED
    assert entries_after[0]["parent"]["filled_qty"] == 0


def test_the_exits_follow_the_record_and_go_despite_the_kill_switch(drill_records: list[dict[str, Any]]) -> None:
    limit = next(r for r in drill_records if r["event"] == "risk_limit")
    exit_ids = set(limit["risk_limit"]["exit_parent_ids"])
    first_exit_seq = min(r["seq"] for r in drill_records if r["parent_id"] in exit_ids)
    assert first_exit_seq > limit["seq"]
    assert not [r for r in drill_records if r["event"] == "reject" and r["parent_id"] in exit_ids]


def test_a_drill_with_the_limit_replays_byte_identically(tmp_path: Path) -> None:
    path = tmp_path / "loss-limit-drill.yaml"
    path.write_text(DRILL, encoding="utf-8")
    cfg = config({"risk": {"daily_loss_limit": 20_000}})
    one = run_replay(load_scenario(path), cfg, tmp_path / "a").telemetry_path.read_bytes()
    two = run_replay(load_scenario(path), cfg, tmp_path / "b").telemetry_path.read_bytes()
    assert one == two and b'"risk_limit"' in one


# -- the running desk ---------------------------------------------------------------------------------------------
def _desk(tmp_path: Path, risk: dict[str, Any]) -> tuple[Desk, VirtualClock]:
    cfg = config({"telemetry": {"fsync": False}, "risk": risk})
    clock = VirtualClock(cfg.market.start.timestamp())
    return Desk(cfg, home=tmp_path, clock=clock), clock


def _run[T](clock: VirtualClock, coro: Coroutine[Any, Any, T]) -> T:
    return clock.run(coro)


def _atm(desk: Desk, right: OptionRight) -> str:
    expiry = desk.expiries("NIFTY", 1)[0]
    return desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), right).symbol


def test_the_desk_turns_the_kill_switch_on_and_exits_every_position_on_a_crossing(tmp_path: Path) -> None:
    desk, clock = _desk(tmp_path, {"daily_loss_limit": 10_000})
    call, put = _atm(desk, OptionRight.CE), _atm(desk, OptionRight.PE)

    async def main() -> tuple[list[Position], ParentStatus]:
        desk.start()
        await desk.submit(ExecutionRequest(symbol=call, side=Side.BUY, quantity=650)).task
        await desk.submit(ExecutionRequest(symbol=put, side=Side.SELL, quantity=325)).task
        assert desk.engine.simulator is not None
        desk.engine.simulator.jump("NIFTY", -2.0)
        await clock.sleep(3.0)  # the next refreshes see the loss
        for submitted in list(desk.orders.tasks.values()):
            await submitted.task
        late = await desk.submit(ExecutionRequest(symbol=call, side=Side.BUY, quantity=65)).task
        await desk.refresh_portfolio()
        positions = await desk.engine.broker.positions()
        await desk.stop()
        return positions, late.status

    positions, late = _run(clock, main())
    assert desk.kill_switch
    assert all(p.quantity == 0 for p in positions)
    assert late is ParentStatus.REJECTED
    account = desk.last_portfolio.account
    assert account.limit_fired is ExitReason.DAILY_LOSS_LIMIT and account.daily_loss_limit == 10_000
    records = [orjson.loads(line) for line in desk.telemetry_path.read_bytes().splitlines()]
    limits = [r for r in records if r["event"] == "risk_limit"]
    assert len(limits) == 1 and len(limits[0]["risk_limit"]["exit_parent_ids"]) == 2


def test_the_desks_exits_carry_the_limit_as_their_reason(tmp_path: Path) -> None:
    desk, clock = _desk(tmp_path, {"profit_lock": 1.0})
    put = _atm(desk, OptionRight.PE)
    reasons: list[ExitReason | None] = []

    async def main() -> None:
        desk.start()
        await desk.submit(ExecutionRequest(symbol=put, side=Side.BUY, quantity=650)).task
        assert desk.engine.simulator is not None
        desk.engine.simulator.jump("NIFTY", -2.0)
        await clock.sleep(3.0)
        reasons.extend(s.request.metadata.exit_reason for s in desk.orders.tasks.values())
        for submitted in list(desk.orders.tasks.values()):
            await submitted.task
        await desk.stop()

    _run(clock, main())
    assert reasons == [ExitReason.PROFIT_LOCK]


def test_a_desk_without_limits_shows_none(tmp_path: Path) -> None:
    desk, clock = _desk(tmp_path, {})

    async def main() -> None:
        await desk.refresh_portfolio()
        await desk.stop()

    _run(clock, main())
    account = desk.last_portfolio.account
    assert account.daily_loss_limit is None and account.limit_fired is None




def test_a_limit_set_by_a_risk_change_event_acts_in_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "loss-limit-drill.yaml"
    path.write_text(DRILL + "  - {type: risk_change, at_s: 10, duration_s: 100, risk: {daily_loss_limit: 20000}}\n",
                    encoding="utf-8")
    summary = run_replay(load_scenario(path), config(), tmp_path / "out")
    records = [orjson.loads(line) for line in summary.telemetry_path.read_bytes().splitlines()]
    limits = [r for r in records if r["event"] == "risk_limit"]
    assert len(limits) == 1 and len(limits[0]["risk_limit"]["exit_parent_ids"]) == 2


def test_a_replay_without_limits_writes_no_risk_limit_record(tmp_path: Path) -> None:
    path = tmp_path / "loss-limit-drill.yaml"
    path.write_text(DRILL, encoding="utf-8")
    summary = run_replay(load_scenario(path), config(), tmp_path / "out")
    assert b'"risk_limit"' not in summary.telemetry_path.read_bytes()


def test_a_drill_in_the_desk_crossing_the_limit_closes_everything_and_refuses_the_late_entry(tmp_path: Path) -> None:
    desk, clock = _desk(tmp_path, {"daily_loss_limit": 20_000})
    desk.drills_dir.mkdir(parents=True, exist_ok=True)
    path = desk.drills_dir / "loss-limit-drill.yaml"
    path.write_text(DRILL, encoding="utf-8")

    async def main() -> list[Position]:
        desk.start()
        await desk.start_drill(path)
        assert desk.drill is not None
        await desk.drill.task
        for submitted in list(desk.orders.tasks.values()):
            await submitted.task
        positions = await desk.engine.broker.positions()
        await desk.stop()
        return positions

    positions = _run(clock, main())
    records = [orjson.loads(line) for line in desk.telemetry_path.read_bytes().splitlines()]
    (limit,) = [r for r in records if r["event"] == "risk_limit"]
    exit_ids = set(limit["risk_limit"]["exit_parent_ids"])
    parents = _parents(records)
    assert desk.kill_switch and len(exit_ids) == 2
    assert all(p.quantity == 0 for p in positions)
    late = [p for p in parents.values() if p["seq"] > limit["seq"] and p["parent_id"] not in exit_ids]
    assert [ParentStatus(p["parent"]["status"]) for p in late] == [ParentStatus.REJECTED]
