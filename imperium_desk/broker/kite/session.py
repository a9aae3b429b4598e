"""The Kite login: from the browser's redirect to the day's access token, and when that token dies (kite-notes §1.2).

The flow the Connect dialog drives:

1. Open `login_url(api_key)` in the browser (Kite's fixed login page; it does not follow the REST root).
2. Kite redirects the browser to the app's registered redirect URL with
   `?request_token=...&action=login&status=success`. With that URL set to `http://127.0.0.1:<port>/<path>`, a
   `RedirectCatcher` listening there takes the token and tells the browser it can close the tab. Without it (another
   redirect URL, the port taken), the user pastes the address the browser landed on and `parse_redirect_url` reads
   it.
3. `KiteLogin.exchange` trades the request token (single use, valid a few minutes) for the access token through
   the official client's `generate_session` (checksum = sha256(api_key + request_token + api_secret)), on a
   thread, against the configured REST root. Failures come back as the broker's own errors (`errors.translate`):
   a wrong api_secret or a used/expired request token is `BrokerSessionExpired` or `BrokerInputError` (log in
   again, check the secret); a network failure is `BrokerUnreachable`/`BrokerNetworkError`/`BrokerTimeout`.
4. The token dies at the next 06:00 IST (`token_expiry`); `expiry_warning_due` says when the desk should warn.

Secrets (api_secret, request_token, access_token) never appear in a log line, an exception message or a repr: the
value types mask themselves, errors name what went wrong, not the values, and the catcher logs paths without
their query strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from kiteconnect import KiteConnect  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.errors import translate
from imperium_desk.broker.kite.secrets import AccessToken, ApiSecret
from imperium_desk.clock import Clock
from imperium_desk.offload import Offloader

__all__ = [
    "IST",
    "KITE_LOGIN_URL",
    "KiteLogin",
    "KiteSession",
    "LoginError",
    "LoginFailed",
    "LoginTimedOut",
    "NoRequestToken",
    "RedirectCatcher",
    "RedirectListenError",
    "RequestToken",
    "expiry_warning_due",
    "login_url",
    "parse_redirect_url",
    "token_expiry",
]

log = logging.getLogger(__name__)

# India keeps no daylight saving time, so a fixed offset is exact (and needs no tz database on the machine).
IST = timezone(timedelta(hours=5, minutes=30), "IST")
KITE_LOGIN_URL = "https://kite.zerodha.com/connect/login"
_TOKEN_DIES_AT_HOUR = 6
_REQUEST_TOKEN = re.compile(r"[A-Za-z0-9]{1,128}")
_STATUS_WORD = re.compile(r"[A-Za-z_]{1,32}")


# -- values and errors ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class RequestToken:
    """The single-use token Kite hands the browser after a login (alphanumeric). Repr and str are masked."""

    value: str

    def __post_init__(self) -> None:
        if not _REQUEST_TOKEN.fullmatch(self.value):
            raise ValueError("a Kite request token is 1 to 128 letters and digits")

    def __repr__(self) -> str:
        return "RequestToken(****)"


@dataclass(frozen=True, slots=True, repr=False)
class KiteSession:
    """A logged-in session: the access token (with its expiry) and the Kite user it belongs to."""

    access_token: AccessToken
    user_id: str

    def __repr__(self) -> str:
        return f"KiteSession(user_id={self.user_id!r}, {self.access_token!r})"


class LoginError(Exception):
    """The login did not give a request token; the message says what to do. It never holds a secret."""


class LoginFailed(LoginError):
    """Kite's redirect says the login did not succeed (`status` other than success), or Kite's session answer had no
    access token. Log in again."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class NoRequestToken(LoginError):
    """The address holds no usable request token (not the redirected address, or cut short)."""


class LoginTimedOut(LoginError):
    """No redirect reached the catcher in time. The login page may still be open: start again."""


class RedirectListenError(LoginError):
    """The catcher cannot listen on its port (in use, not permitted): free the port, or paste the redirected
    address instead."""


# -- the login URL and the redirect ------------------------------------------------------------------------------


def login_url(api_key: str) -> str:
    """Kite's login page for this app (the same address the official client's `login_url()` gives)."""
    return f"{KITE_LOGIN_URL}?api_key={quote(api_key, safe='')}&v=3"


def _token_from_query(query: str) -> RequestToken:
    params = parse_qs(query, keep_blank_values=True)
    status = params.get("status", [None])[-1]
    if status is not None and status != "success":
        shown = status if _STATUS_WORD.fullmatch(status) else None
        raise LoginFailed(
            f"Kite says the login did not succeed (status {shown or 'unreadable'}); log in again", status=shown
        )
    action = params.get("action", [None])[-1]
    if action is not None and action != "login":
        raise NoRequestToken("the address is not a login redirect (its action is not 'login'); log in again")
    tokens = {value for value in params.get("request_token", []) if value}
    if not tokens:
        raise NoRequestToken("the address has no request_token: copy the whole address from the browser's address "
                             "bar after Kite redirects it")
    if len(tokens) > 1:
        raise NoRequestToken("the address has more than one request_token; log in again")
    value = tokens.pop()
    if not _REQUEST_TOKEN.fullmatch(value):
        raise NoRequestToken("the request_token in the address is not letters and digits; copy the address again")
    return RequestToken(value)


def parse_redirect_url(text: str) -> RequestToken:
    """The request token in the address the browser landed on after the login (pasted by the user). Raises
    `LoginFailed` when Kite reports a failed login, `NoRequestToken` when the text holds no usable token."""
    parts = urlsplit(text.strip())
    if not parts.query:
        raise NoRequestToken("that is not the redirected address: copy the whole address (with its '?request_token="
                             "...' part) from the browser's address bar after Kite redirects it")
    return _token_from_query(parts.query)


# -- the loopback catcher -----------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Imperium Desk</title></head>
<body style="font-family: sans-serif; margin: 3em"><h2>{title}</h2><p>{text}</p></body></html>
"""
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            410: "Gone", 421: "Misdirected Request"}
_HEAD_LIMIT = 16 * 1024  # request line + headers; a login redirect is well under 2 KiB
_READ_TIMEOUT_S = 10.0  # a browser sends its request at once; a silent connection is not one
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _is_loopback(peer: Any) -> bool:
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False  # a Unix socket or an unknown transport: not a browser on this machine's loopback
    try:
        return ipaddress.ip_address(peer[0].split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    title: str
    text: str


class RedirectCatcher:
    """Listens on 127.0.0.1:<port> for Kite's login redirect and hands over its request token.

    Register `redirect_url` (http://127.0.0.1:<port><path>) as the Kite app's redirect URL. Each GET is answered
    with a small page: 200 "you can close this tab" for the redirect with a token, 400 for one without (the wait
    goes on) or for a failed login (the wait ends with `LoginFailed`), 404 for another path (a favicon request),
    403 for a peer that is not on loopback, 421 for a Host header that is not this machine's loopback (a page
    elsewhere reaching it by DNS rebinding), 405 for other methods, 410 once a token was taken.

    Threading: all methods on the event loop; nothing blocks it. Use as `async with RedirectCatcher(port) as c:`
    or `start()` / `close()`.
    """

    def __init__(self, port: int, *, path: str | None = None, host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the redirect catcher listens on loopback only, not {host}")
        if path is not None and not path.startswith("/"):
            raise ValueError("the redirect path starts with '/'")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port")
        self._host = host
        self._port = port
        self._path = path
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # connections being served, dropped at close
        self._closed = False
        self._token: asyncio.Future[RequestToken] | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the OS when constructed with 0 and started)."""
        return self._port

    @property
    def redirect_url(self) -> str:
        """The address to register as the Kite app's redirect URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{self._path or '/'}"

    async def start(self) -> None:
        """Listen. Raises `RedirectListenError` when the port cannot be had."""
        if self._server is not None:
            return
        self._closed = False
        self._token = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._on_connection, self._host, self._port, limit=_HEAD_LIMIT)
        except OSError as exc:
            raise RedirectListenError(
                f"cannot listen on {self._host}:{self._port} for Kite's redirect ({exc.strerror or exc}); free the "
                f"port, choose another (and register it with the Kite app), or paste the redirected address"
            ) from None
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("waiting for Kite's login redirect on %s", self.redirect_url)

    async def wait(self, timeout_s: float) -> RequestToken:
        """The request token from the first good redirect. Raises `LoginTimedOut` after `timeout_s`, `LoginFailed`
        when the redirect says the login failed. A timed-out wait may be repeated while the catcher listens."""
        if self._token is None:
            raise RuntimeError("start() the catcher before waiting on it")
        try:
            return await asyncio.wait_for(asyncio.shield(self._token), timeout_s)
        except TimeoutError:
            raise LoginTimedOut(f"no login redirect reached {self.redirect_url} in {timeout_s:g} s; log in again, "
                                f"or paste the address the browser shows") from None

    async def close(self) -> None:
        """Stop listening and drop open connections. A waiter still waiting gets `LoginTimedOut`."""
        self._closed = True
        if self._token is not None and not self._token.done():
            self._token.set_exception(LoginTimedOut("the login was abandoned"))
            self._token.exception()  # retrieved here, so an unobserved failure is not logged by asyncio
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for writer in list(self._open):
                writer.close()
            await server.wait_closed()

    async def __aenter__(self) -> RedirectCatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            if self._closed:  # accepted just as the catcher closed
                return
            if not _is_loopback(writer.get_extra_info("peername")):
                log.warning("refused a connection to the login catcher from outside this machine")
                await self._reply(writer, _Answer(403, "Refused", "Only this machine may reach this page."))
                return
            try:
                async with asyncio.timeout(_READ_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            await self._reply(writer, self._judge(head))
        except ConnectionError:
            return
        finally:
            self._open.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _judge(self, head: bytes) -> _Answer:
        lines = head.decode("latin-1").split("\r\n")
        request = lines[0].split(" ")
        if len(request) != 3 or not request[2].startswith("HTTP/"):
            return _Answer(400, "Bad request", "This page only answers Kite's login redirect.")
        method, target, _version = request
        hosts = [line.split(":", 1)[1].strip().lower() for line in lines[1:] if line.lower().startswith("host:")]
        if len(hosts) != 1 or not self._own_host(hosts[0]):
            log.warning("refused a request to the login catcher naming another host")
            return _Answer(421, "Refused", "This page answers only to this machine's own address.")
        if method != "GET":
            return _Answer(405, "Not allowed", "This page only answers Kite's login redirect.")
        parts = urlsplit(target)
        if self._path is not None and parts.path != self._path:
            return _Answer(404, "Not found", "This page only answers Kite's login redirect.")
        if self._token is None or self._token.done():
            return _Answer(410, "Already done", "This login is complete; return to Imperium Desk.")
        try:
            token = _token_from_query(parts.query)
        except LoginFailed as failed:
            log.warning("Kite's login redirect reports a failed login")
            self._token.set_exception(failed)
            self._token.exception()  # a waiter still gets it; unawaited, asyncio need not complain at collection
            return _Answer(400, "Login failed", html.escape(str(failed)))
        except NoRequestToken:
            log.info("a request to the login catcher at %s had no request token", parts.path)
            return _Answer(400, "No login here", "This address has no login token; log in through Kite.")
        self._token.set_result(token)
        log.info("Kite's login redirect arrived")
        return _Answer(200, "Logged in to Kite", "You can close this tab and return to Imperium Desk.")

    def _own_host(self, host: str) -> bool:
        """True for a Host header naming this listener: a loopback name, and our port or none."""
        if host.startswith("["):  # an IPv6 literal: "[::1]" or "[::1]:port"
            bracket = host.find("]")
            name, rest = host[: bracket + 1], host[bracket + 1 :]
            if rest and not rest.startswith(":"):
                return False
            port = rest[1:]
        else:
            name, _, port = host.partition(":")
        own = f"[{self._host}]" if ":" in self._host else self._host
        return name in _LOOPBACK_NAMES | {own} and port in ("", str(self._port))

    async def _reply(self, writer: asyncio.StreamWriter, answer: _Answer) -> None:
        body = _PAGE.format(title=answer.title, text=answer.text).encode()
        head = (
            f"HTTP/1.1 {answer.status} {_REASONS[answer.status]}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            # The page's own address holds the request token: keep it out of caches and of any Referer.
            "Cache-Control: no-store\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


# -- the exchange and the token's life ---------------------------------------------------------------------------


class _SessionAnswer(BaseModel):
    """What the desk reads of Kite's `/session/token` answer."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str = Field(min_length=1)
    user_id: str = ""


class KiteLogin:
    """Exchanges a request token for the day's session through the official client, off the loop.

    Threading: `exchange` is awaited on the desk's loop; the blocking `generate_session` runs on its own thread
    through the Offloader (a fresh client per exchange: the REST executors' clients are not touched). Nothing is
    kept: the caller stores the token (`SecretStore`) and hands it to the REST client.
    """

    def __init__(self, config: KiteConfig, offloader: Offloader, clock: Clock) -> None:
        self._config = config
        self._offloader = offloader
        self._clock = clock

    def login_url(self) -> str:
        return login_url(self._config.api_key)

    async def exchange(self, request_token: RequestToken, api_secret: ApiSecret) -> KiteSession:
        """The session for `request_token`. Raises the translated broker error when Kite refuses (wrong secret,
        used or expired request token: `BrokerSessionExpired` / `BrokerInputError`) or cannot be reached, and
        `LoginFailed` when the answer carries no access token."""
        # The token's day is read before the request leaves: one minted a moment before 06:00 IST dies at 06:00,
        # and reading the clock after the answer could put it a day later than it lives.
        issued_at = self._clock.now()
        api_key, root, timeout = self._config.api_key, self._config.rest_url, self._config.timeout

        def generate() -> Any:
            client = KiteConnect(api_key, root=root, timeout=timeout, debug=False)
            try:
                return client.generate_session(request_token.value, api_secret=api_secret.value)
            finally:
                client.reqsession.close()

        try:
            data = await self._offloader.thread(generate, "kite-login")
        except Exception as exc:
            error = translate(exc, sent=True)
            log.warning("the Kite login was refused: %s (%s)", type(error).__name__, error)
            raise error from exc
        try:
            answer = _SessionAnswer.model_validate(data)
        except ValidationError:
            # pydantic's message would quote the answer, token included.
            raise LoginFailed("Kite's answer to the login carried no access token; log in again") from None
        log.info("logged in to Kite as %s", answer.user_id or "(user id not given)")
        return KiteSession(AccessToken(answer.access_token, token_expiry(issued_at)), answer.user_id)


def token_expiry(issued_at: float) -> float:
    """When a token issued at `issued_at` dies (epoch seconds): the next 06:00 IST strictly after it. Minted at
    05:59 IST it dies at 06:00 the same day; at 06:00 or later, at 06:00 the next day. The machine's own time zone
    plays no part."""
    issued = datetime.fromtimestamp(issued_at, IST)
    dies = issued.replace(hour=_TOKEN_DIES_AT_HOUR, minute=0, second=0, microsecond=0)
    if dies <= issued:
        dies += timedelta(days=1)
    return dies.timestamp()


def expiry_warning_due(now: float, expiry: float, ahead_s: float) -> bool:
    """True while the token is still alive but dies within `ahead_s` seconds: the desk says so ahead of time. An
    expired token is not a warning but a new login (`AccessToken.expired`)."""
    if ahead_s < 0:
        raise ValueError("the warning comes ahead of the expiry: ahead_s >= 0")
    return expiry - ahead_s <= now < expiry
