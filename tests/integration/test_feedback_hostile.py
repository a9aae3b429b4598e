"""Hostile input over real HTTP on loopback: every route with a body parses it strictly (non-finite numbers 422 at
their field, nesting bounded), a foreign `Host` is refused (DNS rebinding), a 405 lists every method of its path, the
published schema says what the server enforces, and a webhook URL that could never be delivered to is refused.

Each answer is a 4xx naming the problem (within the client's 10 s timeout), nothing is written (the desk's telemetry
seq stays 0), and nothing is logged at ERROR or with a traceback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Final

import httpx
import jsonschema_rs
import orjson
import pytest

from imperium_desk.feedback.strict_json import MAX_DEPTH
from imperium_desk.feedback.webhooks.signing import generate_secret
from tests.integration.feedback_desk import record, run, running_desk, wait_indexed

# Every operation that takes a JSON body: strict parsing must hold on each, before its own validation.
BODY_ROUTES: Final = [
    ("POST", "/feedback/metrics"),
    ("POST", "/feedback/scenario_outcome"),
    ("POST", "/feedback/proposals"),
    ("POST", "/feedback/proposals/p1/reject"),
    ("PUT", "/feedback/models"),
    ("POST", "/feedback/webhooks"),
]
NON_FINITE: Final = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]
JSON: Final = {"content-type": "application/json"}


def _no_traceback(caplog: pytest.LogCaptureFixture) -> bool:
    return all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_number_in_a_record_is_refused_at_its_field(tmp_path: Path, literal: str) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            body = b'{"schema_version": 1, "event": "ack", "latency_ms": %s}' % literal.encode()
            answer = await served.client.post("/feedback/metrics", content=body, headers=JSON)
            assert answer.status_code == 422
            [problem] = answer.json()["detail"]
            assert problem["type"] == "finite_number" and problem["loc"] == ["body", "latency_ms"]

    run(main)


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_number_in_free_form_metrics_is_refused_not_stored_as_null(tmp_path: Path, literal: str) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            body = b'{"scenario_id": "s1", "seed": 1, "outcome": "pass", "metrics": {"fill_rate": [1, %s]}}' % (
                literal.encode())
            answer = await served.client.post("/feedback/scenario_outcome", content=body, headers=JSON)
            assert answer.status_code == 422
            [problem] = answer.json()["detail"]
            assert problem["loc"] == ["body", "metrics", "fill_rate", 1]
            page = (await served.client.get("/feedback/metrics")).json()
            assert [r for r in page["items"] if r["event"] == "scenario_outcome"] == []

    run(main)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_non_finite_number_is_refused_with_422_on_every_route(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.request(method, path, content=b'{"anything": NaN}', headers=JSON)
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["loc"] == ["body", "anything"]
            assert served.desk.engine.tracker.seq == 0

    run(main)
    assert _no_traceback(caplog)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_deeply_nested_body_is_422_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, method: str, path: str, depth: int
) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            body = b'{"x": ' + b"[" * depth + b"]" * depth + b"}"
            answer = await served.client.request(method, path, content=body, headers=JSON)
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["type"] == "json_too_deep"
            assert served.desk.engine.tracker.seq == 0

    run(main)
    assert _no_traceback(caplog)


def test_nesting_up_to_the_limit_is_accepted_in_free_form_metrics(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            nested: Any = 1
            for _ in range(MAX_DEPTH - 2):  # the body and `metrics` are two levels
                nested = [nested]
            body = {"scenario_id": "s1", "seed": 1, "outcome": "pass", "metrics": {"deep": nested}}
            answer = await served.client.post("/feedback/scenario_outcome", json=body)
            assert answer.status_code == 201

    run(main)


@pytest.mark.parametrize("path", ["/health", "/feedback/metrics", "/openapi.json"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::2]", "a b"])
def test_foreign_host_header_is_refused_before_any_route(tmp_path: Path, path: str, host: str) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.get(path, headers={"host": host})
            assert answer.status_code == 421

    run(main)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]:8765", "127.1.2.3"])
def test_loopback_host_headers_are_answered(tmp_path: Path, host: str) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.get("/feedback/metrics", headers={"host": host})
            assert answer.status_code == 200

    run(main)


def test_configured_host_names_are_answered(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path, {"feedback": {"host_names": ["desk.internal"]}}) as served:
            answer = await served.client.get("/health", headers={"host": "desk.internal:8765"})
            assert answer.status_code == 200

    run(main)


@pytest.mark.parametrize(("path", "methods"), [
    ("/feedback/metrics", {"GET", "POST"}),
    ("/feedback/models", {"GET", "PUT"}),
    ("/feedback/proposals", {"GET", "POST"}),
    ("/feedback/webhooks", {"GET", "POST"}),
])
def test_405_allow_header_lists_every_method_of_the_path(tmp_path: Path, path: str, methods: set[str]) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.options(path)
            assert answer.status_code == 405
            allowed = {m.strip() for m in answer.headers["allow"].split(",")}
            documented = {m.upper() for m in (await served.client.get("/openapi.json")).json()["paths"][path]}
            assert methods == documented and methods <= allowed

    run(main)


def test_since_the_schema_refuses_is_refused_and_one_it_allows_is_answered(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            operation = (await served.client.get("/openapi.json")).json()["paths"]["/feedback/metrics"]["get"]
            [since] = [p for p in operation["parameters"] if p["name"] == "since"]
            assert "pattern" in since["schema"] and "anyOf" not in since["schema"]
            assert (await served.client.get("/feedback/metrics", params={"since": "0"})).status_code == 422
            allowed = await served.client.get("/feedback/metrics", params={"since": "2026-01-31T10+0530"})
            assert allowed.status_code == 200

    run(main)


def test_optional_headers_and_queries_are_documented_without_null(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            paths = (await served.client.get("/openapi.json")).json()["paths"]
            parameters = [p for ops in paths.values() for op in ops.values() for p in op.get("parameters", [])]
            assert parameters
            assert all({"type": "null"} not in p["schema"].get("anyOf", []) for p in parameters)
            [last_event_id] = [p for p in paths["/feedback/stream"]["get"]["parameters"]
                               if p["name"] == "last-event-id"]
            assert last_event_id["schema"]["type"] == "integer"

    run(main)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9000/hooks\r\nX-Injected: 1",
    "http://127.0.0.1:9000/ho oks",
    "http://127.0.0.1:9000/hooks\x00",
    " http://127.0.0.1:9000/hooks",
    "ftp://127.0.0.1/hooks",
])
def test_webhook_url_that_cannot_be_sent_to_is_refused_at_its_field(tmp_path: Path, url: str) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.post("/feedback/webhooks", json={"url": url, "secret": generate_secret()})
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["loc"] == ["body", "url"]
            assert (await served.client.get("/feedback/webhooks")).json()["subscribers"] == []

    run(main)


def test_valid_record_is_still_accepted(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            answer = await served.client.post("/feedback/metrics", json=record(latency_ms=1.5))
            assert answer.status_code == 202

    run(main)


def test_stream_events_match_the_published_event_schema(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            accepted = (await served.client.post("/feedback/metrics", json=[record(), record("cancel")])).json()
            await wait_indexed(served.client, accepted["last_seq"])
            operation = (await served.client.get("/openapi.json")).json()["paths"]["/feedback/stream"]["get"]
            schema = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
            async with served.client.stream("GET", "/feedback/stream", headers={"last-event-id": "0"}) as response:
                blocks = await sse_blocks(response, events=2)
            assert [b["event"] for b in blocks] == ["ack", "cancel"]
            assert all(jsonschema_rs.is_valid(schema, block) for block in blocks)
            assert [orjson.loads(b["data"])["seq"] for b in blocks] == [int(b["id"]) for b in blocks]

    run(main)


async def sse_blocks(response: httpx.Response, events: int) -> list[dict[str, str]]:
    """The first `events` SSE events as an SSE parser reads them ({field: value}; comments and blocks without data,
    such as the opening `retry`, skipped)."""
    out: list[dict[str, str]] = []
    block: dict[str, str] = {}
    async with asyncio.timeout(10):
        async for line in response.aiter_lines():
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(":")
                    block[name] = value.removeprefix(" ")
                continue
            if "data" in block:
                out.append(block)
                if len(out) == events:
                    break
            block = {}
    return out


def test_subscribing_a_url_twice_is_a_409_conflict(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            body = {"url": "http://127.0.0.1:9/hooks", "secret": generate_secret()}
            assert (await served.client.post("/feedback/webhooks", json=body)).status_code == 201
            assert (await served.client.post("/feedback/webhooks", json=body)).status_code == 409

    run(main)


def test_integer_beyond_64_bits_is_refused_at_its_field_not_rounded(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            body = b'{"scenario_id": "s1", "seed": 1, "outcome": "pass", "metrics": {"n": %d}}' % 2**70
            answer = await served.client.post("/feedback/scenario_outcome", content=body, headers=JSON)
            assert answer.status_code == 422
            [problem] = answer.json()["detail"]
            assert problem["type"] == "int_too_long" and problem["loc"] == ["body", "metrics", "n"]

    run(main)


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
                                          None])
def test_binary_body_not_sent_as_json_is_415_on_every_route(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content_type: str | None
) -> None:
    async def main() -> None:
        async with running_desk(tmp_path) as served:
            headers = {} if content_type is None else {"content-type": content_type}
            for method, path in BODY_ROUTES:
                answer = await served.client.request(method, path, content=b"\xff\xfe\x00\x9c" * 64, headers=headers)
                assert answer.status_code == 415, (method, path)
            assert served.desk.engine.tracker.seq == 0

    run(main)
    assert _no_traceback(caplog)
