"""What one client may hold of the feedback server: how long it may take to send a request's headers and its body,
how many connections may be open at once, and how often the server's complaints about all that reach the log.

A connection is *waiting* while the server waits on the client (request headers or body not complete yet, or idle
between requests) and *busy* while the app handles its request or streams the answer. The waiting phases are bounded
(`ConnectionLimits`): headers `header_timeout_s` from the first byte (from the connection for the first request),
a body `body_timeout_s` from the end of its headers; past either the client gets `408` and the connection is closed.
An idle kept-alive connection is closed after `keep_alive_s` (uvicorn's timer).

At `max_connections` a new connection closes the oldest waiting one (a `503` if it had begun a request, a plain close
if it was idle), so a flood of idle or slow connections cannot shut out a real client, and the server's descriptors
stay bounded. Only when every connection is busy is the newcomer itself refused, with `503` and `Retry-After`.
Closing the oldest, not refusing the newest, is what keeps `/health` answerable during a flood: the newcomer's request
is read within a few loop turns, and the server accepts at most `ACCEPT_BATCH` connections a turn (a quarter of the
cap when that is lower), so a flood arriving meanwhile cannot push it out before it is read.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if sys.platform != "win32":
    import resource

log = logging.getLogger(__name__)

ACCEPT_BATCH: Final = 128  # connections accepted per loop turn (asyncio's `backlog`), and at most a quarter of the cap
LISTEN_BACKLOG: Final = 4096  # the kernel's queue of connections not yet accepted (clamped to net.core.somaxconn)
_FD_SHARE: Final = 4  # the connections may use at most this fraction of the process's descriptor limit
_MIN_CONNECTIONS: Final = 16  # a descriptor limit so low it would leave fewer is not honoured
_ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]
# Accept failures asyncio retries a second later (it logs each one through the loop's exception handler).
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds above (module docstring); the defaults are the desk's. Seconds and bytes, all positive."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keep_alive_s: int = 5
    max_connections: int = 512
    max_header_bytes: int = 16 * 1024  # h11's incomplete-event bound: a longer request head is answered 400
    log_interval_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s", "max_connections", "max_header_bytes",
                     "log_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ConnectionLimits.{name} must be positive")

    def connection_cap(self) -> int:
        """`max_connections`, lowered to a quarter of the process's open-file limit: the desk's own files, its
        broker sockets and the accept batch in flight need the rest."""
        if sys.platform == "win32":  # sockets are handles there, with no per-process limit to read
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return min(self.max_connections, max(soft // _FD_SHARE, _MIN_CONNECTIONS))


class RateLimitedLog:
    """At most one warning per kind per interval: the first occurrence is logged at once, later ones in the interval
    are counted and reported in one line when it ends (and a sustained stream keeps to that one line an interval).
    Used on the server's loop only; `close` reports what is pending and cancels the timers."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._pending: dict[str, int] = {}
        self._lines: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def note(self, kind: str, line: str) -> None:
        if kind in self._pending:
            self._pending[kind] += 1
            return
        log.warning("%s", line)
        self._open_interval(kind, line)

    def close(self) -> None:
        for kind in list(self._timers):
            self._timers.pop(kind).cancel()
            self._report(kind)
        self._pending.clear()
        self._lines.clear()

    def _open_interval(self, kind: str, line: str) -> None:
        self._pending[kind] = 0
        self._lines[kind] = line
        self._timers[kind] = asyncio.get_running_loop().call_later(self.interval_s, self._interval_ended, kind)

    def _interval_ended(self, kind: str) -> None:
        del self._timers[kind]
        if self._report(kind):
            self._open_interval(kind, self._lines[kind])
        else:
            del self._pending[kind], self._lines[kind]

    def _report(self, kind: str) -> bool:
        count = self._pending.get(kind, 0)
        if count:
            log.warning("%s (%d more times in the last %g s)", self._lines[kind], count, self.interval_s)
        return count > 0


class _Cut(Enum):
    """Why the server closes a connection, which is the kind its log line is counted under."""

    HEADERS_LATE = "headers-late"
    BODY_LATE = "body-late"
    EVICTED = "evicted"
    REFUSED = "refused"


def _status_response(status: int, reason: str, *extra: str) -> bytes:
    body = reason.encode("ascii")
    head = [f"HTTP/1.1 {status} {reason}", "content-type: text/plain; charset=utf-8", "connection: close",
            f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


_REQUEST_TIMEOUT: Final = _status_response(408, "Request Timeout")
_SERVICE_UNAVAILABLE: Final = _status_response(503, "Service Unavailable", "retry-after: 1")


class ConnectionGuard:
    """One server's connections (module docstring): admits or refuses each new one, closes the oldest waiting one at
    the cap, and owns the rate-limited log of the closes and of the listening sockets' accept failures. Used on the
    server's loop only. `install` chains its accept-failure filter in front of the loop's exception handler until
    `uninstall`; every other exception context goes on to the handler that was there."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.cap = limits.connection_cap()
        self.accept_batch = min(ACCEPT_BATCH, max(1, self.cap // 4))
        self.log = RateLimitedLog(limits.log_interval_s)
        self._open: set[GuardedH11Protocol] = set()
        self._waiting: dict[GuardedH11Protocol, None] = {}  # oldest first: the order they began waiting
        self._listening: frozenset[int] = frozenset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handler: _ExceptionHandler | None = None

    def protocol_class(self) -> type[H11Protocol]:
        """uvicorn's h11 protocol bound to this guard (uvicorn builds one per connection from the class)."""
        guard = self

        class BoundProtocol(GuardedH11Protocol):
            _guard = guard

        return BoundProtocol

    def install(self, loop: asyncio.AbstractEventLoop, listening: list[socket.socket]) -> None:
        self._loop = loop
        self._listening = frozenset(sock.fileno() for sock in listening)
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._exception_handler)

    def uninstall(self) -> None:
        loop = self._loop
        if loop is not None and loop.get_exception_handler() == self._exception_handler:
            loop.set_exception_handler(self._previous_handler)
        self._loop = None
        self.log.close()

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc, sock = context.get("exception"), context.get("socket")
        if (isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS and sock is not None
                and sock.fileno() in self._listening):
            self.log.note(f"accept-{exc.errno}", f"feedback server: cannot accept a connection: {exc.strerror} "
                                                 "(asyncio retries each second)")
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    # The protocol's calls: each keeps `_open` and `_waiting` as the module docstring describes.

    def opened(self, connection: GuardedH11Protocol) -> bool:
        """Admit `connection` (True), closing the oldest waiting one if that takes it over the cap; False when every
        other connection is busy and it was refused."""
        self._open.add(connection)
        self._waiting[connection] = None
        if len(self._open) <= self.cap:
            return True
        oldest = next(iter(self._waiting))
        if oldest is connection:
            self.closed(connection)
            connection.cut(_Cut.REFUSED)
            self.log.note(_Cut.REFUSED.value, f"feedback server: all {self.cap} connections busy; refused a new one "
                                              "with 503")
            return False
        self.closed(oldest)
        oldest.cut(_Cut.EVICTED)
        self.log.note(_Cut.EVICTED.value, f"feedback server: at its cap of {self.cap} connections; closed the one "
                                          "waiting longest on its client")
        return True

    def waiting(self, connection: GuardedH11Protocol) -> None:
        if connection in self._open and connection not in self._waiting:
            self._waiting[connection] = None

    def busy(self, connection: GuardedH11Protocol) -> None:
        self._waiting.pop(connection, None)

    def closed(self, connection: GuardedH11Protocol) -> None:
        self._open.discard(connection)
        self._waiting.pop(connection, None)

    def timed_out(self, connection: GuardedH11Protocol, cut: _Cut, bound_s: float) -> None:
        self.closed(connection)
        connection.cut(cut)
        what = "request headers" if cut is _Cut.HEADERS_LATE else "request body"
        self.log.note(cut.value, f"feedback server: closed a connection (408) that took over {bound_s:g} s to send "
                                 f"its {what}")


class _ThrottledWarnings(logging.LoggerAdapter[logging.Logger]):
    """uvicorn's protocol logger whose warnings (one per malformed request, a client's mistake) go to the guard's
    rate-limited log; errors, the app's exceptions among them, pass through as they are."""

    def __init__(self, logger: logging.Logger, guard: ConnectionGuard) -> None:
        super().__init__(logger)
        self._guard = guard

    @property
    def level(self) -> int:  # uvicorn reads it to skip its trace lines
        return self.logger.level

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        text = str(msg) % args if args else str(msg)
        self._guard.log.note(f"uvicorn-warning:{text}", f"feedback server: {text}")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the read deadlines and the connection cap of the guard it is bound to
    (`ConnectionGuard.protocol_class`). Runs on the server's loop, like its base."""

    _guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _ThrottledWarnings(self.logger, self._guard)  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for: _Cut | None = None
        self._request_begun = False  # bytes of the next request arrived (what makes an eviction a 503)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._guard.opened(self):
            self._arm(_Cut.HEADERS_LATE)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._request_begun = True
            if self._deadline_for is None:  # the first bytes of another request on a kept-alive connection
                self._arm(_Cut.HEADERS_LATE)
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def cut(self, why: _Cut) -> None:
        """Close this connection now, answering 408 or 503 when the client is owed an answer; a request the app is
        still reading ends for it as a client disconnect."""
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started and self.conn.their_state is not h11.IDLE
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if why in (_Cut.HEADERS_LATE, _Cut.BODY_LATE) and not answered:
            self.transport.write(_REQUEST_TIMEOUT)
        elif why is _Cut.REFUSED or (why is _Cut.EVICTED and self._request_begun and not answered):
            self.transport.write(_SERVICE_UNAVAILABLE)
        self.transport.close()

    def _track(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._deadline_for is not _Cut.BODY_LATE:
                self._arm(_Cut.BODY_LATE)
            self._guard.waiting(self)
        elif state is h11.IDLE:
            self._guard.waiting(self)  # idle between requests: the keep-alive timer bounds it until bytes arrive
        else:
            self._request_begun = False
            self._disarm()
            self._guard.busy(self)

    def _arm(self, cut: _Cut) -> None:
        self._disarm()
        limits = self._guard.limits
        bound = limits.header_timeout_s if cut is _Cut.HEADERS_LATE else limits.body_timeout_s
        self._deadline = self.loop.call_later(bound, self._guard.timed_out, self, cut, bound)
        self._deadline_for = cut

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._deadline_for = None, None
