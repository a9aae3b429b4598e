"""A seeded simulated option chain: underlying paths, option prices, books, volume and open interest.

Each simulated underlying follows a geometric Brownian motion in trading time; every subscribed option
on it is repriced in one vectorised pass per tick (undiscounted Black-76 on the spot as forward, with
the configured smile), rounded to the tick grid, and quoted with a spread and depth that widen and thin
away from the money. Time comes only from the `Clock` and randomness only from named seeded streams,
so a run under the virtual clock is a pure function of the seed, the config and the calls made.

Year fractions: option time to expiry is calendar time (365-day year, floored at one minute); the
underlying diffuses only during trading time, a year of which is 252 sessions of 6.25 hours, so a
session's log-return has standard deviation `vol / sqrt(252)`.

Draw order (what a replay depends on): per underlying and tick, one normal from
`("market", underlying)` for the path (drawn whether or not anything is subscribed, so the path never
depends on subscriptions), then from `("market-book", underlying)` the depth sizes of every subscribed
contract and, on a timed tick, its traded lots and two uniforms (the side the trades printed on,
whether they opened or closed positions). Subscribing draws the new contracts' depth and initial open
interest from the book stream, so book draws depend on what was subscribed when.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from itertools import repeat

import numpy as np
import numpy.typing as npt

from imperium_desk.clock import Cancellable, Clock
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.market.black76 import FloatArray, black76_delta, black76_prices_from_std_dev
from imperium_desk.market.config import MarketConfig
from imperium_desk.market.port import Quote, TickListener
from imperium_desk.rng import RandomStreams

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CALENDAR_YEAR_S = 365.0 * 24 * 3600
MIN_EXPIRY_S = 60.0  # a contract at or past expiry is priced as if one minute remained
TRADING_DAYS = 252
TRADING_YEAR_S = TRADING_DAYS * 6.25 * 3600
SESSION_S = 22_500.0  # 09:15-15:30 IST
# Open interest starts near two sessions of expected volume: about what an actively traded weekly
# contract carries in the morning.
OI_SESSIONS = 2.0
# Depth sizes are gamma with this shape: a coefficient of variation of 1/sqrt(4) = 50% per level.
DEPTH_GAMMA_SHAPE = 4.0
_PRICE_DECIMALS = 8  # rounding tick multiples to this many decimals gives the shortest float spelling


def _clamp(values: FloatArray, low: FloatArray, high: FloatArray) -> FloatArray:
    # np.clip costs several times more than the two ufuncs on small arrays.
    clamped: FloatArray = np.minimum(np.maximum(values, low), high)
    return clamped


@dataclass(frozen=True, slots=True)
class MarketModifiers:
    """Runtime multipliers for scenario drills; 1.0 everywhere is the configured market."""

    spread_mult: float = 1.0
    depth_mult: float = 1.0
    volume_mult: float = 1.0
    vol_mult: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be a finite number > 0, got {value!r}")


class _Book:
    """Everything simulated for one underlying, with per-contract state as parallel numpy columns."""

    def __init__(
        self, name: str, spot: float, vol: float, path_rng: np.random.Generator, book_rng: np.random.Generator
    ) -> None:
        self.name = name
        self.spot = spot
        self.vol = vol
        self.modifiers = MarketModifiers()
        self.path_rng = path_rng
        self.book_rng = book_rng
        self.contracts: list[OptionContract] = []
        self.symbols: list[str] = []
        self.strike: FloatArray = np.empty(0)
        self.is_call: BoolArray = np.empty(0, dtype=bool)
        self.sign: FloatArray = np.empty(0)  # +1 call, -1 put
        self.log_strike: FloatArray = np.empty(0)
        self.expiry_epoch: FloatArray = np.empty(0)
        self.lot: IntArray = np.empty(0, dtype=np.int64)
        self.volume: IntArray = np.empty(0, dtype=np.int64)
        self.turnover: FloatArray = np.empty(0)
        self.oi: IntArray = np.empty(0, dtype=np.int64)
        self.ltp_ticks: FloatArray = np.empty(0)
        # As of the last repricing: inputs of daily_price_vol / expected_daily_volume.
        self.t_years: FloatArray = np.empty(0)
        self.iv: FloatArray = np.empty(0)
        self.abs_m: FloatArray = np.empty(0)

    @property
    def atm_vol(self) -> float:
        return self.vol * self.modifiers.vol_mult

    def append(self, contracts: Sequence[OptionContract]) -> int:
        """Add contracts as new rows at the end; returns the first new row."""
        first = len(self.contracts)
        self.contracts.extend(contracts)
        self.symbols.extend(c.symbol for c in contracts)
        n = len(contracts)
        self.strike = np.concatenate((self.strike, [c.strike for c in contracts]))
        self.is_call = np.concatenate((self.is_call, [c.right is OptionRight.CE for c in contracts]))
        self.sign = np.where(self.is_call, 1.0, -1.0)
        self.log_strike = np.log(self.strike)
        self.expiry_epoch = np.concatenate((self.expiry_epoch, [c.expiry_at.timestamp() for c in contracts]))
        self.lot = np.concatenate((self.lot, np.array([c.lot_size for c in contracts], dtype=np.int64)))
        # OI and LTP are set from the first pricing of the new rows.
        self.volume = np.concatenate((self.volume, np.zeros(n, dtype=np.int64)))
        self.turnover = np.concatenate((self.turnover, np.zeros(n)))
        self.oi = np.concatenate((self.oi, np.zeros(n, dtype=np.int64)))
        self.ltp_ticks = np.concatenate((self.ltp_ticks, np.zeros(n)))
        for column in ("t_years", "iv", "abs_m"):
            setattr(self, column, np.concatenate((getattr(self, column), np.zeros(n))))
        return first


class MarketSimulator:
    """The simulated `MarketData`: quotes for subscribed contracts, refreshed every tick."""

    def __init__(
        self, config: MarketConfig, catalog: InstrumentCatalog, clock: Clock, streams: RandomStreams
    ) -> None:
        self._config = config
        self._catalog = catalog
        self._clock = clock
        self._tick_s = config.tick_interval_s
        self._dt_years = self._tick_s / TRADING_YEAR_S
        self._tick = catalog.tick_size
        # k / 20.0 is the double nearest k*0.05 (k * 0.05 is not: 3 * 0.05 = 0.15000000000000002).
        per_unit = round(1.0 / self._tick)
        self._ticks_per_unit = float(per_unit) if abs(per_unit * self._tick - 1.0) < 1e-12 else None
        self._books: dict[str, _Book] = {}
        for name in config.underlyings:
            try:
                spec = catalog.underlying(name)
            except InstrumentError as exc:
                raise InstrumentError(f"market.underlyings: {exc}") from None
            override = config.underlying_config(name)
            spot = override.spot if override.spot is not None else spec.reference_spot
            self._books[name] = _Book(
                name, spot, override.vol, streams.stream("market", name), streams.stream("market-book", name)
            )
        self._rows: dict[str, tuple[_Book, int]] = {}
        self._quotes: dict[str, Quote] = {}
        self._listeners: list[TickListener] = []
        self._timer: Cancellable | None = None
        levels = config.depth.levels
        self._level_offsets: FloatArray = np.arange(levels, dtype=np.float64)
        growth = 1.0 + 0.5 * self._level_offsets
        self._level_growth: FloatArray = np.concatenate((growth, growth))  # bid levels, then ask levels
        self._slices: dict[int, tuple[list[slice], list[slice]]] = {}

    # -- MarketData ---------------------------------------------------------------------------------------
    def subscribe(self, contract: OptionContract) -> Quote:
        """Start quoting a contract (idempotent); its quote is priced at the current clock time."""
        self._subscribe_all([contract])
        return self._quotes[contract.symbol]

    def quote(self, symbol: str) -> Quote:
        try:
            return self._quotes[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not subscribed") from None

    def spot(self, underlying: str) -> float:
        return self._book(underlying).spot

    def daily_price_vol(self, symbol: str) -> float:
        """|delta| * F * atm_vol / sqrt(252), at least one tick, as of the contract's last quote."""
        book, i = self._row(symbol)
        row = slice(i, i + 1)
        delta = black76_delta(book.spot, book.strike[row], book.t_years[row], book.iv[row], book.is_call[row])
        return max(self._tick, abs(float(delta[0])) * book.spot * book.atm_vol / math.sqrt(TRADING_DAYS))

    def expected_daily_volume(self, symbol: str) -> float:
        """Expected units per session at the current traded rate (including the volume modifier)."""
        book, i = self._row(symbol)
        return self._lots_per_s(book, float(book.abs_m[i])) * SESSION_S * int(book.lot[i])

    def add_listener(self, listener: TickListener) -> None:
        self._listeners.append(listener)

    # -- chain and contracts ------------------------------------------------------------------------------
    @property
    def underlyings(self) -> list[str]:
        return list(self._books)

    def chain(
        self, underlying: str, expiry: date, strikes_each_side: int | None = None
    ) -> list[OptionContract]:
        """CE and PE contracts around the current ATM strike (lowest strike first), all subscribed."""
        book = self._book(underlying)
        width = self._config.strikes_each_side if strikes_each_side is None else strikes_each_side
        contracts = self._catalog.chain(underlying, expiry, book.spot, width)
        self._subscribe_all(contracts)
        return contracts

    def contract(self, symbol: str) -> OptionContract:
        book, i = self._row(symbol)
        return book.contracts[i]

    # -- ticking ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """Tick every `tick_interval_ms` on the clock until `stop()`; starting twice is harmless."""
        if self._timer is None:
            self._timer = self._clock.call_later(self._tick_s, self._on_timer)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        # Re-arm first so a failing tick cannot silently end the stream (and stop() inside a listener
        # cancels the new timer).
        self._timer = self._clock.call_later(self._tick_s, self._on_timer)
        self.advance()

    def advance(self) -> None:
        """One tick now: step every underlying's path, reprice its contracts and notify listeners."""
        for book in self._books.values():
            sig = book.atm_vol
            z = float(book.path_rng.standard_normal())
            book.spot *= math.exp(-0.5 * sig * sig * self._dt_years + sig * math.sqrt(self._dt_years) * z)
            self._notify(self._reprice(book, 0, traded_s=self._tick_s))

    def reprice_now(self) -> None:
        """Reprice every underlying at the current clock time, without a path step or trading."""
        for book in self._books.values():
            self._notify(self._reprice(book, 0, traded_s=0.0))

    # -- scenario drills ----------------------------------------------------------------------------------
    def jump(self, underlying: str, pct: float) -> float:
        """Move the spot by `pct` percent now and reprice its contracts; returns the new spot."""
        book = self._book(underlying)
        if not (math.isfinite(pct) and pct > -100.0):
            raise ValueError(f"jump pct must be a finite number > -100, got {pct!r}")
        book.spot *= 1.0 + pct / 100.0
        self._notify(self._reprice(book, 0, traded_s=0.0))
        return book.spot

    def set_modifiers(
        self,
        underlying: str,
        *,
        spread_mult: float = 1.0,
        depth_mult: float = 1.0,
        volume_mult: float = 1.0,
        vol_mult: float = 1.0,
    ) -> None:
        """Replace all four multipliers (omitted ones return to 1.0); the next ticks apply them."""
        book = self._book(underlying)
        book.modifiers = MarketModifiers(
            spread_mult=spread_mult, depth_mult=depth_mult, volume_mult=volume_mult, vol_mult=vol_mult
        )

    def modifiers(self, underlying: str) -> MarketModifiers:
        return self._book(underlying).modifiers

    def regime(self, underlying: str) -> tuple[float, float]:
        """(volatility, message rate) relative to the configured market. The simulator's traffic is its trades
        and the quotes they move, so the message rate scales with the traded-volume multiplier."""
        m = self._book(underlying).modifiers
        return m.vol_mult, m.volume_mult

    # -- internals ----------------------------------------------------------------------------------------
    def _book(self, underlying: str) -> _Book:
        book = self._books.get(underlying)
        if book is None:
            raise InstrumentError(
                f"underlying {underlying!r} is not simulated (market.underlyings: {', '.join(self._books)})"
            )
        return book

    def _row(self, symbol: str) -> tuple[_Book, int]:
        try:
            return self._rows[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not subscribed") from None

    def _lots_per_s(self, book: _Book, abs_m: float) -> float:
        decay = self._config.depth.decay
        return self._config.volume.lots_per_s * math.exp(-decay * abs_m) * book.modifiers.volume_mult

    def _subscribe_all(self, contracts: Sequence[OptionContract]) -> None:
        new: dict[str, list[OptionContract]] = {}
        seen: set[str] = set()
        for c in contracts:
            if c.symbol in self._rows or c.symbol in seen:
                continue
            self._book(c.underlying)  # every contract is checked before any is added
            seen.add(c.symbol)
            new.setdefault(c.underlying, []).append(c)
        for underlying, batch in new.items():
            book = self._books[underlying]
            first = book.append(batch)
            for offset, c in enumerate(batch):
                self._rows[c.symbol] = (book, first + offset)
            self._reprice(book, first, traded_s=0.0, fresh=True)

    def _notify(self, quotes: list[Quote]) -> None:
        if not quotes:
            return
        for listener in self._listeners:
            try:
                listener(quotes)
            except Exception:
                # One broken consumer (a widget, a chart) must not starve the others or stop the market.
                log.exception("market listener %r failed", listener)

    def _spread_ticks(self, price_ticks: FloatArray, abs_m: FloatArray, spread_mult: float) -> FloatArray:
        """The SpreadConfig formula, in whole ticks."""
        cfg = self._config.spread
        cheapness = np.maximum(0.0, 1.0 - price_ticks * (self._tick / cfg.cheap_price))
        base = np.maximum(cfg.base_ticks, np.rint(cfg.pct_of_price * price_ticks)) + np.rint(
            cfg.cheap_extra_ticks * cheapness
        )
        spread: FloatArray = np.maximum(cfg.base_ticks, np.rint(base * (1.0 + 0.5 * abs_m)))
        if spread_mult != 1.0:
            spread = np.maximum(1.0, np.rint(spread * spread_mult))
        return spread

    def _depth_lots(self, book: _Book, liquidity: FloatArray) -> IntArray:
        """Sizes (lots) of every level: columns are bid levels then ask levels, best first."""
        touch = self._config.depth.touch_lots * book.modifiers.depth_mult
        mean = (touch * liquidity)[:, None] * self._level_growth
        # One shared gamma shape (so every level has the same relative dispersion) lets numpy draw the whole
        # book from a scalar-parameter sampler, several times cheaper than per-element Poisson means.
        shocks = book.book_rng.standard_gamma(DEPTH_GAMMA_SHAPE, mean.shape)
        lots = np.rint(shocks * (mean * (1.0 / DEPTH_GAMMA_SHAPE)))
        sized: IntArray = np.maximum(lots, 1.0).astype(np.int64)
        return sized

    def _reprice(self, book: _Book, first: int, *, traded_s: float, fresh: bool = False) -> list[Quote]:
        """Price rows `first:` at the clock's time, trade for `traded_s` seconds, and store new quotes.

        `fresh` rows were just subscribed: their LTP starts at the theoretical price and their open
        interest is drawn.
        """
        rows = slice(first, None)
        strike = book.strike[rows]
        if strike.size == 0:
            return []
        now = self._clock.now()
        forward = book.spot
        atm = book.atm_vol
        t_years = np.maximum(book.expiry_epoch[rows] - now, MIN_EXPIRY_S) * (1.0 / CALENDAR_YEAR_S)
        atm_std_dev = atm * np.sqrt(t_years)
        log_kf = book.log_strike[rows] - math.log(forward)
        m = log_kf / atm_std_dev
        abs_m = np.abs(m)
        vol_factor = self._config.smile.vol_factor(m)
        std_dev = atm_std_dev * vol_factor
        theo = black76_prices_from_std_dev(forward, strike, -log_kf, std_dev, book.sign[rows])
        book.t_years[rows] = t_years
        book.iv[rows] = atm * vol_factor
        book.abs_m[rows] = abs_m

        price_ticks = np.maximum(1.0, np.rint(theo * (1.0 / self._tick)))
        spread = self._spread_ticks(price_ticks, abs_m, book.modifiers.spread_mult)
        bid = np.maximum(1.0, price_ticks - np.floor(spread * 0.5))
        ask = bid + spread
        liquidity = np.exp(-self._config.depth.decay * abs_m)
        lots = self._depth_lots(book, liquidity)
        lot = book.lot[rows]

        if fresh:
            book.oi[rows] = self._initial_oi_lots(book, liquidity) * lot
            book.ltp_ticks[rows] = price_ticks
        if traded_s > 0.0:
            self._trade(book, rows, liquidity=liquidity, traded_s=traded_s, bid=bid, ask=ask)
        else:
            book.ltp_ticks[rows] = _clamp(book.ltp_ticks[rows], bid, ask)
        return self._store_quotes(book, first, now=now, bid=bid, ask=ask, sizes=lots * lot[:, None])

    def _initial_oi_lots(self, book: _Book, liquidity: FloatArray) -> IntArray:
        mean = OI_SESSIONS * SESSION_S * self._config.volume.lots_per_s * liquidity
        oi: IntArray = book.book_rng.poisson(mean)
        return oi

    def _trade(
        self,
        book: _Book,
        rows: slice,
        *,
        liquidity: FloatArray,
        traded_s: float,
        bid: FloatArray,
        ask: FloatArray,
    ) -> None:
        """Draw this tick's trades: volume, the side they printed on (the LTP) and the OI they moved."""
        rate = self._config.volume.lots_per_s * book.modifiers.volume_mult * traded_s
        rng = book.book_rng
        traded = rng.poisson(rate * liquidity)
        n = traded.size
        coins = rng.random(2 * n) < 0.5  # per row: printed on the bid?, opened positions?
        lot = book.lot[rows]
        traded_units = traded * lot
        book.volume[rows] += traded_units
        printed_at = np.where(coins[:n], bid, ask)
        book.turnover[rows] += traded_units * printed_at * self._tick
        book.ltp_ticks[rows] = np.where(traded > 0, printed_at, _clamp(book.ltp_ticks[rows], bid, ask))
        # The tick's trades either opened or closed positions: OI walks by the traded quantity.
        oi_change = np.where(coins[n:], traded_units, -traded_units)
        book.oi[rows] = np.maximum(book.oi[rows] + oi_change, 0)

    def _prices(self, in_ticks: FloatArray) -> FloatArray:
        """Whole tick counts as prices, spelled as the decimal price would be."""
        if self._ticks_per_unit is not None:
            exact: FloatArray = in_ticks / self._ticks_per_unit
            return exact
        rounded: FloatArray = np.round(in_ticks * self._tick, _PRICE_DECIMALS)
        return rounded

    def _row_slices(self, n: int) -> tuple[list[slice], list[slice]]:
        """Slices of the flat (price, size) pairs holding each row's bid and ask levels (cached per n)."""
        cached = self._slices.get(n)
        if cached is None:
            levels = self._level_offsets.size
            starts = range(0, n * 2 * levels, 2 * levels)
            bids = [slice(j, j + levels) for j in starts]
            asks = [slice(j + levels, j + 2 * levels) for j in starts]
            cached = (bids, asks)
            self._slices[n] = cached
        return cached

    def _store_quotes(
        self, book: _Book, first: int, *, now: float, bid: FloatArray, ask: FloatArray, sizes: IntArray
    ) -> list[Quote]:
        """Build and store one new Quote per row.

        Built in bulk (one zip, list slices, `map`) rather than row by row: this is the only Python-level
        work in a tick and a per-row loop costs several times more.
        """
        n = bid.size
        levels = self._level_offsets.size
        width = 2 * levels
        ladder = np.empty((n, width))
        ladder[:, :levels] = bid[:, None] - self._level_offsets
        ladder[:, levels:] = ask[:, None] + self._level_offsets
        prices = self._prices(ladder).ravel().tolist()
        pairs = list(zip(prices, sizes.ravel().tolist(), strict=True))
        bid_slices, ask_slices = self._row_slices(n)
        bids = list(map(pairs.__getitem__, bid_slices))
        asks = list(map(pairs.__getitem__, ask_slices))
        # A bid level can't sit below one tick: cheap options show fewer bid levels.
        for i in (bid < levels).nonzero()[0].tolist():
            del bids[i][int(bid[i]) :]
        symbols = book.symbols[first:]
        quotes = list(
            map(
                Quote,
                symbols,
                prices[0::width],
                prices[levels::width],
                self._prices(book.ltp_ticks[first:]).tolist(),
                bids,
                asks,
                book.volume[first:].tolist(),
                book.oi[first:].tolist(),
                repeat(now, n),
                book.turnover[first:].tolist(),
            )
        )
        self._quotes.update(zip(symbols, quotes, strict=True))
        return quotes
