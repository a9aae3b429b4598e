"""The `Host` header check in front of the whole app: the defence against DNS rebinding.

A web page on `evil.example` whose name is made to resolve to 127.0.0.1 can make the browser send requests to the
desk's port; the browser still sends `Host: evil.example`. Answering only the names the server is reached by (the
loopback names and addresses, the configured host and the names configured beside it) stops such a page before it
reaches any route, the open ones (`/health`, the docs) included. A server bound to every address (`0.0.0.0`, `::`)
also answers any IP address literal: rebinding needs a name the attacker controls, and a literal is none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from imperium_desk.feedback.webhooks.allowlist import normalise_host

LOOPBACK_NAMES: Final = frozenset({"localhost"})
_WILDCARDS: Final = frozenset({"0.0.0.0", "::"})
MISDIRECTED: Final = 421


def host_of(header: bytes) -> str | None:
    """The host of a `Host` header without its port, normalised as allow-lists are; None if it is not one."""
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        return None
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            return None
        host = text[1:end]
    else:
        host, _, _ = text.partition(":")
    if not host or any(c.isspace() or c in "/\\@" for c in host):
        return None
    return normalise_host(host)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostCheck:
    """ASGI middleware answering 421 Misdirected Request (JSON `detail`) to an HTTP request whose `Host` is not one
    the server is reached by (module docstring); a request without `Host` (HTTP/1.0, which no browser sends) passes,
    and so does everything that is not HTTP."""

    def __init__(self, app: ASGIApp, bound_host: str, names: Iterable[str] = ()) -> None:
        self.app = app
        bound = normalise_host(bound_host)
        self._any_ip = bound in _WILDCARDS
        self._names = frozenset({bound, *(normalise_host(n) for n in names)} - _WILDCARDS)

    def allows(self, host: str) -> bool:
        return host in self._names or _is_loopback(host) or (self._any_ip and _is_ip(host))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    host = host_of(value)
                    if host is None or not self.allows(host):
                        await _refuse(send)
                        return
                    break
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    body = orjson.dumps({"detail": "this server does not answer for that Host: use its address (e.g. 127.0.0.1)"})
    await send({
        "type": "http.response.start",
        "status": MISDIRECTED,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
