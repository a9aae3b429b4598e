"""The desk in LIVE mode against a fake Kite over loopback: what a trader does reaches the venue as it should, a
refused token stops every order until the next login, and what live mode must refuse is refused."""

from __future__ import annotations

import functools
import gc
import json
import logging
from http import HTTPStatus
from pathlib import Path

import pytest

from imperium_desk.config import ConfigError
from imperium_desk.desk.events import DeskEvent, SessionEvent, SessionState, StateEvent
from imperium_desk.desk.live import StoreChoice
from imperium_desk.domain.enums import Mode, OptionRight, ParentStatus, Product, Side
from imperium_desk.execution.request import FailureKind, InvalidOrder
from tests.fake_kite.faults import Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import WriteOutcome
from tests.integration.kite.live_support import (
    UNDERLYING,
    first_expiry,
    kite_market,
    open_desk,
    our_orders,
    place_external,
    ticked_contract,
    ticket,
    until,
    wait_orders,
)
from tests.integration.kite.stack_support import run

REPO = Path(__file__).resolve().parents[3]


pytestmark = pytest.mark.usefixtures("no_keyring")


def test_a_ticket_reaches_kite_as_one_tagged_market_protected_order_and_fills(fake: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            contract = await ticked_contract(desk)
            result = await desk.submit(ticket(contract)).task
            (order,) = our_orders(fake, desk)
        finally:
            await desk.stop()
        assert result.status is ParentStatus.COMPLETE
        assert (order["tradingsymbol"], order["transaction_type"], order["order_type"]) == (
            contract.symbol, "BUY", "MARKET")
        assert order["market_protection"] == 5  # the config's, never the refused 0
        assert order["status"] == "COMPLETE" and order["filled_quantity"] == contract.lot_size
        assert result.child_order_ids == [order["order_id"]]

    run(main())


def test_a_multi_strike_buy_reaches_kite_as_one_tagged_order_per_strike(fake: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            expiry = first_expiry(desk)
            rows = desk.chain(UNDERLYING, expiry, 2)
            market = kite_market(desk)
            for row in rows:
                symbol = row.call.symbol
                await until(functools.partial(market.has_ticked, symbol), what=f"a tick of {symbol}")
            legs = desk.multi_strike_legs(underlying=UNDERLYING, expiry=expiry, right=OptionRight.CE,
                                          strikes_below=1, strikes_above=1, lots=1)
            results = [await s.task for s in desk.submit_many([leg.request for leg in legs])]
            orders = our_orders(fake, desk)
        finally:
            await desk.stop()
        assert [r.status for r in results] == [ParentStatus.COMPLETE] * 3
        assert sorted(o["tradingsymbol"] for o in orders) == sorted(leg.contract.symbol for leg in legs)
        assert len({o["tag"] for o in orders}) == 3
        assert len({leg.contract.strike for leg in legs}) == 3

    run(main())


def test_exit_all_closes_positions_opened_outside_the_desk_each_in_its_own_product(
    fake: FakeKite, tmp_path: Path
) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            nrml = await ticked_contract(desk, 0)
            mis = await ticked_contract(desk, 1)
            await place_external(fake, nrml.symbol, "BUY", 2 * nrml.lot_size)
            await place_external(fake, mis.symbol, "BUY", mis.lot_size, product="MIS")
            await wait_orders(fake, lambda orders: sum(o["status"] == "COMPLETE" for o in orders) == 2)
            results = [await s.task for s in await desk.exit_positions()]
            exits = our_orders(fake, desk)
            left = await desk.engine.broker.positions()
        finally:
            await desk.stop()
        assert [r.status for r in results] == [ParentStatus.COMPLETE] * 2
        sent = sorted((o["tradingsymbol"], o["transaction_type"], o["product"], o["quantity"]) for o in exits)
        wanted = [(nrml.symbol, "SELL", "NRML", 2 * nrml.lot_size), (mis.symbol, "SELL", "MIS", mis.lot_size)]
        assert sent == sorted(wanted)
        assert {(p.symbol, p.product): p.quantity for p in left} == {
            (nrml.symbol, Product.NRML): 0, (mis.symbol, Product.MIS): 0}

    run(main())


def test_an_expired_token_stops_every_order_until_the_next_login(fake: FakeKite, tmp_path: Path) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            contract = await ticked_contract(desk)
            fake.expire_token()
            refused = await desk.submit(ticket(contract)).task
            await until(lambda: _expired(events), what="SessionEvent EXPIRED")
            writes_at_expiry = len(fake.order_writes())
            with pytest.raises(InvalidOrder):
                desk.submit(ticket(contract))
            with pytest.raises(InvalidOrder):
                desk.submit_many([ticket(contract)])
            writes_while_expired = fake.order_writes()[writes_at_expiry:]
            await desk.relogin(fake.new_request_token(), fake.api_secret, StoreChoice.NONE)
            after = await desk.submit(ticket(contract)).task
        finally:
            await desk.stop()
        assert refused.status is not ParentStatus.COMPLETE
        # Whichever request meets the 403 first (the order, or a positions or order-book read just before it), the
        # session is over for every order: at most the one write that met the 403 reached Kite, and none after it.
        assert writes_at_expiry <= 1
        assert all(w.outcome is WriteOutcome.REFUSED for w in fake.order_writes()[:writes_at_expiry])
        assert writes_while_expired == []
        assert after.status is ParentStatus.COMPLETE
        states = [e.state for e in events if isinstance(e, SessionEvent)]
        assert states.count(SessionState.EXPIRED) == 1 and states[-1] is SessionState.VALID

    run(main())


def test_exit_all_while_the_session_is_expired_is_refused_with_the_reason(fake: FakeKite, tmp_path: Path) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            contract = await ticked_contract(desk)
            await desk.submit(ticket(contract)).task
            fake.expire_token()
            await desk.submit(ticket(contract)).task  # its 403 tells the desk
            await until(lambda: _expired(events), what="SessionEvent EXPIRED")
            writes = len(fake.order_writes())
            with pytest.raises(InvalidOrder):  # the desk's reason, not the broker's BrokerSessionExpired
                await desk.exit_positions()
            assert len(fake.order_writes()) == writes
        finally:
            await desk.stop()

    run(main())


def test_an_expired_session_leaves_no_failed_portfolio_refresh_behind(
    fake: FakeKite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The portfolio refresh (every second) meets the dead token too: it must not end in a task whose exception
    nobody retrieves (an ERROR with a traceback in the log each second until the next login)."""
    caplog.set_level(logging.ERROR)
    events: list[DeskEvent] = []

    def refused_position_reads() -> int:
        return sum(r.route is Route.POSITIONS and r.status == HTTPStatus.FORBIDDEN for r in fake.requests())

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            contract = await ticked_contract(desk)
            fake.expire_token()
            await desk.submit(ticket(contract)).task
            await until(lambda: _expired(events), what="SessionEvent EXPIRED")
            expired_at = len(events)
            # Each portfolio tick (every second) emits the desk's state: two of them after the expiry.
            await until(lambda: sum(isinstance(e, StateEvent) for e in events[expired_at:]) >= 2,
                        what="two portfolio ticks after the expiry")
        finally:
            await desk.stop()
        gc.collect()  # a task's unretrieved exception is logged when the task is freed

    run(main())
    assert refused_position_reads() <= 1  # at most the one in flight at the expiry: none is sent while expired
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _expired(events: list[DeskEvent]) -> bool:
    return any(isinstance(e, SessionEvent) and e.state is SessionState.EXPIRED for e in events)


def test_the_kill_switch_blocks_entries_but_never_exit_all(fake: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            contract = await ticked_contract(desk)
            opened = await desk.submit(ticket(contract, lots=2)).task
            desk.set_kill_switch(True)
            writes = len(fake.order_writes())
            blocked = await desk.submit(ticket(contract)).task
            writes_after_blocked = len(fake.order_writes())
            exits = [await s.task for s in await desk.exit_positions()]
            left = await desk.engine.broker.positions()
        finally:
            await desk.stop()
        assert opened.status is ParentStatus.COMPLETE
        assert blocked.failure is FailureKind.RISK_REFUSED and writes_after_blocked == writes
        assert [(r.side, r.filled_qty, r.status) for r in exits] == [
            (Side.SELL, 2 * contract.lot_size, ParentStatus.COMPLETE)]
        assert [p.quantity for p in left] == [0]

    run(main())


def test_live_telemetry_goes_to_its_own_file_marked_live(fake: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            await desk.submit(ticket(await ticked_contract(desk))).task
        finally:
            await desk.stop()

    run(main())
    records = [json.loads(line) for line in (tmp_path / "execution_quality_live.jsonl").read_text().splitlines()]
    assert "fill" in {r["event"] for r in records}
    assert {r["mode"] for r in records if "mode" in r} == {"live"}
    assert not (tmp_path / "execution_quality_paper.jsonl").exists()


def test_a_drill_is_refused_in_live_mode(fake: FakeKite, tmp_path: Path) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            with pytest.raises(ConfigError):
                await desk.start_drill(REPO / "imperium_desk" / "configs" / "scenarios" / "reject-storm.yaml")
            assert desk.drill is None
        finally:
            await desk.stop()
        assert fake.order_writes() == []

    run(main())
