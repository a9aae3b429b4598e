"""No secret leaves the secret store: after a whole live session (a browser login caught on the loopback redirect,
the secret and token kept in the secrets file, orders, a stop), neither the API secret nor the access token nor the
request token is in any other file under the desk's home or in any log record, at any level, of any logger."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from imperium_desk.clock import WallClock
from imperium_desk.desk import Desk
from imperium_desk.desk.connector import LiveConnector
from imperium_desk.desk.live import StoreChoice
from imperium_desk.domain.enums import Mode, ParentStatus
from tests.fake_kite.server import FakeKite
from tests.integration.kite.live_support import (
    connected_venue,
    live_config,
    ticked_contract,
    ticket,
)
from tests.integration.kite.stack_support import run

pytestmark = pytest.mark.usefixtures("no_keyring")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def browser_redirect(url: str, request_token: str) -> int:
    """What the browser does at the end of Kite's login: GET the redirect URL (retried until the catcher listens);
    the answer's HTTP status. A bare request on a socket: this stand-in for the browser logs nothing itself."""
    parts = urlsplit(url)
    query = urlencode({"request_token": request_token, "action": "login", "status": "success"})
    request = f"GET {parts.path}?{query} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            break
        except ConnectionRefusedError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)
    writer.write(request.encode())
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def test_no_secret_reaches_a_file_or_a_log_record_in_a_whole_live_session(
    fake: FakeKite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root: every logger, every level
    request_token = fake.new_request_token()
    config = live_config(fake, redirect_port=free_port())
    home = tmp_path / "home"
    kept: list[str] = []

    async def main() -> None:
        clock = WallClock()
        connector = LiveConnector(config, home=home, mode=Mode.LIVE, clock=clock)
        assert not await connector.saved_login()
        caught = asyncio.create_task(connector.catch_redirect())
        assert await browser_redirect(connector.redirect_url, request_token) == 200
        await connector.login(await caught, fake.api_secret, StoreChoice.FILE)
        assert connector.access_token is not None
        kept.append(connector.access_token.value)
        venue = await connected_venue(connector)
        desk = Desk(config, home=home, clock=clock, mode=Mode.LIVE, venue=venue, connector=connector)
        desk.start()
        try:
            contract = await ticked_contract(desk)
            results = [await desk.submit(ticket(contract, lots=n)).task for n in (1, 2)]
            await desk.exit_positions()
            await desk.refresh_portfolio()
        finally:
            await desk.stop()
        assert [r.status for r in results] == [ParentStatus.COMPLETE] * 2

    run(main())
    (access_token,) = kept
    secrets = {"api_secret": fake.api_secret, "access_token": access_token, "request_token": request_token}
    secrets_file = home / "kite" / "secrets" / "secrets.json"
    stored = secrets_file.read_text()
    assert fake.api_secret in stored and access_token in stored  # kept where the trader allowed, so found there
    files = [p for p in home.rglob("*") if p.is_file() and p != secrets_file]
    assert any(p.name == "execution_quality_live.jsonl" for p in files)
    leaks_in_files = [(name, p) for p in files for name, value in secrets.items() if value.encode() in p.read_bytes()]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) + repr(record.args) for record in caplog.records]
    assert len(lines) > 0
    leaks_in_logs = [(name, line) for line in lines for name, value in secrets.items() if value in line]
    assert leaks_in_files == []
    assert leaks_in_logs == []
