"""KiteMarketData on a real KiteTickerClient against the fake Kite over loopback: quotes equal the fake's book,
subscriptions follow the screen and survive drops, the stale-feed signal is raised and cleared. Tests wait for
conditions; the client's timings are shortened."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from imperium_desk.broker.kite.instruments import KiteInstruments, parse_instruments_csv
from imperium_desk.broker.kite.market import INDEX_INSTRUMENTS, KiteMarketData
from imperium_desk.broker.kite.ticker import KiteTickerClient, ReconnectPolicy
from imperium_desk.clock import WallClock
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.market.port import Quote
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.stack_support import until

MakeKite = Callable[[FakeKiteConfig], FakeKite]
CONFIGS = Path(__file__).resolve().parents[3] / "imperium_desk" / "configs" / "instruments.yaml"
FAST = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, stall_after_s=1.0, open_timeout_s=2.0,
                       close_timeout_s=0.5)
WAIT_S = 5.0


def run(main: Awaitable[None]) -> None:
    async def wrapped() -> None:
        await main

    asyncio.run(wrapped())


@pytest.fixture
def kite(make_fake_kite: MakeKite) -> FakeKite:
    return make_fake_kite(FakeKiteConfig(heartbeat_s=0.1))


def kite_instruments(kite: FakeKite) -> KiteInstruments:
    text = kite.call(lambda account: account.dump.csv())
    return KiteInstruments(parse_instruments_csv(text), InstrumentCatalog.load(CONFIGS).spec)


@asynccontextmanager
async def live_market(kite: FakeKite, *, stale_after_s: float = 5.0) -> AsyncIterator[KiteMarketData]:
    ticker = KiteTickerClient(ws_url=kite.ws_root, api_key=kite.api_key, access_token=kite.access_token,
                              clock=WallClock(), policy=FAST)
    market = KiteMarketData(ticker, kite_instruments(kite), WallClock(), underlyings=["NIFTY", "BANKNIFTY"],
                            stale_after_s=stale_after_s, strikes_each_side=3)
    try:
        yield market
    finally:
        await market.aclose()


async def fake_option_subscriptions(kite: FakeKite, expected: dict[int, str]) -> None:
    """Wait until the fake's one ticker connection carries exactly `expected` among the dump's instruments."""
    known = set(kite.call(lambda account: list(account.dump.by_token)))
    await asyncio.to_thread(
        kite.wait_for_ws,
        lambda subs: len(subs) == 1 and {t: m for t, m in subs[0].items() if t in known} == expected,
        WAIT_S,
    )


def test_quotes_equal_the_fakes_book_bid_ask_depth_ltp_volume_oi_and_turnover(kite: FakeKite) -> None:
    row = kite.instrument("NIFTY", steps=1, right=OptionRight.PE)
    kite.call(lambda account: account.market.stop())  # a still book: the one quote the fake sends is its book now
    book: Quote = kite.call(lambda account: account.quote(row))

    async def main() -> Quote | None:
        async with live_market(kite) as market:
            market.start()
            market.subscribe(market.contract(row.tradingsymbol))
            return await market.first_quote(row.tradingsymbol, WAIT_S)

    quote = asyncio.run(main())
    assert quote is not None
    assert (quote.bid, quote.ask, quote.ltp) == (book.bid, book.ask, book.ltp)
    assert quote.bids == book.bids[:5]
    assert quote.asks == book.asks[:5]
    assert (quote.volume, quote.oi) == (book.volume, book.oi)
    average = round(book.turnover / book.volume, 2) if book.volume else book.ltp
    assert quote.turnover == pytest.approx(average * book.volume)


def test_subscribed_contracts_are_streamed_in_full_mode_and_survive_twenty_drops(kite: FakeKite) -> None:
    rows = [kite.instrument("NIFTY", steps=s) for s in (-1, 0, 1)]
    expected = {r.instrument_token: "full" for r in rows}

    async def main() -> None:
        async with live_market(kite) as market:
            ticked: list[int] = []
            market.add_listener(lambda quotes: ticked.append(len(quotes)))

            def more_than(n: int) -> bool:
                return len(ticked) > n

            market.start()
            for r in rows:
                market.subscribe(market.contract(r.tradingsymbol))
            for _ in range(20):
                await fake_option_subscriptions(kite, expected)
                before = len(ticked)
                await until(functools.partial(more_than, before))  # quotes flow on this connection
                await asyncio.to_thread(kite.drop_ws)
            await fake_option_subscriptions(kite, expected)
            before = len(ticked)
            await until(lambda: len(ticked) > before)

    run(main())


def test_stale_is_shown_when_no_tick_comes_and_cleared_by_the_next_tick(kite: FakeKite) -> None:
    row = kite.instrument("NIFTY")
    changes: list[bool] = []

    async def main() -> None:
        async with live_market(kite, stale_after_s=0.3) as market:
            market.add_stale_listener(changes.append)
            market.start()
            market.subscribe(market.contract(row.tradingsymbol))
            await market.first_quote(row.tradingsymbol, WAIT_S)
            await asyncio.to_thread(kite.stall_ws, True)
            await until(lambda: market.stale)
            await asyncio.to_thread(kite.stall_ws, False)
            await until(lambda: not market.stale)

    run(main())
    # Told once per change: alternating, starting stale, ending fresh (a slow machine may add a pair, never a repeat).
    assert changes[:2] == [True, False]
    assert all(a != b for a, b in itertools.pairwise(changes))
    assert changes[-1] is False


def test_chain_around_atm_subscribes_its_contracts_and_a_new_chain_unsubscribes_the_previous_one(
    kite: FakeKite,
) -> None:
    index = INDEX_INSTRUMENTS["NIFTY"].instrument_token

    probe = kite.instrument("NIFTY", steps=5)

    async def main() -> None:
        async with live_market(kite) as market:
            market.start()
            market.subscribe(market.contract(probe.tradingsymbol))  # sent after the indices' subscription
            await fake_option_subscriptions(kite, {probe.instrument_token: "full"})
            if index not in (await asyncio.to_thread(kite.ws_subscriptions))[0]:
                pytest.skip("the fake Kite does not stream index tokens (spot) yet")
            assert await market.ready(WAIT_S)
            expiry = market.contract(kite.instrument("NIFTY").tradingsymbol).expiry
            spot = market.spot("NIFTY")
            first = market.chain("NIFTY", expiry)
            atm = InstrumentCatalog.load(CONFIGS).atm_strike("NIFTY", spot)
            assert sorted({c.strike for c in first}) == [atm + 50 * k for k in range(-3, 4)]
            held = {probe.instrument_token: "full"}  # leased by subscribe(): stays
            await fake_option_subscriptions(kite, held | {market.token(c.symbol): "full" for c in first})
            kite.call(lambda account: account.market.jump("NIFTY", 2.0))
            await until(lambda: market.spot("NIFTY") > spot * 1.015)
            second = market.chain("NIFTY", expiry)
            assert {c.symbol for c in second} != {c.symbol for c in first}
            await fake_option_subscriptions(kite, held | {market.token(c.symbol): "full" for c in second})

    run(main())


def test_order_updates_and_quotes_share_one_connection(kite: FakeKite) -> None:
    row: InstrumentRow = kite.instrument("NIFTY")

    async def main() -> None:
        ticker = KiteTickerClient(ws_url=kite.ws_root, api_key=kite.api_key, access_token=kite.access_token,
                                  clock=WallClock(), policy=FAST)
        orders: list[str] = []
        ticker.add_order_update_listener(lambda order: orders.append(str(order["order_id"])))
        market = KiteMarketData(ticker, kite_instruments(kite), WallClock(), underlyings=["NIFTY"])
        try:
            market.start()
            market.subscribe(market.contract(row.tradingsymbol))
            await market.first_quote(row.tradingsymbol, WAIT_S)
            order_id = await asyncio.to_thread(kite.place_external, row.tradingsymbol, "BUY", row.contract.lot_size)
            await until(lambda: order_id in orders)
            assert len(await asyncio.to_thread(kite.ws_subscriptions)) == 1
        finally:
            await market.aclose()

    run(main())
