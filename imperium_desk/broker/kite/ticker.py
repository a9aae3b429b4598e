"""Our asyncio client for Kite's ticker websocket (kite-notes §1.9): subscriptions, ticks, order updates, reconnect.

Why not `KiteTicker`: it runs the process-wide Twisted reactor, which cannot be restarted, so the daily token change,
a reconnect with a new token and test isolation all fight it. This client is a `websockets` (asyncio) connection
on the engine's loop and the pure decoder in `packets.py`.

Protocol. URL `{ws_url}?api_key=..&access_token=..` with header `X-Kite-Version: 3`. Client -> server text frames:
`{"a": "subscribe", "v": [tokens]}`, `{"a": "unsubscribe", "v": [...]}`, `{"a": "mode", "v": [mode, [tokens]]}`
(a subscribed token streams in quote mode until told otherwise). Server -> client: binary tick frames (a 1-byte
frame is the heartbeat) and JSON text frames (order updates, errors, notices).

What the client promises:
- Every frame received is decoded once, in the receive task, and its ticks handed to the tick listeners once, in
  frame order, on the loop. A reconnect replays nothing: a tick is a snapshot of the instrument, so a frame lost in a
  drop is superseded by the next one and no frame is ever delivered twice.
- The subscription set (token -> mode) is the client's own state: `subscribe` / `unsubscribe` change it at once
  and, when connected, send the difference; after every (re)connection the whole set is sent again (subscribe,
  then one `mode` message per mode) before anything else, and then the connected listeners are called (the broker
  reconciles its orders there: updates sent while the socket was down are lost, kite-notes §1.9).
- At most `max_tokens` (Kite: 3,000 per connection) tokens: a `subscribe` that would go past it raises
  `TokenLimitError` and changes nothing.
- A drop (closed connection, refused or failed handshake, or a stall: no frame at all, not even a heartbeat, for
  `stall_after_s`) is followed by a reconnect after an exponential backoff (`ReconnectPolicy`: capped, optionally
  jittered from a seeded stream). The backoff restarts once a connection has delivered a frame.
- HTTP 403 at the handshake means the access token is dead (06:00 IST or a master logout): the client stops,
  tells the session-expired listeners once, and makes no further attempt until `set_access_token` gives it a new
  token (no reconnect storm against a dead token).

Threading: every public method is called on the engine's loop, and every listener is called on it; no method
blocks. Time (stall, backoff) comes from the Clock port. The access token is never logged, never put into an
exception message, and `websockets`' own debug log (which prints the request line, token included) is muted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlencode

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

from imperium_desk.broker.kite.packets import (
    ErrorMessage,
    FrameDecodeError,
    InfoMessage,
    OrderUpdateMessage,
    Tick,
    TickMode,
    UnknownPacket,
    decode_binary_frame,
    decode_text_frame,
)
from imperium_desk.clock import Clock

__all__ = [
    "MAX_TOKENS_PER_CONNECTION",
    "KiteTickerClient",
    "ReconnectPolicy",
    "TickerState",
    "TokenLimitError",
]

log = logging.getLogger(__name__)

# `websockets` logs the handshake request line at DEBUG, and ours carries the access token in its query: the
# connection gets a logger of its own that never says anything below WARNING, whatever the root level is.
_wire_log = logging.getLogger(f"{__name__}.wire")
_wire_log.setLevel(logging.WARNING)
_wire_log.propagate = True

MAX_TOKENS_PER_CONNECTION: Final = 3_000  # Kite: 3 connections x 3,000 instruments per api_key (kite-notes §5.3)
_HTTP_FORBIDDEN: Final = 403
# Frames of 3,000 full packets are ~560 kB; the library's default cap (1 MiB) leaves too little room.
_MAX_FRAME_BYTES: Final = 4 * 1024 * 1024

TickListener = Callable[[Sequence[Tick]], None]
OrderUpdateListener = Callable[[Mapping[str, Any]], None]
ConnectedListener = Callable[[], Awaitable[object] | object]
SessionExpiredListener = Callable[[], None]
StateListener = Callable[["TickerState"], None]


class TickerState(StrEnum):
    """Where the connection is (the status bar can show it)."""

    STOPPED = "stopped"  # not started, or stopped
    CONNECTING = "connecting"  # handshake under way
    CONNECTED = "connected"  # handshake done and the subscriptions sent
    BACKING_OFF = "backing_off"  # dropped; waiting before the next attempt
    SESSION_EXPIRED = "session_expired"  # 403 at the handshake; waiting for `set_access_token`


class TokenLimitError(ValueError):
    """A subscription that would put more instruments on the connection than Kite allows; nothing was changed.
    `requested` is the count it would have reached, `limit` the cap."""

    def __init__(self, requested: int, limit: int) -> None:
        super().__init__(f"{requested} instruments on one ticker connection; Kite allows {limit}")
        self.requested = requested
        self.limit = limit


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Reconnect timing. The n-th consecutive failed attempt waits `min(max_delay_s, initial_delay_s * factor**n)`,
    shortened by up to `jitter` of itself when the client has a jitter stream (so many desks restarted together do
    not reconnect in step). KiteTicker's own defaults are similar (cap 60 s, pong check 2 x 2.5 s)."""

    initial_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0
    jitter: float = 0.25
    # Kite sends a heartbeat about every second on an idle connection; five silent seconds is a dead one.
    stall_after_s: float = 5.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if min(self.stall_after_s, self.open_timeout_s, self.close_timeout_s) <= 0:
            raise ValueError("stall_after_s, open_timeout_s and close_timeout_s must be > 0")

    def delay(self, attempt: int, draw: float | None) -> float:
        """The wait before attempt number `attempt` (0 = the first retry); `draw` is a uniform [0, 1) or None."""
        base = min(self.max_delay_s, self.initial_delay_s * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * draw) if draw is not None else base


class _Stalled(Exception):
    """No frame for `stall_after_s`: the connection is treated as dropped."""


class KiteTickerClient:
    """One ticker connection, kept alive (module docstring for the promises).

    Listeners (plain callables, called on the loop in the order they were added; one that raises is logged and the
    others still run):
    - tick listeners: `(ticks)` for each binary frame that carried ticks (never empty);
    - order-update listeners: `(order)` with the order dict of each `{"type": "order"}` text frame;
    - connected listeners: `()` after each successful (re)connection, the first included, once the subscriptions
      are sent; an awaitable result is run as a task (the broker's `reconcile()`);
    - session-expired listeners: `()` once per dead token (403 at the handshake);
    - state listeners: `(state)` on every `TickerState` change.
    """

    def __init__(
        self,
        *,
        ws_url: str,
        api_key: str,
        access_token: str,
        clock: Clock,
        policy: ReconnectPolicy | None = None,
        jitter: np.random.Generator | None = None,
        max_tokens: int = MAX_TOKENS_PER_CONNECTION,
    ) -> None:
        if not 0 < max_tokens <= MAX_TOKENS_PER_CONNECTION:
            raise ValueError(f"max_tokens must be in 1..{MAX_TOKENS_PER_CONNECTION}")
        self._ws_url = ws_url
        self._api_key = api_key
        self._access_token = access_token
        self._clock = clock
        self.policy = policy or ReconnectPolicy()
        self._jitter = jitter
        self.max_tokens = max_tokens
        self._modes: dict[int, TickMode] = {}  # insertion order = subscription order, sent as such
        self._state = TickerState.STOPPED
        self._task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[str] | None = None  # set while connected: deltas for the writer
        self._new_token = asyncio.Event()
        self._last_frame_at = 0.0
        self._background: set[asyncio.Task[Any]] = set()
        self._tick_listeners: list[TickListener] = []
        self._order_listeners: list[OrderUpdateListener] = []
        self._connected_listeners: list[ConnectedListener] = []
        self._expired_listeners: list[SessionExpiredListener] = []
        self._state_listeners: list[StateListener] = []
        # Counters for tests, benchmarks and the log.
        self.connections = 0  # successful handshakes
        self.drops = 0  # connections or attempts that ended in a drop (stalls included)
        self.stalls = 0
        self.frames = 0  # frames received (heartbeats included)
        self.bad_frames = 0  # frames that did not decode (logged and skipped)

    # -- listeners -------------------------------------------------------------------------------------------------
    def add_tick_listener(self, listener: TickListener) -> None:
        self._tick_listeners.append(listener)

    def add_order_update_listener(self, listener: OrderUpdateListener) -> None:
        self._order_listeners.append(listener)

    def add_connected_listener(self, listener: ConnectedListener) -> None:
        self._connected_listeners.append(listener)

    def add_session_expired_listener(self, listener: SessionExpiredListener) -> None:
        self._expired_listeners.append(listener)

    def add_state_listener(self, listener: StateListener) -> None:
        self._state_listeners.append(listener)

    # -- subscriptions ---------------------------------------------------------------------------------------------
    @property
    def tokens(self) -> frozenset[int]:
        """Every subscribed token (sent again after each reconnect)."""
        return frozenset(self._modes)

    def mode_of(self, token: int) -> TickMode | None:
        return self._modes.get(token)

    def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.FULL) -> None:
        """Subscribe `tokens` in `mode` (a subscribed token changes mode). Raises `TokenLimitError`, changing
        nothing, if the connection would carry more than `max_tokens`."""
        wanted = list(dict.fromkeys(tokens))
        new = [t for t in wanted if t not in self._modes]
        if len(self._modes) + len(new) > self.max_tokens:
            raise TokenLimitError(len(self._modes) + len(new), self.max_tokens)
        remode = [t for t in wanted if self._modes.get(t) is not mode]
        for token in remode:
            self._modes[token] = mode
        if new:
            self._send({"a": "subscribe", "v": new})
        if remode:
            self._send({"a": "mode", "v": [mode.value, remode]})

    def unsubscribe(self, tokens: Iterable[int]) -> None:
        """Stop streaming `tokens` (unknown ones are ignored)."""
        gone = [t for t in dict.fromkeys(tokens) if self._modes.pop(t, None) is not None]
        if gone:
            self._send({"a": "unsubscribe", "v": gone})

    def _send(self, message: dict[str, Any]) -> None:
        # While disconnected nothing is queued: the whole set goes out after the next handshake.
        if self._outbox is not None:
            self._outbox.put_nowait(json.dumps(message))

    def _full_state(self) -> list[str]:
        if not self._modes:
            return []
        messages = [json.dumps({"a": "subscribe", "v": list(self._modes)})]
        by_mode: dict[TickMode, list[int]] = {}
        for token, mode in self._modes.items():
            by_mode.setdefault(mode, []).append(token)
        messages.extend(json.dumps({"a": "mode", "v": [mode.value, group]}) for mode, group in by_mode.items())
        return messages

    # -- lifecycle -------------------------------------------------------------------------------------------------
    @property
    def state(self) -> TickerState:
        return self._state

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Connect and stay connected until `stop()` (on the running loop); starting twice is harmless."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kite-ticker")

    def stop(self) -> None:
        """Close the connection and stop reconnecting (the closing finishes in the background: `aclose` waits)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._set_state(TickerState.STOPPED)

    async def aclose(self) -> None:
        """`stop()`, then wait until the connection is closed and every task of this client has ended."""
        self.stop()
        pending = list(self._background)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def set_access_token(self, access_token: str) -> None:
        """Use a new access token from the next handshake on; after a session expiry this resumes connecting."""
        self._access_token = access_token
        self._new_token.set()

    # -- the connection loop ---------------------------------------------------------------------------------------
    def _url(self) -> str:
        return f"{self._ws_url}?{urlencode({'api_key': self._api_key, 'access_token': self._access_token})}"

    def _redact(self, text: str) -> str:
        return text.replace(self._access_token, "***") if self._access_token else text

    async def _run(self) -> None:
        failures = 0
        while True:
            self._set_state(TickerState.CONNECTING)
            self._new_token.clear()
            frames_before = self.frames
            try:
                await self._connect_once()
            except InvalidStatus as exc:
                if exc.response.status_code == _HTTP_FORBIDDEN:
                    await self._session_expired()
                    failures = 0
                    continue
                log.warning("kite ticker: handshake refused with HTTP %d", exc.response.status_code)
            except InvalidURI:
                # Its message quotes the URL, token included: never re-raised or logged as is.
                log.error("kite ticker: the websocket URL is not valid (ws_root %r)", self._ws_url)
            except _Stalled:
                self.stalls += 1
                log.warning("kite ticker: no frame for %.1f s; reconnecting", self.policy.stall_after_s)
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.warning("kite ticker: connection lost (%s: %s)", type(exc).__name__, self._redact(str(exc)))
            self.drops += 1
            # A connection that delivered anything worked: the backoff starts again from the shortest wait.
            failures = 0 if self.frames > frames_before else failures + 1
            draw = float(self._jitter.random()) if self._jitter is not None else None
            delay = self.policy.delay(max(failures - 1, 0), draw)
            self._set_state(TickerState.BACKING_OFF)
            await self._clock.sleep(delay)

    async def _session_expired(self) -> None:
        log.warning("kite ticker: the access token was refused (403); waiting for a new login")
        self._set_state(TickerState.SESSION_EXPIRED)
        for listener in list(self._expired_listeners):
            self._call(listener)
        await self._new_token.wait()

    async def _connect_once(self) -> None:
        """One connection from handshake to drop. Returns when the server closed the connection cleanly; raises on
        anything else."""
        policy = self.policy
        ws = await connect(
            self._url(),
            additional_headers={"X-Kite-Version": "3"},
            compression=None,
            open_timeout=policy.open_timeout_s,
            close_timeout=policy.close_timeout_s,
            ping_interval=None,  # liveness is the stall watchdog's: the server's heartbeats, on our clock
            max_size=_MAX_FRAME_BYTES,
            logger=_wire_log,
        )
        stalled = False
        tasks: list[asyncio.Task[None]] = []
        try:
            self.connections += 1
            self._last_frame_at = self._clock.monotonic()
            outbox: asyncio.Queue[str] = asyncio.Queue()
            self._outbox = outbox
            for message in self._full_state():
                await ws.send(message)
            self._set_state(TickerState.CONNECTED)
            for listener in list(self._connected_listeners):
                self._call(listener)
            tasks = [
                asyncio.create_task(self._receive(ws)),
                asyncio.create_task(self._write(ws, outbox)),
                asyncio.create_task(self._watch()),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if isinstance(exc, _Stalled):
                    stalled = True
                if exc is not None:
                    raise exc
        finally:
            self._outbox = None
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if stalled:
                ws.transport.abort()  # a silent peer will not answer a close handshake either
            else:
                await ws.close()

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            self.frames += 1
            self._last_frame_at = self._clock.monotonic()
            if isinstance(frame, str):
                self._on_text(frame)
            else:
                self._on_binary(frame)
        log.info("kite ticker: the server closed the connection")

    async def _write(self, ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        while True:
            await ws.send(await outbox.get())

    async def _watch(self) -> None:
        stall = self.policy.stall_after_s
        while True:
            idle = self._clock.monotonic() - self._last_frame_at
            if idle >= stall:
                raise _Stalled
            await self._clock.sleep(stall - idle)

    # -- frames -> listeners ---------------------------------------------------------------------------------------
    def _on_binary(self, frame: bytes) -> None:
        try:
            packets = decode_binary_frame(frame)
        except FrameDecodeError as exc:
            self.bad_frames += 1
            log.warning("kite ticker: undecodable binary frame (%s, %d bytes)", exc.kind.value, len(frame))
            return
        ticks = [p for p in packets if not isinstance(p, UnknownPacket)]
        if len(ticks) != len(packets):
            log.debug("kite ticker: %d packet(s) of an unknown kind skipped", len(packets) - len(ticks))
        if ticks:
            for listener in self._tick_listeners:
                self._call(listener, ticks)

    def _on_text(self, frame: str) -> None:
        try:
            message = decode_text_frame(frame)
        except FrameDecodeError as exc:
            self.bad_frames += 1
            log.warning("kite ticker: undecodable text frame (%s)", exc.kind.value)
            return
        match message:
            case OrderUpdateMessage(order=order):
                for listener in self._order_listeners:
                    self._call(listener, order)
            case ErrorMessage(data=data):
                log.warning("kite ticker: server error: %s", self._redact(str(data)))
            case InfoMessage(data=data):
                log.info("kite ticker: server message: %s", self._redact(str(data)))
            case _:
                log.info("kite ticker: unrecognised text frame: %s", self._redact(str(message)))

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _set_state(self, state: TickerState) -> None:
        if state is not self._state:
            self._state = state
            for listener in list(self._state_listeners):
                self._call(listener, state)

    def _call(self, listener: Callable[..., object], *args: Any) -> None:
        try:
            result = listener(*args)
        except Exception:
            # One broken consumer must not stop the feed or starve the others.
            log.exception("kite ticker listener %r failed", listener)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._background.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("kite ticker: a connected listener failed", exc_info=task.exception())
