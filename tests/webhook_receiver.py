"""A real webhook receiver for tests: uvicorn on a loopback port, every request verified with `standardwebhooks`.

It runs on the test's own asyncio loop. `stop()` closes the port (senders get connection refused) and `start()`
opens the same port again, so a subscriber URL stays valid across a "receiver down" period. `script` holds the
answers to give next (status, extra headers); when it is empty the receiver accepts with 204.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Attempt:
    msg_id: str
    status: int  # what the receiver answered
    at: float  # time.monotonic() when it arrived
    payload: Any  # the verified JSON body


@dataclass
class Received:
    msg_id: str
    payload: Any


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield  # the test process keeps its own signal handlers


@dataclass
class Receiver:
    secret: str
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    accepted: list[Received] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # requests whose signature did not verify (must stay empty)
    port: int = 0
    _server: _QuietServer | None = None
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def ids(self) -> list[str]:
        return [r.msg_id for r in self.accepted]

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, lifespan="off", log_level="warning", access_log=False, interface="asgi3")
        server = self._server = _QuietServer(config)
        self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def wait_for(self, count: int, timeout_s: float = 30.0) -> None:
        """Until `count` deliveries were accepted (AssertionError naming what arrived otherwise). The bound is generous:
        on a loaded 2-core machine, with the suite's other worker busy, 500 deliveries after a receiver outage took
        over 10 s (alone they take ~2 s)."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.accepted)} of {count} deliveries arrived in {timeout_s} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        msg_id = headers.get("webhook-id", "")
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.rejected.append(f"{msg_id}: {exc}")
            await _answer(send, 400, {})
            return
        status, extra = self.script.popleft() if self.script else (204, {})
        self.attempts.append(Attempt(msg_id, status, time.monotonic(), payload))
        if 200 <= status < 300:
            self.accepted.append(Received(msg_id, payload))
            self._arrived.set()
        await _answer(send, status, extra)


async def _answer(send: Send, status: int, headers: dict[str, str]) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b""})
