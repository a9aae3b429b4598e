"""`GET /feedback/stream`: new telemetry records as server-sent events (`id: <seq>`, `event: <record event>`,
`data: <record JSON>`), for consumers that prefer a socket to polling.

A client that reconnects with `Last-Event-ID` first gets what it missed from the SQLite index, then the live
records, each exactly once: it is subscribed before the index is read, so a record is either already written (and
reaches the index) or arrives live, and seq tells the two apart. A client too slow to keep up is ended with a
comment rather than buffered without bound; it resumes from the index on reconnecting. `close()` ends every stream
(the server's stop), so no response is left open.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import orjson

from imperium_desk.feedback.backend import FeedbackBackend, MetricsQuery

IndexRead = Callable[[MetricsQuery], Awaitable[list[tuple[int, bytes]]]]

CATCH_UP_PAGE: Final = 1000
_INDEX_POLL_S: Final = 0.05


class _Client:
    """One stream's pending live records: filled by the tracker's listener call, drained by the response."""

    __slots__ = ("limit", "overflowed", "pending", "wake")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending: deque[Mapping[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.overflowed = False

    def __call__(self, record: Mapping[str, Any]) -> None:
        if len(self.pending) >= self.limit:
            self.overflowed = True
        else:
            self.pending.append(record)
        self.wake.set()


def frame(seq: int, event: str, data: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event.encode(), data)


class RecordStreams:
    """The live record streams of one app (module docstring). Runs on the desk's loop, where the backend delivers
    records: `events` is one response body, a generator of SSE frames that subscribes on its first step and unsubscribes
    when the response ends, however it ends. Memory per stream is bounded by `client_buffer` records."""

    def __init__(
        self,
        backend: FeedbackBackend,
        read_index: IndexRead,
        *,
        heartbeat_s: float = 15.0,
        client_buffer: int = 10_000,
        catch_up_wait_s: float = 5.0,
    ) -> None:
        """`heartbeat_s`: a comment line when nothing else was sent for that long (keeps proxies and clients from
        timing out). `client_buffer`: live records a stream may hold unsent before it is ended. `catch_up_wait_s`:
        how long a resuming stream waits for the index to reach the records written before it subscribed."""
        self._backend = backend
        self._read = read_index
        self._heartbeat_s = heartbeat_s
        self._client_buffer = client_buffer
        self._catch_up_wait_s = catch_up_wait_s
        self._clients: set[_Client] = set()
        self._closed = False

    @property
    def open_streams(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        """End every stream after what it is sending now; new streams end at once."""
        self._closed = True
        for client in self._clients:
            client.wake.set()

    async def events(self, last_event_id: int | None) -> AsyncIterator[bytes]:
        if self._closed:
            return
        client = _Client(self._client_buffer)
        self._clients.add(client)
        unsubscribe = self._backend.subscribe(client)
        try:
            yield b"retry: 1000\n: connected\n\n"  # the headers go out now: the client knows it is subscribed
            last = last_event_id
            if last is not None:
                # Everything up to `written` was written before subscribing: only the index has it.
                written = self._backend.last_seq()
                async for seq, chunk in self._catch_up(last, written):
                    last = seq
                    yield chunk
            while not self._closed:
                while client.pending:
                    record = client.pending.popleft()
                    seq = record["seq"]
                    if last is not None and seq <= last:
                        continue  # already sent from the index
                    last = seq
                    yield frame(seq, record["event"], orjson.dumps(record))
                if client.overflowed:
                    yield b": too far behind: reconnect with Last-Event-ID to resume from the index\n\n"
                    return
                if self._closed:
                    break
                client.wake.clear()
                try:
                    async with asyncio.timeout(self._heartbeat_s):
                        await client.wake.wait()
                except TimeoutError:
                    yield b": heartbeat\n\n"
        finally:
            unsubscribe()
            self._clients.discard(client)

    async def _catch_up(self, last: int, written: int) -> AsyncIterator[tuple[int, bytes]]:
        """Records after `last` up to at least `written` from the index, waiting (bounded) for it to catch up."""
        deadline = asyncio.get_running_loop().time() + self._catch_up_wait_s
        while last < written and not self._closed:
            rows = await self._read(MetricsQuery(since_seq=last, limit=CATCH_UP_PAGE))
            if rows:
                for seq, line in rows:
                    last = seq
                    yield seq, frame(seq, orjson.loads(line)["event"], line)
                continue
            if asyncio.get_running_loop().time() >= deadline:
                # The index is behind (a sink down?): say what is missing rather than stall the live stream.
                yield last, b": records %d..%d are not in the index yet; live records follow\n\n" % (last + 1, written)
                return
            await asyncio.sleep(_INDEX_POLL_S)
