"""`KiteMarketData`: the `market.port.MarketData` port (and what the desk reads of a market) from Kite's live ticks.

Quotes. Every option is streamed in full mode (184-byte packets) and each tick becomes a new `Quote`: `bids` /
`asks` are the depth levels with a quantity, best first, as (price, units); `bid` / `ask` the best of each (0.0 for
an empty side: Kite sends zeros for a level with no order); `ltp`, `volume` (units traded today), `oi`, and
`turnover` = average traded price x volume (Kite sends no traded value; the average is its volume-weighted price, so
interval VWAP = d(turnover)/d(volume) holds). `timestamp` is the clock's `now()` when the tick arrived: the
exchange's own time is not used by anything the engine depends on. A contract subscribed before its first tick
answers a placeholder `Quote` with no depth and zeros (the port allows it): `has_ticked(symbol)` and
`await first_quote(symbol)` tell the two apart (they wait for the first full packet). An ltp- or quote-mode packet
updates the fields it carries and keeps the depth and OI of the previous quote: Kite streams a newly subscribed
token in quote mode until the `mode` message reaches it, so a contract's first packet is often a quote packet.

Spot. Each underlying's level comes from its index's ticks (`INDEX_INSTRUMENTS`: the one table of index tokens,
overridable from an instruments dump that lists INDICES rows). `spot()` before the index's first tick raises
`FeedNotReady`; `await ready(timeout_s)` waits for every index (the engine awaits it after `start()`; the fake Kite,
like Kite as far as we know, sends an instrument's current values as soon as it is subscribed).

What is on the wire (Kite allows 3,000 instruments a connection; more raises the ticker's `TokenLimitError` and
changes nothing), the union of:
- the index of every underlying, always;
- on screen: the contracts of the last `chain()` of each underlying (a new chain of an underlying replaces its
  previous one, whose contracts are unsubscribed unless something below still wants them; `clear_chain` takes an
  underlying's chain off the screen: the window calls it when it stops showing that underlying, if it wants);
- in flight: `hold(symbol)` ... `release(symbol)`, counted (for the desk to call while a parent works a contract,
  and for the positions it shows);
- leased: a contract passed to `subscribe()` (the port's call: the stack, the order ticket, the portfolio) stays
  for `lease_s` after the last `subscribe()` or `quote()` of it, and after its last `release()`; a `quote()` of a
  leased contract whose lease ran out puts it back on the wire. Contracts only ever seen through `chain()` get no
  lease: leaving the screen takes them off the wire at once.
A contract taken off the wire keeps its last quote: the port promises `quote()` from the first `subscribe` to the
end of the session, and it may be asked again (it then answers the last quote it had, `stale_quote` says so).

Staleness. No tick at all (any instrument) for `stale_after_s` while running -> `stale` is True and the stale
listeners are told once; the next tick clears it and tells them once more. Heartbeats do not count: a connected
socket that carries no ticks is a stale feed for the trader.

Threading: every method is called on the engine's loop; listeners are called on it. Nothing blocks. Time comes from
the Clock port.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final, Protocol

from imperium_desk.broker.kite.instruments import KiteInstruments
from imperium_desk.broker.kite.packets import (
    FullTick,
    LtpTick,
    QuoteTick,
    Tick,
    TickMode,
)
from imperium_desk.broker.kite.ticker import TokenLimitError
from imperium_desk.clock import Cancellable, Clock
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.market.port import Quote, TickListener

__all__ = [
    "INDEX_INSTRUMENTS",
    "FeedNotReady",
    "IndexInstrument",
    "KiteMarketData",
    "TickerFeed",
    "index_tokens_from_dump",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexInstrument:
    """An index as Kite's instruments dump lists it (segment INDICES)."""

    exchange: str
    tradingsymbol: str
    instrument_token: int


# Source: Kite's instruments dump (GET /instruments, rows with segment INDICES; tradingsymbol and name are the index
# name, instrument_type EQ). These tokens have been stable for years and are quoted as such by Kite's forum and by
# open-source Kite clients; `index_tokens_from_dump` reads them from a dump when one with INDICES rows is at hand.
INDEX_INSTRUMENTS: Final[Mapping[str, IndexInstrument]] = {
    "NIFTY": IndexInstrument("NSE", "NIFTY 50", 256265),
    "BANKNIFTY": IndexInstrument("NSE", "NIFTY BANK", 260105),
    "FINNIFTY": IndexInstrument("NSE", "NIFTY FIN SERVICE", 257801),
    "MIDCPNIFTY": IndexInstrument("NSE", "NIFTY MID SELECT", 288009),
    "SENSEX": IndexInstrument("BSE", "SENSEX", 265),
}

IST: Final = timezone(timedelta(hours=5, minutes=30))
SESSION_OPEN_IST: Final = time(9, 15)
SESSION_S: Final = 22_500.0  # 09:15-15:30 IST
# Below a quarter hour of trading, a range or a volume says too little to scale up to a whole session.
MIN_ELAPSED_S: Final = 900.0
_PARKINSON: Final = 2.0 * math.sqrt(math.log(2.0))


def index_tokens_from_dump(text: str) -> dict[str, int]:
    """Underlying -> index token from an instruments CSV's INDICES rows (`GET /instruments`, or the NSE / BSE
    dumps), for the indices `INDEX_INSTRUMENTS` names; an index the dump does not list is left out (the caller
    falls back to the table). The F&O dumps (`/instruments/NFO`, `/BFO`) have no INDICES rows: then `{}`."""
    by_name = {(i.exchange, i.tradingsymbol): u for u, i in INDEX_INSTRUMENTS.items()}
    found: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if (row.get("segment") or "").strip() != "INDICES":
            continue
        key = ((row.get("exchange") or "").strip(), (row.get("tradingsymbol") or "").strip())
        underlying = by_name.get(key)
        token = (row.get("instrument_token") or "").strip()
        if underlying is not None and token.isdigit():
            found[underlying] = int(token)
    return found


class FeedNotReady(LookupError):
    """The feed has not delivered what was asked yet (an index that has not ticked): `await ready()` first."""


class TickerFeed(Protocol):
    """What `KiteMarketData` uses of `ticker.KiteTickerClient` (a test may pass a double)."""

    max_tokens: int

    def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.FULL) -> None: ...

    def unsubscribe(self, tokens: Iterable[int]) -> None: ...

    def add_tick_listener(self, listener: Callable[[Sequence[Tick]], None]) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    async def aclose(self) -> None: ...


StaleListener = Callable[[bool], None]


class KiteMarketData:
    """Live `MarketData` over one `KiteTickerClient` (module docstring for quotes, spot, subscriptions, staleness).

    `start()` starts the ticker and the stale watch, `stop()` stops both (the ticker also carries the broker's
    order updates; the broker's order-book poll covers the time it is stopped).

    Over 400 lines on purpose: quotes, the index spots, what is on the wire (screen, holds, leases) and staleness all
    key on the same per-token state, updated in one pass per tick; split across classes that state would be shared
    or copied, and the tick path (~150k packets/s into quotes) would pay for the indirection.
    """

    def __init__(
        self,
        ticker: TickerFeed,
        instruments: KiteInstruments,
        clock: Clock,
        *,
        catalog: InstrumentCatalog | None = None,
        underlyings: Sequence[str] | None = None,
        index_tokens: Mapping[str, int] | None = None,
        stale_after_s: float = 5.0,
        lease_s: float = 300.0,
        strikes_each_side: int = 10,
    ) -> None:
        if stale_after_s <= 0 or lease_s <= 0 or strikes_each_side < 0:
            raise ValueError("stale_after_s and lease_s must be > 0, strikes_each_side >= 0")
        self._ticker = ticker
        self._instruments = instruments
        self._clock = clock
        self._catalog = catalog if catalog is not None else instruments.catalog()
        tokens = {u: i.instrument_token for u, i in INDEX_INSTRUMENTS.items()}
        tokens.update(index_tokens or {})
        names = list(underlyings) if underlyings is not None else [u for u in instruments.underlyings if u in tokens]
        missing = [u for u in names if u not in tokens]
        if missing:
            raise InstrumentError(f"no index token for {', '.join(missing)} (INDEX_INSTRUMENTS or index_tokens)")
        self._underlyings = names
        self._index_token = {u: tokens[u] for u in names}
        self._index_of = {t: u for u, t in self._index_token.items()}
        self.stale_after_s = stale_after_s
        self.lease_s = lease_s
        self.strikes_each_side = strikes_each_side

        self._quotes: dict[str, Quote] = {}  # every contract ever subscribed -> its latest quote
        self._contracts: dict[str, OptionContract] = {}
        self._token_of: dict[str, int] = {}
        self._symbol_of: dict[int, str] = {}
        self._ticked: set[str] = set()
        self._range: dict[str, tuple[float, float]] = {}  # symbol -> the day's (high, low)
        self._spots: dict[str, float] = {}
        self._screen: dict[str, tuple[int, ...]] = {}  # underlying -> tokens of its last chain
        self._holds: Counter[str] = Counter()
        self._leases: dict[str, float] = {}  # symbol -> monotonic time its lease ends
        self._leasable: set[str] = set()  # subscribed through subscribe(): quote() renews them
        self._wired: set[int] = set()  # tokens asked of the ticker

        self._listeners: list[TickListener] = []
        self._stale_listeners: list[StaleListener] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._running = False
        self._stale = False
        self._last_tick_at = 0.0
        self._stale_timer: Cancellable | None = None
        self._lease_timer: Cancellable | None = None
        ticker.add_tick_listener(self._on_ticks)

    # -- MarketData ----------------------------------------------------------------------------------------------
    def subscribe(self, contract: OptionContract) -> Quote:
        """Quote `contract` (idempotent) and keep it on the wire for `lease_s` from now; returns its latest quote (a
        placeholder without depth before its first tick). InstrumentError if today's dump does not list it;
        `TokenLimitError` if the connection is full (nothing changed)."""
        symbol = contract.symbol
        self._know(contract)
        had = self._leases.get(symbol)
        self._leases[symbol] = self._clock.monotonic() + self.lease_s
        try:
            self._rewire()
        except TokenLimitError:
            self._drop_lease(symbol, had)
            raise
        self._leasable.add(symbol)
        return self._quotes[symbol]

    def quote(self, symbol: str) -> Quote:
        """The latest quote of a contract subscribed at some point this session (KeyError if never). Renews the
        lease of a `subscribe()`d contract, putting it back on the wire if the lease had run out."""
        quote = self._quotes.get(symbol)
        if quote is None:
            raise KeyError(f"{symbol!r} is not subscribed")
        if symbol in self._leasable:
            lapsed = symbol not in self._leases
            self._leases[symbol] = self._clock.monotonic() + self.lease_s
            if lapsed:
                try:
                    self._rewire()
                except TokenLimitError:
                    del self._leases[symbol]
                    log.warning("kite market: %s not put back on the wire: the connection is full", symbol)
        return quote

    def spot(self, underlying: str) -> float:
        """The index level from its last tick; InstrumentError for an underlying this market does not carry,
        `FeedNotReady` before the index's first tick."""
        if underlying not in self._index_token:
            carried = ", ".join(self._underlyings)
            raise InstrumentError(f"underlying {underlying!r} is not carried (underlyings: {carried})")
        level = self._spots.get(underlying)
        if level is None:
            raise FeedNotReady(f"no tick from the {underlying} index yet")
        return level

    def daily_price_vol(self, symbol: str) -> float:
        """Parkinson's estimate from the day's high and low so far, scaled from the elapsed part of the session to
        a whole one, in price units; at least one tick (also before the first tick, or when high == low)."""
        quote = self._quotes.get(symbol)
        if quote is None:
            raise KeyError(f"{symbol!r} is not subscribed")
        tick = self._contracts[symbol].tick_size
        high, low = self._range.get(symbol, (0.0, 0.0))
        if low <= 0 or high <= low:
            return tick
        sigma = math.log(high / low) / _PARKINSON / math.sqrt(self._session_fraction())
        return max(tick, quote.ltp * sigma)

    def expected_daily_volume(self, symbol: str) -> float:
        """Today's volume so far scaled to a whole session (the pace so far), at least one lot."""
        quote = self._quotes.get(symbol)
        if quote is None:
            raise KeyError(f"{symbol!r} is not subscribed")
        return max(float(self._contracts[symbol].lot_size), quote.volume / self._session_fraction())

    def regime(self, underlying: str) -> tuple[float, float]:
        """Neutral (1.0, 1.0): a live market has no configured baseline to be relative to."""
        return 1.0, 1.0

    def add_listener(self, listener: TickListener) -> None:
        self._listeners.append(listener)

    # -- what the desk reads of a market ---------------------------------------------------------------------------
    @property
    def underlyings(self) -> list[str]:
        return list(self._underlyings)

    def chain(self, underlying: str, expiry: date, strikes_each_side: int | None = None) -> list[OptionContract]:
        """CE and PE contracts (a strike only when the dump lists both) for the strikes around the ATM strike at
        the current spot, lowest strike first, CE before PE; they become the underlying's screen (subscribed), and
        its previous screen's contracts leave the wire unless held or leased. `FeedNotReady` before the index's
        first tick; `TokenLimitError` (nothing changed) if the connection would be over its limit."""
        spot = self.spot(underlying)
        width = self.strikes_each_side if strikes_each_side is None else strikes_each_side
        contracts: list[OptionContract] = []
        for step in range(-width, width + 1):
            strike = self._catalog.strike_offset(underlying, spot, step)
            if strike <= 0:
                continue
            try:
                call = self._instruments.find(underlying, expiry, strike, OptionRight.CE)
                put = self._instruments.find(underlying, expiry, strike, OptionRight.PE)
            except InstrumentError:
                continue  # outside the listed strikes
            contracts += (call, put)
        for contract in contracts:
            self._know(contract)
        previous = self._screen.get(underlying)
        self._screen[underlying] = tuple(self._token_of[c.symbol] for c in contracts)
        try:
            self._rewire()
        except TokenLimitError:
            if previous is None:
                del self._screen[underlying]
            else:
                self._screen[underlying] = previous
            raise
        return contracts

    def clear_chain(self, underlying: str) -> None:
        """The underlying's chain is no longer on screen: its contracts leave the wire unless held or leased."""
        if self._screen.pop(underlying, None) is not None:
            self._rewire()

    def contract(self, symbol: str) -> OptionContract:
        """Today's contract of a Kite tradingsymbol (InstrumentError if the dump does not list it)."""
        return self._instruments.contract(symbol)

    def hold(self, symbol: str) -> Quote:
        """Keep `symbol` on the wire until as many `release(symbol)`: an order in flight, a position on show.
        Returns its latest quote. InstrumentError if the dump does not list it; `TokenLimitError` if full."""
        self._know(self._instruments.contract(symbol))
        self._holds[symbol] += 1
        try:
            self._rewire()
        except TokenLimitError:
            self._holds[symbol] -= 1
            if not self._holds[symbol]:
                del self._holds[symbol]
            raise
        return self._quotes[symbol]

    def release(self, symbol: str) -> None:
        """Undo one `hold(symbol)`; after the last one the contract stays for `lease_s` more (markouts and the
        fills' last updates still read it), then leaves the wire if nothing else wants it."""
        count = self._holds.get(symbol, 0)
        if count <= 0:
            raise KeyError(f"{symbol!r} is not held")
        if count == 1:
            del self._holds[symbol]
            self._leasable.add(symbol)
            self._leases[symbol] = self._clock.monotonic() + self.lease_s
        else:
            self._holds[symbol] = count - 1

    @property
    def wired_tokens(self) -> frozenset[int]:
        """The tokens this market has asked the ticker to stream (indices included)."""
        return frozenset(self._wired)

    def token(self, symbol: str) -> int:
        """Kite's instrument token of a tradingsymbol (InstrumentError if the dump does not list it)."""
        return self._instruments.token(symbol)

    def index_token(self, underlying: str) -> int:
        return self._index_token[underlying]

    def has_ticked(self, symbol: str) -> bool:
        """True once a full-mode tick of `symbol` arrived: its quote has depth and OI. (Kite streams a new token in
        quote mode until the `mode` message reaches it, so the very first packet may be a depth-less quote.)"""
        return symbol in self._ticked

    def stale_quote(self, symbol: str) -> bool:
        """True if `symbol` is not on the wire now (its quote is the last one it had, and will not change)."""
        token = self._token_of.get(symbol)
        return token is None or token not in self._wired

    # -- lifecycle and staleness ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def stale(self) -> bool:
        return self._stale

    @property
    def seconds_since_tick(self) -> float | None:
        """Seconds since the last tick (None before the feed started)."""
        return self._clock.monotonic() - self._last_tick_at if self._running else None

    def add_stale_listener(self, listener: StaleListener) -> None:
        """`listener(stale)` on every change: True when no tick came for `stale_after_s`, False at the next tick."""
        self._stale_listeners.append(listener)

    def start(self) -> None:
        """Put the indices on the wire, start the ticker, the stale watch and the lease sweep; twice is harmless."""
        if self._running:
            return
        self._running = True
        self._rewire()
        self._ticker.start()
        self._last_tick_at = self._clock.monotonic()
        self._stale_timer = self._clock.call_later(self.stale_after_s, self._check_stale)
        self._lease_timer = self._clock.call_later(self.lease_s / 4, self._sweep_leases)

    def stop(self) -> None:
        """Stop the ticker and the timers (quotes are kept); the ticker finishes closing in the background."""
        if not self._running:
            return
        self._running = False
        for timer in (self._stale_timer, self._lease_timer):
            if timer is not None:
                timer.cancel()
        self._stale_timer = self._lease_timer = None
        self._ticker.stop()

    async def aclose(self) -> None:
        """`stop()` and wait until the ticker has closed its connection."""
        self.stop()
        await self._ticker.aclose()
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    async def ready(self, timeout_s: float) -> bool:
        """Wait until every underlying's index has ticked (`spot()` answers); False if `timeout_s` passed first."""
        return await self._wait(lambda: all(u in self._spots for u in self._underlyings), timeout_s)

    async def first_quote(self, symbol: str, timeout_s: float) -> Quote | None:
        """Wait for `symbol`'s first full-mode tick (`has_ticked`; it must be subscribed or held); its quote, or
        None after `timeout_s`."""
        if symbol not in self._quotes:
            raise KeyError(f"{symbol!r} is not subscribed")
        if await self._wait(lambda: symbol in self._ticked, timeout_s):
            return self._quotes[symbol]
        return None

    async def _wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        if condition():
            return True
        future: asyncio.Future[None] = self._clock.create_future()
        entry = (condition, future)
        self._waiters.append(entry)
        timer = self._clock.call_later(timeout_s, _settle, future)
        try:
            await future
        finally:
            timer.cancel()
            if entry in self._waiters:
                self._waiters.remove(entry)
        return condition()

    def _check_stale(self) -> None:
        if not self._running:
            return
        due = self._last_tick_at + self.stale_after_s
        now = self._clock.monotonic()
        if now >= due:
            self._set_stale(True)
            due = now + self.stale_after_s  # look again later: only a tick clears it
        self._stale_timer = self._clock.call_later(due - now, self._check_stale)

    def _set_stale(self, stale: bool) -> None:
        if stale is self._stale:
            return
        self._stale = stale
        if stale:
            log.warning("kite market: no tick for %.1f s; the feed is stale", self.stale_after_s)
        else:
            log.info("kite market: ticks again; the feed is fresh")
        for listener in list(self._stale_listeners):
            try:
                listener(stale)
            except Exception:
                log.exception("kite market stale listener %r failed", listener)

    def _sweep_leases(self) -> None:
        if not self._running:
            return
        now = self._clock.monotonic()
        expired = [s for s, until in self._leases.items() if until <= now]
        for symbol in expired:
            del self._leases[symbol]
        if expired:
            self._rewire()  # only removes: cannot go over the limit
        self._lease_timer = self._clock.call_later(self.lease_s / 4, self._sweep_leases)

    # -- subscriptions -------------------------------------------------------------------------------------------
    def _know(self, contract: OptionContract) -> None:
        symbol = contract.symbol
        if symbol in self._quotes:
            return
        token = self._instruments.token(symbol)
        self._contracts[symbol] = contract
        self._token_of[symbol] = token
        self._symbol_of[token] = symbol
        self._quotes[symbol] = Quote(
            symbol=symbol, bid=0.0, ask=0.0, ltp=0.0, bids=[], asks=[], volume=0, oi=0,
            timestamp=self._clock.now(), turnover=0.0,
        )

    def _wanted(self) -> set[int]:
        wanted = set(self._index_token.values())
        for tokens in self._screen.values():
            wanted.update(tokens)
        token_of = self._token_of
        wanted.update(token_of[s] for s in self._holds)
        wanted.update(token_of[s] for s in self._leases)
        return wanted

    def _rewire(self) -> None:
        """Bring the ticker's subscriptions to `_wanted()`: drops first, so a swap near the limit fits."""
        wanted = self._wanted()
        if len(wanted) > self._ticker.max_tokens:
            raise TokenLimitError(len(wanted), self._ticker.max_tokens)
        gone = self._wired - wanted
        new = wanted - self._wired
        if gone:
            self._ticker.unsubscribe(sorted(gone))
        if new:
            self._ticker.subscribe(sorted(new), TickMode.FULL)
        self._wired = wanted

    def _drop_lease(self, symbol: str, previous: float | None) -> None:
        if previous is None:
            self._leases.pop(symbol, None)
        else:
            self._leases[symbol] = previous

    # -- ticks ---------------------------------------------------------------------------------------------------
    def _on_ticks(self, ticks: Sequence[Tick]) -> None:
        now = self._clock.now()
        fresh: dict[str, Quote] = {}
        symbol_of, quotes = self._symbol_of, self._quotes
        for tick in ticks:
            token = tick.instrument_token
            underlying = self._index_of.get(token)
            if underlying is not None:
                self._spots[underlying] = tick.last_price
                continue
            symbol = symbol_of.get(token)
            if symbol is None:
                continue  # not ours (a token unsubscribed before this frame left the server)
            quote = _quote_from(tick, symbol, quotes[symbol], now)
            if quote is None:
                continue
            if isinstance(tick, FullTick | QuoteTick) and tick.high > 0 and tick.low > 0:
                self._range[symbol] = (tick.high, tick.low)
            quotes[symbol] = quote
            fresh[symbol] = quote  # a token twice in one frame: the later packet wins
            if isinstance(tick, FullTick):
                self._ticked.add(symbol)
        self._last_tick_at = self._clock.monotonic()
        if self._stale:
            self._set_stale(False)
        if fresh:
            batch = list(fresh.values())
            for listener in self._listeners:
                try:
                    listener(batch)
                except Exception:
                    # One broken consumer (a widget, a chart) must not starve the others or stop the feed.
                    log.exception("market listener %r failed", listener)
        if self._waiters:
            for condition, future in list(self._waiters):
                if not future.done() and condition():
                    future.set_result(None)

    def _session_fraction(self) -> float:
        local = datetime.fromtimestamp(self._clock.now(), UTC).astimezone(IST)
        opened = datetime.combine(local.date(), SESSION_OPEN_IST, IST)
        elapsed = (local - opened).total_seconds()
        return min(SESSION_S, max(MIN_ELAPSED_S, elapsed)) / SESSION_S


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quote_from(tick: Tick, symbol: str, previous: Quote, now: float) -> Quote | None:
    """A new Quote from one tick; fields a packet does not carry are kept from `previous`. None for an index packet
    (Kite never sends one for an option token)."""
    if isinstance(tick, FullTick):
        bids = [(p, q) for p, q in zip(tick.buy_prices, tick.buy_quantities, strict=True) if q > 0]
        asks = [(p, q) for p, q in zip(tick.sell_prices, tick.sell_quantities, strict=True) if q > 0]
        return Quote(
            symbol=symbol, bid=bids[0][0] if bids else 0.0, ask=asks[0][0] if asks else 0.0, ltp=tick.last_price,
            bids=bids, asks=asks, volume=tick.volume_traded, oi=tick.oi, timestamp=now,
            turnover=tick.average_traded_price * tick.volume_traded,
        )
    if isinstance(tick, QuoteTick):
        return Quote(
            symbol=symbol, bid=previous.bid, ask=previous.ask, ltp=tick.last_price, bids=previous.bids,
            asks=previous.asks, volume=tick.volume_traded, oi=previous.oi, timestamp=now,
            turnover=tick.average_traded_price * tick.volume_traded,
        )
    if isinstance(tick, LtpTick):
        return Quote(
            symbol=symbol, bid=previous.bid, ask=previous.ask, ltp=tick.last_price, bids=previous.bids,
            asks=previous.asks, volume=previous.volume, oi=previous.oi, timestamp=now, turnover=previous.turnover,
        )
    return None
