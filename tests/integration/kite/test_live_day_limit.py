"""The day's P&L limit against a fake Kite: in LIVE and PAPER_LIVE_DATA alike, a crossing turns the kill switch on
and closes every position through the venue, and the next entry is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imperium_desk.config import config_from_mapping, deep_merge
from imperium_desk.desk.events import DeskEvent, ParentFinished, RecordEvent
from imperium_desk.domain.enums import Mode, ParentStatus
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.request import FailureKind, ParentResult
from tests.fake_kite.server import FakeKite
from tests.integration.kite.live_support import live_config_mapping, open_desk, ticked_contract, ticket
from tests.integration.kite.stack_support import run, until

pytestmark = pytest.mark.usefixtures("no_keyring")

# A paisa either way: the first refresh after the fill that sees any P&L at all crosses one of them.
HAIR_TRIGGER = {"risk": {"daily_loss_limit": 0.01, "profit_lock": 0.01}}


def _limit_records(events: list[DeskEvent]) -> list[dict[str, Any]]:
    return [e.record for e in events if isinstance(e, RecordEvent) and e.record["event"] == "risk_limit"]


def _exits(events: list[DeskEvent]) -> list[ParentResult]:
    """The results of the parents the risk_limit record names (each as it ended)."""
    records = _limit_records(events)
    ids = set(records[0]["risk_limit"]["exit_parent_ids"]) if records else set()
    return [e.result for e in events if isinstance(e, ParentFinished) and e.result.parent_id in ids]


@pytest.mark.parametrize("mode", [Mode.LIVE, Mode.PAPER_LIVE_DATA])
def test_a_crossing_closes_every_position_and_blocks_the_next_entry(
    fake: FakeKite, tmp_path: Path, mode: Mode
) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        config = config_from_mapping(deep_merge(live_config_mapping(fake), HAIR_TRIGGER), "test")
        desk = await open_desk(fake, tmp_path, mode, config=config, events=events)
        try:
            contract = await ticked_contract(desk)
            opened = await desk.submit(ticket(contract, lots=2)).task
            await until(lambda: bool(_limit_records(events)), timeout_s=10.0, what="a risk_limit record")
            await until(lambda: bool(_exits(events)), timeout_s=10.0, what="the exit's end")
            blocked = await desk.submit(ticket(contract)).task
            left = await desk.engine.broker.positions()
            kill_switch = desk.kill_switch
        finally:
            await desk.stop()
        assert opened.status is ParentStatus.COMPLETE
        (record,) = _limit_records(events)
        assert ExitReason(record["risk_limit"]["reason"]) in {ExitReason.DAILY_LOSS_LIMIT, ExitReason.PROFIT_LOCK}
        assert len(record["risk_limit"]["exit_parent_ids"]) == 1
        assert [r.status for r in _exits(events)] == [ParentStatus.COMPLETE]
        assert kill_switch and blocked.failure is FailureKind.RISK_REFUSED
        assert [p.quantity for p in left] == [0]

    run(main())
