"""A live desk that crashes with orders working at Kite, and the desk started after it on the same home.

The crash is a real one: the first desk runs in a child process (`live_support` as a module), submits LIMIT orders
priced where nothing trades (so they stay working at the venue) and is killed with SIGKILL once the fake has them.
Nothing of `Desk.stop` runs (no cancel, no telemetry flush, the tag-session claim left behind), which no in-process
stand-in can promise: stopping the first desk's loop work by hand would still leave its parents' tasks, its REST
lanes and its ticker in this process. The second desk is then built in the test on the same home and the same
account, as a trader restarting the window would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.broker.kite.tags import parse_tag
from imperium_desk.desk.events import DeskEvent, RecordEvent
from imperium_desk.desk.live import ACCESS_TOKEN_ENV
from imperium_desk.domain.enums import Mode, OrderType, ParentStatus
from tests.fake_kite.faults import Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import WriteOutcome
from tests.integration.kite.live_support import (
    NO_KEYRING_ENV,
    kite_broker,
    live_config_mapping,
    open_desk,
    our_orders,
    ticked_contract,
    ticket,
    until,
)
from tests.integration.kite.stack_support import run

REPO = Path(__file__).resolve().parents[3]
LOTS = (1, 2, 3)


pytestmark = pytest.mark.usefixtures("no_keyring")


def crash_a_desk_with_working_orders(fake: FakeKite, home: Path) -> list[dict[str, Any]]:
    """The first desk, killed once its LIMIT orders are working at the fake; those orders."""
    config = home.parent / "live-config.json"
    config.write_text(json.dumps(live_config_mapping(fake)))
    env = {**os.environ, **NO_KEYRING_ENV, ACCESS_TOKEN_ENV: fake.access_token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.kite.live_support", str(config), str(home), *map(str, LOTS)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        working = fake.wait_for_orders(
            lambda orders: sum(o["status"] == "OPEN" and bool(o["tag"]) for o in orders) == len(LOTS), timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, err
    return [o for o in working if o["status"] == "OPEN"]


def test_a_desk_restarted_after_a_crash_resends_nothing_and_finds_the_working_orders_by_tag(
    fake: FakeKite, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    working = crash_a_desk_with_working_orders(fake, home)
    writes_at_crash = len(fake.order_writes())
    first_session = {parse_tag(o["tag"]).session for o in working}  # type: ignore[union-attr]

    async def main() -> None:
        desk = await open_desk(fake, home, Mode.LIVE)
        try:
            writes_after_start = len(fake.order_writes())
            found = await kite_broker(desk).reconcile()
            session = kite_broker(desk).tags.session
            own = await desk.submit(ticket(await ticked_contract(desk))).task
            (mine,) = our_orders(fake, desk)
        finally:
            await desk.stop()
        assert writes_after_start == writes_at_crash  # nothing re-sent, nothing cancelled on start
        assert sorted(o.order_id for o in found) == sorted(o["order_id"] for o in working)
        assert all(not o.status.terminal for o in found)
        assert len(first_session) == 1 and session > first_session.pop()
        assert own.status is ParentStatus.COMPLETE and parse_tag(mine["tag"]).session == session  # type: ignore[union-attr]
        assert fake.duplicate_tags() == {}
        assert len(fake.order_writes()) == writes_at_crash + 1  # the new desk's own order, and only it
        still = {o["order_id"]: o["status"] for o in fake.orders()}
        assert [still[o["order_id"]] for o in working] == ["OPEN"] * len(LOTS)

    run(main())


def test_a_clean_stop_cancels_the_desks_working_orders_at_kite(fake: FakeKite, tmp_path: Path) -> None:
    """The contrast to a crash: `Desk.stop` cancels working parents, and in live mode that means their orders at
    the venue, not only the tasks that track them."""
    events: list[DeskEvent] = []

    async def main() -> list[dict[str, Any]]:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            contract = await ticked_contract(desk)
            desk.submit(ticket(contract, order_type=OrderType.LIMIT, limit_price=contract.tick_size))
            await until(lambda: any(isinstance(e, RecordEvent) and e.record["event"] == "ack" for e in events),
                        what="the order acknowledged")
            (working,) = our_orders(fake, desk)
        finally:
            await desk.stop()
        return [working]

    (working,) = run(main())
    cancels = [w for w in fake.order_writes(Route.CANCEL) if w.order_id == working["order_id"]]
    assert [w.outcome for w in cancels] == [WriteOutcome.ACCEPTED]
    final = fake.wait_for_orders(lambda orders: any(o["order_id"] == working["order_id"] and o["status"] in
                                                    {"CANCELLED", "COMPLETE"} for o in orders), timeout=5)
    assert [o["status"] for o in final if o["order_id"] == working["order_id"]] == ["CANCELLED"]
