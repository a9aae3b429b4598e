"""One underlying's simulated market over a run of ticks, ticks x contracts in one vectorised pass.

`derive_ticks` turns the standardised draws of a run of grid ticks (a normal per tick for the path, three uniforms
per contract per tick for its trades) and the `BookState` after the last quote into `Rows`: spot, touch, trades,
volume, turnover, open interest and last price of every contract at every tick. `derive_instant` prices one off-grid
instant (a jump, a repricing, a subscription) from the same state, trading nothing and drawing nothing. A tick's
quotes are built from its row of `Rows` only when someone reads them (`RowsBatch`), and only then are their books'
depth sizes drawn (`DepthStream`).

Why the result does not depend on where a run starts (so a run of 1, 7 or 256 ticks gives the same market):

* everything per (tick, contract) is computed element-wise, and numpy's element-wise functions give an element the
  same value whatever the array around it;
* what carries from tick to tick is computed by sequential recurrences seeded with the carried state: the spot by
  `np.multiply.accumulate`, turnover by `np.add.accumulate` (both fold strictly in tick order, unlike `sum`), volume
  in integers, open interest by the reflected-walk formula (`x_k = S_k - min(0, min_j<=k S_j)` for
  `x_k = max(x_(k-1) + d_k, 0)`, exact in integers), and the last price by a forward fill;
* a book's depth uniforms are addressed by (contract, grid tick), never by block.

So deriving ticks k.. from the state after tick k-1 reproduces, bit for bit, what deriving from any earlier tick
gave for them. Arrays are (instants, contracts): the recurrences then run along the slow axis, a vector op per tick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.market.black76 import FloatArray, black76_delta_scalar, black76_prices_from_std_dev
from imperium_desk.market.config import SMILE_FLOOR, SMILE_SATURATION, MarketConfig
from imperium_desk.market.draws import gamma_from_uniforms, poisson_from_uniform
from imperium_desk.market.port import Quote, TickBatch

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
_STATE_SPACE = 2**128  # PCG64's period: advancing by this minus n steps back n draws

# A column's depth is worked out whole once 1/16 of its instants were read alone: one instant alone costs about what
# 20 cost together (~21 us against ~1 us each, numpy's per-call cost), so neither way costs twice the better one.
DENSE_DEPTH_READS = 16

# A contract's uniforms per grid tick, from its trade stream: traded lots, printed on the bid?, opened positions?
COUNT, SIDE, OPENED = 0, 1, 2
TRADE_DRAWS = 3


@dataclass(frozen=True, slots=True)
class MarketModifiers:
    """Runtime multipliers for scenario drills; 1.0 everywhere is the configured market."""

    spread_mult: float = 1.0
    depth_mult: float = 1.0
    volume_mult: float = 1.0
    vol_mult: float = 1.0

    def __post_init__(self) -> None:
        for name in ("spread_mult", "depth_mult", "volume_mult", "vol_mult"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


class Pricer:
    """The config's pricing, spread, depth and volume rules with their constants worked out once."""

    def __init__(self, config: MarketConfig, tick_size: float) -> None:
        self.config = config
        self.tick = tick_size
        self.tick_s = config.tick_interval_s
        self.dt_years = self.tick_s / TRADING_YEAR_S
        # k / 20.0 is the double nearest k*0.05 (k * 0.05 is not: 3 * 0.05 = 0.15000000000000002).
        per_unit = round(1.0 / tick_size)
        self.ticks_per_unit = float(per_unit) if abs(per_unit * tick_size - 1.0) < 1e-12 else None
        self.levels = config.depth.levels
        self.width = 2 * self.levels  # depth sizes per book: bid levels, then ask levels
        level_offsets = np.arange(self.levels, dtype=np.float64)
        self.ladder_offsets: FloatArray = np.concatenate((-level_offsets, level_offsets))
        growth = 1.0 + 0.5 * level_offsets
        self.level_growth: FloatArray = np.concatenate((growth, growth))  # bid levels, then ask levels

    def prices(self, in_ticks: FloatArray) -> FloatArray:
        """Whole tick counts as prices, spelled as the decimal price would be."""
        if self.ticks_per_unit is not None:
            exact: FloatArray = in_ticks / self.ticks_per_unit
            return exact
        rounded: FloatArray = np.round(in_ticks * self.tick, _PRICE_DECIMALS)
        return rounded

    def lots_per_tick(self, modifiers: MarketModifiers) -> float:
        """Mean traded lots per tick of an at-the-money contract (liquidity 1)."""
        return self.config.volume.lots_per_s * modifiers.volume_mult * self.tick_s

    def spread_ticks(self, price_ticks: FloatArray, abs_m: FloatArray, spread_mult: float) -> FloatArray:
        """The SpreadConfig formula, in whole ticks (in place: it runs for every contract at every tick)."""
        cfg = self.config.spread
        cheap = price_ticks * (self.tick / cfg.cheap_price)
        np.subtract(1.0, cheap, out=cheap)
        np.maximum(cheap, 0.0, out=cheap)
        cheap *= cfg.cheap_extra_ticks
        np.rint(cheap, out=cheap)
        base = price_ticks * cfg.pct_of_price
        np.rint(base, out=base)
        np.maximum(base, cfg.base_ticks, out=base)
        base += cheap
        spread = abs_m * 0.5
        spread += 1.0
        spread *= base
        np.rint(spread, out=spread)
        np.maximum(spread, cfg.base_ticks, out=spread)
        if spread_mult != 1.0:
            spread *= spread_mult
            np.rint(spread, out=spread)
            np.maximum(spread, 1.0, out=spread)
        return spread


class DepthStream:
    """One contract's depth uniforms, `width` per book, addressed by book number (0: the book it was subscribed
    with, k: the one of its k-th grid tick). Each uniform consumes exactly one output of the generator, so any book
    is reached by advancing the generator (backwards too, modulo its period) instead of drawing what lies before it:
    books nobody reads cost nothing."""

    __slots__ = ("_advance", "_at", "_random", "_width", "dense")

    def __init__(self, generator: np.random.Generator, width: int) -> None:
        bits = generator.bit_generator
        if not isinstance(bits, np.random.PCG64):  # RandomStreams' generators are: advance() is what is needed
            raise TypeError(f"a depth stream needs a PCG64 generator, got {type(bits).__name__}")
        self._random = generator.random
        self._advance = bits.advance
        self._width = width
        self._at = 0  # the book the generator is positioned at
        self.dense = False  # its books were once read densely (`_Column.depth`)

    def read(self, book: int, count: int) -> FloatArray:
        """Uniforms of books `book` .. `book + count - 1`, one row each."""
        if book != self._at:
            self._advance(((book - self._at) * self._width) % _STATE_SPACE)
        self._at = book + count
        out: FloatArray = self._random((count, self._width))
        return out


@dataclass(frozen=True, slots=True)
class Contracts:
    """The static columns of one underlying's subscribed contracts, in subscription order (a subscription makes a
    new, longer instance; an instance never changes)."""

    items: tuple[OptionContract, ...]
    strike: FloatArray
    log_strike: FloatArray
    is_call: BoolArray
    sign: FloatArray  # +1 call, -1 put
    expiries: FloatArray  # the distinct expiry instants (epoch seconds): a chain has one
    expiry_of: IntArray  # each contract's, as an index into `expiries`
    lot: IntArray

    @staticmethod
    def empty() -> Contracts:
        return Contracts.of(())

    @staticmethod
    def of(items: tuple[OptionContract, ...]) -> Contracts:
        strike = np.array([c.strike for c in items], dtype=np.float64)
        is_call = np.array([c.right is OptionRight.CE for c in items], dtype=bool)
        expiries, expiry_of = np.unique(np.array([c.expiry_at.timestamp() for c in items], dtype=np.float64),
                                        return_inverse=True)
        return Contracts(
            items=items,
            strike=strike,
            log_strike=np.log(strike),
            is_call=is_call,
            sign=np.where(is_call, 1.0, -1.0),
            expiries=expiries,
            expiry_of=expiry_of.astype(np.int64),
            lot=np.array([c.lot_size for c in items], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.items)

    def extended(self, contracts: Sequence[OptionContract]) -> Contracts:
        return Contracts.of(self.items + tuple(contracts))

    def part(self, lo: int, hi: int) -> Contracts:
        return Contracts.of(self.items[lo:hi])


@dataclass(slots=True)
class BookState:
    """What carries from one quote to the next: the spot, and per contract its cumulative volume (units), turnover,
    open interest (units), last traded price (ticks) and the number of its last book (`DepthStream`)."""

    spot: float
    volume: IntArray
    turnover: FloatArray
    oi: IntArray
    ltp_ticks: FloatArray
    depth_book: IntArray

    @staticmethod
    def join(spot: float, parts: Sequence[BookState]) -> BookState:
        if len(parts) == 1:
            only = parts[0]
            return BookState(spot, only.volume, only.turnover, only.oi, only.ltp_ticks, only.depth_book)
        if not parts:
            ints, floats = np.empty(0, dtype=np.int64), np.empty(0)
            return BookState(spot, ints, floats, ints, floats, ints)
        return BookState(
            spot,
            np.concatenate([p.volume for p in parts]),
            np.concatenate([p.turnover for p in parts]),
            np.concatenate([p.oi for p in parts]),
            np.concatenate([p.ltp_ticks for p in parts]),
            np.concatenate([p.depth_book for p in parts]),
        )


Levels = list[tuple[float, int]]
# The dataclass's own slots for the depth: a `_SimulatedQuote` leaves them empty until they are first read.
_BIDS_SLOT = Quote.__dict__["bids"]
_ASKS_SLOT = Quote.__dict__["asks"]


class _SimulatedQuote(Quote):
    """A `Quote` whose depth levels are built when first read: most readers (markouts, the cost model, the stack)
    want the touch only, and ten levels cost more than the rest of the quote. Built from a `Rows` that never
    changes, so the depth is the same whenever it is read (a delivered quote never changes). It equals a plain
    `Quote` with the same fields, and copies and pickles as one."""

    __slots__ = ("_col", "_column")

    def __init__(self, symbol: str, bid: float, ask: float, ltp: float, volume: int, oi: int, timestamp: float,
                 turnover: float, column: _Column, col: int) -> None:  # Quote.__init__ would set the depth
        self.symbol = symbol
        self.bid = bid
        self.ask = ask
        self.ltp = ltp
        self.volume = volume
        self.oi = oi
        self.timestamp = timestamp
        self.turnover = turnover
        self._column: _Column | None = column
        self._col = col

    @property
    def bids(self) -> Levels:
        if self._column is not None:
            self._fill()
        levels: Levels = _BIDS_SLOT.__get__(self, Quote)
        return levels

    @bids.setter
    def bids(self, levels: Levels) -> None:
        if self._column is not None:
            self._fill()
        _BIDS_SLOT.__set__(self, levels)

    @property
    def asks(self) -> Levels:
        if self._column is not None:
            self._fill()
        levels: Levels = _ASKS_SLOT.__get__(self, Quote)
        return levels

    @asks.setter
    def asks(self, levels: Levels) -> None:
        if self._column is not None:
            self._fill()
        _ASKS_SLOT.__set__(self, levels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quote):
            return NotImplemented
        return _fields(self) == _fields(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like Quote

    def __reduce__(self) -> tuple[type[Quote], tuple[Any, ...]]:
        return Quote, _fields(self)

    def _fill(self) -> None:
        column = self._column
        assert column is not None
        bids, asks = column.depth(self._col)
        _BIDS_SLOT.__set__(self, bids)
        _ASKS_SLOT.__set__(self, asks)
        self._column = None


def _fields(quote: Quote) -> tuple[Any, ...]:
    return (quote.symbol, quote.bid, quote.ask, quote.ltp, quote.bids, quote.asks, quote.volume, quote.oi,
            quote.timestamp, quote.turnover)


class _Column:
    """One contract's quotes at every instant of a `Rows`, as Python lists: building a quote is then list work.

    The depth levels are worked out when read (`depth`), one instant at a time while reads are sparse (the exchange
    reads one book per order, here and there), and every instant of the column at once when they are dense (a
    listener reading every tick's book; once a contract's reads were dense, its next columns start whole): one flat
    list of (price, size) pairs, `2 x levels` per instant (bid levels, then ask levels). Both go through the same
    element-wise arithmetic, so a book is the same whichever way it was worked out."""

    __slots__ = ("_pairs", "_singles", "_stream", "ask", "bid", "i", "ltp", "n_bids", "oi", "rows", "turnover",
                 "volume")

    def __init__(self, rows: Rows, i: int) -> None:
        pricer = rows.pricer
        self.rows = rows
        self.i = i
        bid = rows.bid[:, i]
        self.bid: list[float] = pricer.prices(bid).tolist()
        self.ask: list[float] = pricer.prices(rows.ask[:, i]).tolist()
        # A bid level can't sit below one tick: cheap options show fewer bid levels.
        self.n_bids: list[int] = np.minimum(bid, pricer.levels).astype(np.int64).tolist()
        self.ltp: list[float] = pricer.prices(rows.ltp_ticks[:, i]).tolist()
        self.volume: list[int] = rows.volume[:, i].tolist()
        self.oi: list[int] = rows.oi[:, i].tolist()
        self.turnover: list[float] = rows.turnover[:, i].tolist()
        self._pairs: list[tuple[float, int]] | None = None
        self._singles = 0  # instants worked out one by one so far
        self._stream = rows.depth[rows.lo + i]

    def depth(self, col: int) -> tuple[Levels, Levels]:
        """(bids, asks) at instant `col`, each a new list."""
        levels = self.rows.pricer.levels
        pairs = self._pairs
        if pairs is not None:
            bids = col * 2 * levels
        elif self._singles * DENSE_DEPTH_READS < len(self.bid) and not self._stream.dense:
            self._singles += 1
            pairs, bids = self._levels(col, col + 1), 0
        else:
            pairs = self._pairs = self._levels(0, len(self.bid))
            self._stream.dense = True
            bids = col * 2 * levels
        asks = bids + levels
        return pairs[bids : bids + self.n_bids[col]], pairs[asks : asks + levels]

    def _levels(self, first: int, stop: int) -> list[tuple[float, int]]:
        """The (price, size) pairs of instants [first, stop), bid levels then ask levels for each."""
        rows, i = self.rows, self.i
        pricer = rows.pricer
        levels = pricer.levels
        ladder = np.empty((stop - first, pricer.width))
        ladder[:, :levels] = rows.bid[first:stop, i, None]
        ladder[:, levels:] = rows.ask[first:stop, i, None]
        ladder += pricer.ladder_offsets
        touch = pricer.config.depth.touch_lots * rows.modifiers.depth_mult * (1.0 / DEPTH_GAMMA_SHAPE)
        mean = (touch * rows.liquidity[first:stop, i, None]) * pricer.level_growth
        book = int(rows.depth_book[i]) + rows.depth_step * first  # off the grid there is one instant
        uniforms = self._stream.read(book, stop - first)
        lots = np.maximum(np.rint(gamma_from_uniforms(uniforms, DEPTH_GAMMA_SHAPE) * mean), 1.0)
        sizes: list[int] = (lots.astype(np.int64) * rows.lot[i]).ravel().tolist()
        return list(zip(pricer.prices(ladder).ravel().tolist(), sizes, strict=True))


class Rows:
    """The derived market of contracts [lo, lo + n) of one underlying at R instants: a run of grid ticks (block
    positions `first` .. `first + R - 1`) or one off-grid instant (`first` None). Never changed once built (quotes
    are built from it lazily, the same whenever they are read); arrays are (instants, contracts).

    `depth_book` is each contract's book number (`DepthStream`) at the first instant; it advances by `depth_step`
    (1 on the grid, 0 off it) per instant."""

    __slots__ = ("_columns", "ask", "atm", "bid", "depth", "depth_book", "depth_step", "epochs", "first",
                 "liquidity", "lo", "lot", "ltp_ticks", "m", "modifiers", "oi", "pricer", "spots", "t_years",
                 "turnover", "volume")

    def __init__(
        self, *, pricer: Pricer, first: int | None, lo: int, lot: IntArray, epochs: FloatArray, spot: FloatArray,
        atm: float, modifiers: MarketModifiers, m: FloatArray, t_years: FloatArray, bid: FloatArray,
        ask: FloatArray, liquidity: FloatArray, depth: Sequence[DepthStream], depth_book: IntArray,
        ltp_ticks: FloatArray, volume: IntArray, oi: IntArray, turnover: FloatArray,
    ) -> None:
        self.pricer = pricer
        self.first = first
        self.lo = lo
        self.lot = lot
        self.epochs = epochs
        self.spots: list[float] = spot.tolist()
        self.atm = atm
        self.modifiers = modifiers
        self.m = m
        self.t_years = t_years
        self.bid = bid
        self.ask = ask
        self.liquidity = liquidity
        self.depth = depth  # the book's streams, indexed from its first contract
        self.depth_book = depth_book
        self.depth_step = 0 if first is None else 1
        self.ltp_ticks = ltp_ticks
        self.volume = volume
        self.oi = oi
        self.turnover = turnover
        self._columns: dict[int, _Column] = {}

    def state_at(self, col: int) -> BookState:
        return BookState(self.spots[col], self.volume[col], self.turnover[col], self.oi[col], self.ltp_ticks[col],
                         self.depth_book + self.depth_step * col)

    def quote(self, i: int, col: int, symbol: str, timestamp: float) -> Quote:
        """Contract `i` (counted from `lo`) at instant `col`, as a new `Quote` (its depth built when first read)."""
        column = self._columns.get(i)
        if column is None:
            column = self._columns[i] = _Column(self, i)
        return _SimulatedQuote(symbol, column.bid[col], column.ask[col], column.ltp[col], column.volume[col],
                               column.oi[col], timestamp, column.turnover[col], column, col)

    def daily_price_vol(self, i: int, col: int, contracts: Contracts, spot: float, atm_now: float) -> float:
        """|delta| * F * atm_vol / sqrt(252) as of this instant's pricing, with the spot and vol of now.

        In scalar floats: the cost model asks for one contract per child, where numpy calls on one-element arrays
        cost ten times the arithmetic. The time to expiry is worked out from the contract's own expiry, not
        `t_years`: a fresh subscription's rows are priced over the new contracts alone, so their expiry columns are
        not the book's."""
        j = self.lo + i
        smile = self.pricer.config.smile
        s = SMILE_SATURATION * math.tanh(float(self.m[col, i]) / SMILE_SATURATION)
        iv = self.atm * max(SMILE_FLOOR, 1.0 + smile.skew * s + smile.curvature * s * s)
        expiry_s = float(contracts.expiries[contracts.expiry_of[j]])
        t_years = max(expiry_s - float(self.epochs[col]), MIN_EXPIRY_S) * (1.0 / CALENDAR_YEAR_S)
        delta = black76_delta_scalar(self.spots[col], float(contracts.strike[j]), t_years, iv,
                                     bool(contracts.is_call[j]))
        return max(self.pricer.tick, abs(delta) * spot * atm_now / math.sqrt(TRADING_DAYS))

    def abs_m(self, i: int, col: int) -> float:
        return abs(float(self.m[col, i]))


class RowsBatch(TickBatch):
    """The quotes of one instant of a `Rows`: what listeners get and what `quote()` answers until the next one."""

    __slots__ = ("_col", "_rows")

    def __init__(self, rows: Rows, col: int, symbols: list[str], index: dict[str, int], n: int,
                 timestamp: float) -> None:
        super().__init__(symbols, index, rows.lo, rows.lo + n, timestamp)
        self._rows = rows
        self._col = col

    @property
    def rows(self) -> Rows:
        return self._rows

    @property
    def col(self) -> int:
        return self._col

    def _build(self, i: int) -> Quote:
        return self._rows.quote(i, self._col, self._symbols[self.lo + i], self.timestamp)


@dataclass(slots=True)
class _Priced:
    m: FloatArray
    t_years: FloatArray  # (instants, distinct expiries)
    price_ticks: FloatArray
    bid: FloatArray
    ask: FloatArray
    liquidity: FloatArray


def _price(pricer: Pricer, contracts: Contracts, spot: FloatArray, epochs: FloatArray, atm: float,
           spread_mult: float) -> _Priced:
    """Black-76 with the smile, the spread and the liquidity of every (instant, contract).

    Written with in-place operations (every contract at every tick goes through it); time to expiry is worked out
    per distinct expiry and broadcast.
    """
    t_years = np.maximum(contracts.expiries - epochs[:, None], MIN_EXPIRY_S)
    t_years *= 1.0 / CALENDAR_YEAR_S
    atm_std_dev = np.sqrt(t_years)
    atm_std_dev *= atm
    if contracts.expiries.size > 1:
        atm_std_dev = atm_std_dev[:, contracts.expiry_of]
    log_fk = np.log(spot)[:, None] - contracts.log_strike  # ln(F/K)
    m = log_fk / atm_std_dev
    np.negative(m, out=m)  # ln(K/F) / (atm_vol sqrt(T))
    abs_m = np.abs(m)
    std_dev = pricer.config.smile.vol_factor(m)
    std_dev *= atm_std_dev
    price_ticks = black76_prices_from_std_dev(spot[:, None], contracts.strike, log_fk, std_dev, contracts.sign,
                                              scale=1.0 / pricer.tick)
    np.rint(price_ticks, out=price_ticks)
    np.maximum(price_ticks, 1.0, out=price_ticks)
    spread = pricer.spread_ticks(price_ticks, abs_m, spread_mult)
    bid = spread * 0.5
    np.floor(bid, out=bid)
    np.subtract(price_ticks, bid, out=bid)
    np.maximum(bid, 1.0, out=bid)
    spread += bid
    liquidity = abs_m * -pricer.config.depth.decay
    np.exp(liquidity, out=liquidity)
    return _Priced(m, t_years, price_ticks, bid, spread, liquidity)


def derive_ticks(
    pricer: Pricer, contracts: Contracts, state: BookState, *, first: int, epochs: FloatArray, normals: FloatArray,
    trades: FloatArray, depth: Sequence[DepthStream], vol: float, modifiers: MarketModifiers,
) -> Rows:
    """Grid ticks `first`.. of a block, one per entry of `epochs` (their times), from the state after the last quote:
    each tick steps the path by its normal, reprices, trades (`trades`: TRADE_DRAWS x ticks x contracts uniforms)
    and shows a new book per contract."""
    atm = vol * modifiers.vol_mult
    steps = np.empty(normals.size + 1)
    steps[0] = state.spot
    np.exp(normals * (atm * math.sqrt(pricer.dt_years)) + (-0.5 * atm * atm * pricer.dt_years), out=steps[1:])
    np.multiply.accumulate(steps, out=steps)
    spot = steps[1:]
    depth_book = state.depth_book + 1
    if not len(contracts):
        empty = np.empty((spot.size, 0))
        ints = empty.astype(np.int64)
        return Rows(pricer=pricer, first=first, lo=0, lot=contracts.lot, epochs=epochs, spot=spot, atm=atm,
                    modifiers=modifiers, m=empty, t_years=empty, bid=empty, ask=empty, liquidity=empty,
                    depth=depth, depth_book=depth_book, ltp_ticks=empty, volume=ints, oi=ints, turnover=empty)
    p = _price(pricer, contracts, spot, epochs, atm, modifiers.spread_mult)
    traded = poisson_from_uniform(trades[COUNT], p.liquidity * pricer.lots_per_tick(modifiers))
    units = traded * contracts.lot
    volume = np.cumsum(units, axis=0)
    volume += state.volume
    printed = np.where(trades[SIDE] < 0.5, p.bid, p.ask)
    turnover = np.empty((units.shape[0] + 1, units.shape[1]))
    turnover[0] = state.turnover
    np.multiply(units * printed, pricer.tick, out=turnover[1:])
    np.add.accumulate(turnover, axis=0, out=turnover)
    # The last price is the last trade's: forward-fill each tick's print over the ticks that did not trade.
    last = np.where(traded > 0, np.arange(traded.shape[0])[:, None], -1)
    np.maximum.accumulate(last, axis=0, out=last)
    ltp = np.where(last >= 0, np.take_along_axis(printed, np.maximum(last, 0), axis=0), state.ltp_ticks)
    # The tick's trades either opened or closed positions: OI walks by the traded quantity, floored at zero.
    walk = np.cumsum(np.where(trades[OPENED] < 0.5, units, -units), axis=0)
    walk += state.oi
    oi = walk - np.minimum(np.minimum.accumulate(walk, axis=0), 0)
    return Rows(pricer=pricer, first=first, lo=0, lot=contracts.lot, epochs=epochs, spot=spot, atm=atm,
                modifiers=modifiers, m=p.m, t_years=p.t_years, bid=p.bid, ask=p.ask, liquidity=p.liquidity,
                depth=depth, depth_book=depth_book, ltp_ticks=ltp, volume=volume, oi=oi, turnover=turnover[1:])


def derive_instant(
    pricer: Pricer, contracts: Contracts, state: BookState, *, lo: int, epoch: float, depth: Sequence[DepthStream],
    vol: float, modifiers: MarketModifiers, fresh_oi_u: FloatArray | None = None,
) -> Rows:
    """Contracts [lo, lo + n) repriced at `epoch` (off the grid): no path step, no trade, no draw; the books keep
    their depth uniforms (sizes follow the new prices' liquidity and the depth multiplier).

    `fresh_oi_u` (one uniform per contract) marks just-subscribed contracts: their last price starts at the
    theoretical price and their open interest is drawn from it, volume and turnover at zero.
    """
    atm = vol * modifiers.vol_mult
    spot = np.array([state.spot])
    p = _price(pricer, contracts, spot, np.array([epoch]), atm, modifiers.spread_mult)
    if fresh_oi_u is not None:
        n = len(contracts)
        mean = (OI_SESSIONS * SESSION_S * pricer.config.volume.lots_per_s) * p.liquidity[0]
        oi = (poisson_from_uniform(fresh_oi_u, mean) * contracts.lot)[None, :]
        ltp_ticks, volume, turnover = p.price_ticks, np.zeros((1, n), dtype=np.int64), np.zeros((1, n))
    else:
        ltp_ticks, volume = state.ltp_ticks[None, :], state.volume[None, :]
        oi, turnover = state.oi[None, :], state.turnover[None, :]
    return Rows(pricer=pricer, first=None, lo=lo, lot=contracts.lot, epochs=np.array([epoch]), spot=spot, atm=atm,
                modifiers=modifiers, m=p.m, t_years=p.t_years, bid=p.bid, ask=p.ask, liquidity=p.liquidity,
                depth=depth, depth_book=state.depth_book, ltp_ticks=ltp_ticks, volume=volume, oi=oi,
                turnover=turnover)
