"""`GET /feedback/stream` (server-sent events) over real HTTP: live records, resuming from the index with
`Last-Event-ID`, heartbeats, and streams ended by the server's stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from imperium_desk.desk import DeskFeedback
from imperium_desk.feedback.app import build_app
from imperium_desk.feedback.server import FeedbackServer
from tests.integration.feedback_desk import record, run, running_desk, wait_indexed

Event = dict[str, str]


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """Each SSE block as {field: value}; a comment block as {"comment": text}."""
    block: Event = {}
    async for line in response.aiter_lines():
        if not line:
            if block:
                yield block
            block = {}
        elif line.startswith(":"):
            block["comment"] = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            block[name] = value.removeprefix(" ")


async def take(stream: AsyncIterator[Event], count: int, timeout_s: float = 5.0) -> list[Event]:
    """The next `count` record events (comments skipped)."""
    out: list[Event] = []
    async with asyncio.timeout(timeout_s):
        async for event in stream:
            if "id" in event:
                out.append(event)
                if len(out) == count:
                    break
    return out


async def connected(stream: AsyncIterator[Event]) -> None:
    first = await anext(stream)
    assert first.get("comment") == "connected", first


def test_stream_sends_each_new_record_as_an_event(tmp_path: Path) -> None:
    async def main() -> list[Event]:
        async with running_desk(tmp_path) as api, api.client.stream("GET", "/feedback/stream") as response:
            stream = events(response)
            await connected(stream)
            await api.client.post("/feedback/metrics", json=[record("ack", latency_ms=3.0), record("cancel")])
            return await take(stream, 2)

    got = run(main)
    assert [(e["id"], e["event"]) for e in got] == [("1", "ack"), ("2", "cancel")]
    assert orjson.loads(got[0]["data"])["latency_ms"] == 3.0


def test_stream_resumes_after_last_event_id_from_the_index_then_live(tmp_path: Path) -> None:
    async def main() -> list[Event]:
        async with running_desk(tmp_path) as api:
            posted = await api.client.post("/feedback/metrics", json=[record(seq=i) for i in range(5)])
            await wait_indexed(api.client, posted.json()["last_seq"])
            async with api.client.stream("GET", "/feedback/stream", headers={"Last-Event-ID": "2"}) as response:
                stream = events(response)
                await connected(stream)
                missed = await take(stream, 3)
                await api.client.post("/feedback/metrics", json=record("reject", error_bucket="risk"))
                return missed + await take(stream, 1)

    assert [(e["id"], e["event"]) for e in run(main)] == [("3", "ack"), ("4", "ack"), ("5", "ack"), ("6", "reject")]


def test_a_bad_last_event_id_is_422_naming_the_header(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.get("/feedback/stream", headers={"Last-Event-ID": "yesterday"})

    bad = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["header", "last-event-id"]


def test_an_idle_stream_sends_heartbeat_comments(tmp_path: Path) -> None:
    async def main() -> list[Event]:
        async with running_desk(tmp_path) as api:
            # The same desk behind a second app whose heartbeat is quick enough to wait for.
            backend = DeskFeedback(api.desk)
            server = FeedbackServer(build_app(backend, api.token, api.desk.config.feedback, heartbeat_s=0.05),
                                    "127.0.0.1", 0)
            address = await server.start()
            try:
                async with httpx.AsyncClient(base_url=address, headers=api.client.headers) as client, \
                        client.stream("GET", "/feedback/stream") as response:
                    stream = events(response)
                    await connected(stream)
                    async with asyncio.timeout(5):
                        return [await anext(stream), await anext(stream)]
            finally:
                await server.stop()
                backend.close()

    assert run(main) == [{"comment": "heartbeat"}, {"comment": "heartbeat"}]


def test_stopping_the_desk_ends_open_streams_and_leaves_no_tasks(tmp_path: Path) -> None:
    async def read_all(client: httpx.AsyncClient, opened: asyncio.Event) -> list[Event]:
        async with client.stream("GET", "/feedback/stream") as response:
            seen = []
            async for event in events(response):
                opened.set()
                seen.append(event)
            return seen

    async def main() -> tuple[list[Event], list[Any]]:
        async with running_desk(tmp_path) as api:
            opened = [asyncio.Event() for _ in range(3)]
            readers = [asyncio.create_task(read_all(api.client, event)) for event in opened]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 5)
            await api.desk.stop()
            streams = await asyncio.wait_for(asyncio.gather(*readers), 5)
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            return streams[0], left

    seen, left = run(main)
    assert seen == [{"retry": "1000", "comment": "connected"}]  # ended cleanly, not cut off
    assert left == []
