"""The simulated option chain: quotes, books, volume, determinism, ticking and scenario modifiers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from imperium_desk.clock import VirtualClock
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.market.config import MarketConfig, SmileConfig, default_instruments_path
from imperium_desk.market.port import MarketData, Quote
from imperium_desk.market.simulator import SESSION_S, TRADING_DAYS, MarketModifiers, MarketSimulator
from imperium_desk.rng import RandomStreams

TICK = 0.05


class Harness:
    """A simulator on a virtual clock with the shipped instruments."""

    def __init__(self, **config: Any) -> None:
        self.config = MarketConfig(**config)
        self.catalog = InstrumentCatalog.load(default_instruments_path())
        self.clock = VirtualClock(self.config.start.timestamp())
        self.sim = MarketSimulator(self.config, self.catalog, self.clock, RandomStreams(self.config.seed))

    def expiry(self, underlying: str = "NIFTY") -> Any:
        return self.catalog.expiries(underlying, self.config.start)[0]

    def chain(self, underlying: str = "NIFTY", strikes_each_side: int | None = None) -> list[OptionContract]:
        return self.sim.chain(underlying, self.expiry(underlying), strikes_each_side)

    def atm(self, right: OptionRight = OptionRight.CE, steps: int = 0, underlying: str = "NIFTY") -> str:
        strike = self.catalog.strike_offset(underlying, self.sim.spot(underlying), steps)
        return self.catalog.contract(underlying, self.expiry(underlying), strike, right).symbol

    def run(self, n_ticks: int) -> None:
        """Tick `n_ticks` times on the virtual clock, then stop."""

        async def main() -> None:
            self.sim.start()
            # Half a tick of slack: a sleep ending exactly on a tick wakes first and would stop it.
            await self.clock.sleep((n_ticks + 0.5) * self.config.tick_interval_s)
            self.sim.stop()

        self.clock.run(main())

    def quotes(self, contracts: Sequence[OptionContract]) -> list[Quote]:
        return [self.sim.quote(c.symbol) for c in contracts]


def on_grid(price: float) -> bool:
    return abs(price / TICK - round(price / TICK)) < 1e-9


def ticks(price: float) -> int:
    return round(price / TICK)


# -- MarketData port ----------------------------------------------------------------------------------------
def test_simulator_satisfies_the_market_data_port() -> None:
    port: MarketData = Harness().sim
    assert port.spot("NIFTY") == 26000.0


def test_subscribe_returns_a_valid_quote_immediately() -> None:
    h = Harness()
    contract = h.catalog.contract("NIFTY", h.expiry(), 26000.0, OptionRight.CE)
    quote = h.sim.subscribe(contract)
    assert quote.symbol == contract.symbol
    assert 0 < quote.bid < quote.ask
    assert quote.bid <= quote.ltp <= quote.ask
    assert quote.bids and quote.asks
    assert quote.timestamp == h.clock.now()
    assert h.sim.quote(contract.symbol) is quote


def test_subscribe_is_idempotent() -> None:
    h = Harness()
    contract = h.catalog.contract("NIFTY", h.expiry(), 26000.0, OptionRight.PE)
    first = h.sim.subscribe(contract)
    assert h.sim.subscribe(contract) is first
    assert h.sim.contract(contract.symbol) is contract


def test_subscribing_a_contract_of_an_unsimulated_underlying_raises() -> None:
    h = Harness(underlyings=["NIFTY", "BANKNIFTY"])
    contract = h.catalog.contract("FINNIFTY", h.expiry("FINNIFTY"), 27500.0, OptionRight.CE)
    with pytest.raises(InstrumentError, match="FINNIFTY"):
        h.sim.subscribe(contract)


def test_an_underlying_missing_from_the_catalog_is_rejected_by_name() -> None:
    with pytest.raises(InstrumentError, match="NOPE"):
        Harness(underlyings=["NIFTY", "NOPE"])


def test_quote_of_an_unsubscribed_symbol_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="NIFTY26N2426000CE"):
        Harness().sim.quote("NIFTY26N2426000CE")


def test_chain_subscribes_both_rights_around_the_atm_strike() -> None:
    h = Harness()
    contracts = h.chain()
    assert len(contracts) == 42  # 10 strikes each side + ATM, CE and PE
    strikes = sorted({c.strike for c in contracts})
    assert strikes[10] == 26000.0 and strikes[0] == 25500.0 and strikes[-1] == 26500.0
    assert all(h.sim.quote(c.symbol).symbol == c.symbol for c in contracts)


def test_spot_starts_at_the_override_or_reference_spot() -> None:
    h = Harness(per_underlying={"BANKNIFTY": {"spot": 57000.0}})
    assert h.sim.spot("NIFTY") == 26000.0
    assert h.sim.spot("BANKNIFTY") == 57000.0


# -- prices and books ---------------------------------------------------------------------------------------
def test_all_prices_sit_on_the_tick_grid() -> None:
    h = Harness()
    contracts = h.chain()
    h.run(20)
    for q in h.quotes(contracts):
        levels = [p for p, _ in q.bids + q.asks]
        assert all(on_grid(p) for p in [q.bid, q.ask, q.ltp, *levels]), q
        assert q.bid >= TICK


def test_bid_is_below_ask() -> None:
    h = Harness()
    contracts = h.chain()
    h.run(20)
    for q in h.quotes(contracts):
        assert q.bid < q.ask


def test_ltp_is_the_touch_the_last_trade_printed_on_and_holds_until_the_next_trade() -> None:
    h = Harness()
    contracts = h.chain()
    last: dict[str, Quote] = {c.symbol: h.sim.quote(c.symbol) for c in contracts}
    traded = held = 0

    def check(quotes: Sequence[Quote]) -> None:
        nonlocal traded, held
        for q in quotes:
            before = last[q.symbol]
            if q.volume > before.volume:
                traded += 1
                assert q.ltp in (q.bid, q.ask)
            else:
                held += 1
                assert q.ltp == before.ltp
            last[q.symbol] = q

    h.sim.add_listener(check)
    h.run(40)
    assert traded > 0 and held > 0


def test_ltp_starts_at_the_theoretical_price_inside_the_touch() -> None:
    h = Harness()
    for q in h.quotes(h.chain()):
        assert q.bid <= q.ltp <= q.ask


def test_option_prices_are_monotone_in_strike() -> None:
    h = Harness()
    contracts = h.chain()
    calls = [h.sim.quote(c.symbol).ltp for c in contracts if c.right is OptionRight.CE]
    puts = [h.sim.quote(c.symbol).ltp for c in contracts if c.right is OptionRight.PE]
    assert calls == sorted(calls, reverse=True)
    assert puts == sorted(puts)


def test_cheap_far_otm_options_quote_wider_than_atm() -> None:
    h = Harness()
    h.chain()
    atm = h.sim.quote(h.atm(OptionRight.CE))
    far_otm = h.sim.quote(h.atm(OptionRight.CE, steps=10))
    assert far_otm.ask < 10.0 < atm.bid  # the far option is a cheap one
    assert ticks(far_otm.spread) > ticks(atm.spread)


def test_depth_sizes_are_whole_lots_and_levels_step_one_tick_outward() -> None:
    h = Harness()
    contracts = h.chain()
    h.run(8)
    for contract, q in zip(contracts, h.quotes(contracts), strict=True):
        assert len(q.asks) == h.config.depth.levels
        assert all(size > 0 and size % contract.lot_size == 0 for _, size in q.bids + q.asks)
        ask_prices = [p for p, _ in q.asks]
        bid_prices = [p for p, _ in q.bids]
        assert ask_prices[0] == q.ask and bid_prices[0] == q.bid
        assert all(ticks(b) - ticks(a) == 1 for a, b in pairwise(ask_prices))
        assert all(ticks(a) - ticks(b) == 1 for a, b in pairwise(bid_prices))


def test_open_interest_is_highest_near_the_money() -> None:
    h = Harness()
    h.chain()
    atm = h.sim.quote(h.atm(OptionRight.CE)).oi
    far = h.sim.quote(h.atm(OptionRight.CE, steps=10)).oi
    assert atm > far > 0


def test_open_interest_never_goes_negative() -> None:
    h = Harness()
    contracts = h.chain()
    h.run(120)
    assert all(q.oi >= 0 for q in h.quotes(contracts))


def test_cumulative_volume_never_decreases_and_grows() -> None:
    h = Harness()
    symbol = h.atm()
    h.chain()
    seen: list[int] = []
    h.sim.add_listener(lambda quotes: seen.extend(q.volume for q in quotes if q.symbol == symbol))
    h.run(120)
    assert len(seen) == 120
    assert all(b >= a for a, b in pairwise(seen))
    assert seen[-1] > seen[0]
    assert seen[-1] % h.sim.contract(symbol).lot_size == 0


def test_quotes_are_replaced_not_mutated() -> None:
    h = Harness()
    h.chain()
    symbol = h.atm()
    before = h.sim.quote(symbol)
    snapshot = (before.bid, before.ask, before.volume, before.timestamp, list(before.bids))
    h.run(4)
    after = h.sim.quote(symbol)
    assert after is not before
    assert (before.bid, before.ask, before.volume, before.timestamp, list(before.bids)) == snapshot
    assert after.timestamp > before.timestamp


def test_quote_timestamps_come_from_the_clock() -> None:
    h = Harness()
    h.chain()
    h.run(4)
    # Four ticks at 250 ms: the last one fired exactly one second after the start.
    assert h.sim.quote(h.atm()).timestamp == h.config.start.timestamp() + 1.0


# -- determinism --------------------------------------------------------------------------------------------
def _quotes_after_ticks(seed: int, n_ticks: int = 40) -> list[Quote]:
    h = Harness(seed=seed)
    contracts = h.chain() + h.chain("BANKNIFTY", 3)
    h.run(n_ticks)
    return h.quotes(contracts)


def test_same_seed_gives_identical_quotes() -> None:
    assert _quotes_after_ticks(7) == _quotes_after_ticks(7)


def test_different_seed_gives_different_quotes() -> None:
    assert _quotes_after_ticks(7) != _quotes_after_ticks(8)


# -- ticking and listeners ----------------------------------------------------------------------------------
def test_listeners_receive_the_changed_quotes_every_tick() -> None:
    h = Harness()
    nifty = {c.symbol for c in h.chain()}
    banknifty = {c.symbol for c in h.chain("BANKNIFTY", 2)}
    batches: list[tuple[float, set[str]]] = []
    h.sim.add_listener(lambda quotes: batches.append((h.clock.now(), {q.symbol for q in quotes})))
    h.run(8)
    assert len(batches) == 16  # 8 ticks x 2 underlyings
    assert [symbols for _, symbols in batches[:2]] == [nifty, banknifty]
    last_time, last_symbols = batches[-1]
    assert all(h.sim.quote(s).timestamp == last_time for s in last_symbols)


def test_ticks_stop_after_stop() -> None:
    h = Harness()
    h.chain()
    calls: list[int] = []
    h.sim.add_listener(lambda quotes: calls.append(len(quotes)))

    async def main() -> None:
        h.sim.start()
        h.sim.start()  # starting twice does not double the tick rate
        await h.clock.sleep(1.1)
        h.sim.stop()
        assert not h.sim.running
        await h.clock.sleep(5.0)

    h.clock.run(main())  # finishing at all shows no timer was left behind
    assert len(calls) == 4


def test_stop_inside_a_listener_ends_the_ticks() -> None:
    h = Harness(underlyings=["NIFTY"])
    h.chain()
    calls: list[int] = []

    def listener(quotes: Sequence[Quote]) -> None:
        calls.append(len(quotes))
        if len(calls) == 3:
            h.sim.stop()

    h.sim.add_listener(listener)

    async def main() -> None:
        h.sim.start()
        await h.clock.sleep(10.0)

    h.clock.run(main())
    assert len(calls) == 3


def test_a_failing_listener_does_not_stop_the_others() -> None:
    h = Harness(underlyings=["NIFTY"])
    h.chain()
    calls: list[int] = []

    def broken(quotes: Sequence[Quote]) -> None:
        raise RuntimeError("widget went away")

    h.sim.add_listener(broken)
    h.sim.add_listener(lambda quotes: calls.append(len(quotes)))
    h.run(4)
    assert calls == [42, 42, 42, 42]


def test_reprice_now_moves_neither_spot_nor_volume() -> None:
    h = Harness()
    contracts = h.chain()
    h.run(8)
    spot, volumes = h.sim.spot("NIFTY"), [q.volume for q in h.quotes(contracts)]
    h.sim.reprice_now()
    assert h.sim.spot("NIFTY") == spot
    assert [q.volume for q in h.quotes(contracts)] == volumes


# -- scenario modifiers -------------------------------------------------------------------------------------
def test_jump_moves_the_spot_by_pct_and_calls_rise() -> None:
    h = Harness()
    h.chain()
    call, put = h.atm(OptionRight.CE), h.atm(OptionRight.PE)
    call_before, put_before = h.sim.quote(call).mid, h.sim.quote(put).mid
    assert h.sim.jump("NIFTY", 1.0) == pytest.approx(26260.0)
    assert h.sim.spot("NIFTY") == pytest.approx(26260.0)
    assert h.sim.quote(call).mid > call_before
    assert h.sim.quote(put).mid < put_before


def test_jump_notifies_listeners_with_the_new_quotes() -> None:
    h = Harness()
    h.chain()
    batches: list[Sequence[Quote]] = []
    h.sim.add_listener(batches.append)
    h.sim.jump("NIFTY", -2.0)
    assert len(batches) == 1 and len(batches[0]) == 42
    assert all(h.sim.quote(q.symbol) is q for q in batches[0])


@pytest.mark.parametrize("pct", [-100.0, -150.0, math.nan, math.inf])
def test_jump_rejects_impossible_moves(pct: float) -> None:
    with pytest.raises(ValueError, match="pct"):
        Harness().sim.jump("NIFTY", pct)


def test_modifiers_default_to_one_and_return_what_was_set() -> None:
    h = Harness()
    assert h.sim.modifiers("NIFTY") == MarketModifiers()
    h.sim.set_modifiers("NIFTY", spread_mult=2.0, vol_mult=1.5)
    assert h.sim.modifiers("NIFTY") == MarketModifiers(spread_mult=2.0, vol_mult=1.5)
    assert h.sim.modifiers("BANKNIFTY") == MarketModifiers()


@pytest.mark.parametrize("field", ["spread_mult", "depth_mult", "volume_mult", "vol_mult"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan])
def test_invalid_modifier_raises_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Harness().sim.set_modifiers("NIFTY", **{field: value})


def test_modifiers_of_an_unsimulated_underlying_raise() -> None:
    with pytest.raises(InstrumentError, match="SENSEX"):
        Harness(underlyings=["NIFTY", "BANKNIFTY"]).sim.set_modifiers("SENSEX", spread_mult=2.0)


def test_spread_mult_widens_the_book() -> None:
    h = Harness()
    contracts = h.chain()
    before = [ticks(q.spread) for q in h.quotes(contracts)]
    h.sim.set_modifiers("NIFTY", spread_mult=3.0)
    h.sim.reprice_now()
    after = [ticks(q.spread) for q in h.quotes(contracts)]
    assert all(a >= 3 * b - 1 for a, b in zip(after, before, strict=True))
    assert sum(after) > 2.5 * sum(before)


def _total_depth(quotes: Sequence[Quote]) -> int:
    return sum(size for q in quotes for _, size in q.bids + q.asks)


def test_depth_mult_scales_the_book_sizes() -> None:
    thin, normal = Harness(), Harness()
    thin.sim.set_modifiers("NIFTY", depth_mult=0.2)
    thin_depth = _total_depth(thin.quotes(thin.chain()))
    normal_depth = _total_depth(normal.quotes(normal.chain()))
    assert 0.1 < thin_depth / normal_depth < 0.35


def test_volume_mult_scales_traded_volume() -> None:
    busy, normal = Harness(), Harness()
    busy.sim.set_modifiers("NIFTY", volume_mult=5.0)
    busy_contracts, normal_contracts = busy.chain(), normal.chain()
    busy.run(120)
    normal.run(120)
    busy_volume = sum(q.volume for q in busy.quotes(busy_contracts))
    normal_volume = sum(q.volume for q in normal.quotes(normal_contracts))
    assert 4.0 < busy_volume / normal_volume < 6.0
    symbol = busy.atm()
    busy_rate, normal_rate = busy.sim.expected_daily_volume(symbol), normal.sim.expected_daily_volume(symbol)
    assert busy_rate == pytest.approx(5 * normal_rate)


def _log_returns(h: Harness, n_ticks: int) -> np.ndarray:
    spots = [h.sim.spot("NIFTY")]
    h.sim.add_listener(lambda quotes: spots.append(h.sim.spot("NIFTY")))
    h.chain(strikes_each_side=0)
    h.run(n_ticks)
    return np.diff(np.log(spots))


def test_vol_mult_scales_the_path_moves() -> None:
    stormy, calm = Harness(underlyings=["NIFTY"]), Harness(underlyings=["NIFTY"])
    stormy.sim.set_modifiers("NIFTY", vol_mult=3.0)
    ratio = np.std(_log_returns(stormy, 400)) / np.std(_log_returns(calm, 400))
    assert ratio == pytest.approx(3.0, rel=0.01)  # same seed, same normals: only the scale differs


def test_vol_mult_raises_option_prices() -> None:
    h = Harness()
    h.chain()
    symbol = h.atm()
    before = h.sim.quote(symbol).mid
    h.sim.set_modifiers("NIFTY", vol_mult=2.0)
    h.sim.reprice_now()
    assert h.sim.quote(symbol).mid > 1.8 * before


def test_path_vol_matches_the_configured_vol_in_trading_time() -> None:
    h = Harness(underlyings=["NIFTY"], per_underlying={"NIFTY": {"vol": 0.2}})
    returns = _log_returns(h, 4000)
    per_tick = 0.2 * math.sqrt(0.25 / (252 * 6.25 * 3600))
    assert np.std(returns) == pytest.approx(per_tick, rel=0.05)


# -- impact-model inputs ------------------------------------------------------------------------------------
def test_daily_price_vol_is_delta_times_the_underlying_daily_move() -> None:
    h = Harness()
    h.chain()
    atm_call = h.sim.daily_price_vol(h.atm(OptionRight.CE))
    underlying_daily = 26000.0 * 0.14 / math.sqrt(TRADING_DAYS)
    assert 0.4 * underlying_daily < atm_call < 0.6 * underlying_daily  # ATM delta is about one half
    deep_otm = h.sim.daily_price_vol(h.atm(OptionRight.CE, steps=10))
    assert TICK <= deep_otm < atm_call


def test_expected_daily_volume_is_the_session_rate_in_units() -> None:
    h = Harness()
    h.chain()
    symbol = h.atm()
    expected = h.sim.expected_daily_volume(symbol)
    ceiling = h.config.volume.lots_per_s * SESSION_S * h.sim.contract(symbol).lot_size
    assert 0.8 * ceiling < expected <= ceiling
    assert h.sim.expected_daily_volume(h.atm(steps=10)) < expected / 2


# -- config -------------------------------------------------------------------------------------------------
def test_market_config_defaults() -> None:
    config = MarketConfig()
    assert config.underlyings == ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX"]
    assert config.tick_interval_s == 0.25
    assert config.start == datetime.fromisoformat("2026-11-23T09:15:00+05:30")
    assert config.instruments_path() == default_instruments_path()
    assert default_instruments_path().is_file()


@pytest.mark.parametrize(
    "raw",
    [{"sede": 7}, {"spread": {"base_tick": 2}}, {"per_underlying": {"NIFTY": {"volatility": 0.2}}}],
)
def test_market_config_rejects_unknown_fields(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        MarketConfig.model_validate(raw)


def test_market_config_rejects_a_naive_start() -> None:
    with pytest.raises(ValidationError, match="start"):
        MarketConfig.model_validate({"start": "2026-11-23T09:15:00"})
    assert MarketConfig.model_validate({"start": "2026-11-23T03:45:00Z"}).start.timestamp() == (
        MarketConfig().start.timestamp()
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"tick_interval_ms": 5},
        {"seed": -1},
        {"underlyings": []},
        {"depth": {"levels": 21}},
        {"per_underlying": {"NIFTY": {"vol": 0}}},
        {"spread": {"base_ticks": 0}},
        {"volume": {"lots_per_s": 0}},
    ],
)
def test_market_config_rejects_out_of_range_numbers(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MarketConfig.model_validate(raw)


def test_per_underlying_must_name_a_simulated_underlying() -> None:
    with pytest.raises(ValidationError, match="FINNIFTY"):
        MarketConfig.model_validate({"underlyings": ["NIFTY"], "per_underlying": {"FINNIFTY": {"vol": 0.2}}})


def test_underlying_config_returns_the_override_or_defaults() -> None:
    config = MarketConfig.model_validate({"per_underlying": {"NIFTY": {"vol": 0.2}}})
    assert config.underlying_config("NIFTY").vol == 0.2
    assert config.underlying_config("BANKNIFTY").vol == 0.14
    assert config.underlying_config("BANKNIFTY").spot is None


def test_smile_that_would_allow_spread_arbitrage_is_rejected() -> None:
    with pytest.raises(ValidationError, match="arbitrageable"):
        SmileConfig(skew=0.5, curvature=1.5)


def test_smile_puts_skew_on_the_downside() -> None:
    factor = SmileConfig().vol_factor(np.array([-1.0, 0.0, 1.0]))
    assert factor[1] == 1.0
    assert factor[0] > factor[2] > 1.0


def test_instruments_path_override_is_used(tmp_path: Path) -> None:
    config = MarketConfig(instruments=tmp_path / "mine.yaml")
    assert config.instruments_path() == tmp_path / "mine.yaml"
