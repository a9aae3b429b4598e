"""The tick decoder against KiteTicker's own parser (the oracle), our encoder, and frames we wrote by hand.

KiteTicker is constructed but never connected: `_parse_binary` is pure, and Twisted's reactor is never started.
Its times are naive local datetimes; ours are epoch seconds, compared through the same `datetime.fromtimestamp`.
"""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiteconnect import KiteTicker  # type: ignore[import-untyped, unused-ignore]

from imperium_desk.broker.kite.packets import (
    DepthLevel,
    ErrorMessage,
    FrameDecodeError,
    FrameErrorKind,
    FullTick,
    IndexFullTick,
    IndexQuoteTick,
    InfoMessage,
    LtpTick,
    OrderUpdateMessage,
    QuoteTick,
    Segment,
    Tick,
    TickMode,
    UnknownPacket,
    UnrecognisedMessage,
    decode_binary_frame,
    decode_text_frame,
    is_heartbeat,
)
from tests.fake_kite.packets import HEARTBEAT, encode_frame, units_per_rupee

ORACLE = KiteTicker("api_key", "access_token")
REPO_ROOT = Path(__file__).resolve().parents[3]
ORACLE_SETTINGS = settings(deadline=None, max_examples=150)

NFO_OPTION = (48_000 << 8) | Segment.NFO  # 12_288_002
BFO_OPTION = (91_234 << 8) | Segment.BFO
CDS_FUTURE = (1_500 << 8) | Segment.CDS
BCD_FUTURE = (2_001 << 8) | Segment.BCD
NCO_FUTURE = (7_777 << 8) | Segment.NCO
NIFTY_50 = 256_265  # segment 9: an index
TOKENS = {"NFO": NFO_OPTION, "BFO": BFO_OPTION, "CDS": CDS_FUTURE, "BCD": BCD_FUTURE, "NCO": NCO_FUTURE,
          "INDICES": NIFTY_50}
PACKET_LENGTHS = (8, 28, 32, 44, 184)
PACKET_TYPES = (LtpTick, IndexQuoteTick, IndexFullTick, QuoteTick, FullTick, UnknownPacket)

# --- golden frames, written field by field from the protocol (not copied from kiteconnect-mocks) -------------------

GOLDEN_FULL_NFO = bytes.fromhex(
    "0001"  # one packet
    "00b8"  # of 184 bytes
    "00bb8002"  # token 12_288_002: segment 2 (NFO)
    "00003ba1"  # last price 15265 paise
    "0000004b"  # last traded quantity 75
    "00003aa2"  # average traded price 15010
    "0012d644"  # volume 1_234_500
    "00017f7f"  # total buy quantity 98_175
    "0001d682"  # total sell quantity 120_450
    "000036b0" "00004088" "00003331" "000039ee"  # open 14000, high 16520, low 13105, close 14830
    "6b162bbb"  # last trade time 1_796_615_099 (2026-12-07 03:44:59 UTC)
    "0044da2c" "004630c0" "004323b2"  # OI 4_512_300, OI day high 4_600_000, OI day low 4_400_050
    "6b162bbc"  # exchange time 1_796_615_100 (03:45:00 UTC = 09:15:00 IST)
    # depth: quantity, price, orders, 2 bytes padding; 5 buy levels, then 5 sell levels
    "0000004b00003b9c00010000" "0000009600003b9700020000" "000000e100003b9200030000"
    "0000012c00003b8d00040000" "0000017700003b8800050000"
    "0000004b00003ba600010000" "0000009600003bab00020000" "000000e100003bb000030000"
    "0000012c00003bb500040000" "0000017700003bba00050000"
)
GOLDEN_FULL_NFO_TICK = FullTick(
    instrument_token=12_288_002, last_price=152.65, last_traded_quantity=75, average_traded_price=150.10,
    volume_traded=1_234_500, total_buy_quantity=98_175, total_sell_quantity=120_450,
    open=140.00, high=165.20, low=131.05, close=148.30,
    last_trade_epoch_s=1_796_615_099, oi=4_512_300, oi_day_high=4_600_000, oi_day_low=4_400_050,
    exchange_epoch_s=1_796_615_100,
    buy_quantities=(75, 150, 225, 300, 375), buy_prices=(152.60, 152.55, 152.50, 152.45, 152.40),
    buy_orders=(1, 2, 3, 4, 5),
    sell_quantities=(75, 150, 225, 300, 375), sell_prices=(152.70, 152.75, 152.80, 152.85, 152.90),
    sell_orders=(1, 2, 3, 4, 5),
)
GOLDEN_INDEX_FULL_AND_CDS_LTP = bytes.fromhex(
    "0002"  # two packets
    "0020"  # 32 bytes: an index in full mode
    "0003e909"  # token 256_265: segment 9 (indices)
    "00256723" "0025896a" "00253d7f" "00254ec8" "00256246"  # ltp 24512.35, high, low, open, close 24499.90
    "000004dd"  # the exchange's net change (not read)
    "6b162bbc"  # exchange time 1_796_615_100
    "0008"  # 8 bytes: LTP
    "0005dc03"  # token 384_003: segment 3 (CDS)
    "32243887"  # ltp 841_234_567 units of 1e-7
)
GOLDEN_INDEX_FULL_AND_CDS_LTP_TICKS = (
    IndexFullTick(instrument_token=256_265, last_price=24512.35, high=24600.10, low=24405.75, open=24450.00,
                  close=24499.90, exchange_epoch_s=1_796_615_100),
    LtpTick(instrument_token=384_003, last_price=84.1234567),
)


# --- KiteTicker's dict shape for our values ---------------------------------------------------------------------------


def local_naive(epoch_s: int) -> datetime:
    """The time as KiteTicker gives it: naive, in the machine's zone."""
    return datetime.fromtimestamp(epoch_s)


def kite_shape(packet: Tick) -> dict[str, Any]:
    shaped: dict[str, Any] = {"tradable": packet.tradable, "mode": packet.mode,
                              "instrument_token": packet.instrument_token, "last_price": packet.last_price}
    if isinstance(packet, IndexQuoteTick | IndexFullTick):
        shaped["ohlc"] = {"high": packet.high, "low": packet.low, "open": packet.open, "close": packet.close}
        shaped["change"] = packet.change
        if isinstance(packet, IndexFullTick):
            shaped["exchange_timestamp"] = local_naive(packet.exchange_epoch_s)
    elif isinstance(packet, QuoteTick | FullTick):
        shaped.update(
            last_traded_quantity=packet.last_traded_quantity, average_traded_price=packet.average_traded_price,
            volume_traded=packet.volume_traded, total_buy_quantity=packet.total_buy_quantity,
            total_sell_quantity=packet.total_sell_quantity,
            ohlc={"open": packet.open, "high": packet.high, "low": packet.low, "close": packet.close},
            change=packet.change,
        )
        if isinstance(packet, FullTick):
            shaped.update(
                last_trade_time=local_naive(packet.last_trade_epoch_s), oi=packet.oi,
                oi_day_high=packet.oi_day_high, oi_day_low=packet.oi_day_low,
                exchange_timestamp=local_naive(packet.exchange_epoch_s),
                depth={side: [dataclasses.asdict(level) for level in levels]
                       for side, levels in (("buy", packet.buy_depth()), ("sell", packet.sell_depth()))},
            )
    return shaped


def oracle(frame: bytes) -> list[dict[str, Any]]:
    return ORACLE._parse_binary(frame)  # type: ignore[no-any-return]


def decode_one(frame: bytes) -> Tick:
    (packet,) = decode_binary_frame(frame)
    assert not isinstance(packet, UnknownPacket)
    return packet


def ours_as_kite(frame: bytes) -> list[dict[str, Any]]:
    """Our decode, shaped as KiteTicker's; unknown packets dropped, as KiteTicker drops them."""
    return [kite_shape(p) for p in decode_binary_frame(frame) if not isinstance(p, UnknownPacket)]


# --- values and frames ------------------------------------------------------------------------------------------------


def sample_tick(kind: int, token: int, step: int = 0) -> Tick:
    """A plausible tick of packet length `kind`, prices on whole units of the token's segment."""
    units = units_per_rupee(token)
    base = 150 * units if units == 100 else 84 * units  # an option premium; a currency rate

    def price(offset: int) -> float:
        return (base + offset + step) / units
    if kind == 8:
        return LtpTick(token, price(65))
    if kind in (28, 32):
        ohlc = (price(500), price(-700), price(-100), price(-30))
        if kind == 28:
            return IndexQuoteTick(token, price(65), *ohlc)
        return IndexFullTick(token, price(65), *ohlc, exchange_epoch_s=1_796_615_100 + step)
    quote = (token, price(65), 75, price(10), 1_234_500 + step, 98_175, 120_450,
             price(-100), price(500), price(-700), price(-30))
    if kind == 44:
        return QuoteTick(*quote)
    return FullTick(
        *quote, last_trade_epoch_s=1_796_615_099, oi=4_512_300, oi_day_high=4_600_000, oi_day_low=4_400_050,
        exchange_epoch_s=1_796_615_100 + step,
        buy_quantities=(75, 150, 225, 300, 375), buy_prices=tuple(price(60 - 5 * i) for i in range(5)),
        buy_orders=(1, 2, 3, 4, 5),
        sell_quantities=(50, 100, 150, 200, 250), sell_prices=tuple(price(70 + 5 * i) for i in range(5)),
        sell_orders=(5, 4, 3, 2, 1),
    )


def tokens_for(segment: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**24 - 1).map(lambda high: high << 8 | segment)


TOKEN = st.one_of(
    st.sampled_from([int(s) for s in Segment]).flatmap(tokens_for),
    st.integers(0, 2**32 - 1),  # any segment, named or not
)
U32 = st.integers(0, 2**32 - 1)
U16 = st.integers(0, 2**16 - 1)


@st.composite
def raw_payloads(draw: st.DrawFn, length: int | None = None) -> bytes:
    """A packet payload of a known length: a token, then any bytes (every u32 value is a legal field)."""
    size = draw(st.sampled_from(PACKET_LENGTHS)) if length is None else length
    return struct.pack(">I", draw(TOKEN)) + draw(st.binary(min_size=size - 4, max_size=size - 4))


def frame_of(payloads: list[bytes]) -> bytes:
    return struct.pack(">H", len(payloads)) + b"".join(struct.pack(">H", len(p)) + p for p in payloads)


@st.composite
def ticks(draw: st.DrawFn) -> Tick:
    """A tick whose prices are whole wire units, so encoding loses nothing."""
    token = draw(TOKEN)
    units = units_per_rupee(token)

    def price() -> float:
        return draw(U32) / units

    kind = draw(st.sampled_from(PACKET_LENGTHS))
    if kind == 8:
        return LtpTick(token, price())
    if kind in (28, 32):
        ohlc = (price(), price(), price(), price(), price())
        return IndexQuoteTick(token, *ohlc) if kind == 28 else IndexFullTick(token, *ohlc, draw(U32))
    quote = (token, price(), draw(U32), price(), draw(U32), draw(U32), draw(U32), price(), price(), price(), price())
    if kind == 44:
        return QuoteTick(*quote)
    five_u32 = st.tuples(U32, U32, U32, U32, U32)
    five_u16 = st.tuples(U16, U16, U16, U16, U16)
    return FullTick(*quote, draw(U32), draw(U32), draw(U32), draw(U32), draw(U32),
                    draw(five_u32), tuple(price() for _ in range(5)), draw(five_u16),
                    draw(five_u32), tuple(price() for _ in range(5)), draw(five_u16))


# --- golden frames ----------------------------------------------------------------------------------------------------


def test_golden_full_packet_decodes_to_the_values_written_in_it() -> None:
    assert decode_binary_frame(GOLDEN_FULL_NFO) == (GOLDEN_FULL_NFO_TICK,)


def test_golden_index_and_currency_frame_decodes_to_the_values_written_in_it() -> None:
    assert decode_binary_frame(GOLDEN_INDEX_FULL_AND_CDS_LTP) == GOLDEN_INDEX_FULL_AND_CDS_LTP_TICKS


@pytest.mark.parametrize("frame", [GOLDEN_FULL_NFO, GOLDEN_INDEX_FULL_AND_CDS_LTP], ids=["full_nfo", "index_cds"])
def test_golden_frames_decode_as_kiteticker_decodes_them(frame: bytes) -> None:
    assert ours_as_kite(frame) == oracle(frame)


def test_encoder_writes_the_golden_frames_byte_for_byte() -> None:
    assert encode_frame([GOLDEN_FULL_NFO_TICK]) == GOLDEN_FULL_NFO
    assert encode_frame(GOLDEN_INDEX_FULL_AND_CDS_LTP_TICKS) == GOLDEN_INDEX_FULL_AND_CDS_LTP


# --- the oracle, per packet kind and segment -------------------------------------------------------------------------


@pytest.mark.parametrize("segment", sorted(TOKENS))
@pytest.mark.parametrize("length", PACKET_LENGTHS)
def test_every_packet_kind_in_every_segment_matches_kiteticker(segment: str, length: int) -> None:
    frame = encode_frame([sample_tick(length, TOKENS[segment])])
    assert ours_as_kite(frame) == oracle(frame)


def test_a_mixed_frame_matches_kiteticker_in_frame_order() -> None:
    packets = [sample_tick(length, token, step) for step, (length, token)
               in enumerate((length, token) for token in TOKENS.values() for length in PACKET_LENGTHS)]
    frame = encode_frame(packets)
    assert decode_binary_frame(frame) == tuple(packets)
    assert ours_as_kite(frame) == oracle(frame)


@pytest.mark.parametrize("length", PACKET_LENGTHS)
def test_a_frame_of_fifty_equal_packets_matches_kiteticker(length: int) -> None:
    packets = [sample_tick(length, NFO_OPTION + (step << 8), step) for step in range(50)]
    frame = encode_frame(packets)
    assert decode_binary_frame(frame) == tuple(packets)
    assert ours_as_kite(frame) == oracle(frame)


@ORACLE_SETTINGS
@given(st.lists(raw_payloads(), min_size=1, max_size=8))
def test_random_frames_decode_as_kiteticker_decodes_them(payloads: list[bytes]) -> None:
    frame = frame_of(payloads)
    assert ours_as_kite(frame) == oracle(frame)


@ORACLE_SETTINGS
@given(st.sampled_from(PACKET_LENGTHS).flatmap(lambda n: st.lists(raw_payloads(n), min_size=2, max_size=6)))
def test_random_frames_of_equal_packets_decode_as_kiteticker_decodes_them(payloads: list[bytes]) -> None:
    frame = frame_of(payloads)
    assert ours_as_kite(frame) == oracle(frame)


@ORACLE_SETTINGS
@given(st.lists(ticks(), max_size=6))
def test_encoded_ticks_decode_to_the_same_values(values: list[Tick]) -> None:
    assert decode_binary_frame(encode_frame(values)) == tuple(values)


# --- what the values say ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("segment", "tradable"), [("NFO", True), ("BFO", True), ("CDS", True), ("INDICES", False)])
def test_only_index_tokens_are_not_tradable(segment: str, tradable: bool) -> None:
    tick = decode_one(encode_frame([sample_tick(44, TOKENS[segment])]))
    assert tick.tradable is tradable


@pytest.mark.parametrize(("length", "mode"), [(8, TickMode.LTP), (28, TickMode.QUOTE), (32, TickMode.FULL),
                                              (44, TickMode.QUOTE), (184, TickMode.FULL)])
def test_each_packet_length_reports_its_mode(length: int, mode: TickMode) -> None:
    tick = decode_one(encode_frame([sample_tick(length, NFO_OPTION)]))
    assert tick.mode is mode


def test_segment_is_the_low_byte_of_the_token() -> None:
    tick = decode_one(encode_frame([sample_tick(8, BFO_OPTION)]))
    assert tick.segment == Segment.BFO


def test_change_is_zero_when_there_is_no_close() -> None:
    tick = dataclasses.replace(GOLDEN_FULL_NFO_TICK, close=0.0)
    (decoded,) = decode_binary_frame(encode_frame([tick]))
    assert isinstance(decoded, FullTick)
    assert decoded.change == 0.0


def test_depth_levels_pair_each_price_with_its_quantity_and_orders() -> None:
    assert GOLDEN_FULL_NFO_TICK.buy_depth()[0] == DepthLevel(quantity=75, price=152.60, orders=1)
    assert GOLDEN_FULL_NFO_TICK.sell_depth()[4] == DepthLevel(quantity=375, price=152.90, orders=5)


def test_decoded_ticks_are_immutable() -> None:
    tick = decode_one(GOLDEN_FULL_NFO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tick.last_price = 0.0  # type: ignore[misc]


@pytest.fixture
def india_time_zone() -> Iterator[None]:
    """The machine's zone set to IST for one test (KiteTicker's times would move 5 h 30; ours must not)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("india_time_zone")
def test_times_are_utc_whatever_the_machine_time_zone() -> None:
    (tick,) = decode_binary_frame(GOLDEN_FULL_NFO)
    assert isinstance(tick, FullTick)
    assert tick.exchange_timestamp == datetime(2026, 12, 7, 3, 45, tzinfo=UTC)
    assert tick.exchange_timestamp.utcoffset() == timedelta(0)
    assert tick.last_trade_time == datetime(2026, 12, 7, 3, 44, 59, tzinfo=UTC)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_any_bytes_like_frame_decodes(wrap: type) -> None:
    assert decode_binary_frame(wrap(GOLDEN_INDEX_FULL_AND_CDS_LTP)) == GOLDEN_INDEX_FULL_AND_CDS_LTP_TICKS


def test_the_decoder_loads_without_the_kite_client() -> None:
    # The contract lets broker/kite/ import kiteconnect; this module must not need it (nor Twisted's reactor).
    probe = ("import sys, imperium_desk.broker.kite.packets, tests.fake_kite.packets; "
             "print(sorted({'kiteconnect', 'twisted', 'autobahn'} & {m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# --- heartbeats, unknown packets and broken frames --------------------------------------------------------------------


def test_a_one_byte_frame_is_a_heartbeat_with_no_packets() -> None:
    assert is_heartbeat(HEARTBEAT)
    assert decode_binary_frame(HEARTBEAT) == ()


def test_a_frame_of_zero_packets_decodes_to_nothing() -> None:
    assert decode_binary_frame(encode_frame([])) == ()


def test_a_packet_of_unknown_length_is_kept_raw_and_its_neighbours_decode() -> None:
    odd = UnknownPacket(bytes(range(12)))  # 12 bytes: no packet kind has that length
    ltp, quote = sample_tick(8, NFO_OPTION), sample_tick(44, BFO_OPTION)
    frame = encode_frame([ltp, odd, quote])
    assert decode_binary_frame(frame) == (ltp, odd, quote)
    assert ours_as_kite(frame) == oracle(frame)


def test_an_empty_frame_is_an_error() -> None:
    with pytest.raises(FrameDecodeError) as caught:
        decode_binary_frame(b"")
    assert caught.value.kind is FrameErrorKind.EMPTY


def test_every_cut_short_frame_is_truncated_and_yields_nothing() -> None:
    frame = encode_frame([sample_tick(184, NFO_OPTION), sample_tick(8, CDS_FUTURE), sample_tick(32, NIFTY_50)])
    for cut in range(2, len(frame)):
        with pytest.raises(FrameDecodeError) as caught:
            decode_binary_frame(frame[:cut])
        assert caught.value.kind is FrameErrorKind.TRUNCATED, cut


@pytest.mark.parametrize("packets", [1, 50])
def test_bytes_after_the_declared_packets_are_an_error(packets: int) -> None:
    frame = encode_frame([sample_tick(184, NFO_OPTION)] * packets) + b"\x00\x00"
    with pytest.raises(FrameDecodeError) as caught:
        decode_binary_frame(frame)
    assert caught.value.kind is FrameErrorKind.TRAILING_BYTES


def test_equal_sizes_with_another_length_prefix_are_not_read_as_equal_packets() -> None:
    # 2 + (2 + 8) + (2 + 0) + 8 bytes: the size of two LTP packets, but the second says it is empty.
    frame = encode_frame([sample_tick(8, NFO_OPTION), UnknownPacket(b"")]) + bytes(8)
    with pytest.raises(FrameDecodeError) as caught:
        decode_binary_frame(frame)
    assert caught.value.kind is FrameErrorKind.TRAILING_BYTES


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_decodes_or_raises_frame_decode_error_only(frame: bytes) -> None:
    try:
        packets = decode_binary_frame(frame)
    except FrameDecodeError as exc:
        assert isinstance(exc.kind, FrameErrorKind)
    else:
        assert all(isinstance(p, PACKET_TYPES) for p in packets)


# --- text frames ------------------------------------------------------------------------------------------------------


def test_an_order_update_carries_the_order_as_sent() -> None:
    message = decode_text_frame('{"type": "order", "data": {"order_id": "151220000000000", "status": "COMPLETE",'
                                ' "tag": "P000001C0", "filled_quantity": 75}}')
    assert isinstance(message, OrderUpdateMessage)
    assert dict(message.order) == {"order_id": "151220000000000", "status": "COMPLETE", "tag": "P000001C0",
                                   "filled_quantity": 75}


def test_an_order_update_cannot_be_changed_by_its_reader() -> None:
    message = decode_text_frame(b'{"type": "order", "data": {"status": "OPEN"}}')
    assert isinstance(message, OrderUpdateMessage)
    with pytest.raises(TypeError):
        message.order["status"] = "COMPLETE"  # type: ignore[index]


def test_an_error_frame_is_an_error_message() -> None:
    assert decode_text_frame('{"type": "error", "data": "Invalid mode"}') == ErrorMessage("Invalid mode")


def test_a_message_frame_is_an_info_message() -> None:
    assert decode_text_frame('{"type": "message", "data": "Welcome"}') == InfoMessage("Welcome")


def test_an_object_of_another_type_is_kept_whole() -> None:
    message = decode_text_frame('{"type": "instruments_meta", "data": {"count": 3}}')
    assert isinstance(message, UnrecognisedMessage)
    assert dict(message.message) == {"type": "instruments_meta", "data": {"count": 3}}


@pytest.mark.parametrize("payload", ["not json", b"\xff\xfe{", ""], ids=["text", "not_utf8", "empty"])
def test_a_text_frame_that_is_not_json_is_an_error(payload: str | bytes) -> None:
    with pytest.raises(FrameDecodeError) as caught:
        decode_text_frame(payload)
    assert caught.value.kind is FrameErrorKind.NOT_JSON


@pytest.mark.parametrize("payload", ['["order"]', '{"type": "order"}', '{"type": "order", "data": {}}',
                                     '{"type": "order", "data": "COMPLETE"}'],
                         ids=["array", "no_data", "empty_order", "string_order"])
def test_json_that_is_not_a_message_or_an_order_update_without_an_order_is_malformed(payload: str) -> None:
    with pytest.raises(FrameDecodeError) as caught:
        decode_text_frame(payload)
    assert caught.value.kind is FrameErrorKind.MALFORMED_MESSAGE
