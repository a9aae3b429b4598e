"""A seeded simulated option chain: underlying paths, option prices, books, volume and open interest.

Each simulated underlying follows a geometric Brownian motion in trading time; every subscribed option on it is
priced by undiscounted Black-76 on the spot as forward, with the configured smile, rounded to the tick grid, and
quoted with a spread and depth that widen and thin away from the money (`market.blocks` has the formulas). Time comes
only from the `Clock` and randomness only from named seeded streams, so a run under the virtual clock is a pure
function of the seed, the config and the calls made.

Year fractions: option time to expiry is calendar time (365-day year, floored at one minute); the underlying diffuses
only during trading time, a year of which is 252 sessions of 6.25 hours, so a session's log-return has standard
deviation `vol / sqrt(252)`.

Blocks. The market is worked out `market.block_ticks` grid ticks at a time, vectorised over ticks x contracts, and
each tick reads its row; quotes are built only when read (`RowsBatch`). The block size changes nothing but speed:

* Draws (what a replay depends on) are standardised and indexed by grid tick, never by block: per underlying one
  standard normal per grid tick from `("market", underlying)` (drawn whether or not anything is subscribed, so the
  path never depends on subscriptions); per contract, from `("market-trades", symbol)`, one uniform when it is
  subscribed (its initial open interest) and three per grid tick after that (traded lots, printed on the bid or the
  ask, opened or closed positions), and from `("market-depth", symbol)` `2 x depth.levels` uniforms per book it
  shows (book 0 when subscribed, book k at its k-th grid tick), drawn only when a quote showing that book is built
  (`blocks.DepthStream`). So a contract subscribed mid-block joins without shifting anyone's draws.
* A change of parameters (a drill's modifiers, a jump, a subscription) re-derives the block's remaining ticks from
  the current state and the same draws (`market.blocks` says why that reproduces them bit for bit). Off-grid
  repricing (a jump, `reprice_now`, a subscription) draws nothing: a book keeps the depth uniforms of its last tick.
* Time. Tick k of a block is priced at its grid time: the previous grid tick's loop time plus the tick interval (the
  float the loop computes for the re-armed timer), plus the clock's epoch offset. A tick accepts its precomputed row
  when the clock reads within half a tick of that time (exactly, on the virtual clock), and stamps the quotes with
  the clock's reading; further off (a wall clock that fell behind, a virtual clock that skipped to the next session,
  a restart) the grid is re-anchored at the clock's reading and the block re-derived from that tick. A wall clock's
  timer that fires late arms the next one that much sooner, so lateness does not pile up into drift.

Last traded price: the price of the contract's last trade (the side it printed on), or its theoretical price when
subscribed until it first trades; it is not moved into the touch when the market moves without trading.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date

import numpy as np

from imperium_desk.clock import Cancellable, Clock
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.market.black76 import FloatArray
from imperium_desk.market.blocks import (
    SESSION_S,
    TRADE_DRAWS,
    TRADING_DAYS,
    BookState,
    Contracts,
    DepthStream,
    MarketModifiers,
    Pricer,
    Rows,
    RowsBatch,
    derive_instant,
    derive_ticks,
)
from imperium_desk.market.config import MarketConfig
from imperium_desk.market.port import Quote, TickListener
from imperium_desk.rng import RandomStreams

__all__ = ["SESSION_S", "TRADING_DAYS", "MarketModifiers", "MarketSimulator"]

log = logging.getLogger(__name__)


class _Book:
    """Everything simulated for one underlying: its contracts, their streams, the block's draws and derived rows,
    and the latest quotes (`views`: batches covering contiguous ranges of contracts, lowest first)."""

    def __init__(self, name: str, spot: float, vol: float, path_rng: np.random.Generator, block: int) -> None:
        self.name = name
        self.spot = spot
        self.vol = vol
        self.modifiers = MarketModifiers()
        self.path_rng = path_rng
        self.contracts = Contracts.empty()
        self.symbols: list[str] = []  # append-only: batches keep referring to their prefix
        self.index: dict[str, int] = {}
        self.trade_rngs: list[np.random.Generator] = []
        self.depth: list[DepthStream] = []
        self.normals: FloatArray = np.empty(block)
        self.trades: FloatArray = np.empty((TRADE_DRAWS, block, 0))  # the block's: (draw, tick, contract)
        self.rows: Rows | None = None  # the block's derived ticks from `rows.first` on
        self.dirty = True  # rows must be re-derived before the next tick reads them
        self.views: tuple[RowsBatch, ...] = ()

    @property
    def atm_vol(self) -> float:
        return self.vol * self.modifiers.vol_mult

    def state(self) -> BookState:
        """The state after the latest quotes: where the next derivation starts."""
        return BookState.join(self.spot, [v.rows.state_at(v.col) for v in self.views])

    def view_of(self, i: int) -> RowsBatch:
        for view in self.views:
            if i < view.hi:
                return view
        raise AssertionError(f"{self.name}: contract {i} has no quote")  # every subscribed contract has one


class MarketSimulator:
    """The simulated `MarketData`: quotes for subscribed contracts, refreshed every tick (module docstring).

    Loop thread only. Listeners get one `TickBatch` per underlying per tick (and per jump or repricing), which builds a
    quote when it is read; `quote()` answers from the latest batch, so it gives the same object a listener got."""

    def __init__(
        self, config: MarketConfig, catalog: InstrumentCatalog, clock: Clock, streams: RandomStreams
    ) -> None:
        self._config = config
        self._catalog = catalog
        self._clock = clock
        self._streams = streams
        self._pricer = Pricer(config, catalog.tick_size)
        self._tick_s = config.tick_interval_s
        self._block = config.block_ticks
        self._books: dict[str, _Book] = {}
        for name in config.underlyings:
            try:
                spec = catalog.underlying(name)
            except InstrumentError as exc:
                raise InstrumentError(f"market.underlyings: {exc}") from None
            override = config.underlying_config(name)
            spot = override.spot if override.spot is not None else spec.reference_spot
            self._books[name] = _Book(name, spot, override.vol, streams.stream("market", name), self._block)
        self._book_list = list(self._books.values())
        self._rows: dict[str, tuple[_Book, int]] = {}
        self._listeners: list[TickListener] = []
        self._timer: Cancellable | None = None
        # The grid: the block position of the last tick delivered (the last one: no block is under way), and per
        # position its loop time and the epoch time it is priced at.
        self._pos = self._block - 1
        self._monos: list[float] = [clock.monotonic()] * self._block
        self._epochs: list[float] = [clock.now()] * self._block
        self._offset = clock.now() - clock.monotonic()
        self._half_tick = 0.5 * self._tick_s
        self._due = 0.0  # the loop time the tick timer is armed for

    # -- MarketData ---------------------------------------------------------------------------------------
    def subscribe(self, contract: OptionContract) -> Quote:
        """Start quoting a contract (idempotent); its quote is priced at the current clock time."""
        if contract.symbol not in self._rows:
            self._subscribe_all([contract])
        return self.quote(contract.symbol)

    def quote(self, symbol: str) -> Quote:
        try:
            book, i = self._rows[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not subscribed") from None
        view = book.views[0]
        if i >= view.hi:  # a contract subscribed since the last tick
            view = book.view_of(i)
        return view[i - view.lo]

    def spot(self, underlying: str) -> float:
        return self._book(underlying).spot

    def daily_price_vol(self, symbol: str) -> float:
        """|delta| * F * atm_vol / sqrt(252), at least one tick, as of the contract's last quote."""
        book, i = self._row(symbol)
        view = book.view_of(i)
        return view.rows.daily_price_vol(i - view.lo, view.col, book.contracts, book.spot, book.atm_vol)

    def expected_daily_volume(self, symbol: str) -> float:
        """Expected units per session at the current traded rate (including the volume modifier)."""
        book, i = self._row(symbol)
        view = book.view_of(i)
        abs_m = view.rows.abs_m(i - view.lo, view.col)
        return self._lots_per_s(book, abs_m) * SESSION_S * int(book.contracts.lot[i])

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
        return book.contracts.items[i]

    # -- ticking ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """Tick every `tick_interval_ms` on the clock until `stop()`; starting twice is harmless."""
        if self._timer is None:
            mono = self._clock.monotonic()
            self._reanchor(self._pos, self._clock.now(), mono)
            self._due = mono + self._tick_s
            self._timer = self._clock.call_later(self._tick_s, self._on_timer)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        # Re-arm first so a failing tick cannot silently end the stream (and stop() inside a listener
        # cancels the new timer).
        late = self._clock.monotonic() - self._due
        if late == 0.0:  # the virtual clock, always: the loop's own float for the next tick, as a timer computes it
            delay = self._tick_s
            self._due += delay
        elif late < self._half_tick:  # a wall clock's timer fired late: the next one is shortened to stay on the grid
            self._due += self._tick_s
            delay = self._due - self._clock.monotonic()
        else:  # far behind (a busy loop): no burst of catch-up ticks, the grid starts again from here
            delay = self._tick_s
            self._due = self._clock.monotonic() + delay
        self._timer = self._clock.call_later(delay, self._on_timer)
        self.advance()

    def advance(self) -> None:
        """One grid tick now: step every underlying's path, reprice its contracts, trade, and notify listeners."""
        pos = self._pos + 1
        if pos == self._block:
            self._next_block()
            pos = 0
        self._pos = pos
        now = self._clock.now()
        if abs(now - self._epochs[pos]) > self._half_tick:
            self._reanchor(pos, now, self._clock.monotonic())
        # Every underlying ticks before any listener hears of it: a listener may subscribe, jump or change modifiers,
        # and that must act from the next tick on, whichever underlying it touches.
        batches: list[RowsBatch] = []
        for book in self._book_list:
            if book.dirty:
                self._derive(book, pos)
            rows = book.rows
            assert rows is not None and rows.first is not None  # derived above
            col = pos - rows.first
            book.spot = rows.spots[col]
            symbols = book.symbols
            if symbols:
                batch = RowsBatch(rows, col, symbols, book.index, len(symbols), now)
                book.views = (batch,)
                batches.append(batch)
        for batch in batches:
            for listener in self._listeners:
                try:
                    listener(batch)
                except Exception:
                    log.exception("market listener %r failed", listener)  # as in _notify

    def reprice_now(self) -> None:
        """Reprice every underlying at the current clock time, without a path step or trading."""
        for book in self._books.values():
            self._reprice(book)

    # -- scenario drills ----------------------------------------------------------------------------------
    def jump(self, underlying: str, pct: float) -> float:
        """Move the spot by `pct` percent now and reprice its contracts; returns the new spot."""
        book = self._book(underlying)
        if not (math.isfinite(pct) and pct > -100.0):
            raise ValueError(f"jump pct must be a finite number > -100, got {pct!r}")
        book.spot *= 1.0 + pct / 100.0
        self._reprice(book)
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
        book.dirty = True

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

    def _next_block(self) -> None:
        """Draw the next block's standardised randomness and lay out its grid (continuing the last one's)."""
        block = self._block
        for book in self._books.values():
            book.normals = book.path_rng.standard_normal(block)
            book.trades = _draw_trades(book.trade_rngs, block, 0)
            book.dirty = True
        mono, tick, offset = self._monos[-1], self._tick_s, self._offset
        monos, epochs = self._monos, self._epochs
        for k in range(block):
            mono += tick
            monos[k] = mono
            epochs[k] = offset + mono

    def _reanchor(self, pos: int, now: float, mono: float) -> None:
        """Lay the grid from position `pos` (this tick, or the last one delivered) at the clock's reading."""
        self._offset = now - mono
        monos, epochs, tick, offset = self._monos, self._epochs, self._tick_s, self._offset
        monos[pos] = mono
        epochs[pos] = now
        for k in range(pos + 1, self._block):
            mono += tick
            monos[k] = mono
            epochs[k] = offset + mono
        for book in self._books.values():
            book.dirty = True

    def _derive(self, book: _Book, pos: int) -> None:
        book.rows = derive_ticks(
            self._pricer, book.contracts, book.state(), first=pos, epochs=np.array(self._epochs[pos:]),
            normals=book.normals[pos:], trades=book.trades[:, pos:],
            depth=book.depth, vol=book.vol, modifiers=book.modifiers,
        )
        book.dirty = False

    def _reprice(self, book: _Book) -> None:
        """Off the grid: every contract of the book priced now from its current state, and listeners told."""
        n = len(book.symbols)
        book.dirty = True  # the rest of the block starts from the new state
        if not n:
            return
        now = self._clock.now()
        rows = derive_instant(self._pricer, book.contracts, book.state(), lo=0, epoch=now, depth=book.depth,
                              vol=book.vol, modifiers=book.modifiers)
        batch = RowsBatch(rows, 0, book.symbols, book.index, n, now)
        book.views = (batch,)
        self._notify(batch)

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
            self._append(self._books[underlying], batch)

    def _append(self, book: _Book, contracts: list[OptionContract]) -> None:
        """New contracts of a book: each draws its initial open interest from its trade stream, which then gives
        the rest of the block its rows, and shows book 0 of its depth stream until the next tick."""
        block, width = self._block, self._pricer.width
        lo, k = len(book.symbols), len(contracts)
        trade_rngs = [self._streams.stream("market-trades", c.symbol) for c in contracts]
        oi_u = np.array([rng.random() for rng in trade_rngs])
        remaining = block - 1 - self._pos
        if remaining:
            book.trades = np.concatenate((book.trades, _draw_trades(trade_rngs, block, block - remaining)), axis=2)
        book.contracts = book.contracts.extended(contracts)
        book.trade_rngs.extend(trade_rngs)
        book.depth.extend(DepthStream(self._streams.stream("market-depth", c.symbol), width) for c in contracts)
        for offset, c in enumerate(contracts):
            book.index[c.symbol] = lo + offset
            self._rows[c.symbol] = (book, lo + offset)
        book.symbols.extend(c.symbol for c in contracts)
        now = self._clock.now()
        fresh = BookState(book.spot, np.zeros(k, dtype=np.int64), np.zeros(k), np.zeros(k, dtype=np.int64),
                          np.zeros(k), np.zeros(k, dtype=np.int64))
        rows = derive_instant(self._pricer, book.contracts.part(lo, lo + k), fresh, lo=lo, epoch=now,
                              depth=book.depth, vol=book.vol, modifiers=book.modifiers, fresh_oi_u=oi_u)
        book.views = (*book.views, RowsBatch(rows, 0, book.symbols, book.index, k, now))
        book.dirty = True

    def _notify(self, batch: RowsBatch) -> None:
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                # One broken consumer (a widget, a chart) must not starve the others or stop the market.
                log.exception("market listener %r failed", listener)


def _draw_trades(rngs: Sequence[np.random.Generator], block: int, first: int) -> FloatArray:
    """Each contract's trade uniforms for block positions `first`.. (zeros before), as (draw, tick, contract)."""
    per_contract = np.zeros((len(rngs), block, TRADE_DRAWS))
    for i, rng in enumerate(rngs):
        rng.random(out=per_contract[i, first:])
    trades: FloatArray = np.ascontiguousarray(per_contract.transpose(2, 1, 0))
    return trades
