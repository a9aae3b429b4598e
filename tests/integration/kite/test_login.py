"""The Kite login end to end against the fake Kite: the redirect caught on loopback (the test is the browser), the
request token exchanged through the official client off the loop, errors translated, and no secret in any log line
or any file but the secret store's own."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

from imperium_desk.broker.errors import BrokerSessionExpired, BrokerUnreachable
from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.secrets import ApiSecret, FileStore
from imperium_desk.broker.kite.session import (
    IST,
    KiteLogin,
    KiteSession,
    RedirectCatcher,
    RequestToken,
    parse_redirect_url,
    token_expiry,
)
from imperium_desk.clock import WallClock
from imperium_desk.offload import Offloader
from tests.fake_kite.server import FakeKite

CLIENT_TIMEOUT_S = 2.0
WRONG_SECRET = "mistypedSECRET77"


def config_for(kite: FakeKite, rest_root: str | None = None) -> KiteConfig:
    return KiteConfig(api_key=kite.api_key, rest_root=rest_root or kite.root, connect_timeout_s=CLIENT_TIMEOUT_S,
                      read_timeout_s=CLIENT_TIMEOUT_S)


def on_loop[T](work: Callable[[KiteLogin, WallClock], Awaitable[T]], config: KiteConfig) -> T:
    """`work` on a fresh wall-clock loop with a KiteLogin built as the desk builds it."""
    async def main() -> T:
        clock = WallClock()
        return await work(KiteLogin(config, Offloader(clock), clock), clock)

    return asyncio.run(main())


async def browser_get(url_path: str, port: int) -> int:
    """What the browser does after Kite's login: GET the redirect address on loopback. Returns the HTTP status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {url_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def test_exchange_gives_a_session_the_fake_accepts(fake_kite: FakeKite) -> None:
    async def work(login: KiteLogin, clock: WallClock) -> tuple[KiteSession, float]:
        before = clock.now()
        return await login.exchange(RequestToken(fake_kite.request_token), ApiSecret(fake_kite.api_secret)), before

    session, before = on_loop(work, config_for(fake_kite))

    assert fake_kite.sessions.valid(fake_kite.api_key, session.access_token.value)
    assert session.user_id == fake_kite.config.user_id
    assert session.access_token.expires_at == token_expiry(before)
    dies = datetime.fromtimestamp(session.access_token.expires_at, IST)
    assert (dies.hour, dies.minute, dies.second) == (6, 0, 0)


def test_exchange_with_a_wrong_secret_is_a_translated_session_error(fake_kite: FakeKite) -> None:
    async def work(login: KiteLogin, _clock: WallClock) -> KiteSession:
        return await login.exchange(RequestToken(fake_kite.request_token), ApiSecret("notthesecret"))

    with pytest.raises(BrokerSessionExpired):
        on_loop(work, config_for(fake_kite))


def test_a_request_token_exchanged_twice_is_refused_the_second_time(fake_kite: FakeKite) -> None:
    async def work(login: KiteLogin, _clock: WallClock) -> None:
        token, secret = RequestToken(fake_kite.request_token), ApiSecret(fake_kite.api_secret)
        await login.exchange(token, secret)
        with pytest.raises(BrokerSessionExpired):
            await login.exchange(token, secret)

    on_loop(work, config_for(fake_kite))


def test_exchange_with_kite_unreachable_is_never_sent(fake_kite: FakeKite) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async def work(login: KiteLogin, _clock: WallClock) -> KiteSession:
        return await login.exchange(RequestToken(fake_kite.request_token), ApiSecret(fake_kite.api_secret))

    with pytest.raises(BrokerUnreachable):
        on_loop(work, config_for(fake_kite, rest_root=f"http://127.0.0.1:{closed_port}"))


def test_a_pasted_redirect_logs_in(fake_kite: FakeKite) -> None:
    pasted = f"http://127.0.0.1:5000/kite/callback?request_token={fake_kite.request_token}&action=login&status=success"

    async def work(login: KiteLogin, _clock: WallClock) -> KiteSession:
        return await login.exchange(parse_redirect_url(pasted), ApiSecret(fake_kite.api_secret))

    session = on_loop(work, config_for(fake_kite))
    assert fake_kite.sessions.valid(fake_kite.api_key, session.access_token.value)


def test_login_by_redirect_leaves_no_secret_in_logs_or_files_but_the_store(
    fake_kite: FakeKite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request_token = fake_kite.request_token
    store = FileStore(tmp_path, fake_kite.api_key)

    async def work(login: KiteLogin, clock: WallClock) -> tuple[KiteSession, int]:
        async with RedirectCatcher(0, path="/kite/callback") as catcher:
            status = await browser_get(
                f"/kite/callback?request_token={request_token}&action=login&status=success", catcher.port
            )
            caught = await catcher.wait(5.0)
        with pytest.raises(BrokerSessionExpired):  # a mistyped secret first: its refusal is logged too
            await login.exchange(caught, ApiSecret(WRONG_SECRET))
        session = await login.exchange(caught, ApiSecret(fake_kite.api_secret))
        offloader = Offloader(clock)  # the store blocks: off the loop, as the desk calls it
        await offloader.thread(lambda: store.save_api_secret(ApiSecret(fake_kite.api_secret)), "save-secret")
        await offloader.thread(lambda: store.save_access_token(session.access_token), "save-token")
        return session, status

    session, status = on_loop(work, config_for(fake_kite))
    assert status == 200
    assert fake_kite.sessions.valid(fake_kite.api_key, session.access_token.value)

    secrets = (fake_kite.api_secret, WRONG_SECRET, request_token, session.access_token.value)
    lines = [record.getMessage() for record in caplog.records]
    assert lines
    assert not [line for line in lines for secret in secrets if secret in line]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != store.path]
    assert not [p for p in written for secret in secrets if secret.encode() in p.read_bytes()]
