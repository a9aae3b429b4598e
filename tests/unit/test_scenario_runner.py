"""The scenario runner's schedule and its tally of how parents ended."""

from __future__ import annotations

from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult
from imperium_desk.scenarios.runner import ParentTally, ScenarioRunner, schedule
from imperium_desk.scenarios.spec import ScenarioSpec
from tests.support import harness

ORDER = {"symbol": "NIFTY26NOV26000CE", "side": "buy", "lots": 1}


def test_schedule_orders_by_time_then_file_order() -> None:
    spec = ScenarioSpec.model_validate({"id": "s", "seed": 1, "duration_s": 30, "orders": [
        {"every_s": 10, "from_s": 5, **ORDER}, {"every_s": 5, "from_s": 0, **ORDER}, {"at_s": 5, **ORDER}]})
    assert [(s.at_s, s.index) for s in schedule(spec)] == [
        (0.0, 1), (5.0, 0), (5.0, 1), (5.0, 2), (10.0, 1), (15.0, 0), (15.0, 1), (20.0, 1), (25.0, 0), (25.0, 1),
        (30.0, 1)]


def _result(status: ParentStatus, failure: FailureKind | None) -> ParentResult:
    return ParentResult(parent_id="P", symbol="X", side=Side.BUY, quantity=65, status=status, failure=failure)


def test_the_tally_counts_statuses_and_failure_kinds_with_zeros() -> None:
    tally = ParentTally()
    tally.add(_result(ParentStatus.COMPLETE, None))
    tally.add(_result(ParentStatus.REJECTED, FailureKind.EXPIRED))
    tally.add(_result(ParentStatus.CANCELLED, FailureKind.UNFILLED))
    assert tally.parents == 3
    assert tally.status_counts()["complete"] == 1 and tally.status_counts()["failed"] == 0
    assert tally.failure_counts() == {k.value: int(k in (FailureKind.EXPIRED, FailureKind.UNFILLED))
                                      for k in FailureKind}


def test_every_parent_of_a_repeated_entry_gets_the_request_its_entry_and_contract_make() -> None:
    h = harness()
    call, put = h.atm(), h.atm(right=OptionRight.PE)
    spec = ScenarioSpec.model_validate({"id": "s", "seed": 1, "duration_s": 3, "orders": [
        {"every_s": 1, "symbol": call.symbol, "side": "buy", "lots": 1},
        {"every_s": 1, "symbol": put.symbol, "side": "sell", "lots": 2, "algo": "TWAP"}]})
    sent: list[ExecutionRequest] = []

    async def execute(request: ExecutionRequest) -> ParentResult:
        sent.append(request)
        return _result(ParentStatus.COMPLETE, None)

    runner = ScenarioRunner(spec, clock=h.clock, stack=h.engine.stack, market=h.engine.market,
                            catalog=h.engine.catalog, execute=execute)
    h.clock.run(runner.run())
    assert sent == [runner.request_for(item.order) for item in schedule(spec)]
