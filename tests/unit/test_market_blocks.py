"""The market in blocks: the same quotes whatever the block size, lazy tick batches, and time on the grid."""

from __future__ import annotations

import asyncio
import copy
import math
import pickle
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple
from typing import Any

import pytest

from imperium_desk.clock import Cancellable, VirtualClock
from imperium_desk.domain.enums import OptionRight, OrderType, Product, Side
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract
from imperium_desk.market import blocks
from imperium_desk.market.config import MarketConfig, default_instruments_path
from imperium_desk.market.port import Quote, TickBatch
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.rng import RandomStreams
from tests.support import harness

DEFAULT_BLOCK = MarketConfig().block_ticks
CATALOG = InstrumentCatalog.load(default_instruments_path())


class SkippingClock:
    """A virtual clock whose epoch time jumps `skip_s` ahead once its loop time reaches `at_s`, the way a long
    replay's clock goes from one session's close to the next one's open."""

    def __init__(self, inner: VirtualClock, at_s: float, skip_s: float) -> None:
        self._inner = inner
        self._at_s = at_s
        self._skip_s = skip_s

    def now(self) -> float:
        later = self._inner.monotonic() >= self._at_s
        return self._inner.now() + (self._skip_s if later else 0.0)

    def monotonic(self) -> float:
        return self._inner.monotonic()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return self._inner.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Cancellable:
        return self._inner.call_later(delay, callback, *args)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Cancellable:
        return self._inner.call_soon(callback, *args)

    def create_future(self) -> asyncio.Future[Any]:
        return self._inner.create_future()


class DriftingClock(SkippingClock):
    """A virtual clock whose epoch time runs `rate` faster than its loop time: the wall clock's timers falling
    behind, a little every tick, until a tick lands more than half a tick off the grid."""

    def __init__(self, inner: VirtualClock, rate: float) -> None:
        super().__init__(inner, 0.0, 0.0)
        self._rate = rate

    def now(self) -> float:
        return self._inner.now() + self._rate * self._inner.monotonic()


class LateTimersClock(SkippingClock):
    """A virtual clock whose timers fire `late_s` after they are due, the way a busy wall-clock loop runs them."""

    def __init__(self, inner: VirtualClock, late_s: float) -> None:
        super().__init__(inner, math.inf, 0.0)
        self._late_s = late_s

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Cancellable:
        return self._inner.call_later(delay + self._late_s, callback, *args)


class Sim:
    """A simulator with NIFTY and BANKNIFTY on a virtual clock (optionally one that skips ahead)."""

    def __init__(self, block: int, *, skip_at_s: float | None = None, skip_s: float = 0.0,
                 drift: float | None = None, late_s: float | None = None) -> None:
        self.config = MarketConfig(block_ticks=block, underlyings=["NIFTY", "BANKNIFTY"])
        self.virtual = VirtualClock(self.config.start.timestamp())
        self.clock: Any = self.virtual
        if skip_at_s is not None:
            self.clock = SkippingClock(self.virtual, skip_at_s, skip_s)
        if drift is not None:
            self.clock = DriftingClock(self.virtual, drift)
        if late_s is not None:
            self.clock = LateTimersClock(self.virtual, late_s)
        self.sim = MarketSimulator(self.config, CATALOG, self.clock, RandomStreams(7))

    def expiry(self, underlying: str = "NIFTY") -> Any:
        return CATALOG.expiries(underlying, self.config.start)[0]

    def contract(self, strike: float, right: OptionRight = OptionRight.CE) -> OptionContract:
        return CATALOG.contract("NIFTY", self.expiry(), strike, right)

    def run(self, script: Callable[[Sim], Awaitable[None]]) -> None:
        async def main() -> None:
            self.sim.start()
            await script(self)
            self.sim.stop()

        self.virtual.run(main())


def _rows(quotes: Sequence[Quote]) -> list[tuple[Any, ...]]:
    return [astuple(q) for q in quotes]  # every field, the depth included


async def _busy_script(s: Sim) -> None:
    """Ticks with everything that re-derives a block in the middle of one."""
    s.sim.chain("NIFTY", s.expiry(), 3)
    await s.clock.sleep(3.1)
    s.sim.chain("BANKNIFTY", s.expiry("BANKNIFTY"), 2)  # a whole underlying joins mid-block
    s.sim.subscribe(s.contract(26500.0))  # one contract more on a ticking underlying
    await s.clock.sleep(2.3)
    s.sim.set_modifiers("NIFTY", vol_mult=2, depth_mult=0.3, volume_mult=4, spread_mult=2)
    await s.clock.sleep(1.1)
    s.sim.jump("BANKNIFTY", -1.5)
    await s.clock.sleep(5.05)
    s.sim.reprice_now()
    s.sim.set_modifiers("NIFTY")
    await s.clock.sleep(20.0)


def _every_batch(block: int, script: Callable[[Sim], Awaitable[None]] = _busy_script,
                 **clock: Any) -> list[tuple[float, list[tuple[Any, ...]]]]:
    s = Sim(block, **clock)
    seen: list[tuple[float, list[tuple[Any, ...]]]] = []
    s.sim.add_listener(lambda batch: seen.append((s.clock.now(), _rows(batch))))
    s.run(script)
    return seen


@pytest.mark.parametrize("block", [1, 7])
def test_every_block_size_gives_the_default_blocks_quotes_tick_by_tick(block: int) -> None:
    assert _every_batch(block) == _every_batch(DEFAULT_BLOCK)


def test_the_order_quotes_are_read_in_does_not_change_them() -> None:
    as_delivered = _every_batch(7)
    s = Sim(7)
    kept: list[tuple[float, Sequence[Quote]]] = []
    s.sim.add_listener(lambda batch: kept.append((s.clock.now(), batch)))
    s.run(_busy_script)
    read_last_first = [(at, _rows(batch)) for at, batch in reversed(kept)]
    assert list(reversed(read_last_first)) == as_delivered


def test_a_contract_subscribed_later_leaves_the_other_contracts_quotes_alone() -> None:
    async def plain(s: Sim) -> None:
        s.sim.chain("NIFTY", s.expiry(), 2)
        await s.clock.sleep(10.1)

    async def with_a_newcomer(s: Sim) -> None:
        s.sim.chain("NIFTY", s.expiry(), 2)
        await s.clock.sleep(4.6)
        s.sim.subscribe(s.contract(26700.0, OptionRight.PE))
        await s.clock.sleep(5.5)

    newcomer = {s.symbol for s in [Sim(7).contract(26700.0, OptionRight.PE)]}

    def others(batches: list[tuple[float, list[tuple[Any, ...]]]]) -> list[list[tuple[Any, ...]]]:
        return [[row for row in rows if row[0] not in newcomer] for _, rows in batches]

    assert others(_every_batch(7, with_a_newcomer)) == others(_every_batch(7, plain))


@pytest.mark.parametrize("block", [1, 7])
def test_a_listener_subscribing_during_a_tick_gives_the_default_blocks_quotes(block: int) -> None:
    def run(block: int) -> list[tuple[float, list[tuple[Any, ...]]]]:
        s = Sim(block)
        s.sim.chain("NIFTY", s.expiry(), 1)
        seen: list[tuple[float, list[tuple[Any, ...]]]] = []

        def listener(batch: Sequence[Quote]) -> None:
            seen.append((s.clock.now(), _rows(batch)))
            if len(seen) == 9:  # NIFTY's ninth tick: BANKNIFTY, which ticks after it, gets a chain
                s.sim.chain("BANKNIFTY", s.expiry("BANKNIFTY"), 1)

        s.sim.add_listener(listener)
        s.run(lambda s: s.clock.sleep(5.1))
        return seen

    assert run(block) == run(DEFAULT_BLOCK)


async def _tick_a_minute(s: Sim) -> None:
    s.sim.chain("NIFTY", s.expiry(), 2)
    await s.clock.sleep(60.1)


def test_a_clock_that_skips_ahead_gives_the_same_quotes_whatever_the_block_size() -> None:
    skip = {"skip_at_s": 20.1, "skip_s": 17.75 * 3600}
    assert _every_batch(1, _tick_a_minute, **skip) == _every_batch(DEFAULT_BLOCK, _tick_a_minute, **skip)


def test_a_drifting_clock_gives_the_same_quotes_whatever_the_block_size_stamped_at_its_reading() -> None:
    drift = {"drift": 0.02}  # 5 ms a tick: a tick lands half a tick off the grid every 25 ticks
    drifted = _every_batch(1, _tick_a_minute, **drift)
    assert drifted == _every_batch(DEFAULT_BLOCK, _tick_a_minute, **drift)
    assert all({row[8] for row in rows} == {at} for at, rows in drifted)  # Quote.timestamp: the clock's reading


def test_late_timers_do_not_pile_up_into_drift_from_the_grid() -> None:
    s = Sim(DEFAULT_BLOCK, late_s=0.004)  # a wall clock's timers, 4 ms late each
    s.sim.chain("NIFTY", s.expiry(), 1)
    stamps: list[float] = []
    s.sim.add_listener(lambda batch: stamps.append(batch[0].timestamp) if batch[0].symbol[:5] == "NIFTY" else None)
    s.run(lambda s: s.clock.sleep(100.1))
    start, tick = s.config.start.timestamp(), s.config.tick_interval_s
    assert len(stamps) == 400  # not one tick lost or doubled in 100 s
    assert max(abs(at - (start + (k + 1) * tick)) for k, at in enumerate(stamps)) < 0.01  # 400 x 4 ms unchecked


@pytest.mark.parametrize("skip", [None, 20.1], ids=["steady", "skipping"])
def test_each_tick_is_priced_and_stamped_at_the_clocks_time(skip: float | None) -> None:
    s = Sim(DEFAULT_BLOCK, skip_at_s=skip, skip_s=17.75 * 3600)
    s.sim.chain("NIFTY", s.expiry(), 2)
    checked: list[float] = []
    repricing = False

    def listener(batch: Sequence[Quote]) -> None:
        nonlocal repricing
        if repricing or not batch[0].symbol.startswith("NIFTY") or len(checked) == 200:
            return
        ticked = [(q.bid, q.ask) for q in batch]
        assert {q.timestamp for q in batch} == {s.clock.now()}
        repricing = True
        s.sim.reprice_now()  # off the grid, priced at the clock's reading now (and listeners told again)
        repricing = False
        assert [(q.bid, q.ask) for q in (s.sim.quote(q.symbol) for q in batch)] == ticked
        checked.append(s.clock.now())

    s.sim.add_listener(listener)
    s.run(lambda s: s.clock.sleep(50.1))
    assert len(checked) == 200
    if skip is not None:
        assert checked[-1] - checked[0] > 17 * 3600


# -- lazy batches -------------------------------------------------------------------------------------------
def _ticked(block: int = DEFAULT_BLOCK, n_ticks: int = 3) -> tuple[Sim, list[TickBatch]]:
    s = Sim(block)
    s.sim.chain("NIFTY", s.expiry(), 2)
    batches: list[TickBatch] = []
    s.sim.add_listener(batches.append)  # type: ignore[arg-type]  # the simulator's batches are TickBatches
    s.run(lambda s: s.clock.sleep((n_ticks + 0.5) * s.config.tick_interval_s))
    return s, [b for b in batches if b.symbols[0].startswith("NIFTY")]


def test_a_batch_gives_the_same_quote_object_every_time_it_is_read() -> None:
    _, batches = _ticked()
    batch = batches[-1]
    assert batch[3] is batch[3]
    assert batch[-1] is batch[len(batch) - 1]
    assert list(batch)[2] is batch.get(batch.symbols[2])


def test_quote_answers_the_object_the_last_batch_delivered() -> None:
    s, batches = _ticked()
    for i, symbol in enumerate(batches[-1].symbols):
        assert s.sim.quote(symbol) is batches[-1][i]


def test_two_ticks_give_two_quote_objects_of_one_contract() -> None:
    _, batches = _ticked()
    assert batches[-1][0] is not batches[-2][0]
    assert batches[-1][0].timestamp > batches[-2][0].timestamp


def test_a_batch_is_a_sequence_of_its_quotes() -> None:
    _, batches = _ticked()
    batch = batches[-1]
    assert isinstance(batch, Sequence)
    assert len(batch) == 10 and len(list(batch)) == 10
    assert [q.symbol for q in batch] == batch.symbols
    assert batch[1:3] == [batch[1], batch[2]]
    assert batch[0] in batch and batch.index(batch[4]) == 4 and batch.count(batch[4]) == 1
    assert next(reversed(batch)) is batch[9]
    with pytest.raises(IndexError):
        batch[10]


def test_a_batch_finds_its_symbols_and_no_others() -> None:
    _, batches = _ticked()
    batch = batches[-1]
    assert batch.position(batch.symbols[6]) == 6
    assert batch.position("BANKNIFTY26NOV57000CE") is None
    assert batch.get("NOPE") is None


def test_a_delivered_quote_never_changes_even_when_its_depth_is_read_later() -> None:
    s, batches = _ticked(n_ticks=2)
    early = batches[0][0]
    touch = (early.bid, early.ask, early.volume)
    s.run(lambda s: s.clock.sleep(30.1))  # many ticks later, the depth is read for the first time
    assert (early.bid, early.ask, early.volume) == touch
    _, fresh = _ticked(n_ticks=2)  # the same run, its depth read at once
    assert early.bids == fresh[0][0].bids and early.asks == fresh[0][0].asks


def test_a_simulated_quote_equals_copies_and_pickles_as_a_plain_quote() -> None:
    _, batches = _ticked()
    quote = batches[-1][2]
    plain = Quote(*astuple(quote))
    assert quote == plain and plain == quote
    assert copy.copy(quote) == quote and type(copy.deepcopy(quote)) is Quote
    assert pickle.loads(pickle.dumps(quote)) == plain
    assert quote != batches[-2][2]


# -- consumers ----------------------------------------------------------------------------------------------
@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the quotes the simulator builds, per symbol."""
    counts: Counter[str] = Counter()
    original = blocks.Rows.quote

    def counting(self: blocks.Rows, i: int, col: int, symbol: str, timestamp: float) -> Quote:
        counts[symbol] += 1
        return original(self, i, col, symbol, timestamp)

    monkeypatch.setattr(blocks.Rows, "quote", counting)
    return counts


def _engine_with_chains() -> Any:
    h = harness({"market": {"underlyings": ["NIFTY", "BANKNIFTY"]}})
    for underlying in ("NIFTY", "BANKNIFTY"):
        expiry = h.engine.catalog.expiries(underlying, h.clock.now_datetime(), 1)[0]
        h.engine.market.chain(underlying, expiry, 5)
    return h


def _tick(h: Any, seconds: float) -> None:
    async def main() -> None:
        h.engine.market.start()
        await h.clock.sleep(seconds)
        h.engine.market.stop()

    h.clock.run(main())


def test_the_engine_builds_no_quote_while_nothing_rests(built: Counter[str]) -> None:
    h = _engine_with_chains()
    built.clear()  # subscribing built each contract's first quote
    _tick(h, 30.1)
    assert not built


def test_the_exchange_reads_only_the_symbols_with_resting_orders(built: Counter[str]) -> None:
    h = _engine_with_chains()
    contract = h.atm()
    paper = h.engine.paper
    bid = h.engine.market.quote(contract.symbol).bid
    order = paper.exchange.new_order(symbol=contract.symbol, side=Side.BUY, quantity=contract.lot_size,
                                     order_type=OrderType.LIMIT, product=Product.NRML, tag="rest",
                                     price=round(bid * 0.5, 1))
    paper.exchange.arrive(order)
    built.clear()
    _tick(h, 10.1)
    assert set(built) == {contract.symbol}
    assert built[contract.symbol] == 40  # one per tick


def test_without_a_market_data_lane_the_client_feed_passes_each_batch_through() -> None:
    h = _engine_with_chains()
    sent: list[Sequence[Quote]] = []
    received: list[Sequence[Quote]] = []
    h.engine.market.add_listener(sent.append)
    h.engine.feed.add_listener(received.append)
    _tick(h, 2.1)
    assert len(received) == len(sent) == 16
    assert all(r is s for r, s in zip(received, sent, strict=True))
    symbol = sent[-1][0].symbol
    assert h.engine.feed.quote(symbol) is h.engine.market.quote(symbol)


def test_price_vol_and_volume_answer_for_a_second_expiry_subscribed_after_the_first() -> None:
    # A fresh subscription is priced over the new contracts alone: their expiry columns are not the book's.
    config = MarketConfig(underlyings=["NIFTY"])
    clock = VirtualClock(config.start.timestamp())
    market = MarketSimulator(config, CATALOG, clock, RandomStreams(3))
    first, second = CATALOG.expiries("NIFTY", clock.now_datetime(), 2)
    near = market.chain("NIFTY", first, 2)
    market.advance()
    far = market.chain("NIFTY", second, 2)
    for contract in far + near:
        assert market.daily_price_vol(contract.symbol) > 0
        assert market.expected_daily_volume(contract.symbol) > 0
