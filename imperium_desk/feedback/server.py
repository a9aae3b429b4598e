"""uvicorn serving the feedback app as a task on the loop that is already running (qasync in the desk, plain
asyncio in `serve`).

The process's signal handlers stay the desk's (uvicorn's own would swallow Ctrl+C), the socket is bound here so a
port in use is a clear error rather than uvicorn's `sys.exit`, and `stop()` ends the live streams first so the
graceful shutdown has nothing left open to wait for. What a client may hold of the server (read deadlines, the
connection cap, the rate-limited log of refusals and accept failures) is `connection_guard`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn
from fastapi import FastAPI

from imperium_desk.feedback.app import runtime_of
from imperium_desk.feedback.backend import FeedbackStartError
from imperium_desk.feedback.config import is_loopback
from imperium_desk.feedback.connection_guard import LISTEN_BACKLOG, ConnectionGuard, ConnectionLimits

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S: Final = 5  # requests still running after this are cancelled


class FeedbackServerError(FeedbackStartError):
    """The server cannot start (a remote host not allowed, the port in use); the message names the setting."""


class _EmbeddedServer(uvicorn.Server):
    """uvicorn on a loop someone else runs."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the desk owns SIGINT/SIGTERM: a Ctrl+C stops the desk, which stops this server

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class FeedbackServer:
    """The feedback app served on the running loop (module docstring); `start` and `stop` are called on that loop.
    `start` returns once the server accepts connections, with its address (`port` is the bound one from then on), or
    raises `FeedbackServerError` naming the setting. `stop` returns when every request has finished or was cancelled
    after `GRACEFUL_SHUTDOWN_S`. A non-loopback host is refused here too unless `allow_remote`: the check does not rely
    on the config having been validated. `limits` bound what each client may hold (`ConnectionLimits`)."""

    def __init__(self, app: FastAPI, host: str, port: int, *, allow_remote: bool = False,
                 limits: ConnectionLimits | None = None) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.allow_remote = allow_remote
        self.limits = limits or ConnectionLimits()
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the feedback server is not started")
        return self._port

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> str:
        """Bind, serve, and return the address (with the bound port when the config asked for port 0)."""
        if self._task is not None:
            raise RuntimeError("the feedback server is already started")
        if not is_loopback(self.host):
            if not self.allow_remote:
                raise FeedbackServerError(
                    f"feedback.host: {self.host!r} is not loopback; binding it needs allow_remote (--allow-remote)"
                )
            log.warning("feedback API bound to %s: reachable from other machines (bearer token only, no TLS)",
                        self.host)
        sock = _bind(self.host, self.requested_port)
        guard = ConnectionGuard(self.limits)
        config = uvicorn.Config(
            self.app, lifespan="off", log_level="warning", log_config=None, access_log=False,
            http=guard.protocol_class(), ws="none", proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, server_header=False,
            timeout_keep_alive=self.limits.keep_alive_s, h11_max_incomplete_event_size=self.limits.max_header_bytes,
            backlog=guard.accept_batch,  # asyncio accepts up to `backlog` connections a loop turn
        )
        server = _EmbeddedServer(config)
        loop = asyncio.get_running_loop()
        self._server = server
        self._port = sock.getsockname()[1]
        guard.install(loop, [sock])
        self._task = loop.create_task(server.serve(sockets=[sock]), name="feedback-server")
        self._task.add_done_callback(lambda _: guard.uninstall())
        ready = asyncio.ensure_future(server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            sock.close()
            await self._task  # raises what stopped it
            raise FeedbackServerError(f"feedback server on {self.address} stopped while starting")
        # asyncio listened with the accept batch as the kernel's queue too; a deeper queue lets a flood wait there
        # rather than have a real client's connection dropped and retried a second later
        sock.listen(LISTEN_BACKLOG)
        return self.address

    async def stop(self) -> None:
        """End the live streams, stop accepting, let running requests finish (bounded), and return with none of the
        server's tasks left behind."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        runtime_of(self.app).close()
        server.should_exit = True
        try:
            await task
        finally:
            self._task = None


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise FeedbackServerError(f"feedback.host: cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise FeedbackServerError(f"feedback.port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
