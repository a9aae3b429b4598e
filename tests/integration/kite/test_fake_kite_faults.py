"""The fake Kite's own knobs: rate limit and write records, injected faults, token expiry, the ticker's protocol and
its faults, and a moving market behind the orders. Plain HTTP/websocket clients here (aiohttp, the official REST
client); the official KiteTicker is exercised in test_official_client.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp
import pytest
from kiteconnect import KiteConnect  # type: ignore[import-untyped]
from kiteconnect import exceptions as kex

from imperium_desk.broker.kite.market import INDEX_INSTRUMENTS
from imperium_desk.broker.kite.packets import (
    FullTick,
    IndexFullTick,
    IndexQuoteTick,
    LtpTick,
    decode_binary_frame,
    is_heartbeat,
)
from imperium_desk.domain.instruments import IST
from tests.fake_kite.faults import Fault, FaultKind, Route
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig, WriteOutcome
from tests.integration.kite.conftest import official_client

MakeKite = Callable[[FakeKiteConfig], FakeKite]
RECEIVE_TIMEOUT_S = 5.0


def _limit(client: KiteConnect, row: InstrumentRow, tag: str, price: float | None = None) -> str:
    return str(client.place_order(
        "regular", row.exchange, row.tradingsymbol, "BUY", row.contract.lot_size, "NRML", "LIMIT",
        price=price if price is not None else row.contract.tick_size, tag=tag,
    ))


# -- rate limit and records ----------------------------------------------------------------------------------------
def test_eleventh_order_within_a_second_is_throttled_and_recorded(
    fake_kite: FakeKite, kite_client: KiteConnect
) -> None:
    row = fake_kite.instrument("NIFTY")
    for n in range(10):
        _limit(kite_client, row, f"rate{n}")
    with pytest.raises(kex.NetworkException) as raised:
        _limit(kite_client, row, "rate10")
    assert raised.value.code == 429
    assert [w.outcome for w in fake_kite.order_writes(Route.PLACE)][-1] is WriteOutcome.THROTTLED
    assert fake_kite.max_writes_in_window(Route.PLACE, outcomes=[WriteOutcome.ACCEPTED]) == 10
    assert fake_kite.max_writes_in_window(Route.PLACE) == 11


def test_modify_and_cancel_share_the_order_write_limit(make_fake_kite: MakeKite) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=2))
    client, row = official_client(kite), kite.instrument("NIFTY")
    order_id = _limit(client, row, "share1")
    client.modify_order("regular", order_id, price=2 * row.contract.tick_size)
    with pytest.raises(kex.NetworkException):
        client.cancel_order("regular", order_id)


def test_writes_record_the_tag_of_the_order_they_act_on(make_fake_kite: MakeKite) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=None))
    client, row = official_client(kite), kite.instrument("NIFTY")
    order_id = _limit(client, row, "rec1")
    client.cancel_order("regular", order_id)
    assert [(w.route, w.tag, w.order_id) for w in kite.order_writes()] == [
        ("order.place", "rec1", order_id), ("order.cancel", "rec1", order_id),
    ]


def test_duplicate_tags_reports_a_tag_placed_twice(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    _limit(kite_client, row, "dup1")
    _limit(kite_client, row, "dup1")
    _limit(kite_client, row, "once1")
    assert fake_kite.duplicate_tags() == {"dup1": 2}


def test_refused_order_is_recorded_but_not_booked(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    with pytest.raises(kex.InputException):
        kite_client.place_order("regular", "NFO", row.tradingsymbol, "BUY", row.contract.lot_size, "NRML", "MARKET",
                                tag="nomp2")
    assert [w.outcome for w in fake_kite.order_writes()] == [WriteOutcome.REFUSED]
    assert fake_kite.orders() == []


# -- injected faults ---------------------------------------------------------------------------------------------
def test_storm_refuses_the_next_calls_then_lets_them_through(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    fake_kite.faults.storm(Route.PLACE, 2)
    codes = []
    for n in range(2):
        with pytest.raises(kex.NetworkException) as raised:
            _limit(kite_client, row, f"storm{n}")
        codes.append(raised.value.code)
    _limit(kite_client, row, "storm2")
    assert codes == [429, 429]
    assert [o["tag"] for o in fake_kite.orders()] == ["storm2"]


def test_skip_lets_the_earlier_calls_through(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.ORDERS, Fault.error(503, "NetworkException", "OMS unreachable"), skip=1)
    kite_client.orders()
    with pytest.raises(kex.NetworkException) as raised:
        kite_client.orders()
    assert raised.value.code == 503
    assert [(h.route, h.call, h.fault.kind) for h in fake_kite.faults.hits()] == [(Route.ORDERS, 2, FaultKind.ERROR)]


def test_html_502_after_creation_leaves_the_order_in_the_book(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.PLACE, Fault.html(502, after=True))
    with pytest.raises(kex.DataException):
        _limit(kite_client, fake_kite.instrument("NIFTY"), "html1")
    assert [o["tag"] for o in fake_kite.orders()] == ["html1"]
    assert [w.outcome for w in fake_kite.order_writes()] == [WriteOutcome.FAULTED]


def test_error_before_acting_places_nothing(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.PLACE, Fault.error(500, "OrderException", "OMS error"))
    with pytest.raises(kex.OrderException):
        _limit(kite_client, fake_kite.instrument("NIFTY"), "oms1")
    assert fake_kite.orders() == []


# -- session expiry ----------------------------------------------------------------------------------------------
def test_access_token_dies_at_0600_ist_on_the_injected_wall_clock(make_fake_kite: MakeKite) -> None:
    now = [datetime(2026, 12, 7, 10, 0, tzinfo=IST).timestamp()]
    kite = make_fake_kite(FakeKiteConfig(wall_time=lambda: now[0]))
    client = official_client(kite)
    now[0] = datetime(2026, 12, 8, 5, 59, 59, tzinfo=IST).timestamp()
    client.profile()
    now[0] = datetime(2026, 12, 8, 6, 0, 0, tzinfo=IST).timestamp()
    with pytest.raises(kex.TokenException):
        client.profile()


def test_new_session_works_after_the_old_token_expired(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.expire_token()
    kite_client.generate_session(fake_kite.request_token, fake_kite.api_secret)
    assert kite_client.profile()["user_id"] == fake_kite.config.user_id


def test_missing_version_header_is_refused_with_input_exception(fake_kite: FakeKite) -> None:
    async def main() -> int:
        headers = {"Authorization": f"token {fake_kite.api_key}:{fake_kite.access_token}"}
        async with aiohttp.ClientSession() as http, http.get(f"{fake_kite.root}/orders", headers=headers) as r:
            body = await r.json()
            assert body["error_type"] == "InputException"
            return r.status

    assert asyncio.run(main()) == 400


# -- async use -----------------------------------------------------------------------------------------------------
def test_async_code_uses_the_fake_from_its_own_event_loop(fake_kite: FakeKite) -> None:
    async def main() -> list[str]:
        headers = {"X-Kite-Version": "3", "Authorization": f"token {fake_kite.api_key}:{fake_kite.access_token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            answers = await asyncio.gather(*(http.get(f"{fake_kite.root}/user/profile") for _ in range(3)))
            return [(await a.json())["data"]["user_id"] for a in answers]

    assert asyncio.run(main()) == [fake_kite.config.user_id] * 3


# -- the market behind the orders --------------------------------------------------------------------------------
def test_resting_limit_fills_when_the_market_moves_through_it(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY", steps=0)
    bid = fake_kite.call(lambda a: a.quote(row).bid)
    order_id = _limit(kite_client, row, "rest1", price=bid)
    fake_kite.call(lambda a: a.market.jump("NIFTY", -3.0))  # calls fall: the ask comes down through the bid
    orders = fake_kite.wait_for_orders(
        lambda os: any(o["order_id"] == order_id and o["status"] == "COMPLETE" for o in os)
    )
    assert next(o for o in orders if o["order_id"] == order_id)["average_price"] == pytest.approx(bid)


# -- ticker ------------------------------------------------------------------------------------------------------
def _ws_url(kite: FakeKite, token: str | None = None) -> str:
    return f"{kite.ws_root}?api_key={kite.api_key}&access_token={token or kite.access_token}"


async def _next_binary(ws: aiohttp.ClientWebSocketResponse, *, heartbeats: bool = False) -> bytes:
    while True:
        msg = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if msg.type is aiohttp.WSMsgType.BINARY and (heartbeats or not is_heartbeat(msg.data)):
            return bytes(msg.data)
        if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            raise ConnectionError(f"ticker connection ended: {msg.type}")


def test_ticker_sends_packets_of_the_subscribed_mode(fake_kite: FakeKite) -> None:
    token = fake_kite.instrument("NIFTY").instrument_token

    async def main() -> tuple[object, object]:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            await ws.send_json({"a": "subscribe", "v": [token]})
            await ws.send_json({"a": "mode", "v": ["ltp", [token]]})
            ltp = await _until(ws, lambda p: isinstance(p, LtpTick))
            await ws.send_json({"a": "mode", "v": ["full", [token]]})
            full = await _until(ws, lambda p: isinstance(p, FullTick))
            return ltp, full

    ltp, full = asyncio.run(main())
    assert isinstance(ltp, LtpTick) and ltp.instrument_token == token
    assert isinstance(full, FullTick) and full.instrument_token == token


async def _until(ws: aiohttp.ClientWebSocketResponse, predicate: Callable[[object], bool]) -> object:
    while True:
        for packet in decode_binary_frame(await _next_binary(ws)):
            if predicate(packet):
                return packet


def test_ticker_sends_heartbeats_when_idle(make_fake_kite: MakeKite) -> None:
    kite = make_fake_kite(FakeKiteConfig(heartbeat_s=0.05))

    async def main() -> bytes:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(kite)) as ws:
            return await _next_binary(ws, heartbeats=True)

    assert is_heartbeat(asyncio.run(main()))


def test_ticker_pushes_an_external_order_as_a_text_update(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument("NIFTY")

    async def main() -> dict[str, object]:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            fake_kite.wait_for_ws(lambda subs: len(subs) == 1)
            await asyncio.to_thread(fake_kite.place_external, row.tradingsymbol, "BUY", row.contract.lot_size)
            while True:
                msg = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
                if msg.type is aiohttp.WSMsgType.TEXT:
                    body: dict[str, object] = msg.json()
                    return body

    update = asyncio.run(main())
    assert update["type"] == "order"
    data = update["data"]
    assert isinstance(data, dict) and data["tag"] is None and data["placed_by"] == "WEB"


def test_ticker_handshake_with_a_bad_token_is_refused_with_403(fake_kite: FakeKite) -> None:
    async def main() -> int:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(_ws_url(fake_kite, "not-a-token")):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(main()) == 403


def test_ticker_refuses_a_fourth_connection_with_429(fake_kite: FakeKite) -> None:
    async def main() -> int:
        async with aiohttp.ClientSession() as http:
            open_sockets = [await http.ws_connect(_ws_url(fake_kite)) for _ in range(3)]
            try:
                async with http.ws_connect(_ws_url(fake_kite)):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
            finally:
                for ws in open_sockets:
                    await ws.close()

    assert asyncio.run(main()) == 429


def test_dropped_ticker_connection_ends_without_a_close_frame(fake_kite: FakeKite) -> None:
    async def main() -> aiohttp.WSMsgType:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            fake_kite.wait_for_ws(lambda subs: len(subs) == 1)
            assert await asyncio.to_thread(fake_kite.drop_ws) == 1
            while True:
                msg = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
                if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    return msg.type

    assert asyncio.run(main()) in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


NIFTY_INDEX = INDEX_INSTRUMENTS["NIFTY"].instrument_token
IndexPacket = LtpTick | IndexQuoteTick | IndexFullTick  # what an index sends in ltp, quote and full mode


def _still_spot(kite: FakeKite, underlying: str) -> float:
    """Stop the fake's market and return `underlying`'s spot to the paisa (what its index then quotes)."""
    kite.call(lambda account: account.market.stop())
    return kite.call(lambda account: round(account.market.spot(underlying), 2))


def _is_index(packet: object) -> bool:
    return isinstance(packet, IndexPacket) and packet.instrument_token == NIFTY_INDEX


@pytest.mark.parametrize(("mode", "kind"), [("ltp", LtpTick), ("quote", IndexQuoteTick), ("full", IndexFullTick)])
def test_index_token_is_streamed_in_its_mode_with_the_spot_as_last_price(
    fake_kite: FakeKite, mode: str, kind: type[IndexPacket]
) -> None:
    spot = _still_spot(fake_kite, "NIFTY")

    async def main() -> object:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            await ws.send_json({"a": "subscribe", "v": [NIFTY_INDEX]})
            await ws.send_json({"a": "mode", "v": [mode, [NIFTY_INDEX]]})
            return await _until(ws, lambda p: _is_index(p) and isinstance(p, kind))

    packet = asyncio.run(main())
    assert isinstance(packet, kind) and packet.last_price == spot


def test_index_ticks_with_its_underlyings_market(fake_kite: FakeKite) -> None:
    before = _still_spot(fake_kite, "NIFTY")

    async def main() -> object:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            await ws.send_json({"a": "subscribe", "v": [NIFTY_INDEX]})
            await _until(ws, _is_index)  # the level at subscribe time
            await asyncio.to_thread(fake_kite.call, lambda account: account.market.jump("NIFTY", 2.0))
            return await _until(ws, _is_index)  # the still market's only tick since: the jump's

    packet = asyncio.run(main())
    after = fake_kite.call(lambda account: round(account.market.spot("NIFTY"), 2))
    assert isinstance(packet, IndexQuoteTick) and packet.last_price == after
    assert after > before


def test_index_of_an_underlying_the_fake_does_not_simulate_is_not_subscribed(fake_kite: FakeKite) -> None:
    finnifty = INDEX_INSTRUMENTS["FINNIFTY"].instrument_token  # not in the default config's underlyings

    async def main() -> list[dict[int, str]]:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(fake_kite)) as ws:
            await ws.send_json({"a": "subscribe", "v": [finnifty, NIFTY_INDEX]})
            await asyncio.to_thread(fake_kite.wait_for_ws, lambda subs: len(subs) == 1 and bool(subs[0]))
            return await asyncio.to_thread(fake_kite.ws_subscriptions)

    assert asyncio.run(main()) == [{NIFTY_INDEX: "quote"}]


def test_stalled_ticker_goes_quiet_and_resumes(make_fake_kite: MakeKite) -> None:
    kite = make_fake_kite(FakeKiteConfig(tick_interval_ms=20, heartbeat_s=0.05))
    token = kite.instrument("NIFTY").instrument_token

    async def main() -> bytes:
        async with aiohttp.ClientSession() as http, http.ws_connect(_ws_url(kite)) as ws:
            await ws.send_json({"a": "subscribe", "v": [token]})
            await _next_binary(ws)
            await asyncio.to_thread(kite.stall_ws, True)
            # Frames already on the wire may still arrive; then nothing, though ticks come every 20 ms.
            for _ in range(50):
                try:
                    await ws.receive(timeout=0.3)
                except TimeoutError:
                    break
            else:
                raise AssertionError("the stalled ticker kept sending")
            await asyncio.to_thread(kite.stall_ws, False)
            return await _next_binary(ws)

    assert decode_binary_frame(asyncio.run(main()))
