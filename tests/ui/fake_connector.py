"""A fake broker connection for the window's tests: the connector's attributes and coroutines, answering what
each test decides and recording what was asked of it. No network."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from imperium_desk.desk.live import LiveConnectError, LoginError, StoreChoice
from imperium_desk.domain.enums import Mode

VENUE = "the venue"
TOKEN = "tok123"
LANDED = f"http://127.0.0.1:5005/kite/redirect?action=login&status=success&request_token={TOKEN}"


@dataclass
class FakeConnector:
    """The connector's surface, recording what was asked of it. `catch_redirect` waits for `browser_returns`."""

    mode: Mode = Mode.LIVE
    account_hint: str = "api key abc123"
    login_url: str = "https://kite.zerodha.com/connect/login?v=3&api_key=abc123"
    redirect_url: str = "http://127.0.0.1:5005/kite/redirect"
    needs_api_secret: bool = False
    store_choices: list[StoreChoice] = field(
        default_factory=lambda: [StoreChoice.KEYRING, StoreChoice.FILE, StoreChoice.NONE])
    saved: bool = False
    login_errors: list[LoginError] = field(default_factory=list)  # raised by login() in turn
    connect_errors: list[LiveConnectError] = field(default_factory=list)  # raised by connect() in turn
    calls: list[str] = field(default_factory=list)
    logins: list[tuple[str, str | None, StoreChoice]] = field(default_factory=list)
    _browser: asyncio.Future[str] | None = None

    async def saved_login(self) -> bool:
        self.calls.append("saved_login")
        return self.saved

    async def catch_redirect(self) -> str:
        self.calls.append("catch_redirect")
        self._browser = asyncio.get_event_loop().create_future()
        try:
            return await self._browser
        except asyncio.CancelledError:
            self.calls.append("stopped_listening")
            raise

    def browser_returns(self, token: str) -> None:
        assert self._browser is not None and not self._browser.done()
        self._browser.set_result(token)

    @property
    def listening(self) -> bool:
        return self._browser is not None and not self._browser.done()

    def parse_redirect(self, text: str, /) -> str:
        if "request_token=" not in text:
            raise LoginError("That address holds no request_token")
        return text.split("request_token=", 1)[1].split("&", 1)[0]

    async def login(self, request_token: str, api_secret: str | None, remember: StoreChoice, /) -> None:
        self.calls.append("login")
        self.logins.append((request_token, api_secret, remember))
        if self.login_errors:
            raise self.login_errors.pop(0)

    async def connect(self) -> str:
        self.calls.append("connect")
        if self.connect_errors:
            raise self.connect_errors.pop(0)
        return VENUE
