"""The fake Kite ticker (`/ws`): Kite's websocket protocol on top of the simulated market (kite-notes §1.9).

Handshake: `?api_key=...&access_token=...` must name a live session, else HTTP 403 (so after a token expires, a
reconnect is refused as Kite refuses it); a connection beyond `max_ws_connections` for the api key is refused with
HTTP 429. Client messages (text JSON): `{"a": "subscribe", "v": [tokens]}` (new tokens start in quote mode),
`{"a": "unsubscribe", "v": [tokens]}`, `{"a": "mode", "v": [mode, [tokens]]}`; tokens are the dump's options and
the indices of the simulated underlyings (`KiteAccount.indices`: `INDEX_INSTRUMENTS`' tokens), others are ignored.
After a subscribe or a mode change the connection gets those tokens' current packets at once; then, on every market
tick, one binary frame with a packet (built with `tests.fake_kite.packets`) per subscribed token that ticked: for an
option 8-byte ltp, 44-byte quote or 184-byte full; for an index 8-byte ltp, 28-byte quote or 32-byte full (with the
exchange time), its last price the simulated spot. An index ticks with its underlying's book, and its packet comes
first in that frame, so a client has the new spot before the option quotes priced off it. A connection that has
sent nothing for `heartbeat_s` gets a 1-byte heartbeat. Every order change of the account goes to every connection
as text `{"type": "order", "data": {...}}`.

Faults: `drop()` aborts every connection's TCP stream (no close frame); `stall(True)` stops all sending (ticks,
order updates and heartbeats are discarded, not queued) until `stall(False)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from imperium_desk.broker.kite.packets import FullTick, IndexFullTick, IndexQuoteTick, LtpTick, Packet, QuoteTick
from imperium_desk.market.port import Quote
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.packets import DEPTH_LEVELS, HEARTBEAT, encode_frame
from tests.fake_kite.sessions import Sessions
from tests.fake_kite.state import IndexLevel, KiteAccount

_MODES = ("ltp", "quote", "full")


@dataclass(eq=False)
class _Connection:
    request: web.Request
    ws: web.WebSocketResponse
    modes: dict[int, str] = field(default_factory=dict)
    outbox: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)


def _depth(levels: list[tuple[float, int]], lot: int) -> tuple[tuple[int, ...], tuple[float, ...], tuple[int, ...]]:
    padded = (levels + [(0.0, 0)] * DEPTH_LEVELS)[:DEPTH_LEVELS]
    quantities = tuple(q for _, q in padded)
    prices = tuple(p for p, _ in padded)
    orders = tuple(max(1, q // (lot * 4)) if q > 0 else 0 for q in quantities)
    return quantities, prices, orders


def tick_packet(account: KiteAccount, row: InstrumentRow, quote: Quote, mode: str) -> Packet:
    """The packet Kite would send for this quote in this mode."""
    token = row.instrument_token
    if mode == "ltp":
        return LtpTick(instrument_token=token, last_price=quote.ltp)
    o, h, low, c = account.ohlc(quote.symbol)
    average = quote.turnover / quote.volume if quote.volume > 0 else quote.ltp
    common: dict[str, Any] = {
        "instrument_token": token, "last_price": quote.ltp, "last_traded_quantity": row.contract.lot_size,
        "average_traded_price": round(average, 2), "volume_traded": quote.volume,
        "total_buy_quantity": sum(q for _, q in quote.bids), "total_sell_quantity": sum(q for _, q in quote.asks),
        "open": o, "high": h, "low": low, "close": c,
    }
    if mode == "quote":
        return QuoteTick(**common)
    oi_low, oi_high = account.oi_range(quote.symbol)
    bq, bp, bo = _depth(quote.bids, row.contract.lot_size)
    sq, sp, so = _depth(quote.asks, row.contract.lot_size)
    return FullTick(
        **common, last_trade_epoch_s=int(quote.timestamp), oi=quote.oi, oi_day_high=oi_high, oi_day_low=oi_low,
        exchange_epoch_s=int(quote.timestamp), buy_quantities=bq, buy_prices=bp, buy_orders=bo,
        sell_quantities=sq, sell_prices=sp, sell_orders=so,
    )


def index_packet(token: int, level: IndexLevel, mode: str) -> Packet:
    """The packet Kite would send for this index level in this mode."""
    if mode == "ltp":
        return LtpTick(instrument_token=token, last_price=level.last_price)
    common: dict[str, Any] = {
        "instrument_token": token, "last_price": level.last_price, "high": level.high, "low": level.low,
        "open": level.open, "close": level.close,
    }
    if mode == "quote":
        return IndexQuoteTick(**common)
    return IndexFullTick(**common, exchange_epoch_s=int(level.timestamp))


class TickerHub:
    """Every ticker connection of the fake (its loop only; the server marshals the fault calls)."""

    def __init__(self, account: KiteAccount, sessions: Sessions) -> None:
        self._account = account
        self._sessions = sessions
        self._config = account.config
        self.connections: list[_Connection] = []
        self.stalled = False
        self.refused: list[int] = []  # HTTP statuses of refused handshakes, in order
        # What tests read from their own threads: each connection's token -> mode, republished on every change.
        self._view: list[dict[int, str]] = []
        self._refused_view: list[int] = []
        self._changed = threading.Condition()
        account.market.add_listener(self._on_ticks)
        account.order_listeners.append(self._on_order)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._sessions.valid(request.query.get("api_key"), request.query.get("access_token")):
            self.refused.append(403)
            self._publish()
            raise web.HTTPForbidden(text="Invalid api_key or access_token")
        if len(self.connections) >= self._config.max_ws_connections:
            self.refused.append(429)
            self._publish()
            raise web.HTTPTooManyRequests(text="Too many connections")
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = _Connection(request, ws)
        self.connections.append(conn)
        self._publish()
        writer = asyncio.ensure_future(self._write(conn))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                    self._publish()
        finally:
            self.connections.remove(conn)
            self._publish()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _write(self, conn: _Connection) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not conn.ws.closed:
                try:
                    message = await asyncio.wait_for(conn.outbox.get(), self._config.heartbeat_s)
                except TimeoutError:
                    message = HEARTBEAT
                if self.stalled:
                    continue
                if isinstance(message, bytes):
                    await conn.ws.send_bytes(message)
                else:
                    await conn.ws.send_str(message)

    def _on_text(self, conn: _Connection, text: str) -> None:
        try:
            message = json.loads(text)
            action, value = message["a"], message["v"]
        except (ValueError, KeyError, TypeError):
            return
        dump, indices = self._account.dump, self._account.indices
        if action == "subscribe" and isinstance(value, list):
            tokens = [t for t in value if isinstance(t, int) and (t in dump.by_token or t in indices)]
            for token in tokens:
                conn.modes.setdefault(token, "quote")
            self._snapshot(conn, tokens)
        elif action == "unsubscribe" and isinstance(value, list):
            for token in value:
                conn.modes.pop(token, None)
        elif action == "mode" and isinstance(value, list) and len(value) == 2 and value[0] in _MODES:
            tokens = [t for t in value[1] if t in conn.modes]
            for token in tokens:
                conn.modes[token] = value[0]
            self._snapshot(conn, tokens)

    def _snapshot(self, conn: _Connection, tokens: Sequence[int]) -> None:
        account = self._account
        packets = []
        for token in tokens:
            index = account.indices.get(token)
            if index is not None:
                packets.append(index_packet(token, account.index_level(index.underlying), conn.modes[token]))
                continue
            row = account.dump.by_token[token]
            packets.append(tick_packet(account, row, account.quote(row), conn.modes[token]))
        if packets and not self.stalled:
            conn.outbox.put_nowait(encode_frame(packets))

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        if self.stalled or not self.connections:
            return
        account = self._account
        by_symbol = account.dump.by_symbol
        # One notification is one underlying's book: its index ticked with it.
        moved = {by_symbol[q.symbol].contract.underlying for q in quotes if q.symbol in by_symbol}
        levels = {i.instrument_token: account.index_level(i.underlying) for i in account.indices.values()
                  if i.underlying in moved}
        for conn in self.connections:
            packets = [index_packet(t, level, conn.modes[t]) for t, level in levels.items() if t in conn.modes]
            for quote in quotes:
                row = by_symbol.get(quote.symbol)
                if row is None:
                    continue
                mode = conn.modes.get(row.instrument_token)
                if mode is not None:
                    packets.append(tick_packet(self._account, row, quote, mode))
            if packets:
                conn.outbox.put_nowait(encode_frame(packets))

    def _on_order(self, order: dict[str, Any]) -> None:
        if self.stalled:
            return
        text = json.dumps({"type": "order", "data": order})
        for conn in self.connections:
            conn.outbox.put_nowait(text)

    def drop(self) -> int:
        """Abort every connection's TCP stream; returns how many were dropped."""
        dropped = 0
        for conn in list(self.connections):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
                dropped += 1
        return dropped

    def _publish(self) -> None:
        with self._changed:
            self._view = [dict(c.modes) for c in self.connections]
            self._refused_view = list(self.refused)
            self._changed.notify_all()

    def subscriptions(self) -> list[dict[int, str]]:
        """Each open connection's token -> mode (copies; any thread)."""
        with self._changed:
            return [dict(m) for m in self._view]

    def refusals(self) -> list[int]:
        """HTTP statuses of refused handshakes, in order (any thread)."""
        with self._changed:
            return list(self._refused_view)

    def wait_for(self, predicate: Callable[[list[dict[int, str]]], bool], timeout: float) -> None:
        """Block (not on the fake's loop) until `predicate(subscriptions)` holds; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate([dict(m) for m in self._view]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the ticker connections never met the condition")
                self._changed.wait(left)
