"""Protective exits end to end, Qt-free: the shipped drills replayed (the gap through the stop, the trailing stop in a
trend) and the running desk (a protection armed on a ticket's fill, cancelled by EXIT, its exit past the kill switch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson

from imperium_desk.analysis.report import build_report
from imperium_desk.clock import VirtualClock
from imperium_desk.config import config_from_mapping
from imperium_desk.desk import Desk, DeskEvent, run_replay
from imperium_desk.desk.events import MessageEvent, ProtectionsEvent
from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.domain.protection import ExitReason, ProtectionSpec, ProtectionStatus
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.scenarios.spec import load_scenario
from tests.support import make_desk

SCENARIOS = Path(__file__).resolve().parents[2] / "imperium_desk" / "configs" / "scenarios"


def replay(name: str, out: Path) -> list[dict[str, Any]]:
    run_replay(load_scenario(SCENARIOS / f"{name}.yaml"), config_from_mapping({}, "test"), out)
    return [orjson.loads(line) for line in (out / "telemetry.jsonl").read_bytes().splitlines()]


def protection_records(records: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == "protection" and r["protection"]["action"] == action]


def test_gap_through_the_stop_sends_one_exit_that_fills(tmp_path: Path) -> None:
    records = replay("stop-gap", tmp_path / "run")
    (triggered,) = protection_records(records, "triggered")
    exit_id = triggered["protection"]["exit_parent_id"]
    (exit_parent,) = [r for r in records if r["event"] == "parent" and r["parent_id"] == exit_id]
    assert triggered["protection"]["exit_reason"] == ExitReason.STOP_LOSS.value
    assert exit_parent["parent"]["status"] == ParentStatus.COMPLETE.value
    assert exit_parent["parent"]["filled_qty"] == triggered["qty"]


def test_gap_is_through_the_stop_by_about_ten_percent(tmp_path: Path) -> None:
    (triggered,) = protection_records(replay("stop-gap", tmp_path / "run"), "triggered")
    body = triggered["protection"]
    assert body["trigger_price"] < 0.92 * body["level"]


def test_gap_drill_report_measures_the_cost_of_the_stop(tmp_path: Path) -> None:
    replay("stop-gap", tmp_path / "run")
    protections = build_report(tmp_path / "run" / "telemetry.jsonl").data["protections"]
    assert protections["exits"] == 1
    assert protections["by_reason"]["stop_loss"]["filled"] == 1
    assert isinstance(protections["cost_vs_trigger_bps_mean"], float)


def test_gap_drill_replays_byte_identical(tmp_path: Path) -> None:
    replay("stop-gap", tmp_path / "a")
    replay("stop-gap", tmp_path / "b")
    assert (tmp_path / "a" / "telemetry.jsonl").read_bytes() == (tmp_path / "b" / "telemetry.jsonl").read_bytes()


def test_trailing_drill_moves_the_trail_up_then_exits_on_the_pullback(tmp_path: Path) -> None:
    records = replay("trailing-trend", tmp_path / "run")
    moved = [r["protection"]["level"] for r in protection_records(records, "moved")]
    (triggered,) = protection_records(records, "triggered")
    assert moved == sorted(moved) and len(moved) > 3
    assert triggered["protection"]["exit_reason"] == ExitReason.TRAILING_STOP.value
    assert triggered["protection"]["trigger_price"] > triggered["protection"]["entry_price"]


# -- the running desk ---------------------------------------------------------------------------------------------


def run[T](clock: VirtualClock, coro: Coroutine[Any, Any, T]) -> T:
    return clock.run(coro)


def atm_call(desk: Desk) -> str:
    expiry = desk.expiries("NIFTY", 1)[0]
    return desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol


def protected_buy(symbol: str, spec: dict[str, Any]) -> ExecutionRequest:
    return ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=130,
                            protection=ProtectionSpec.model_validate(spec))


def test_desk_arms_a_tickets_protection_on_its_fill(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> None:
        desk.start()
        await desk.submit(protected_buy(symbol, {"stop_loss": {"value": 50, "unit": "percent"}})).task
        await clock.sleep(0.5)
        await desk.stop()

    run(clock, main())
    (view,) = desk.protections
    assert (view.status, view.quantity) == (ProtectionStatus.ARMED, 130)
    assert view.stop_loss is not None and view.stop_loss < view.entry_price
    assert any(isinstance(e, ProtectionsEvent) and e.protections == desk.protections for e in events)


def test_exit_all_cancels_the_positions_protections(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> None:
        desk.start()
        await desk.submit(protected_buy(symbol, {"stop_loss": {"value": 50, "unit": "percent"}})).task
        await clock.sleep(0.5)
        exits = await desk.exit_positions()
        await asyncio.gather(*(s.task for s in exits))
        await desk.stop()

    run(clock, main())
    assert [v.status for v in desk.protections] == [ProtectionStatus.CANCELLED]


def test_protective_exit_goes_through_with_the_kill_switch_on(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)
    kill_switch_at_trigger: list[bool] = []

    def on_event(event: DeskEvent) -> None:
        if not isinstance(event, ProtectionsEvent) or not event.protections:
            return
        status = event.protections[0].status
        if status is ProtectionStatus.ARMED and not desk.kill_switch:
            desk.set_kill_switch(True)  # armed: from now on every new entry is refused
        elif status is ProtectionStatus.TRIGGERED and event.protections[0].exit_parent_id is not None:
            kill_switch_at_trigger.append(desk.kill_switch)  # the exit was just sent

    desk.add_listener(on_event)

    async def main() -> int:
        desk.start()
        # A stop one tick under the fill: the bid is already through it, so the next tick triggers it.
        await desk.submit(protected_buy(symbol, {"stop_loss": {"value": 0.05}})).task
        await clock.sleep(2.0)
        portfolio = await desk.refresh_portfolio()
        await desk.stop()
        return sum(p.quantity for p in portfolio.positions)

    left = run(clock, main())
    (view,) = desk.protections
    assert kill_switch_at_trigger == [True]
    assert view.status is ProtectionStatus.EXITED
    assert left == 0


def test_paper_desk_saves_its_protections_and_drops_them_on_restart(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def first() -> None:
        desk.start()
        await desk.submit(protected_buy(symbol, {"stop_loss": {"value": 50, "unit": "percent"}})).task
        await clock.sleep(0.5)
        await desk.stop()

    run(clock, first())
    saved = desk.protection_store.load()
    again, clock2, events = make_desk(tmp_path)

    async def second() -> None:
        again.start()
        await again.stop()

    run(clock2, second())
    assert [p["status"] for p in saved] == [ProtectionStatus.ARMED.value]
    assert any(isinstance(e, MessageEvent) for e in events)
    assert again.protections == () and again.protection_store.load() == []
