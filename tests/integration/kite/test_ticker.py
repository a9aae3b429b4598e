"""KiteTickerClient against the fake Kite over loopback (a real websocket): subscriptions survive drops and stalls,
every frame is delivered once, a dead token is a session expiry (no reconnect storm) and a new one resumes, order
updates reach their listener. Tests wait for conditions; the client's timings are shortened, not slept through."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from imperium_desk.broker.kite.packets import FullTick, QuoteTick, Tick, TickMode, is_heartbeat
from imperium_desk.broker.kite.ticker import (
    MAX_TOKENS_PER_CONNECTION,
    KiteTickerClient,
    ReconnectPolicy,
    TickerState,
    TokenLimitError,
)
from imperium_desk.clock import WallClock
from imperium_desk.domain.enums import OptionRight
from tests.fake_kite.packets import encode_frame
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.stack_support import until

MakeKite = Callable[[FakeKiteConfig], FakeKite]
FAST = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, stall_after_s=0.5, open_timeout_s=2.0,
                       close_timeout_s=0.5)
WAIT_S = 5.0


async def fake_subscriptions(kite: FakeKite, expected: list[dict[int, str]]) -> None:
    """Wait until the fake's open ticker connections carry exactly `expected` (token -> mode each)."""
    await asyncio.to_thread(kite.wait_for_ws, lambda subs: subs == expected, WAIT_S)


@asynccontextmanager
async def ticker_client(kite: FakeKite, access_token: str | None = None) -> AsyncIterator[KiteTickerClient]:
    client = KiteTickerClient(ws_url=kite.ws_root, api_key=kite.api_key,
                              access_token=access_token or kite.access_token, clock=WallClock(), policy=FAST)
    try:
        yield client
    finally:
        await client.aclose()


def run(main: Awaitable[None]) -> None:
    async def wrapped() -> None:
        await main

    asyncio.run(wrapped())


@pytest.fixture
def kite(make_fake_kite: MakeKite) -> FakeKite:
    # Heartbeats every 0.1 s keep an idle connection well inside FAST's 0.5 s stall limit.
    return make_fake_kite(FakeKiteConfig(heartbeat_s=0.1))


def option_tokens(kite: FakeKite, count: int) -> list[int]:
    return [kite.instrument("NIFTY", steps=step // 2, right=(OptionRight.CE, OptionRight.PE)[step % 2]).instrument_token
            for step in range(count)]


# -- subscriptions -------------------------------------------------------------------------------------------------
def test_reconnect_restores_subscriptions(kite: FakeKite) -> None:
    full, quote = option_tokens(kite, 2)

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.subscribe([full], TickMode.FULL)
            client.subscribe([quote], TickMode.QUOTE)
            client.start()
            await fake_subscriptions(kite, [{full: "full", quote: "quote"}])
            assert await asyncio.to_thread(kite.drop_ws) == 1
            await until(lambda: client.connections == 2)
            await fake_subscriptions(kite, [{full: "full", quote: "quote"}])
            assert client.drops == 1

    run(main())


def test_changes_while_connected_reach_the_server_as_they_are_made(kite: FakeKite) -> None:
    a, b, c = option_tokens(kite, 3)

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.subscribe([a, b], TickMode.FULL)
            client.start()
            await fake_subscriptions(kite, [{a: "full", b: "full"}])
            client.subscribe([c], TickMode.QUOTE)
            client.unsubscribe([a])
            client.subscribe([b], TickMode.LTP)
            await fake_subscriptions(kite, [{b: "ltp", c: "quote"}])
            assert client.connections == 1

    run(main())


def test_ticks_arrive_decoded_in_the_mode_asked(kite: FakeKite) -> None:
    full, quote = option_tokens(kite, 2)
    seen: dict[int, type[Tick]] = {}

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_tick_listener(lambda ticks: seen.update((t.instrument_token, type(t)) for t in ticks))
            client.subscribe([full], TickMode.FULL)
            client.subscribe([quote], TickMode.QUOTE)
            client.start()
            await until(lambda: seen.get(full) is FullTick and seen.get(quote) is QuoteTick)

    run(main())


def test_more_tokens_than_a_connection_carries_are_refused_and_nothing_changes() -> None:
    async def main() -> None:
        client = KiteTickerClient(ws_url="ws://127.0.0.1:9/ws", api_key="k", access_token="t", clock=WallClock())
        client.subscribe(range(1, MAX_TOKENS_PER_CONNECTION + 1))
        with pytest.raises(TokenLimitError):
            client.subscribe([MAX_TOKENS_PER_CONNECTION + 1, 1])
        assert client.tokens == frozenset(range(1, MAX_TOKENS_PER_CONNECTION + 1))
        client.subscribe([5], TickMode.LTP)  # a mode change of a subscribed token still fits
        assert client.mode_of(5) is TickMode.LTP

    run(main())


# -- drops and stalls ------------------------------------------------------------------------------------------------
def test_twenty_drops_in_a_row_each_restore_subscriptions_and_deliver_every_frame_at_most_once(
    kite: FakeKite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the fake writes on each server-side connection, recorded at aiohttp's send (the fake's thread).
    # Keyed by id with the connection held, so no id is reused by a later connection.
    sent: dict[int, tuple[web.WebSocketResponse, list[bytes]]] = {}
    lock = threading.Lock()
    original = web.WebSocketResponse.send_bytes

    async def recording(self: web.WebSocketResponse, data: bytes, compress: int | None = None) -> None:
        if not is_heartbeat(data):
            with lock:
                sent.setdefault(id(self), (self, []))[1].append(bytes(data))
        await original(self, data, compress)

    monkeypatch.setattr(web.WebSocketResponse, "send_bytes", recording)
    tokens = option_tokens(kite, 4)
    expected = [dict.fromkeys(tokens, "full")]
    delivered: list[list[bytes]] = []  # per client connection, the frames handed to the tick listener

    def delivered_on(connection: int) -> bool:
        return len(delivered) == connection + 1 and len(delivered[connection]) >= 2

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_connected_listener(lambda: delivered.append([]))
            client.add_tick_listener(lambda ticks: delivered[-1].append(encode_frame(ticks)))
            client.subscribe(tokens, TickMode.FULL)
            client.start()
            for drop in range(20):
                await until(functools.partial(delivered_on, drop))
                await fake_subscriptions(kite, expected)
                assert await asyncio.to_thread(kite.drop_ws) == 1
            await until(functools.partial(delivered_on, 20))
            await fake_subscriptions(kite, expected)
            assert (client.connections, client.drops) == (21, 20)

    run(main())
    with lock:
        server_side = [list(frames) for _, frames in sent.values()]
    assert len(server_side) == len(delivered) == 21
    for got, wrote in zip(delivered, server_side, strict=True):
        # In order, none twice, none replayed from an earlier connection; only a drop's last frames may be lost.
        assert got == wrote[: len(got)]


def test_a_stalled_connection_is_dropped_and_the_feed_resumes(kite: FakeKite) -> None:
    (token,) = option_tokens(kite, 1)
    ticks: list[int] = []

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_tick_listener(lambda batch: ticks.extend(t.instrument_token for t in batch))
            client.subscribe([token])
            client.start()
            await until(lambda: bool(ticks))
            await asyncio.to_thread(kite.stall_ws, True)
            await until(lambda: client.stalls >= 1)
            await asyncio.to_thread(kite.stall_ws, False)
            before = len(ticks)
            await until(lambda: len(ticks) > before and client.state is TickerState.CONNECTED)
            await fake_subscriptions(kite, [{token: "full"}])

    run(main())


def test_a_fourth_connection_is_refused_and_retried_until_a_slot_frees(kite: FakeKite) -> None:
    async def main() -> None:
        async with ticker_client(kite) as first, ticker_client(kite) as second, ticker_client(kite) as third:
            for client in (first, second, third):
                client.start()
            await until(lambda: all(c.state is TickerState.CONNECTED for c in (first, second, third)))
            async with ticker_client(kite) as fourth:
                fourth.start()
                await until(lambda: 429 in kite.ws_refusals())
                assert fourth.state is not TickerState.CONNECTED
                await first.aclose()
                await until(lambda: fourth.state is TickerState.CONNECTED)

    run(main())


# -- session expiry ------------------------------------------------------------------------------------------------
def test_403_at_the_handshake_is_a_session_expiry_with_no_reconnect_storm_and_a_new_token_resumes(
    kite: FakeKite,
) -> None:
    (token,) = option_tokens(kite, 1)
    expired: list[TickerState] = []
    ticks: list[int] = []

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_session_expired_listener(lambda: expired.append(client.state))
            client.add_tick_listener(lambda batch: ticks.extend(t.instrument_token for t in batch))
            client.subscribe([token])
            client.start()
            await until(lambda: client.state is TickerState.CONNECTED)
            await asyncio.to_thread(kite.expire_token)
            await asyncio.to_thread(kite.drop_ws)
            await until(lambda: client.state is TickerState.SESSION_EXPIRED)
            # A storm would be one attempt per 10-50 ms (FAST): none may follow the 403.
            with pytest.raises(TimeoutError):
                await until(lambda: len(kite.ws_refusals()) > 1, timeout_s=0.5)
            assert kite.ws_refusals() == [403]
            assert expired == [TickerState.SESSION_EXPIRED]
            client.set_access_token(await asyncio.to_thread(kite.new_access_token))
            await until(lambda: client.state is TickerState.CONNECTED)
            before = len(ticks)
            await until(lambda: len(ticks) > before)
            await fake_subscriptions(kite, [{token: "full"}])
            assert expired == [TickerState.SESSION_EXPIRED]

    run(main())


def test_the_access_token_never_reaches_the_log(kite: FakeKite, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.subscribe(option_tokens(kite, 1))
            client.start()
            await until(lambda: client.frames > 2)
            await asyncio.to_thread(kite.drop_ws)
            await until(lambda: client.connections == 2)
            await asyncio.to_thread(kite.expire_token)
            await asyncio.to_thread(kite.drop_ws)
            await until(lambda: client.state is TickerState.SESSION_EXPIRED)

    run(main())
    assert caplog.records  # the run was logged
    assert all(kite.access_token not in record.getMessage() for record in caplog.records)


# -- text frames and listeners -------------------------------------------------------------------------------------
def test_order_update_text_frames_reach_the_order_listener(kite: FakeKite) -> None:
    row = kite.instrument("NIFTY")
    updates: list[dict[str, Any]] = []

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_order_update_listener(lambda order: updates.append(dict(order)))
            client.start()
            await until(lambda: client.state is TickerState.CONNECTED)
            await fake_subscriptions(kite, [{}])
            order_id = await asyncio.to_thread(kite.place_external, row.tradingsymbol, "BUY", row.contract.lot_size)
            await until(lambda: any(u["order_id"] == order_id and u["status"] == "COMPLETE" for u in updates))
            assert all(u["tradingsymbol"] == row.tradingsymbol for u in updates)

    run(main())


def test_connected_listeners_run_after_every_connection_and_their_coroutines_are_awaited(kite: FakeKite) -> None:
    reconciled: list[int] = []

    async def main() -> None:
        async with ticker_client(kite) as client:
            async def reconcile() -> None:
                await asyncio.sleep(0)
                reconciled.append(client.connections)

            client.add_connected_listener(reconcile)
            client.start()
            await until(lambda: reconciled == [1])
            await asyncio.to_thread(kite.drop_ws)
            await until(lambda: reconciled == [1, 2])

    run(main())


def test_a_listener_that_raises_does_not_stop_the_others_or_the_feed(kite: FakeKite) -> None:
    (token,) = option_tokens(kite, 1)
    frames: list[Sequence[Tick]] = []

    def broken(_ticks: Sequence[Tick]) -> None:
        raise RuntimeError("a broken widget")

    async def main() -> None:
        async with ticker_client(kite) as client:
            client.add_tick_listener(broken)
            client.add_tick_listener(frames.append)
            client.subscribe([token])
            client.start()
            await until(lambda: len(frames) >= 3)
            assert client.connections == 1

    run(main())


# -- reconnect timing (pure) ------------------------------------------------------------------------------------------
def test_backoff_doubles_up_to_its_cap() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.5, factor=2.0, max_delay_s=4.0)
    assert [policy.delay(n, None) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_only_shortens_the_wait_and_by_at_most_its_fraction() -> None:
    policy = ReconnectPolicy(initial_delay_s=1.0, max_delay_s=8.0, jitter=0.25)
    assert policy.delay(3, 0.0) == 8.0
    assert policy.delay(3, 0.999) == pytest.approx(8.0 * (1 - 0.25 * 0.999))
