"""The desk in PAPER_LIVE_DATA mode against a fake Kite: the paper exchange fills against Kite's quotes and nothing is
ever sent to Kite; the feed survives drops and stalls under a running drill; drills that would move the market are
refused."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.broker.kite.ticker import KiteTickerClient
from imperium_desk.config import ConfigError
from imperium_desk.desk import Desk
from imperium_desk.desk.events import DeskEvent, FeedEvent
from imperium_desk.domain.enums import Mode, OptionRight, ParentStatus
from imperium_desk.execution.request import InvalidOrder
from imperium_desk.scenarios.live import DrillState
from tests.fake_kite.server import FakeKite
from tests.integration.kite.live_support import (
    UNDERLYING,
    first_expiry,
    kite_market,
    open_desk,
    ticked_contract,
    ticket,
    until,
)
from tests.integration.kite.stack_support import run

DROPS = 20
DRILL = f"""\
id: feed-drops
description: orders every second through a latency burst and a transient reject storm, on live quotes
seed: 3
duration_s: 4
orders:
  - every_s: 1
    from_s: 0
    until_s: 3
    instrument: {{underlying: {UNDERLYING}, strike: ATM, right: CE}}
    side: buy
    lots: 1
    algo: IMMEDIATE
  - every_s: 1
    from_s: 0.5
    until_s: 3.5
    instrument: {{underlying: {UNDERLYING}, strike: ATM, right: PE}}
    side: buy
    lots: 1
    algo: IMMEDIATE
events:
  - {{type: latency_burst, at_s: 0.5, duration_s: 1.5, factor: 3}}
  - {{type: reject_storm, at_s: 2, duration_s: 1, error_bucket: transient, rate: 0.3}}
"""
SHOCK = f"""\
id: shock
description: a gap on the index
seed: 3
duration_s: 4
orders:
  - {{at_s: 0, instrument: {{underlying: {UNDERLYING}, strike: ATM, right: CE}}, side: buy, lots: 1}}
events:
  - {{type: news_shock, at_s: 1, underlying: {UNDERLYING}, jump_pct: -2}}
"""


pytestmark = pytest.mark.usefixtures("no_keyring")


def test_an_order_fills_on_the_paper_exchange_against_kites_quotes_and_nothing_reaches_kite(
    fake: FakeKite, tmp_path: Path
) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.PAPER_LIVE_DATA)
        try:
            contract = await ticked_contract(desk)
            seen = kite_market(desk).quote(contract.symbol)
            result = await desk.submit(ticket(contract)).task
            paper = desk.engine.paper
            assert paper is not None
            (order,) = await paper.orders()
        finally:
            await desk.stop()
        assert result.status is ParentStatus.COMPLETE and order.filled_quantity == contract.lot_size
        # Against Kite's book: the paper fill is near the ask the fake quoted (its book is a few ticks wide).
        assert abs(result.average_price - seen.ask) <= 0.05 * seen.ask
        assert fake.order_writes() == []
        assert not [o for o in fake.orders() if o.get("tag")]

    run(main())


def test_the_feed_survives_twenty_drops_under_a_drill_and_no_fill_is_counted_twice(
    fake: FakeKite, tmp_path: Path
) -> None:
    drill = tmp_path / "feed-drops.yaml"
    drill.write_text(DRILL)
    restored: list[bool] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path / "home", Mode.PAPER_LIVE_DATA)
        market = kite_market(desk)
        connections = _ticker(desk).connections
        try:
            await _chain_ticked(desk)  # the drill's ATM contracts have a price before its first order
            view = await desk.start_drill(drill)
            for _ in range(DROPS):
                assert await asyncio.to_thread(fake.drop_ws) == 1
                await until(functools.partial(_reconnected, desk, connections), what="a reconnection")
                connections = _ticker(desk).connections
                await until(lambda: _wired_on_the_fake(fake, market.wired_tokens), what="the subscriptions back")
                restored.append(True)
            running = desk.drill
            assert running is not None
            await asyncio.wait_for(asyncio.shield(running.task), 30)
            paper = desk.engine.paper
            assert paper is not None
            paper_fills = sum(len(o.fills) for o in await paper.orders())
        finally:
            await desk.stop()
        records = _records(tmp_path / "home" / f"execution_quality_{Mode.PAPER_LIVE_DATA.value}.jsonl")
        fills = [r for r in records if r["event"] in {"fill", "partial_fill"}]
        trade_ids = [r["extra_metrics"]["trade_id"] for r in fills]
        assert view.id == "feed-drops" and running.state is DrillState.FINISHED
        assert restored == [True] * DROPS
        assert fills and len(set(trade_ids)) == len(trade_ids) == paper_fills
        assert fake.order_writes() == []

    run(main(), 90)


def test_a_ticket_for_a_contract_that_has_not_ticked_yet_ends_and_never_hangs(fake: FakeKite, tmp_path: Path) -> None:
    """The contract is subscribed while the feed is silent, so the desk holds only its placeholder quote (no price)
    when the ticket is submitted; ticks then resume. The ticket must be refused (InvalidOrder) or end."""
    results: list[ParentStatus] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.PAPER_LIVE_DATA)
        try:
            await ticked_contract(desk)
            await asyncio.to_thread(fake.stall_ws, True)
            contract = desk.contract(UNDERLYING, first_expiry(desk), desk.atm_strike(UNDERLYING), OptionRight.PE)
            try:
                submitted = desk.submit(ticket(contract))
            except InvalidOrder:
                submitted = None
            await asyncio.to_thread(fake.stall_ws, False)
            if submitted is not None:
                results.append((await asyncio.wait_for(asyncio.shield(submitted.task), 5)).status)
        finally:
            await desk.stop()
        fills = [r for r in _records(tmp_path / f"execution_quality_{Mode.PAPER_LIVE_DATA.value}.jsonl")
                 if r["event"] in {"fill", "partial_fill"}]
        assert all(r["intended_price"] > 0 for r in fills)  # slippage is measured against a real price

    run(main())
    assert results in ([], [ParentStatus.COMPLETE])


def test_a_stalled_feed_is_shown_stale_and_cleared_when_ticks_resume(fake: FakeKite, tmp_path: Path) -> None:
    events: list[DeskEvent] = []

    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.PAPER_LIVE_DATA, events=events)
        try:
            await ticked_contract(desk)
            await until(lambda: _feed_is(events, stale=False), what="a fresh feed")
            await asyncio.to_thread(fake.stall_ws, True)
            await until(lambda: _feed_is(events, stale=True), what="FeedEvent stale")
            stale = _feed(events)
            await asyncio.to_thread(fake.stall_ws, False)
            await until(lambda: _feed_is(events, stale=False), what="FeedEvent fresh")
            fresh = _feed(events)
        finally:
            await desk.stop()
        assert stale is not None and stale.stale and stale.seconds_since_tick is not None
        assert fresh is not None and not fresh.stale

    run(main())


def test_a_drill_that_moves_the_market_is_refused_on_live_quotes_with_the_reason(
    fake: FakeKite, tmp_path: Path
) -> None:
    async def main() -> None:
        desk = await open_desk(fake, tmp_path, Mode.PAPER_LIVE_DATA)
        (desk.drills_dir).mkdir(parents=True, exist_ok=True)
        path = desk.drills_dir / "shock.yaml"
        path.write_text(SHOCK)
        try:
            with pytest.raises(ConfigError) as refused:
                await desk.start_drill(path)
            (listed,) = [d for d in await desk.drill_library() if d.path == path]
            assert desk.drill is None and desk.parents_in_flight == 0
        finally:
            await desk.stop()
        assert len(refused.value.errors) == 1
        assert listed.problem == refused.value.errors[0]  # the library shows the same reason before any start

    run(main())


async def _chain_ticked(desk: Desk) -> None:
    market = kite_market(desk)
    for row in desk.chain(UNDERLYING, first_expiry(desk), 3):
        for quote in (row.call, row.put):
            await until(functools.partial(market.has_ticked, quote.symbol), what=f"a tick of {quote.symbol}")


def _ticker(desk: Desk) -> KiteTickerClient:
    assert desk.session is not None, "a desk on Kite's quotes watches its session"
    return desk.session.venue.ticker


def _reconnected(desk: Desk, connections_before: int) -> bool:
    return _ticker(desk).connections > connections_before


def _wired_on_the_fake(fake: FakeKite, wanted: frozenset[int]) -> bool:
    subscriptions = fake.ws_subscriptions()
    return len(subscriptions) == 1 and set(subscriptions[0]) == set(wanted)


def _feed(events: list[DeskEvent]) -> FeedEvent | None:
    return next((e for e in reversed(events) if isinstance(e, FeedEvent)), None)


def _feed_is(events: list[DeskEvent], *, stale: bool) -> bool:
    last = _feed(events)
    return last is not None and last.stale is stale


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
