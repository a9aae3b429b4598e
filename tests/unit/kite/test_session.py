"""The Kite login pieces that need no Kite: the login URL, the token's 06:00 IST death (on any machine time zone),
the paste-the-URL parser, and the loopback redirect catcher over real HTTP with the test acting as the browser."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

import httpx
import pytest
from kiteconnect import KiteConnect  # type: ignore[import-untyped]

from imperium_desk.broker.kite.secrets import AccessToken
from imperium_desk.broker.kite.session import (
    IST,
    KiteSession,
    LoginFailed,
    LoginTimedOut,
    NoRequestToken,
    RedirectCatcher,
    RedirectListenError,
    RequestToken,
    expiry_warning_due,
    login_url,
    parse_redirect_url,
    token_expiry,
)

REQUEST_TOKEN = "Rq7tokenNEVERshown9"
REDIRECT = f"http://127.0.0.1:5000/kite/callback?request_token={REQUEST_TOKEN}&action=login&status=success"


def ist(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()


@pytest.fixture(params=["UTC", "Asia/Kolkata", "America/New_York"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's local time zone for one test (the answers must not depend on it)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# -- the login URL ---------------------------------------------------------------------------------------------


def test_login_url_is_the_official_clients() -> None:
    assert login_url("kitekey1") == KiteConnect("kitekey1").login_url()


def test_login_url_ignores_the_rest_root() -> None:
    official = KiteConnect("kitekey1", root="http://127.0.0.1:9").login_url()
    assert login_url("kitekey1") == official
    assert official.startswith("https://kite.zerodha.com/connect/login?")


# -- the token's life -----------------------------------------------------------------------------------------


def test_a_token_minted_just_before_six_ist_dies_at_six_the_same_day(machine_zone: str) -> None:
    assert token_expiry(ist("2026-12-07T05:59:00")) == ist("2026-12-07T06:00:00")


def test_a_token_minted_just_after_six_ist_dies_at_six_the_next_day(machine_zone: str) -> None:
    assert token_expiry(ist("2026-12-07T06:01:00")) == ist("2026-12-08T06:00:00")


def test_a_token_minted_at_six_exactly_lives_until_the_next_day(machine_zone: str) -> None:
    assert token_expiry(ist("2026-12-07T06:00:00")) == ist("2026-12-08T06:00:00")


def test_a_token_minted_in_the_evening_dies_the_next_morning(machine_zone: str) -> None:
    assert token_expiry(ist("2026-12-07T21:30:00")) == ist("2026-12-08T06:00:00")


def test_expiry_is_read_in_ist_across_the_utc_midnight(machine_zone: str) -> None:
    # 23:45 UTC on the 6th is 05:15 IST on the 7th: it dies 45 minutes later, at 00:30 UTC on the 7th.
    issued = datetime.fromisoformat("2026-12-06T23:45:00+00:00").timestamp()
    assert token_expiry(issued) == datetime.fromisoformat("2026-12-07T00:30:00+00:00").timestamp()


def test_the_warning_is_due_only_within_its_lead_before_expiry() -> None:
    expiry = ist("2026-12-08T06:00:00")
    assert not expiry_warning_due(expiry - 901, expiry, 900)
    assert expiry_warning_due(expiry - 900, expiry, 900)
    assert expiry_warning_due(expiry - 1, expiry, 900)


def test_an_expired_token_is_not_a_warning_but_expired() -> None:
    expiry = ist("2026-12-08T06:00:00")
    assert not expiry_warning_due(expiry, expiry, 900)
    assert AccessToken("tok", expiry).expired(expiry)


def test_a_negative_warning_lead_is_refused() -> None:
    with pytest.raises(ValueError):
        expiry_warning_due(0.0, 10.0, -1.0)


# -- pasting the redirected address ----------------------------------------------------------------------------


def test_a_pasted_redirect_gives_its_request_token() -> None:
    assert parse_redirect_url(f"  {REDIRECT}\n") == RequestToken(REQUEST_TOKEN)


def test_a_pasted_redirect_of_a_failed_login_is_a_failed_login() -> None:
    with pytest.raises(LoginFailed) as raised:
        parse_redirect_url(f"http://127.0.0.1:5000/?request_token={REQUEST_TOKEN}&action=login&status=error")
    assert raised.value.status == "error"


def test_a_pasted_address_without_a_token_is_refused() -> None:
    with pytest.raises(NoRequestToken):
        parse_redirect_url("http://127.0.0.1:5000/kite/callback?action=login&status=success")


def test_pasted_text_that_is_no_address_is_refused() -> None:
    with pytest.raises(NoRequestToken):
        parse_redirect_url("I logged in")


def test_a_pasted_token_that_is_not_alphanumeric_is_refused() -> None:
    with pytest.raises(NoRequestToken):
        parse_redirect_url("http://127.0.0.1:5000/?request_token=abc%3Cscript%3E&status=success")


def test_a_pasted_address_with_two_different_tokens_is_refused() -> None:
    with pytest.raises(NoRequestToken):
        parse_redirect_url("http://127.0.0.1:5000/?request_token=aaa&request_token=bbb&status=success")


def test_a_pasted_redirect_of_another_action_is_refused() -> None:
    with pytest.raises(NoRequestToken):
        parse_redirect_url(f"http://127.0.0.1:5000/?request_token={REQUEST_TOKEN}&action=basket&status=success")


# -- the loopback catcher ---------------------------------------------------------------------------------------


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def callback(catcher: RedirectCatcher, query: str, path: str = "/kite/callback") -> str:
    return f"http://127.0.0.1:{catcher.port}{path}?{query}"


GOOD = f"request_token={REQUEST_TOKEN}&action=login&status=success"


def test_the_catcher_hands_over_the_token_and_tells_the_browser_to_close_the_tab() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0, path="/kite/callback") as catcher, httpx.AsyncClient() as browser:
            answer = await browser.get(callback(catcher, GOOD))
            token = await catcher.wait(5.0)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_the_catcher_answers_another_path_with_404_and_keeps_waiting() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0, path="/kite/callback") as catcher, httpx.AsyncClient() as browser:
            favicon = await browser.get(f"http://127.0.0.1:{catcher.port}/favicon.ico")
            good = await browser.get(callback(catcher, GOOD))
            token = await catcher.wait(5.0)
        assert favicon.status_code == 404
        assert good.status_code == 200
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_the_catcher_refuses_a_request_without_the_token_and_keeps_waiting() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            empty = await browser.get(callback(catcher, "action=login&status=success"))
            good = await browser.get(callback(catcher, GOOD))
            token = await catcher.wait(5.0)
        assert empty.status_code == 400
        assert good.status_code == 200
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_the_catcher_ends_the_wait_with_a_failed_login() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            answer = await browser.get(callback(catcher, "action=login&status=error"))
            with pytest.raises(LoginFailed):
                await catcher.wait(5.0)
        assert answer.status_code == 400

    run(scenario)


def test_the_catcher_answers_410_once_the_token_was_taken() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            await browser.get(callback(catcher, GOOD))
            again = await browser.get(callback(catcher, "request_token=other&action=login&status=success"))
            token = await catcher.wait(5.0)
        assert again.status_code == 410
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_the_catcher_refuses_a_request_naming_another_host() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            rebound = await browser.get(callback(catcher, GOOD), headers={"Host": f"evil.example:{catcher.port}"})
            with pytest.raises(LoginTimedOut):
                await catcher.wait(0.05)
        assert rebound.status_code == 421

    run(scenario)


def test_the_catcher_accepts_localhost_as_the_host() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            answer = await browser.get(callback(catcher, GOOD), headers={"Host": f"localhost:{catcher.port}"})
            token = await catcher.wait(5.0)
        assert answer.status_code == 200
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_the_catcher_refuses_other_methods() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            answer = await browser.post(callback(catcher, GOOD))
        assert answer.status_code == 405

    run(scenario)


def test_the_catcher_refuses_a_peer_that_is_not_on_loopback() -> None:
    # It listens on 127.0.0.1 only, so no outside peer can reach it over TCP; a Unix socket pair stands in for a
    # connection whose peer is not a loopback address, handed to the catcher's connection handler directly.
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher:
            ours, theirs = socket.socketpair()
            server_reader, server_writer = await asyncio.open_connection(sock=ours)
            reader, writer = await asyncio.open_connection(sock=theirs)
            writer.write(f"GET /?{GOOD} HTTP/1.1\r\nHost: 127.0.0.1:{catcher.port}\r\n\r\n".encode())
            await writer.drain()
            await catcher._on_connection(server_reader, server_writer)
            status_line = await reader.readline()
            writer.close()
            with pytest.raises(LoginTimedOut):
                await catcher.wait(0.05)
        assert status_line.split()[1] == b"403"

    run(scenario)


def test_the_catcher_times_out_cleanly_and_can_be_waited_on_again() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            with pytest.raises(LoginTimedOut):
                await catcher.wait(0.05)
            await browser.get(callback(catcher, GOOD))
            token = await catcher.wait(5.0)
        assert token == RequestToken(REQUEST_TOKEN)

    run(scenario)


def test_closing_the_catcher_ends_a_wait_and_frees_the_port() -> None:
    async def scenario() -> None:
        catcher = RedirectCatcher(0)
        await catcher.start()
        waiting = asyncio.ensure_future(catcher.wait(30.0))
        await asyncio.sleep(0)
        await catcher.close()
        with pytest.raises(LoginTimedOut):
            await waiting
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as browser:
                await browser.get(callback(catcher, GOOD))

    run(scenario)


def test_a_silent_connection_does_not_hold_up_close() -> None:
    async def scenario() -> None:
        catcher = RedirectCatcher(0)
        await catcher.start()
        _reader, writer = await asyncio.open_connection("127.0.0.1", catcher.port)
        await asyncio.sleep(0)
        await asyncio.wait_for(catcher.close(), 5.0)
        writer.close()

    run(scenario)


def test_a_port_in_use_is_a_listen_error() -> None:
    async def scenario() -> None:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            with pytest.raises(RedirectListenError):
                await RedirectCatcher(taken.getsockname()[1]).start()
        finally:
            taken.close()

    run(scenario)


def test_the_catcher_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError):
        RedirectCatcher(0, host="0.0.0.0")


def test_the_redirect_url_names_the_port_and_path() -> None:
    async def scenario() -> None:
        async with RedirectCatcher(0, path="/kite/callback") as catcher:
            assert catcher.redirect_url == f"http://127.0.0.1:{catcher.port}/kite/callback"

    run(scenario)


def test_the_catcher_logs_no_request_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with RedirectCatcher(0) as catcher, httpx.AsyncClient() as browser:
            await browser.get(callback(catcher, "action=login&status=success&junk=" + REQUEST_TOKEN))
            await browser.get(callback(catcher, GOOD))
            await catcher.wait(5.0)

    run(scenario)
    # httpx and httpcore are the test's browser, which logs the address it opened, as a browser's history would.
    desk = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert desk
    assert all(REQUEST_TOKEN not in record.getMessage() for record in desk)


# -- nothing shows a secret --------------------------------------------------------------------------------------


def test_tokens_and_sessions_are_masked_in_repr_and_str() -> None:
    request = RequestToken(REQUEST_TOKEN)
    session = KiteSession(AccessToken("accessTOKENneverSHOWN", 1.0), "AB1234")
    for value in (request, session):
        shown = " ".join((repr(value), str(value), f"{value}", repr([value])))
        assert REQUEST_TOKEN not in shown
        assert "accessTOKENneverSHOWN" not in shown
