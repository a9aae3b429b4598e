"""One underlying's simulated market over a run of ticks, ticks x contracts in one vectorised pass.

`derive_ticks` turns the standardised draws of a run of grid ticks (a normal per tick for the path, a row of
uniforms per contract per tick for its book and trades) and the `BookState` after the last quote into `Rows`: spot,
touch, trades, volume, turnover, open interest and last price of every contract at every tick. `derive_instant`
prices one off-grid instant (a jump, a repricing, a subscription) from the same state, trading nothing and drawing
nothing. A tick's quotes are built from its column of `Rows` only when someone reads them (`RowsBatch`).

Why the result does not depend on where a run starts (so a run of 1, 7 or 256 ticks gives the same market):

* everything per (contract, tick) is computed element-wise, and numpy's element-wise functions give an element the
  same value whatever the array around it;
* what carries from tick to tick is computed by sequential recurrences seeded with the carried state: the spot by
  `np.multiply.accumulate`, turnover by `np.add.accumulate` (both fold strictly left to right, unlike `sum`), volume
  in integers, open interest by the reflected-walk formula (`x_k = S_k - min(0, min_j<=k S_j)` for
  `x_k = max(x_(k-1) + d_k, 0)`, exact in integers), and the last price by a forward fill.

So deriving ticks k..K from the state after tick k-1 reproduces, bit for bit, what deriving from any earlier tick
gave for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.market.black76 import FloatArray, black76_delta, black76_prices_from_std_dev
from imperium_desk.market.config import MarketConfig
from imperium_desk.market.draws import gamma_from_uniform, poisson_from_uniform
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

# A contract's row of uniforms per tick: its book's depth (bid levels, then ask levels), then three for its trades.
COUNT, SIDE, OPENED = 0, 1, 2  # offsets after the depth columns: traded lots, printed on the bid?, opened positions?


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
        self.width = 2 * self.levels  # depth uniforms per row: bid levels, then ask levels
        self.row_width = self.width + 3  # ... then COUNT, SIDE, OPENED
        self.level_offsets: FloatArray = np.arange(self.levels, dtype=np.float64)
        self.ladder_offsets: FloatArray = np.concatenate((-self.level_offsets, self.level_offsets))
        growth = 1.0 + 0.5 * self.level_offsets
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
        """The SpreadConfig formula, in whole ticks."""
        cfg = self.config.spread
        cheapness = np.maximum(0.0, 1.0 - price_ticks * (self.tick / cfg.cheap_price))
        base = np.maximum(cfg.base_ticks, np.rint(cfg.pct_of_price * price_ticks)) + np.rint(
            cfg.cheap_extra_ticks * cheapness
        )
        spread: FloatArray = np.maximum(cfg.base_ticks, np.rint(base * (1.0 + 0.5 * abs_m)))
        if spread_mult != 1.0:
            spread = np.maximum(1.0, np.rint(spread * spread_mult))
        return spread


@dataclass(frozen=True, slots=True)
class Contracts:
    """The static columns of one underlying's subscribed contracts, in subscription order (a subscription makes a
    new, longer instance; an instance never changes)."""

    items: tuple[OptionContract, ...]
    strike: FloatArray
    log_strike: FloatArray
    is_call: BoolArray
    sign: FloatArray  # +1 call, -1 put
    expiry_epoch: FloatArray
    lot: IntArray

    @staticmethod
    def empty() -> Contracts:
        return Contracts((), np.empty(0), np.empty(0), np.empty(0, dtype=bool), np.empty(0), np.empty(0),
                         np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.items)

    def extended(self, contracts: Sequence[OptionContract]) -> Contracts:
        items = self.items + tuple(contracts)
        strike = np.array([c.strike for c in items], dtype=np.float64)
        is_call = np.array([c.right is OptionRight.CE for c in items], dtype=bool)
        return Contracts(
            items=items,
            strike=strike,
            log_strike=np.log(strike),
            is_call=is_call,
            sign=np.where(is_call, 1.0, -1.0),
            expiry_epoch=np.array([c.expiry_at.timestamp() for c in items], dtype=np.float64),
            lot=np.array([c.lot_size for c in items], dtype=np.int64),
        )

    def part(self, lo: int, hi: int) -> Contracts:
        return Contracts(self.items[lo:hi], self.strike[lo:hi], self.log_strike[lo:hi], self.is_call[lo:hi],
                         self.sign[lo:hi], self.expiry_epoch[lo:hi], self.lot[lo:hi])


@dataclass(slots=True)
class BookState:
    """What carries from one quote to the next: the spot, and per contract its cumulative volume (units), turnover,
    open interest (units), last traded price (ticks) and the depth uniforms of its last book."""

    spot: float
    volume: IntArray
    turnover: FloatArray
    oi: IntArray
    ltp_ticks: FloatArray
    depth_u: FloatArray  # (contracts, 2 * levels)

    @staticmethod
    def join(spot: float, parts: Sequence[BookState], width: int) -> BookState:
        if not parts:
            return BookState(spot, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64),
                             np.empty(0), np.empty((0, width)))
        if len(parts) == 1:
            only = parts[0]
            return BookState(spot, only.volume, only.turnover, only.oi, only.ltp_ticks, only.depth_u)
        return BookState(
            spot,
            np.concatenate([p.volume for p in parts]),
            np.concatenate([p.turnover for p in parts]),
            np.concatenate([p.oi for p in parts]),
            np.concatenate([p.ltp_ticks for p in parts]),
            np.concatenate([p.depth_u for p in parts]),
        )


class _Column:
    """One contract's quotes over every tick of a `Rows`, as Python lists: building a quote is then list work."""

    __slots__ = ("ltp", "n_bids", "oi", "prices", "sizes", "turnover", "volume")

    def __init__(self, rows: Rows, i: int) -> None:
        pricer = rows.pricer
        bid = rows.bid[i]
        ladder = np.empty((bid.size, pricer.width))
        levels = pricer.levels
        ladder[:, :levels] = bid[:, None]
        ladder[:, levels:] = rows.ask[i][:, None]
        ladder += pricer.ladder_offsets
        self.prices: list[list[float]] = pricer.prices(ladder).tolist()
        touch = pricer.config.depth.touch_lots * rows.modifiers.depth_mult * (1.0 / DEPTH_GAMMA_SHAPE)
        mean = (touch * rows.liquidity[i])[:, None] * pricer.level_growth
        lots = np.maximum(np.rint(gamma_from_uniform(rows.depth_u[i], DEPTH_GAMMA_SHAPE) * mean), 1.0)
        self.sizes: list[list[int]] = (lots.astype(np.int64) * rows.lot[i]).tolist()
        # A bid level can't sit below one tick: cheap options show fewer bid levels.
        self.n_bids: list[int] = np.minimum(bid, levels).astype(np.int64).tolist()
        self.ltp: list[float] = pricer.prices(rows.ltp_ticks[i]).tolist()
        self.volume: list[int] = rows.volume[i].tolist()
        self.oi: list[int] = rows.oi[i].tolist()
        self.turnover: list[float] = rows.turnover[i].tolist()


class Rows:
    """The derived market of contracts [lo, lo + n) of one underlying at R instants: a run of grid ticks (block
    positions `first` .. `first + R - 1`) or one off-grid instant (`first` None). Never changed once built, so a
    quote built from it is the same whenever it is read; arrays are (contracts, instants)."""

    __slots__ = ("_columns", "ask", "atm", "bid", "depth_u", "epochs", "first", "liquidity", "lo", "lot", "ltp_ticks",
                 "m", "modifiers", "oi", "pricer", "spot", "spots", "t_years", "turnover", "volume")

    def __init__(
        self, *, pricer: Pricer, first: int | None, lo: int, lot: IntArray, epochs: FloatArray, spot: FloatArray,
        atm: float, modifiers: MarketModifiers, m: FloatArray, t_years: FloatArray, bid: FloatArray,
        ask: FloatArray, liquidity: FloatArray, depth_u: FloatArray, ltp_ticks: FloatArray, volume: IntArray,
        oi: IntArray, turnover: FloatArray,
    ) -> None:
        self.pricer = pricer
        self.first = first
        self.lo = lo
        self.lot = lot
        self.epochs = epochs
        self.spot = spot
        self.spots: list[float] = spot.tolist()
        self.atm = atm
        self.modifiers = modifiers
        self.m = m
        self.t_years = t_years
        self.bid = bid
        self.ask = ask
        self.liquidity = liquidity
        self.depth_u = depth_u  # (contracts, instants, 2 * levels)
        self.ltp_ticks = ltp_ticks
        self.volume = volume
        self.oi = oi
        self.turnover = turnover
        self._columns: dict[int, _Column] = {}

    def state_at(self, col: int) -> BookState:
        return BookState(self.spots[col], self.volume[:, col], self.turnover[:, col], self.oi[:, col],
                         self.ltp_ticks[:, col], self.depth_u[:, col])

    def quote(self, i: int, col: int, symbol: str, timestamp: float) -> Quote:
        """Contract `i` (counted from `lo`) at instant `col`, as a new `Quote`."""
        column = self._columns.get(i)
        if column is None:
            column = self._columns[i] = _Column(self, i)
        prices = column.prices[col]
        pairs = list(zip(prices, column.sizes[col], strict=True))
        levels = self.pricer.levels
        return Quote(symbol, prices[0], prices[levels], column.ltp[col], pairs[: column.n_bids[col]], pairs[levels:],
                     column.volume[col], column.oi[col], timestamp, column.turnover[col])

    def daily_price_vol(self, i: int, col: int, contracts: Contracts, spot: float, atm_now: float) -> float:
        """|delta| * F * atm_vol / sqrt(252) as of this instant's pricing, with the spot and vol of now."""
        j = self.lo + i
        strike, is_call = contracts.strike[j : j + 1], contracts.is_call[j : j + 1]
        iv = self.atm * self.pricer.config.smile.vol_factor(self.m[i : i + 1, col])
        delta = black76_delta(self.spots[col], strike, self.t_years[i : i + 1, col], iv, is_call)
        return max(self.pricer.tick, abs(float(delta[0])) * spot * atm_now / math.sqrt(TRADING_DAYS))

    def abs_m(self, i: int, col: int) -> float:
        return abs(float(self.m[i, col]))


class RowsBatch(TickBatch):
    """The quotes of one instant of a `Rows`: what listeners get and what `quote()` answers until the next one."""

    __slots__ = ("_col", "_rows")

    def __init__(self, rows: Rows, col: int, symbols: list[str], index: dict[str, int], n: int,
                 timestamp: float) -> None:
        super().__init__(symbols, index, rows.lo, n, timestamp)
        self._rows = rows
        self._col = col

    @property
    def rows(self) -> Rows:
        return self._rows

    @property
    def col(self) -> int:
        return self._col

    def _build(self, i: int) -> Quote:
        return self._rows.quote(i, self._col, self._symbols[self._lo + i], self.timestamp)


@dataclass(slots=True)
class _Priced:
    m: FloatArray
    t_years: FloatArray
    price_ticks: FloatArray
    bid: FloatArray
    ask: FloatArray
    liquidity: FloatArray


def _price(pricer: Pricer, contracts: Contracts, spot: FloatArray, epochs: FloatArray, atm: float,
           spread_mult: float) -> _Priced:
    """Black-76 with the smile, the spread and the liquidity of every (contract, instant)."""
    t_years = np.maximum(contracts.expiry_epoch[:, None] - epochs, MIN_EXPIRY_S) * (1.0 / CALENDAR_YEAR_S)
    atm_std_dev = atm * np.sqrt(t_years)
    log_kf = contracts.log_strike[:, None] - np.log(spot)
    m = log_kf / atm_std_dev
    abs_m = np.abs(m)
    std_dev = atm_std_dev * pricer.config.smile.vol_factor(m)
    theo = black76_prices_from_std_dev(spot, contracts.strike[:, None], -log_kf, std_dev, contracts.sign[:, None])
    price_ticks = np.maximum(1.0, np.rint(theo * (1.0 / pricer.tick)))
    spread = pricer.spread_ticks(price_ticks, abs_m, spread_mult)
    bid = np.maximum(1.0, price_ticks - np.floor(spread * 0.5))
    liquidity = np.exp(abs_m * -pricer.config.depth.decay)
    return _Priced(m, t_years, price_ticks, bid, bid + spread, liquidity)


def derive_ticks(
    pricer: Pricer, contracts: Contracts, state: BookState, *, first: int, epochs: FloatArray, normals: FloatArray,
    uniforms: FloatArray, vol: float, modifiers: MarketModifiers,
) -> Rows:
    """Grid ticks `first`.. of a block, one per entry of `epochs` (their times), from the state after the last quote:
    each tick steps the path by its normal, reprices, redraws the books and trades (`uniforms`: contracts x ticks x
    row width)."""
    atm = vol * modifiers.vol_mult
    steps = np.empty(normals.size + 1)
    steps[0] = state.spot
    np.exp(normals * (atm * math.sqrt(pricer.dt_years)) + (-0.5 * atm * atm * pricer.dt_years), out=steps[1:])
    np.multiply.accumulate(steps, out=steps)
    spot = steps[1:]
    p = _price(pricer, contracts, spot, epochs, atm, modifiers.spread_mult)
    width = pricer.width
    traded = poisson_from_uniform(uniforms[:, :, width + COUNT], p.liquidity * pricer.lots_per_tick(modifiers))
    units = traded * contracts.lot[:, None]
    volume = np.cumsum(units, axis=1)
    volume += state.volume[:, None]
    printed = np.where(uniforms[:, :, width + SIDE] < 0.5, p.bid, p.ask)
    turnover = np.empty((units.shape[0], units.shape[1] + 1))
    turnover[:, 0] = state.turnover
    np.multiply(units * printed, pricer.tick, out=turnover[:, 1:])
    np.add.accumulate(turnover, axis=1, out=turnover)
    # The last price is the last trade's: forward-fill each tick's print over the ticks that did not trade.
    last = np.where(traded > 0, np.arange(traded.shape[1]), -1)
    np.maximum.accumulate(last, axis=1, out=last)
    ltp = np.where(last >= 0, np.take_along_axis(printed, np.maximum(last, 0), axis=1), state.ltp_ticks[:, None])
    # The tick's trades either opened or closed positions: OI walks by the traded quantity, floored at zero.
    walk = np.cumsum(np.where(uniforms[:, :, width + OPENED] < 0.5, units, -units), axis=1)
    walk += state.oi[:, None]
    oi = walk - np.minimum(np.minimum.accumulate(walk, axis=1), 0)
    return Rows(pricer=pricer, first=first, lo=0, lot=contracts.lot, epochs=epochs, spot=spot, atm=atm,
                modifiers=modifiers, m=p.m, t_years=p.t_years, bid=p.bid, ask=p.ask, liquidity=p.liquidity,
                depth_u=uniforms[:, :, :width], ltp_ticks=ltp, volume=volume, oi=oi, turnover=turnover[:, 1:])


def derive_instant(
    pricer: Pricer, contracts: Contracts, state: BookState, *, lo: int, epoch: float, vol: float,
    modifiers: MarketModifiers, fresh_oi_u: FloatArray | None = None,
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
        mean = (OI_SESSIONS * SESSION_S * pricer.config.volume.lots_per_s) * p.liquidity[:, 0]
        oi = (poisson_from_uniform(fresh_oi_u, mean) * contracts.lot)[:, None]
        ltp_ticks, volume, turnover = p.price_ticks, np.zeros((n, 1), dtype=np.int64), np.zeros((n, 1))
    else:
        ltp_ticks, volume = state.ltp_ticks[:, None], state.volume[:, None]
        oi, turnover = state.oi[:, None], state.turnover[:, None]
    return Rows(pricer=pricer, first=None, lo=lo, lot=contracts.lot, epochs=np.array([epoch]), spot=spot, atm=atm,
                modifiers=modifiers, m=p.m, t_years=p.t_years, bid=p.bid, ask=p.ask, liquidity=p.liquidity,
                depth_u=state.depth_u[:, None], ltp_ticks=ltp_ticks, volume=volume, oi=oi, turnover=turnover)
