"""Kite ticker frames -> typed values: a pure decoder (no I/O, no `kiteconnect`), for our own asyncio client.

Binary frames (kite-notes §1.9): uint16 BE packet count, then per packet a uint16 BE length and the payload; every
integer is big-endian unsigned. A 1-byte frame is a heartbeat. The payload's length says what it is:

| length | value | mode |
|---|---|---|
| 8 | `LtpTick` | ltp |
| 28 / 32 | `IndexQuoteTick` / `IndexFullTick` (32 adds the exchange time) | quote / full |
| 44 | `QuoteTick` | quote |
| 184 | `FullTick` (44 + last trade time, OI, exchange time, 5 + 5 depth levels) | full |
| other | `UnknownPacket` (the raw bytes: a packet kind Kite added later must not cost the rest of the frame) | - |

Every number equals what `KiteTicker._parse_binary` (kiteconnect 5.2.2) gives for the same field: prices are
the integer divided by a float divisor chosen by segment (`token & 0xff`): 1e7 for CDS, 1e4 for BCD and NCO, 100
for everything else; `change` and `tradable` are computed as it computes them (tests/unit/kite/test_packets.py
uses it as the oracle). Times differ on purpose: KiteTicker returns naive datetimes in the machine's local time
(on a UTC machine 5 h 30 off the IST strings REST returns, kite-notes §1.3). Here a time is the exchange's epoch
seconds as sent (`*_epoch_s`, int), and the `last_trade_time` / `exchange_timestamp` properties give it as a
timezone-aware UTC datetime. Nothing here reads the machine's time zone.

Text frames are JSON: `{"type": "order", "data": {...}}` (an order update, the same dict as REST's orders),
`{"type": "error", "data": ...}` and `{"type": "message", "data": ...}`; `decode_text_frame` classifies them.

A frame that is not what the protocol says raises `FrameDecodeError` with a `FrameErrorKind`, before anything is
returned: a frame is decoded whole or not at all.

Speed (`python -m benchmarks.tick_decode`; issue target 200,000 full packets/s off the Qt thread; about 280k/s
here, KiteTicker about 58k/s). The ticks are frozen slotted dataclasses, but the decoder does not call their
`__init__`: a frozen dataclass writes each field through `object.__setattr__`, and for the 22-field `FullTick`
that alone held unpack + build to about 200k/s on the desk machine; writing through each slot's own descriptor
(what `_slot_setters` returns) gives about 300k/s. Depth is six tuples (quantities, prices, orders per side) sliced
from the one `struct` unpack: ten `DepthLevel` objects per packet cut the rate to about 80k/s, so
`buy_depth()` / `sell_depth()` build them only when a reader asks. A frame whose packets all have one known
length (the usual case: every token in one mode) is read by `Struct.iter_unpack` in one C loop.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Final


class Segment(IntEnum):
    """Exchange segment: the low byte of an instrument token (kiteconnect 5.2.2 `KiteTicker.EXCHANGE_MAP`)."""

    NSE = 1
    NFO = 2
    CDS = 3
    BSE = 4
    BFO = 5
    BCD = 6
    MCX = 7
    MCXSX = 8
    INDICES = 9
    NCO = 12


class TickMode(StrEnum):
    """The subscription mode a packet was sent in (the strings KiteTicker and the `mode` message use)."""

    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


def segment_of(instrument_token: int) -> int:
    """The segment number of a token (an int: Kite may add segments this module does not name)."""
    return instrument_token & 0xFF


def price_divisor(instrument_token: int) -> float:
    """What a price integer is divided by: currency (CDS) prices come in 1e-7 units, BCD and NCO in 1e-4, the
    rest (NSE, NFO, BSE, BFO, indices, MCX) in paise."""
    return _DIVISOR_BY_SEGMENT[instrument_token & 0xFF]


_DIVISOR_BY_SEGMENT: Final[tuple[float, ...]] = tuple(
    10_000_000.0 if segment == Segment.CDS else 10_000.0 if segment in (Segment.BCD, Segment.NCO) else 100.0
    for segment in range(256)
)


class _TokenFacts:
    """What the token alone says; shared by every tick class."""

    __slots__ = ()
    instrument_token: int

    @property
    def segment(self) -> int:
        return self.instrument_token & 0xFF

    @property
    def tradable(self) -> bool:
        """False for indices (segment 9), True for everything else, as KiteTicker decides it."""
        return self.instrument_token & 0xFF != Segment.INDICES


class _ChangeFromClose(_TokenFacts):
    """`change`: percent from the previous close, 0.0 when there is no close (KiteTicker's formula, same float)."""

    __slots__ = ()
    last_price: float
    close: float

    @property
    def change(self) -> float:
        if self.close != 0:
            return (self.last_price - self.close) * 100 / self.close
        return 0.0


def _utc(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


@dataclass(frozen=True, slots=True)
class LtpTick(_TokenFacts):
    """An 8-byte packet: last traded price only."""

    mode: ClassVar[TickMode] = TickMode.LTP
    instrument_token: int
    last_price: float


@dataclass(frozen=True, slots=True)
class IndexQuoteTick(_ChangeFromClose):
    """A 28-byte packet (an index in quote mode). The packet's own change field (bytes 24-28) is not read:
    `change` is computed from `last_price` and `close`, as KiteTicker does."""

    mode: ClassVar[TickMode] = TickMode.QUOTE
    instrument_token: int
    last_price: float
    high: float
    low: float
    open: float
    close: float


@dataclass(frozen=True, slots=True)
class IndexFullTick(_ChangeFromClose):
    """A 32-byte packet (an index in full mode): the quote fields plus the exchange time."""

    mode: ClassVar[TickMode] = TickMode.FULL
    instrument_token: int
    last_price: float
    high: float
    low: float
    open: float
    close: float
    exchange_epoch_s: int

    @property
    def exchange_timestamp(self) -> datetime:
        """`exchange_epoch_s` as an aware UTC datetime."""
        return _utc(self.exchange_epoch_s)


@dataclass(frozen=True, slots=True)
class QuoteTick(_ChangeFromClose):
    """A 44-byte packet (quote mode)."""

    mode: ClassVar[TickMode] = TickMode.QUOTE
    instrument_token: int
    last_price: float
    last_traded_quantity: int
    average_traded_price: float
    volume_traded: int
    total_buy_quantity: int
    total_sell_quantity: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One level of the order book: total quantity and number of orders at a price."""

    quantity: int
    price: float
    orders: int


@dataclass(frozen=True, slots=True)
class FullTick(_ChangeFromClose):
    """A 184-byte packet (full mode): the quote fields, the last trade time, open interest, the exchange time and
    five levels a side of depth, best first, as three parallel tuples a side (see the module docstring: an object
    per level would cost the decoder most of its speed)."""

    mode: ClassVar[TickMode] = TickMode.FULL
    instrument_token: int
    last_price: float
    last_traded_quantity: int
    average_traded_price: float
    volume_traded: int
    total_buy_quantity: int
    total_sell_quantity: int
    open: float
    high: float
    low: float
    close: float
    last_trade_epoch_s: int
    oi: int
    oi_day_high: int
    oi_day_low: int
    exchange_epoch_s: int
    buy_quantities: tuple[int, ...]
    buy_prices: tuple[float, ...]
    buy_orders: tuple[int, ...]
    sell_quantities: tuple[int, ...]
    sell_prices: tuple[float, ...]
    sell_orders: tuple[int, ...]

    @property
    def last_trade_time(self) -> datetime:
        """`last_trade_epoch_s` as an aware UTC datetime."""
        return _utc(self.last_trade_epoch_s)

    @property
    def exchange_timestamp(self) -> datetime:
        """`exchange_epoch_s` as an aware UTC datetime."""
        return _utc(self.exchange_epoch_s)

    def buy_depth(self) -> tuple[DepthLevel, ...]:
        """The bid levels as objects, best first (built on each call)."""
        return tuple(map(DepthLevel, self.buy_quantities, self.buy_prices, self.buy_orders))

    def sell_depth(self) -> tuple[DepthLevel, ...]:
        """The ask levels as objects, best first (built on each call)."""
        return tuple(map(DepthLevel, self.sell_quantities, self.sell_prices, self.sell_orders))


@dataclass(frozen=True, slots=True)
class UnknownPacket:
    """A packet whose length is none of 8, 28, 32, 44, 184. KiteTicker drops these silently; here the caller
    sees them (to count and log) and the other packets of the frame are still decoded."""

    payload: bytes


type Tick = LtpTick | IndexQuoteTick | IndexFullTick | QuoteTick | FullTick
type Packet = Tick | UnknownPacket


class FrameErrorKind(StrEnum):
    """Why a frame could not be decoded."""

    EMPTY = "empty"  # a binary frame of no bytes
    TRUNCATED = "truncated"  # a declared length or packet runs past the end of the frame
    TRAILING_BYTES = "trailing_bytes"  # bytes left after the declared packets
    NOT_JSON = "not_json"  # a text frame that is not UTF-8 JSON
    MALFORMED_MESSAGE = "malformed_message"  # JSON, but not an object, or an order update without an order object


class FrameDecodeError(ValueError):
    """A websocket frame that does not follow the ticker protocol. Nothing of the frame was returned; the caller
    logs it (with `kind`) and reads on: one bad frame says nothing about the next."""

    def __init__(self, kind: FrameErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind


# --- binary frames -------------------------------------------------------------------------------------------------

# Each packet struct starts at the packet's 2-byte length prefix, so one layout serves a lone packet
# (`unpack_from` at the prefix) and a run of equal packets (`iter_unpack` over the frame after its count).
_COUNT: Final = struct.Struct(">H")
_LTP: Final = struct.Struct(">HII")
_INDEX_QUOTE: Final = struct.Struct(">H6I4x")  # the packet's own change field (4x) is not read
_INDEX_FULL: Final = struct.Struct(">H6I4xI")
_QUOTE: Final = struct.Struct(">H11I")
_FULL: Final = struct.Struct(">H16I" + "IIH2x" * 10)

_Setter = Callable[[object, object], None]


def _slot_setters(cls: type) -> tuple[_Setter, ...]:
    """The setters of a frozen slotted dataclass's slots, in field order (see the module docstring: why)."""
    return tuple(cls.__dict__[f.name].__set__ for f in fields(cls))


_new = object.__new__

# Unpacked in field order: a field moved in a class without moving its name here decodes into the wrong place,
# which the oracle and round-trip tests in tests/unit/kite/test_packets.py catch.
(_L_TOKEN, _L_LTP) = _slot_setters(LtpTick)
(_IQ_TOKEN, _IQ_LTP, _IQ_HIGH, _IQ_LOW, _IQ_OPEN, _IQ_CLOSE) = _slot_setters(IndexQuoteTick)
(_IF_TOKEN, _IF_LTP, _IF_HIGH, _IF_LOW, _IF_OPEN, _IF_CLOSE, _IF_EXCHANGE_TIME) = _slot_setters(IndexFullTick)
(_Q_TOKEN, _Q_LTP, _Q_LTQ, _Q_ATP, _Q_VOLUME, _Q_BUY_QTY, _Q_SELL_QTY,
 _Q_OPEN, _Q_HIGH, _Q_LOW, _Q_CLOSE) = _slot_setters(QuoteTick)
(_F_TOKEN, _F_LTP, _F_LTQ, _F_ATP, _F_VOLUME, _F_BUY_QTY, _F_SELL_QTY, _F_OPEN, _F_HIGH, _F_LOW, _F_CLOSE,
 _F_LAST_TRADE_TIME, _F_OI, _F_OI_HIGH, _F_OI_LOW, _F_EXCHANGE_TIME,
 _F_BUY_QTYS, _F_BUY_PRICES, _F_BUY_ORDERS, _F_SELL_QTYS, _F_SELL_PRICES, _F_SELL_ORDERS) = _slot_setters(FullTick)


# The builders take an unpacked tuple whose [0] is the length prefix.
def _ltp(v: tuple[int, ...]) -> LtpTick:
    tick = _new(LtpTick)
    _L_TOKEN(tick, v[1])
    _L_LTP(tick, v[2] / _DIVISOR_BY_SEGMENT[v[1] & 0xFF])
    return tick


def _index_quote(v: tuple[int, ...]) -> IndexQuoteTick:
    d = _DIVISOR_BY_SEGMENT[v[1] & 0xFF]
    tick = _new(IndexQuoteTick)
    _IQ_TOKEN(tick, v[1])
    _IQ_LTP(tick, v[2] / d)
    _IQ_HIGH(tick, v[3] / d)
    _IQ_LOW(tick, v[4] / d)
    _IQ_OPEN(tick, v[5] / d)
    _IQ_CLOSE(tick, v[6] / d)
    return tick


def _index_full(v: tuple[int, ...]) -> IndexFullTick:
    d = _DIVISOR_BY_SEGMENT[v[1] & 0xFF]
    tick = _new(IndexFullTick)
    _IF_TOKEN(tick, v[1])
    _IF_LTP(tick, v[2] / d)
    _IF_HIGH(tick, v[3] / d)
    _IF_LOW(tick, v[4] / d)
    _IF_OPEN(tick, v[5] / d)
    _IF_CLOSE(tick, v[6] / d)
    _IF_EXCHANGE_TIME(tick, v[7])
    return tick


def _quote(v: tuple[int, ...]) -> QuoteTick:
    d = _DIVISOR_BY_SEGMENT[v[1] & 0xFF]
    tick = _new(QuoteTick)
    _Q_TOKEN(tick, v[1])
    _Q_LTP(tick, v[2] / d)
    _Q_LTQ(tick, v[3])
    _Q_ATP(tick, v[4] / d)
    _Q_VOLUME(tick, v[5])
    _Q_BUY_QTY(tick, v[6])
    _Q_SELL_QTY(tick, v[7])
    _Q_OPEN(tick, v[8] / d)
    _Q_HIGH(tick, v[9] / d)
    _Q_LOW(tick, v[10] / d)
    _Q_CLOSE(tick, v[11] / d)
    return tick


def _full(v: tuple[int, ...]) -> FullTick:
    d = _DIVISOR_BY_SEGMENT[v[1] & 0xFF]
    tick = _new(FullTick)
    _F_TOKEN(tick, v[1])
    _F_LTP(tick, v[2] / d)
    _F_LTQ(tick, v[3])
    _F_ATP(tick, v[4] / d)
    _F_VOLUME(tick, v[5])
    _F_BUY_QTY(tick, v[6])
    _F_SELL_QTY(tick, v[7])
    _F_OPEN(tick, v[8] / d)
    _F_HIGH(tick, v[9] / d)
    _F_LOW(tick, v[10] / d)
    _F_CLOSE(tick, v[11] / d)
    _F_LAST_TRADE_TIME(tick, v[12])
    _F_OI(tick, v[13])
    _F_OI_HIGH(tick, v[14])
    _F_OI_LOW(tick, v[15])
    _F_EXCHANGE_TIME(tick, v[16])
    # Depth from [17]: (quantity, price, orders) x 5 buy, then x 5 sell.
    _F_BUY_QTYS(tick, v[17:32:3])
    _F_BUY_PRICES(tick, (v[18] / d, v[21] / d, v[24] / d, v[27] / d, v[30] / d))
    _F_BUY_ORDERS(tick, v[19:32:3])
    _F_SELL_QTYS(tick, v[32:47:3])
    _F_SELL_PRICES(tick, (v[33] / d, v[36] / d, v[39] / d, v[42] / d, v[45] / d))
    _F_SELL_ORDERS(tick, v[34:47:3])
    return tick


_LAYOUTS: Final[dict[int, tuple[struct.Struct, Callable[[tuple[int, ...]], Tick]]]] = {
    8: (_LTP, _ltp),
    28: (_INDEX_QUOTE, _index_quote),
    32: (_INDEX_FULL, _index_full),
    44: (_QUOTE, _quote),
    184: (_FULL, _full),
}
HEARTBEAT_LENGTH: Final = 1


def is_heartbeat(frame: bytes | bytearray | memoryview) -> bool:
    """A 1-byte binary frame: the server's keep-alive, carrying no packets."""
    return len(frame) == HEARTBEAT_LENGTH


def decode_binary_frame(frame: bytes | bytearray | memoryview) -> tuple[Packet, ...]:
    """Every packet of one binary frame, in frame order; `()` for a heartbeat or a frame of zero packets.

    Raises `FrameDecodeError` (EMPTY, TRUNCATED or TRAILING_BYTES) when the frame's lengths do not add up; then
    nothing is returned. Pure and thread-safe, so it may run on a worker thread, off the Qt thread.
    """
    size = len(frame)
    if size == HEARTBEAT_LENGTH:
        return ()
    if size < _COUNT.size:
        raise FrameDecodeError(FrameErrorKind.EMPTY, "no packet count")
    (count,) = _COUNT.unpack_from(frame, 0)
    if count and size >= 4:
        ticks = _decode_uniform(frame, count, size)
        if ticks is not None:
            return ticks
    return _decode_packets(frame, count, size)


def _decode_uniform(frame: bytes | bytearray | memoryview, count: int, size: int) -> tuple[Tick, ...] | None:
    """The fast path: every packet has the first packet's (known) length, so the sizes alone locate them; a
    run of them is read by one `iter_unpack`. None when the frame is not like that (the general path then
    decides, and raises if need be)."""
    (length,) = _COUNT.unpack_from(frame, 2)
    layout = _LAYOUTS.get(length)
    if layout is None or size != 2 + count * (2 + length):
        return None
    unpacker, build = layout
    if count == 1:
        return (build(unpacker.unpack_from(frame, 2)),)
    rows = list(unpacker.iter_unpack(memoryview(frame)[2:]))
    # Sizes add up; each prefix must still say the same length (else the packets are not what they seem).
    if any(row[0] != length for row in rows):
        return None
    return tuple(map(build, rows))


def _decode_packets(frame: bytes | bytearray | memoryview, count: int, size: int) -> tuple[Packet, ...]:
    packets: list[Packet] = []
    append = packets.append
    position = _COUNT.size
    for index in range(count):
        if position + 2 > size:
            raise FrameDecodeError(FrameErrorKind.TRUNCATED, f"packet {index} of {count}: no length at {position}")
        (length,) = _COUNT.unpack_from(frame, position)
        end = position + 2 + length
        if end > size:
            raise FrameDecodeError(FrameErrorKind.TRUNCATED, f"packet {index} of {count}: {length} bytes declared, "
                                   f"{size - position - 2} left")
        layout = _LAYOUTS.get(length)
        if layout is None:
            append(UnknownPacket(bytes(frame[position + 2:end])))
        else:
            append(layout[1](layout[0].unpack_from(frame, position)))
        position = end
    if position != size:
        raise FrameDecodeError(FrameErrorKind.TRAILING_BYTES, f"{size - position} bytes after {count} packets")
    return tuple(packets)


# --- text frames ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdateMessage:
    """`{"type": "order", "data": {...}}`: one of the user's orders changed (from any platform). `order` is the
    order dict as sent, read-only at the top level; broker/kite's mapping turns it into our order type."""

    order: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """`{"type": "error", "data": ...}`: the server reports an error on this connection (KiteTicker calls
    `on_error(ws, 0, data)`). `data` is as sent, usually a string."""

    data: Any


@dataclass(frozen=True, slots=True)
class InfoMessage:
    """`{"type": "message", "data": ...}`: a notice from the server, for the log."""

    data: Any


@dataclass(frozen=True, slots=True)
class UnrecognisedMessage:
    """A JSON object of another `type` (or none): kept whole for the log, so a new message kind is seen, not
    dropped and not fatal."""

    message: Mapping[str, Any]


type TextMessage = OrderUpdateMessage | ErrorMessage | InfoMessage | UnrecognisedMessage


def decode_text_frame(payload: str | bytes) -> TextMessage:
    """Classify one text frame. Raises `FrameDecodeError` with NOT_JSON (not UTF-8 JSON) or MALFORMED_MESSAGE (not
    a JSON object, or an order update whose `data` is not a non-empty object)."""
    try:
        message = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise FrameDecodeError(FrameErrorKind.NOT_JSON, str(exc)) from exc
    if not isinstance(message, dict):
        raise FrameDecodeError(FrameErrorKind.MALFORMED_MESSAGE, f"a JSON {type(message).__name__}, not an object")
    kind = message.get("type")
    if kind == "order":
        order = message.get("data")
        if not isinstance(order, dict) or not order:
            raise FrameDecodeError(FrameErrorKind.MALFORMED_MESSAGE, "an order update without an order object")
        return OrderUpdateMessage(MappingProxyType(order))
    if kind == "error":
        return ErrorMessage(message.get("data"))
    if kind == "message":
        return InfoMessage(message.get("data"))
    return UnrecognisedMessage(MappingProxyType(message))
