"""Tick values -> Kite ticker frame bytes: the encoder the fake Kite server and the tests use.

The inverse of `imperium_desk.broker.kite.packets`, written from the protocol (kite-notes §1.9) and not from that
decoder or from KiteTicker: every field is laid out here with `int.to_bytes`, big-endian, at the offset the
protocol gives, so a shared mistake would have to be made twice, in two styles. Prices are turned back into integer
units by the segment's divisor (1e7 CDS, 1e4 BCD/NCO, 100 otherwise) and rounded to the nearest unit.

    encode_frame([tick, ...]) -> bytes   # uint16 count, then uint16 length + payload per packet
    HEARTBEAT                            # the 1-byte keep-alive frame
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from imperium_desk.broker.kite.packets import (
    FullTick,
    IndexFullTick,
    IndexQuoteTick,
    LtpTick,
    Packet,
    QuoteTick,
    UnknownPacket,
)

HEARTBEAT: Final = b"\x00"

_CDS: Final = 3
_BCD: Final = 6
_NCO: Final = 12
DEPTH_LEVELS: Final = 5


def units_per_rupee(instrument_token: int) -> int:
    """How many integer units make one unit of price for this token's segment."""
    segment = instrument_token % 256
    if segment == _CDS:
        return 10_000_000
    if segment in (_BCD, _NCO):
        return 10_000
    return 100


def price_units(price: float, instrument_token: int) -> int:
    """A price as the integer the wire carries."""
    return round(price * units_per_rupee(instrument_token))


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")  # OverflowError for a value no packet can carry


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _prices(token: int, *prices: float) -> bytes:
    return b"".join(_u32(price_units(p, token)) for p in prices)


def encode_packet(packet: Packet) -> bytes:
    """One packet's payload (no length prefix)."""
    match packet:
        case LtpTick(instrument_token=token):
            return _u32(token) + _prices(token, packet.last_price)
        case IndexQuoteTick(instrument_token=token) | IndexFullTick(instrument_token=token):
            body = _u32(token) + _prices(token, packet.last_price, packet.high, packet.low, packet.open, packet.close)
            # Bytes 24-28 carry the exchange's own net change (units, two's complement); decoders recompute it
            # from the close, so only its width matters.
            net_change = price_units(packet.last_price, token) - price_units(packet.close, token)
            body += _u32(net_change % 2**32)
            if isinstance(packet, IndexFullTick):
                body += _u32(packet.exchange_epoch_s)
            return body
        case QuoteTick(instrument_token=token):
            return _quote_part(packet, token)
        case FullTick(instrument_token=token):
            return _quote_part(packet, token) + _full_part(packet, token)
        case UnknownPacket(payload=payload):
            return payload
    raise TypeError(f"not a packet: {packet!r}")


def _quote_part(tick: QuoteTick | FullTick, token: int) -> bytes:
    return b"".join((
        _u32(token),
        _prices(token, tick.last_price),
        _u32(tick.last_traded_quantity),
        _prices(token, tick.average_traded_price),
        _u32(tick.volume_traded),
        _u32(tick.total_buy_quantity),
        _u32(tick.total_sell_quantity),
        _prices(token, tick.open, tick.high, tick.low, tick.close),
    ))


def _full_part(tick: FullTick, token: int) -> bytes:
    head = b"".join((
        _u32(tick.last_trade_epoch_s), _u32(tick.oi), _u32(tick.oi_day_high), _u32(tick.oi_day_low),
        _u32(tick.exchange_epoch_s),
    ))
    sides = (
        (tick.buy_quantities, tick.buy_prices, tick.buy_orders),
        (tick.sell_quantities, tick.sell_prices, tick.sell_orders),
    )
    levels = []
    for quantities, prices, orders in sides:
        if not len(quantities) == len(prices) == len(orders) == DEPTH_LEVELS:
            raise ValueError(f"a full packet carries {DEPTH_LEVELS} depth levels a side")
        for quantity, price, order_count in zip(quantities, prices, orders, strict=True):
            levels.append(_u32(quantity) + _prices(token, price) + _u16(order_count) + b"\x00\x00")
    return head + b"".join(levels)


def encode_frame(packets: Iterable[Packet]) -> bytes:
    """A binary frame carrying the packets in order (no packets: a 2-byte frame with count 0)."""
    payloads = [encode_packet(p) for p in packets]
    return _u16(len(payloads)) + b"".join(_u16(len(p)) + p for p in payloads)
