"""The running desk's operations (what the window calls), on the virtual clock: no Qt here."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_desk.clock import VirtualClock
from imperium_desk.desk import (
    Desk,
    ParentFinished,
    ParentStarted,
    PortfolioEvent,
    RecordEvent,
    StateEvent,
)
from imperium_desk.domain.enums import Algo, OptionRight, OrderType, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest, InvalidOrder
from tests.support import make_desk


def run[T](clock: VirtualClock, coro: Coroutine[Any, Any, T]) -> T:
    return clock.run(coro)


def atm_call(desk: Desk, underlying: str = "NIFTY") -> str:
    expiry = desk.expiries(underlying, 1)[0]
    return desk.contract(underlying, expiry, desk.atm_strike(underlying), OptionRight.CE).symbol


def buy(symbol: str, qty: int, **kw: Any) -> ExecutionRequest:
    return ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=qty, **kw)


def test_chain_is_centred_on_atm_and_lists_calls_and_puts(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    rows = desk.chain("NIFTY", desk.expiries("NIFTY", 1)[0], 5)
    assert len(rows) == 11
    assert [r.strike for r in rows] == sorted(r.strike for r in rows)
    assert rows[5].atm and sum(r.atm for r in rows) == 1
    assert rows[5].call.symbol.endswith("CE") and rows[5].put.symbol.endswith("PE")
    run(clock, desk.stop())


def test_submitted_order_fills_and_reports_its_parent(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> ParentStatus:
        desk.start()
        submitted = desk.submit(buy(symbol, 65))
        result = await submitted.task
        await desk.refresh_portfolio()
        await desk.stop()
        return result.status

    assert run(clock, main()) is ParentStatus.COMPLETE
    assert any(isinstance(e, ParentStarted) for e in events)
    finished = [e for e in events if isinstance(e, ParentFinished)]
    assert finished and finished[0].result.filled_qty == 65
    assert any(isinstance(e, RecordEvent) and e.record["event"] == "fill" for e in events)
    portfolio = desk.last_portfolio
    assert portfolio.positions[0].symbol == symbol and portfolio.positions[0].quantity == 65
    assert portfolio.account.margin_used > 0


def test_stop_flushes_every_record_to_the_telemetry_file(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> None:
        desk.start()
        await desk.submit(buy(symbol, 130)).task
        await desk.stop()

    run(clock, main())
    lines = desk.telemetry_path.read_bytes().splitlines()
    seen = [e.record["seq"] for e in events if isinstance(e, RecordEvent)]
    assert [orjson.loads(line)["seq"] for line in lines] == seen


def test_invalid_order_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    with pytest.raises(InvalidOrder, match="quantity: 64"):
        desk.submit(buy(atm_call(desk), 64))
    assert desk.parents_in_flight == 0
    assert not [e for e in events if isinstance(e, RecordEvent)]
    run(clock, desk.stop())


def test_preview_prices_a_buy_above_the_mid(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)
    quote = desk.quote(symbol)
    estimate = desk.preview(buy(symbol, 650))
    assert estimate.expected_price > quote.mid
    assert estimate.cost_bps > 0
    assert estimate.intended_price == quote.ask
    run(clock, desk.stop())


def test_multi_strike_legs_span_the_strikes_around_atm(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    expiry = desk.expiries("NIFTY", 1)[0]
    legs = desk.multi_strike_legs(underlying="NIFTY", expiry=expiry, right=OptionRight.PE, strikes_below=2,
                                  strikes_above=1, lots=2, algo=Algo.IMMEDIATE, group="G1")
    strikes = [leg.contract.strike for leg in legs]
    atm = desk.atm_strike("NIFTY")
    assert strikes == [atm - 100, atm - 50, atm, atm + 50]
    assert all(leg.request.quantity == 130 and leg.request.metadata.group == "G1" for leg in legs)
    assert all(leg.contract.right is OptionRight.PE for leg in legs)
    run(clock, desk.stop())


def test_limit_legs_are_priced_at_their_own_touch(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    legs = desk.multi_strike_legs(underlying="NIFTY", expiry=desk.expiries("NIFTY", 1)[0], right=OptionRight.CE,
                                  strikes_below=1, strikes_above=1, lots=1, order_type=OrderType.LIMIT)
    for leg in legs:
        assert leg.request.limit_price == desk.quote(leg.contract.symbol).ask
    run(clock, desk.stop())


def test_exit_closes_positions_even_with_the_kill_switch_on(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> tuple[ParentStatus, int]:
        desk.start()
        await desk.submit(buy(symbol, 130)).task
        desk.set_kill_switch(True)
        blocked = await desk.submit(buy(symbol, 65)).task
        exits = await desk.exit_positions(right=OptionRight.CE)
        await asyncio.gather(*(s.task for s in exits))
        portfolio = await desk.refresh_portfolio()
        await desk.stop()
        return blocked.status, portfolio.positions[0].quantity

    blocked, left = run(clock, main())
    assert blocked is ParentStatus.REJECTED
    assert left == 0


def test_pressing_exit_twice_does_not_flip_the_position(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> int:
        desk.start()
        await desk.submit(buy(symbol, 130)).task
        first = await desk.exit_positions()
        second = await desk.exit_positions()  # the first exit is still in flight
        await asyncio.gather(*(s.task for s in first + second))
        portfolio = await desk.refresh_portfolio()
        await desk.stop()
        return len(second) * 1000 + portfolio.positions[0].quantity

    assert run(clock, main()) == 0


def test_exit_only_touches_the_chosen_option_type(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    call = atm_call(desk)
    put = call[:-2] + "PE"

    async def main() -> dict[str, int]:
        desk.start()
        await asyncio.gather(desk.submit(buy(call, 65)).task, desk.submit(buy(put, 65)).task)
        await asyncio.gather(*(s.task for s in await desk.exit_positions(right=OptionRight.PE)))
        portfolio = await desk.refresh_portfolio()
        await desk.stop()
        return {p.symbol: p.quantity for p in portfolio.positions}

    assert run(clock, main()) == {call: 65, put: 0}


def test_stop_cancels_running_parents_and_refuses_new_ones(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    symbol = atm_call(desk)

    async def main() -> None:
        desk.start()
        desk.submit(buy(symbol, 650, algo=Algo.TWAP, max_child_orders=10, horizon_s=60))
        await clock.sleep(5)
        await desk.stop()

    run(clock, main())
    finished = [e.result for e in events if isinstance(e, ParentFinished)]
    assert finished[0].status is ParentStatus.CANCELLED
    assert desk.parents_in_flight == 0
    with pytest.raises(InvalidOrder, match="stopping"):
        desk.submit(buy(symbol, 65))


def test_kill_switch_state_is_announced(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    desk.set_kill_switch(True)
    states = [e for e in events if isinstance(e, StateEvent)]
    assert states[-1].kill_switch is True and desk.kill_switch
    run(clock, desk.stop())


def test_portfolio_refreshes_on_its_own_while_running(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)

    async def main() -> None:
        desk.start()
        await clock.sleep(2.5)
        await desk.stop()

    run(clock, main())
    assert sum(isinstance(e, PortfolioEvent) for e in events) >= 2


def test_exit_pressed_after_the_fill_but_before_the_answer_sends_nothing(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)  # 40 ms round trip: the book is met at 20 ms, the answer at 40 ms
    symbol = atm_call(desk)

    async def main() -> tuple[int, int]:
        desk.start()
        await desk.submit(buy(symbol, 130)).task
        first = await desk.exit_positions()
        await clock.sleep(0.03)  # the exit has filled; its parent has not heard the answer yet
        second = await desk.exit_positions()
        await asyncio.gather(*(s.task for s in first + second))
        portfolio = await desk.refresh_portfolio()
        await desk.stop()
        return len(second), portfolio.positions[0].quantity

    assert run(clock, main()) == (0, 0)


def test_multi_strike_legs_name_a_bad_expiry_as_an_invalid_order(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    weekly = next(e for e in desk.expiries("NIFTY", 4) if e not in desk.expiries("BANKNIFTY", 4))
    with pytest.raises(InvalidOrder, match=r"instrument: .*BANKNIFTY"):
        desk.multi_strike_legs(underlying="BANKNIFTY", expiry=weekly, right=OptionRight.CE, strikes_below=1,
                               strikes_above=1, lots=1)
    run(clock, desk.stop())
