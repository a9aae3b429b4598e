"""KiteMarketData on a ticker double and the virtual clock: quotes from full-mode frames, spot from the index, what is
on the wire (screen, holds, leases, the 3,000 cap) and the stale-feed signal. Frames are built with the fake Kite's
encoder and decoded by the real decoder, as the ticker client does."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from imperium_desk.broker.kite.instruments import KiteInstruments, parse_instruments_csv
from imperium_desk.broker.kite.market import (
    INDEX_INSTRUMENTS,
    FeedNotReady,
    KiteMarketData,
    index_tokens_from_dump,
)
from imperium_desk.broker.kite.packets import (
    FullTick,
    IndexFullTick,
    LtpTick,
    QuoteTick,
    Tick,
    TickMode,
    decode_binary_frame,
)
from imperium_desk.broker.kite.ticker import TokenLimitError
from imperium_desk.clock import VirtualClock
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract
from imperium_desk.market.port import MarketData, Quote
from tests.fake_kite.instruments import InstrumentDump
from tests.fake_kite.packets import encode_frame

CONFIGS = Path(__file__).resolve().parents[3] / "imperium_desk" / "configs" / "instruments.yaml"
START = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)  # Monday 10:00 IST
SPOTS = {"NIFTY": 26_010.0, "SENSEX": 85_040.0}
NIFTY_INDEX = INDEX_INSTRUMENTS["NIFTY"].instrument_token
SENSEX_INDEX = INDEX_INSTRUMENTS["SENSEX"].instrument_token


class TickerDouble:
    """What KiteMarketData uses of KiteTickerClient: records the subscription set and hands frames to it."""

    def __init__(self, max_tokens: int = 3_000) -> None:
        self.max_tokens = max_tokens
        self.modes: dict[int, TickMode] = {}
        self.unsubscribed: list[int] = []
        self.listeners: list[Callable[[Sequence[Tick]], None]] = []
        self.started = False

    def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.FULL) -> None:
        tokens = list(tokens)
        if len(self.modes.keys() | set(tokens)) > self.max_tokens:
            raise TokenLimitError(len(self.modes.keys() | set(tokens)), self.max_tokens)
        for token in tokens:
            self.modes[token] = mode

    def unsubscribe(self, tokens: Iterable[int]) -> None:
        for token in tokens:
            del self.modes[token]
            self.unsubscribed.append(token)

    def add_tick_listener(self, listener: Callable[[Sequence[Tick]], None]) -> None:
        self.listeners.append(listener)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    async def aclose(self) -> None:
        self.started = False

    def send(self, *ticks: Tick) -> None:
        """One frame on the wire: encoded, decoded, handed over as the ticker client does."""
        decoded = decode_binary_frame(encode_frame(ticks))
        for listener in self.listeners:
            listener(decoded)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def instruments() -> KiteInstruments:
    catalog = InstrumentCatalog.load(CONFIGS)
    dump = InstrumentDump.build(catalog, START, SPOTS, expiries=1, strikes_each_side=12)
    return KiteInstruments(parse_instruments_csv(dump.csv()), catalog.spec)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START.timestamp())


@pytest.fixture
def ticker() -> TickerDouble:
    return TickerDouble()


@pytest.fixture
def market(ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock) -> KiteMarketData:
    return KiteMarketData(ticker, instruments, clock, underlyings=["NIFTY", "SENSEX"], stale_after_s=5.0,
                          lease_s=60.0, strikes_each_side=2)


def expiry(instruments: KiteInstruments, underlying: str) -> date:
    return instruments.expiries(underlying)[0]


def nifty(instruments: KiteInstruments, strike: float, right: OptionRight = OptionRight.CE) -> OptionContract:
    return instruments.find("NIFTY", expiry(instruments, "NIFTY"), strike, right)


def index_tick(token: int, level: float) -> IndexFullTick:
    return IndexFullTick(instrument_token=token, last_price=level, high=level, low=level, open=level, close=level,
                         exchange_epoch_s=1_767_587_400)


def full_tick(token: int, *, bids: Sequence[tuple[float, int]] = ((101.0, 650), (100.95, 1300)),
              asks: Sequence[tuple[float, int]] = ((101.1, 325),), ltp: float = 101.05, volume: int = 65_000,
              average: float = 99.5, oi: int = 1_300_000, high: float = 120.0, low: float = 90.0) -> FullTick:
    def side(levels: Sequence[tuple[float, int]]) -> tuple[tuple[int, ...], tuple[float, ...], tuple[int, ...]]:
        padded = [*levels, *[(0.0, 0)] * (5 - len(levels))]
        return tuple(q for _, q in padded), tuple(p for p, _ in padded), tuple(1 if q else 0 for _, q in padded)

    bq, bp, bo = side(bids)
    sq, sp, so = side(asks)
    return FullTick(
        instrument_token=token, last_price=ltp, last_traded_quantity=65, average_traded_price=average,
        volume_traded=volume, total_buy_quantity=sum(bq), total_sell_quantity=sum(sq), open=100.0, high=high,
        low=low, close=98.0, last_trade_epoch_s=1_767_587_000, oi=oi, oi_day_high=oi, oi_day_low=oi,
        exchange_epoch_s=1_767_587_000, buy_quantities=bq, buy_prices=bp, buy_orders=bo, sell_quantities=sq,
        sell_prices=sp, sell_orders=so,
    )


def test_kite_market_data_satisfies_the_market_data_port(market: KiteMarketData) -> None:
    port: MarketData = market
    assert port.regime("NIFTY") == (1.0, 1.0)


def test_full_tick_becomes_a_quote_with_depth_best_first_volume_oi_and_turnover(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    ticker.send(full_tick(market.token(contract.symbol)))
    quote = market.quote(contract.symbol)
    assert (quote.bid, quote.ask, quote.ltp) == (101.0, 101.1, 101.05)
    assert quote.bids == [(101.0, 650), (100.95, 1300)]
    assert quote.asks == [(101.1, 325)]
    assert (quote.volume, quote.oi) == (65_000, 1_300_000)
    assert quote.turnover == pytest.approx(99.5 * 65_000)


def test_a_side_with_no_orders_quotes_zero_and_no_levels(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    ticker.send(full_tick(market.token(contract.symbol), bids=()))
    quote = market.quote(contract.symbol)
    assert (quote.bid, quote.bids) == (0.0, [])


def test_a_contract_subscribed_before_its_first_tick_quotes_without_depth(
    market: KiteMarketData, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_050)
    quote = market.subscribe(contract)
    assert (quote.bids, quote.asks, quote.bid, quote.ask, quote.ltp) == ([], [], 0.0, 0.0, 0.0)
    assert not market.has_ticked(contract.symbol)


def test_quote_time_is_the_clock_at_receipt_not_the_exchange_time(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)

    async def later() -> None:
        await clock.sleep(42.0)
        ticker.send(full_tick(market.token(contract.symbol)))

    clock.run(later())
    assert market.quote(contract.symbol).timestamp == START.timestamp() + 42.0


def test_every_quote_is_a_new_object_and_the_delivered_one_is_never_changed(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    token = market.token(contract.symbol)
    ticker.send(full_tick(token, ltp=101.0))
    first = market.quote(contract.symbol)
    ticker.send(full_tick(token, ltp=102.0))
    assert first.ltp == 101.0
    assert market.quote(contract.symbol) is not first


def test_quote_and_ltp_packets_keep_the_previous_depth_and_oi(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    token = market.token(contract.symbol)
    ticker.send(full_tick(token))
    ticker.send(QuoteTick(instrument_token=token, last_price=103.0, last_traded_quantity=65,
                          average_traded_price=100.0, volume_traded=70_000, total_buy_quantity=1,
                          total_sell_quantity=1, open=100.0, high=120.0, low=90.0, close=98.0))
    ticker.send(LtpTick(instrument_token=token, last_price=104.0))
    quote = market.quote(contract.symbol)
    assert (quote.ltp, quote.volume, quote.oi, quote.bids) == (104.0, 70_000, 1_300_000, [(101.0, 650), (100.95, 1300)])


def test_listeners_get_each_ticked_contract_once_per_frame_and_quote_answers_it_already(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    a, b = nifty(instruments, 26_000), nifty(instruments, 26_000, OptionRight.PE)
    market.subscribe(a)
    market.subscribe(b)
    seen: list[list[tuple[str, float, bool]]] = []
    market.add_listener(lambda quotes: seen.append(
        [(q.symbol, q.ltp, market.quote(q.symbol) is q) for q in quotes]
    ))
    ta, tb = market.token(a.symbol), market.token(b.symbol)
    ticker.send(full_tick(ta, ltp=1.0), full_tick(tb, ltp=2.0), full_tick(ta, ltp=3.0))
    ticker.send(index_tick(NIFTY_INDEX, 26_000.0))  # no option ticked: no call
    assert seen == [[(a.symbol, 3.0, True), (b.symbol, 2.0, True)]]


def test_spot_is_the_index_tokens_last_price_and_not_ready_before_its_first_tick(
    market: KiteMarketData, ticker: TickerDouble
) -> None:
    with pytest.raises(FeedNotReady):
        market.spot("NIFTY")
    ticker.send(index_tick(NIFTY_INDEX, 26_012.35))
    assert market.spot("NIFTY") == 26_012.35


def test_the_indices_are_on_the_wire_in_full_mode_from_the_start(
    market: KiteMarketData, ticker: TickerDouble
) -> None:
    market.start()
    assert ticker.started
    assert ticker.modes == {NIFTY_INDEX: TickMode.FULL, SENSEX_INDEX: TickMode.FULL}


def test_index_tokens_given_by_the_dump_replace_the_table(
    ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    header = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
              "instrument_type,segment,exchange")
    dump = "\n".join([header, '999, 3, NIFTY 50,"NIFTY 50",0,,0,0,0,EQ,INDICES,NSE',
                      '265,1,SENSEX,"SENSEX",0,,0,0,0,EQ,INDICES,BSE', "1,1,FOO,FOO,0,,0,0,0,EQ,NSE,NSE"]) + "\n"
    tokens = index_tokens_from_dump(dump)
    assert tokens == {"NIFTY": 999, "SENSEX": 265}
    market = KiteMarketData(ticker, instruments, clock, underlyings=["NIFTY"], index_tokens=tokens)
    market.start()
    ticker.send(index_tick(999, 25_000.0))
    assert market.spot("NIFTY") == 25_000.0
    assert set(ticker.modes) == {999}


def test_chain_subscribes_the_strikes_around_atm_ce_then_pe_lowest_first(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    market.start()
    ticker.send(index_tick(NIFTY_INDEX, 26_010.0))
    contracts = market.chain("NIFTY", expiry(instruments, "NIFTY"))
    assert [(c.strike, c.right) for c in contracts] == [
        (strike, right) for strike in (25_900, 25_950, 26_000, 26_050, 26_100) for right in OptionRight
    ]
    assert set(ticker.modes) == {NIFTY_INDEX, SENSEX_INDEX} | {market.token(c.symbol) for c in contracts}
    assert all(mode is TickMode.FULL for mode in ticker.modes.values())


def test_a_new_chain_replaces_its_underlyings_screen_and_leaves_the_others(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    market.start()
    ticker.send(index_tick(NIFTY_INDEX, 26_010.0), index_tick(SENSEX_INDEX, 85_040.0))
    sensex = market.chain("SENSEX", expiry(instruments, "SENSEX"), 1)
    first = market.chain("NIFTY", expiry(instruments, "NIFTY"), 1)
    ticker.send(index_tick(NIFTY_INDEX, 26_210.0))
    second = market.chain("NIFTY", expiry(instruments, "NIFTY"), 1)
    wanted = {NIFTY_INDEX, SENSEX_INDEX} | {market.token(c.symbol) for c in [*sensex, *second]}
    assert set(ticker.modes) == wanted
    assert set(ticker.unsubscribed) == {market.token(c.symbol) for c in first}
    assert market.stale_quote(first[0].symbol)
    assert market.quote(first[0].symbol).symbol == first[0].symbol  # still answers its last quote


def test_a_held_contract_stays_on_the_wire_after_its_chain_moves_until_released(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    market.start()
    ticker.send(index_tick(NIFTY_INDEX, 26_010.0))
    held = market.chain("NIFTY", expiry(instruments, "NIFTY"), 0)[0]
    market.hold(held.symbol)
    ticker.send(index_tick(NIFTY_INDEX, 26_510.0))
    market.chain("NIFTY", expiry(instruments, "NIFTY"), 0)
    token = market.token(held.symbol)
    assert token in ticker.modes
    market.release(held.symbol)

    async def after_the_lease() -> None:
        await clock.sleep(market.lease_s * 1.5)

    assert token in ticker.modes  # the lease after the last release
    clock.run(after_the_lease())
    assert token not in ticker.modes


def test_a_subscribed_contract_leaves_the_wire_after_its_lease_and_a_quote_brings_it_back(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    market.start()
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    token = market.token(contract.symbol)

    async def idle() -> None:
        await clock.sleep(market.lease_s * 1.5)

    clock.run(idle())
    assert token not in ticker.modes
    market.quote(contract.symbol)
    assert ticker.modes[token] is TickMode.FULL


def test_reading_a_quote_keeps_a_subscribed_contract_leased(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    market.start()
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    token = market.token(contract.symbol)

    async def read_every_half_lease() -> None:
        for _ in range(6):
            await clock.sleep(market.lease_s / 2)
            market.quote(contract.symbol)
            assert token in ticker.modes

    clock.run(read_every_half_lease())


def test_more_instruments_than_the_connection_carries_are_refused_and_nothing_changes(
    instruments: KiteInstruments, clock: VirtualClock
) -> None:
    ticker = TickerDouble(max_tokens=8)
    market = KiteMarketData(ticker, instruments, clock, underlyings=["NIFTY", "SENSEX"], strikes_each_side=1)
    market.start()
    ticker.send(index_tick(NIFTY_INDEX, 26_010.0))
    shown = market.chain("NIFTY", expiry(instruments, "NIFTY"))  # 2 indices + 6 options: full
    before = dict(ticker.modes)
    with pytest.raises(TokenLimitError):
        market.subscribe(nifty(instruments, 26_300))
    with pytest.raises(TokenLimitError):
        market.chain("NIFTY", expiry(instruments, "NIFTY"), 2)
    assert ticker.modes == before
    assert set(before) == {NIFTY_INDEX, SENSEX_INDEX} | {market.token(c.symbol) for c in shown}


def test_no_tick_for_stale_after_makes_the_feed_stale_once_and_the_next_tick_clears_it(
    market: KiteMarketData, ticker: TickerDouble, clock: VirtualClock
) -> None:
    changes: list[bool] = []
    market.add_stale_listener(changes.append)
    market.start()

    async def silence_then_a_tick() -> None:
        await clock.sleep(4.0)
        ticker.send(index_tick(NIFTY_INDEX, 26_000.0))
        await clock.sleep(4.0)
        assert not market.stale  # 4 s since the last tick
        await clock.sleep(30.0)
        assert market.stale
        ticker.send(index_tick(NIFTY_INDEX, 26_001.0))
        assert not market.stale
        await clock.sleep(6.0)

    clock.run(silence_then_a_tick())
    assert changes == [True, False, True]


def test_ready_waits_for_every_index_and_gives_up_at_the_timeout(
    market: KiteMarketData, ticker: TickerDouble, clock: VirtualClock
) -> None:
    async def scenario() -> tuple[bool, bool]:
        clock.call_later(1.0, ticker.send, index_tick(NIFTY_INDEX, 26_000.0))
        early = await market.ready(2.0)  # SENSEX never ticked
        clock.call_later(1.0, ticker.send, index_tick(SENSEX_INDEX, 85_000.0))
        return early, await market.ready(2.0)

    assert clock.run(scenario()) == (False, True)


def test_first_quote_waits_for_the_contracts_first_tick(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments, clock: VirtualClock
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)

    async def scenario() -> Quote | None:
        clock.call_later(0.5, ticker.send, full_tick(market.token(contract.symbol), ltp=88.0))
        return await market.first_quote(contract.symbol, 5.0)

    quote = clock.run(scenario())
    assert quote is not None
    assert quote.ltp == 88.0


def test_price_vol_and_volume_scale_the_day_so_far_to_a_session(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    assert market.daily_price_vol(contract.symbol) == contract.tick_size  # no range yet
    assert market.expected_daily_volume(contract.symbol) == contract.lot_size  # no volume yet
    ticker.send(full_tick(market.token(contract.symbol), volume=65_000, high=120.0, low=90.0))
    # 10:00 IST: 45 of the session's 375 minutes have passed.
    assert market.expected_daily_volume(contract.symbol) == pytest.approx(65_000 * 375 / 45)
    assert market.daily_price_vol(contract.symbol) > contract.tick_size


def test_a_packet_of_another_instrument_is_ignored(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    seen: list[Sequence[Quote]] = []
    market.add_listener(seen.append)
    ticker.send(full_tick(12345 * 256 + 2))
    assert seen == []


def test_a_quote_mode_packet_before_the_first_full_one_leaves_the_contract_without_depth(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    # Kite streams a new token in quote mode until the mode message reaches it.
    contract = nifty(instruments, 26_000)
    market.subscribe(contract)
    token = market.token(contract.symbol)
    ticker.send(QuoteTick(instrument_token=token, last_price=103.0, last_traded_quantity=65,
                          average_traded_price=100.0, volume_traded=70_000, total_buy_quantity=1,
                          total_sell_quantity=1, open=100.0, high=120.0, low=90.0, close=98.0))
    assert not market.has_ticked(contract.symbol)
    assert (market.quote(contract.symbol).ltp, market.quote(contract.symbol).bids) == (103.0, [])
    ticker.send(full_tick(token))
    assert market.has_ticked(contract.symbol)


def test_clearing_a_chain_takes_its_contracts_off_the_wire(
    market: KiteMarketData, ticker: TickerDouble, instruments: KiteInstruments
) -> None:
    market.start()
    ticker.send(index_tick(NIFTY_INDEX, 26_010.0))
    market.chain("NIFTY", expiry(instruments, "NIFTY"))
    market.clear_chain("NIFTY")
    assert set(ticker.modes) == {NIFTY_INDEX, SENSEX_INDEX}
