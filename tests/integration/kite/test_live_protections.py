"""Protective exits against a fake Kite (issue 21): armed on a real fill, triggered by the fake's market moving
through the stop, the exit sent once through Kite (LIVE) or filled on the paper exchange against Kite's quotes
(PAPER_LIVE_DATA), and a desk restarted after a crash sending no exit a second time.

The market is moved by jumping the fake's simulated index (`FakeKite.call` on its `MarketSimulator.jump`): an ATM
call loses far more than the stop's 20% on a 3% fall of the index, while the random walk does not come near the stop
in the seconds a test runs.

The crashes are real ones, as in `test_live_restart.py`: the first desk runs in a child process (this module run as
`python -m tests.integration.kite.test_live_protections CONFIG HOME WHEN`) and kills itself with SIGKILL at a chosen
moment: once its protection is ARMED and saved (`armed`), or on the first broker answer about the exit its
protection sent (`triggered`: the protection is saved TRIGGERED, the exit is at Kite, its outcome unheard). Nothing of
`Desk.stop` runs (no cancel of the working exit, no save of a later state). The second desk is built in the test on
the same home and the same account, in a new Kite tag session, so the earlier exit is not found by its tag.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.broker.kite.tags import parse_tag
from imperium_desk.desk import Desk
from imperium_desk.desk.events import DeskEvent, ParentFinished, ParentStarted, ProtectionView
from imperium_desk.desk.live import ACCESS_TOKEN_ENV
from imperium_desk.domain.enums import Mode, OrderType, ParentStatus, Side
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.domain.protection import ExitReason, Offset, OffsetUnit, ProtectionSpec, ProtectionStatus, levels
from imperium_desk.execution.request import ExecutionRequest, ParentResult
from imperium_desk.execution.tracker import Record
from imperium_desk.market.port import Quote, TickBatch
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import KiteAccount
from tests.integration.kite.live_support import (
    NO_KEYRING_ENV,
    UNDERLYING,
    isolated_keyring,
    kite_broker,
    live_config_mapping,
    open_desk,
    our_orders,
    started_child_desk,
    ticked_contract,
    ticket,
    until,
    wait_orders,
)
from tests.integration.kite.stack_support import run

REPO = Path(__file__).resolve().parents[3]
STOP = ProtectionSpec(stop_loss=Offset(value=20.0, unit=OffsetUnit.PERCENT))
JUMP_PCT = -3.0  # the index falls 3%: the ATM call's bid goes far through a 20% stop
WAIT_S = 15.0
TICKS_AFTER = 5  # ticks of the contract through the stop a desk is watched for before "nothing was sent" is read
CHILD_TIMEOUT_S = 40.0  # the crashing desk gives up (and exits) after this long
HELD_PRICE_FACTOR = 5  # a held exit rests as a LIMIT this many times the bid: nothing in a falling market fills it

pytestmark = pytest.mark.usefixtures("no_keyring")


# -- helpers -------------------------------------------------------------------------------------------------------
def protected(contract: OptionContract, lots: int = 1) -> ExecutionRequest:
    """A trader's MARKET buy ticket carrying the stop."""
    return ticket(contract, lots=lots).model_copy(update={"protection": STOP})


def view(desk: Desk, entry_parent_id: str) -> ProtectionView | None:
    return next((p for p in desk.protections if p.entry_parent_id == entry_parent_id), None)


async def wait_status(desk: Desk, entry_parent_id: str, status: ProtectionStatus) -> ProtectionView:
    def reached() -> bool:
        p = view(desk, entry_parent_id)
        return p is not None and p.status is status

    await until(reached, timeout_s=WAIT_S, what=f"protection {entry_parent_id} {status.value}")
    found = view(desk, entry_parent_id)
    assert found is not None
    return found


async def jump(fake: FakeKite) -> None:
    """The fake's index falls `JUMP_PCT` now (off the loop: the fake answers on its own thread)."""
    await asyncio.to_thread(jump_now, fake)


def jump_now(fake: FakeKite) -> None:
    """`jump` from the test's own thread (no loop running there)."""
    fake.call(lambda account: account.market.jump(UNDERLYING, JUMP_PCT))


class TickCounter:
    """Counts the desk feed's ticks of one symbol whose bid is below `level` (a long's stop crossed)."""

    def __init__(self, desk: Desk, symbol: str, level: float) -> None:
        self.symbol, self.level, self.count = symbol, level, 0
        desk.engine.feed.add_listener(self._on_ticks)

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        quote = quotes.get(self.symbol) if isinstance(quotes, TickBatch) else next(
            (q for q in quotes if q.symbol == self.symbol), None)
        if quote is not None and 0 < quote.bid < self.level:
            self.count += 1


def records(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def protection_records(desk_home: Path, mode: Mode, action: str) -> list[Record]:
    return [r for r in records(desk_home / f"execution_quality_{mode.value}.jsonl")
            if r["event"] == "protection" and r["protection"]["action"] == action]


def saved(home: Path) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((home / f"protections_{Mode.LIVE.value}.json").read_text())
    out: list[dict[str, Any]] = data["protections"]
    return out


def exit_results(events: list[DeskEvent], done: ProtectionView) -> list[ParentResult]:
    """How the protection's exit parent ended (one result per end heard)."""
    return [e.result for e in events if isinstance(e, ParentFinished) and e.result.parent_id == done.exit_parent_id]


def sells(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if o["transaction_type"] == "SELL"]


async def enter_protected(desk: Desk) -> tuple[OptionContract, str, ProtectionView]:
    """A protected MARKET buy of one lot, filled; its protection once ARMED."""
    contract = await ticked_contract(desk)
    submitted = desk.submit(protected(contract))
    result = await submitted.task
    assert result.status is ParentStatus.COMPLETE
    armed = await wait_status(desk, submitted.parent_id, ProtectionStatus.ARMED)
    return contract, submitted.parent_id, armed


def hold_sells(account: KiteAccount) -> None:
    """From now on the fake rests every SELL it is sent as a LIMIT far above the market (the exchange leaves it
    working: OPEN, unfilled, cancellable), as a venue in a fast market leaves a protected exit open."""
    send = account.send

    async def held(record: Any, checked: Any) -> None:
        if checked.side is Side.SELL:
            bid = account.quote(checked.row).bid
            tick = checked.row.contract.tick_size
            price = round(round(max(bid, tick) * HELD_PRICE_FACTOR / tick) * tick, 2)
            checked = replace(checked, order_type=OrderType.LIMIT, price=price)
        await send(record, checked)

    account.send = held  # type: ignore[method-assign]


def release_sells(account: KiteAccount) -> None:
    """Undo `hold_sells`: SELLs go to the exchange as sent again."""
    vars(account).pop("send")


# -- 1, 2: the stop triggers and the exit fills, in LIVE and on the paper exchange on Kite's quotes ------------------
def test_live_a_stop_crossed_at_kite_sends_one_tagged_exit_that_fills(fake: FakeKite, tmp_path: Path) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            contract, entry_id, armed = await enter_protected(desk)
            (entry,) = our_orders(fake, desk)
            await jump(fake)
            done = await wait_status(desk, entry_id, ProtectionStatus.EXITED)
            orders = our_orders(fake, desk)
            tags = kite_broker(desk).tags
        finally:
            await desk.stop()
        wanted = levels(STOP, Side.BUY, entry["average_price"], contract.lot_size, contract.tick_size)
        assert (armed.entry_price, armed.stop_loss, armed.quantity) == (
            entry["average_price"], wanted.stop_loss, contract.lot_size)
        (exit_order,) = sells(orders)
        assert len(orders) == 2
        assert (exit_order["tradingsymbol"], exit_order["quantity"], exit_order["status"]) == (
            contract.symbol, contract.lot_size, "COMPLETE")
        assert done.exit_parent_id is not None
        assert tags.decode(exit_order["tag"]) == f"{done.exit_parent_id}C0"  # the stack's tag, in this session
        exits = exit_results(events, done)
        assert [(r.status, r.child_order_ids) for r in exits] == [(ParentStatus.COMPLETE, [exit_order["order_id"]])]
        (triggered,) = protection_records(tmp_path, Mode.LIVE, "triggered")
        assert triggered["protection"]["exit_parent_id"] == done.exit_parent_id
        assert ExitReason(triggered["protection"]["exit_reason"]) is ExitReason.STOP_LOSS
        assert wanted.stop_loss is not None and triggered["protection"]["trigger_price"] < wanted.stop_loss

    run(main())


def test_paper_live_data_a_stop_crossed_on_kites_quotes_exits_on_the_paper_exchange(
    fake: FakeKite, tmp_path: Path
) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.PAPER_LIVE_DATA, events=events)
        try:
            contract, entry_id, armed = await enter_protected(desk)
            await jump(fake)
            done = await wait_status(desk, entry_id, ProtectionStatus.EXITED)
            left = await desk.engine.broker.positions()
        finally:
            await desk.stop()
        assert armed.quantity == contract.lot_size and armed.stop_loss is not None
        assert armed.stop_loss < armed.entry_price
        exits = exit_results(events, done)
        assert [(r.status, r.side, r.filled_qty) for r in exits] == [
            (ParentStatus.COMPLETE, Side.SELL, contract.lot_size)]
        assert [p.quantity for p in left if p.symbol == contract.symbol] == [0]
        assert fake.order_writes() == []  # the paper venue: nothing ever reaches Kite
        (triggered,) = protection_records(tmp_path, Mode.PAPER_LIVE_DATA, "triggered")
        assert triggered["protection"]["exit_parent_id"] == done.exit_parent_id

    run(main())


# -- 3: a crash, and the desk started after it on the same home ------------------------------------------------------
def crash_a_protected_desk(fake: FakeKite, home: Path, when: str,
                           after_armed: Callable[[], None] | None = None) -> dict[str, Any]:
    """The first desk (a child process) enters one protected lot and kills itself at `when` (module docstring);
    `after_armed` runs in the test once the protection is armed (moving the market for `triggered`). Returns what
    the child printed once armed (symbol, entry parent id, stop)."""
    config = home.parent / "live-config.json"
    config.write_text(json.dumps(live_config_mapping(fake)))
    env = {**os.environ, **NO_KEYRING_ENV, ACCESS_TOKEN_ENV: fake.access_token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.kite.test_live_protections", str(config), str(home), when],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the child is armed, or EOF if it died first
        if line and after_armed is not None:
            after_armed()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert line, err
    assert proc.returncode == -signal.SIGKILL, err
    armed: dict[str, Any] = json.loads(line)
    return armed


async def settled_on_restart(desk: Desk, entry_parent_id: str, events: list[DeskEvent]) -> ProtectionView:
    """The restored protection once its restore has decided (it is no longer TRIGGERED as saved), or as it stands
    when the restarted desk started a parent (an exit sent again: what the caller asserts never happens)."""
    def decided() -> bool:
        p = view(desk, entry_parent_id)
        return any(isinstance(e, ParentStarted) for e in events) or (
            p is not None and p.status is not ProtectionStatus.TRIGGERED)

    await until(decided, timeout_s=WAIT_S, what=f"the restore of protection {entry_parent_id}")
    found = view(desk, entry_parent_id)
    assert found is not None
    assert [e for e in events if isinstance(e, ParentStarted)] == []  # nothing sent again
    return found


async def nothing_sent_through_the_stop(desk: Desk, fake: FakeKite, symbol: str, stop: float,
                                        events: list[DeskEvent]) -> None:
    """The market falls again, and the desk sees `TICKS_AFTER` ticks through the stop: no parent is started."""
    counter = TickCounter(desk, symbol, stop)
    desk.quote(symbol)  # the counter needs the contract's ticks, whatever else the restarted desk subscribes
    await jump(fake)
    await until(lambda: counter.count >= TICKS_AFTER, timeout_s=WAIT_S, what=f"{TICKS_AFTER} ticks through the stop")
    assert [e for e in events if isinstance(e, ParentStarted)] == []


def crashed_after_the_trigger(fake: FakeKite, tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """A first desk that triggered its protection and died once its exit reached Kite: its home, what it printed
    once armed, and the exit order at Kite."""
    home = tmp_path / "home"
    home.mkdir()
    first = crash_a_protected_desk(fake, home, "triggered", after_armed=lambda: jump_now(fake))
    (left,) = saved(home)
    # Saved before the exit was sent (write-ahead), and again with the exit's id once sent: either may be the last.
    assert ProtectionStatus(left["status"]) is ProtectionStatus.TRIGGERED
    (exit_order,) = sells(fake.orders())
    return home, first, exit_order


def test_a_restart_after_the_exit_filled_sends_no_second_exit(fake: FakeKite, tmp_path: Path) -> None:
    home, first, exit_order = crashed_after_the_trigger(fake, tmp_path)
    assert exit_order["status"] == "COMPLETE"
    writes_at_crash = len(fake.order_writes())
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, home, Mode.LIVE, events=events)
        try:
            p = await settled_on_restart(desk, first["entry"], events)
            assert p.status is ProtectionStatus.EXITED and desk.engine.protections.armed_count == 0
            await nothing_sent_through_the_stop(desk, fake, first["symbol"], first["stop_loss"], events)
            session = kite_broker(desk).tags.session
        finally:
            await desk.stop()
        assert session != parse_tag(exit_order["tag"]).session  # type: ignore[union-attr]

    run(main())
    assert len(fake.order_writes()) == writes_at_crash
    assert len(sells(fake.orders())) == 1
    assert saved(home) == []


def test_a_restart_with_the_exit_still_working_at_kite_flags_it_and_sends_nothing(
    fake: FakeKite, tmp_path: Path
) -> None:
    fake.call(hold_sells)
    home, first, exit_order = crashed_after_the_trigger(fake, tmp_path)
    assert exit_order["status"] == "OPEN" and exit_order["filled_quantity"] == 0
    writes_at_crash = len(fake.order_writes())
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, home, Mode.LIVE, events=events)
        try:
            p = await settled_on_restart(desk, first["entry"], events)
            assert p.status is ProtectionStatus.UNRESTORED
            await nothing_sent_through_the_stop(desk, fake, first["symbol"], first["stop_loss"], events)
        finally:
            await desk.stop()

    run(main())
    assert len(fake.order_writes()) == writes_at_crash
    (still,) = sells(fake.orders())
    assert (still["order_id"], still["status"]) == (exit_order["order_id"], "OPEN")
    (unrestored,) = protection_records(home, Mode.LIVE, "unrestored")
    assert unrestored["parent_id"] == first["entry"]


def test_a_restart_rearms_an_armed_protection_which_then_triggers_once(fake: FakeKite, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    first = crash_a_protected_desk(fake, home, "armed")
    (left,) = saved(home)
    assert ProtectionStatus(left["status"]) is ProtectionStatus.ARMED
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, home, Mode.LIVE, events=events)
        try:
            # Held ARMED as saved at once; watched again (`armed_count`) once the broker's position was checked.
            await until(lambda: desk.engine.protections.armed_count == 1, timeout_s=WAIT_S, what="the re-arming")
            armed = view(desk, first["entry"])
            assert armed is not None and armed.status is ProtectionStatus.ARMED
            assert (armed.stop_loss, armed.quantity) == (first["stop_loss"], first["qty"])
            await jump(fake)
            done = await wait_status(desk, first["entry"], ProtectionStatus.EXITED)
            mine = our_orders(fake, desk)
            tags = kite_broker(desk).tags
        finally:
            await desk.stop()
        (exit_order,) = mine
        assert (exit_order["transaction_type"], exit_order["quantity"], exit_order["status"]) == (
            "SELL", first["qty"], "COMPLETE")
        assert tags.decode(exit_order["tag"]) == f"{done.exit_parent_id}C0"
        assert [e.request.metadata.exit_reason for e in events if isinstance(e, ParentStarted)] == [
            ExitReason.STOP_LOSS]

    run(main())
    assert len(sells(fake.orders())) == 1
    assert saved(home) == []


def test_a_clean_stop_with_the_exit_working_leaves_the_protection_to_the_restart_which_exits_once(
    fake: FakeKite, tmp_path: Path
) -> None:
    """`Desk.stop` cancels the exit working at Kite (nothing of it filled): the protection is left saved TRIGGERED,
    not dropped as FAILED, so the restarted desk finds the position still held, re-arms it and sends the one exit
    the crossed stop calls for."""
    fake.call(hold_sells)

    async def first() -> tuple[OptionContract, str]:
        desk = await open_desk(fake, tmp_path, Mode.LIVE)
        try:
            contract, entry_id, _ = await enter_protected(desk)
            await jump(fake)
            await wait_status(desk, entry_id, ProtectionStatus.TRIGGERED)
            await wait_orders(fake, lambda orders: [o["status"] for o in sells(orders)] == ["OPEN"])
        finally:
            await desk.stop()
        return contract, entry_id

    contract, entry_id = run(first())
    (cancelled,) = sells(fake.orders())
    assert (cancelled["status"], cancelled["filled_quantity"]) == ("CANCELLED", 0)
    (left,) = saved(tmp_path)
    assert ProtectionStatus(left["status"]) is ProtectionStatus.TRIGGERED
    fake.call(release_sells)
    events: list[DeskEvent] = []

    async def second() -> None:
        desk = await open_desk(fake, tmp_path, Mode.LIVE, events=events)
        try:
            done = await wait_status(desk, entry_id, ProtectionStatus.EXITED)
            mine = our_orders(fake, desk)
            held = await desk.engine.broker.positions()
            tags = kite_broker(desk).tags
        finally:
            await desk.stop()
        (exit_order,) = mine
        assert (exit_order["transaction_type"], exit_order["quantity"], exit_order["status"]) == (
            "SELL", contract.lot_size, "COMPLETE")
        assert tags.decode(exit_order["tag"]) == f"{done.exit_parent_id}C0"
        assert [e.request.metadata.exit_reason for e in events if isinstance(e, ParentStarted)] == [
            ExitReason.STOP_LOSS]
        assert [p.quantity for p in held if p.symbol == contract.symbol] == [0]

    run(second())
    assert saved(tmp_path) == []


# -- the crashing first desk (a child process) -----------------------------------------------------------------------
async def _crashing_protected_desk(config_path: Path, home: Path, when: str) -> None:
    desk = await started_child_desk(config_path, home)
    contract, entry_id, armed = await enter_protected(desk)
    await until(lambda: [p["status"] for p in saved(home)] == [ProtectionStatus.ARMED.value],
                timeout_s=WAIT_S, what="the armed protection saved")
    manager = desk.engine.protections

    def crash_on_the_exits_first_answer(record: Record) -> None:
        p = manager.get(entry_id)
        if (p is not None and p.exit_parent_id is not None and record.get("parent_id") == p.exit_parent_id
                and record["event"] in {"ack", "fill", "partial_fill", "reject"}):
            os.kill(os.getpid(), signal.SIGKILL)

    desk.engine.tracker.add_listener(crash_on_the_exits_first_answer)
    sys.stdout.write(json.dumps({"symbol": contract.symbol, "entry": entry_id, "stop_loss": armed.stop_loss,
                                 "qty": armed.quantity}) + "\n")
    sys.stdout.flush()
    if when == "armed":
        os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.Event().wait()  # the exit's first answer kills it


if __name__ == "__main__":
    with isolated_keyring():
        # Bounded: a child that never reaches its crash ends (the test reads EOF and fails) instead of hanging it.
        asyncio.run(asyncio.wait_for(_crashing_protected_desk(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]),
                                     CHILD_TIMEOUT_S))
