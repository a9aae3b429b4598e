"""The feedback REST API over real HTTP on loopback: a real desk on the wall clock, its SQLite index, uvicorn on a
free port, httpx as the client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from imperium_desk.domain.enums import Side
from imperium_desk.execution.request import ExecutionRequest
from tests.integration.feedback_desk import atm_call, record, run, running_desk, wait_indexed


# -- auth -------------------------------------------------------------------------------------------------------
def test_request_without_a_token_is_401_with_a_bearer_challenge(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api, api.anonymous() as anonymous:
            return await anonymous.get("/feedback/metrics")

    response = run(main)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_request_with_a_wrong_token_is_401(tmp_path: Path) -> None:
    async def main() -> list[int]:
        async with running_desk(tmp_path) as api:
            codes = []
            for header in (f"Bearer {api.token}x", "Bearer nope", f"Basic {api.token}"):
                async with api.anonymous(Authorization=header) as client:
                    codes.append((await client.put("/feedback/models", json={"changes": []})).status_code)
            return codes

    assert run(main) == [401, 401, 401]


def test_health_and_the_docs_page_need_no_token(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with running_desk(tmp_path) as api, api.anonymous() as anonymous:
            return (await anonymous.get("/health"), await anonymous.get("/docs"),
                    await anonymous.get("/openapi.json"))

    health, docs, schema = run(main)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert schema.json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_token_file_is_private_and_reused_on_the_next_start(tmp_path: Path) -> None:
    async def main() -> str:
        async with running_desk(tmp_path) as api:
            return api.token

    first = run(main)
    assert (tmp_path / "feedback.token").stat().st_mode & 0o777 == 0o600
    assert run(main) == first


# -- POST /feedback/metrics -------------------------------------------------------------------------------------
def test_posted_records_are_resequenced_and_keep_the_senders_seq(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, list[dict[str, Any]]]:
        async with running_desk(tmp_path) as api:
            posted = await api.client.post("/feedback/metrics", json=[
                record("ack", seq=900, latency_ms=12.5), record("fill", seq=901, executed_price=101.25),
            ])
            await wait_indexed(api.client, posted.json()["last_seq"])
            return posted, (await api.client.get("/feedback/metrics")).json()["items"]

    posted, items = run(main)
    assert posted.status_code == 202
    assert posted.json() == {"accepted": 2, "first_seq": 1, "last_seq": 2}
    assert [(r["seq"], r["event"], r["extra_metrics"]["external"]["seq"]) for r in items] == [
        (1, "ack", 900), (2, "fill", 901)
    ]
    assert items[0]["latency_ms"] == 12.5 and items[0]["mode"] == "paper"
    logged = [orjson.loads(line) for line in (tmp_path / "execution_quality_paper.jsonl").read_bytes().splitlines()]
    assert logged == items


def test_invalid_record_is_422_with_its_field_path_and_nothing_is_appended(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, int]:
        async with running_desk(tmp_path) as api:
            bad = await api.client.post("/feedback/metrics", json=[record(), record(latency_ms=-1)])
            return bad, api.desk.engine.tracker.seq

    bad, seq = run(main)
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "records", 1, "latency_ms"]]
    assert seq == 0


def test_numbers_in_a_record_must_be_json_numbers_not_booleans_or_strings(tmp_path: Path) -> None:
    # Lax validation took `false` as 0.0 and "3" as 3 although the published schema says number (schemathesis).
    async def main() -> tuple[httpx.Response, int]:
        async with running_desk(tmp_path) as api:
            body = [record(slippage=False), record(qty="3"), record(latency_ms=12)]
            bad = await api.client.post("/feedback/metrics", json=body)
            return bad, api.desk.engine.tracker.seq

    bad, seq = run(main)
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "records", 0, "slippage"],
                                                        ["body", "records", 1, "qty"]]
    assert seq == 0


def test_a_record_the_desk_writes_itself_cannot_be_posted(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/metrics", json=record("model_switch"))

    bad = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "record", "event"]
    assert "model_switch" in bad.json()["detail"][0]["msg"]


def test_a_value_the_log_cannot_store_is_422_and_the_log_keeps_writing(tmp_path: Path) -> None:
    """JSON allows integers orjson (the log's writer) cannot write; one such record must not stop the telemetry."""

    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with running_desk(tmp_path) as api:
            bad = await api.client.post("/feedback/metrics", json=record(extra_metrics={"n": 2**70}))
            good = await api.client.post("/feedback/metrics", json=record())
            await wait_indexed(api.client, good.json()["last_seq"])
            return bad, good

    bad, good = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "extra_metrics", "n"]
    assert bad.json()["detail"][0]["type"] == "int_too_long"
    assert good.json()["first_seq"] == 1


def test_a_timestamp_outside_the_accepted_years_is_422(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/metrics", json=record(timestamp="0001-01-01T00:00:00+14:00"))

    bad = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "record", "timestamp"]


def test_a_body_that_is_not_json_is_a_4xx(tmp_path: Path) -> None:
    async def main() -> list[int]:
        async with running_desk(tmp_path) as api:
            return [(await api.client.post("/feedback/metrics", content=body,
                                           headers={"content-type": "application/json"})).status_code
                    for body in (b"{not json", b"\xff\xfe\x00")]

    codes = run(main)
    assert all(400 <= code < 500 for code in codes), codes


# -- GET /feedback/metrics --------------------------------------------------------------------------------------
def test_following_next_cursor_returns_thousands_of_records_exactly_once(tmp_path: Path) -> None:
    """3,200 records, pages of uneven sizes, and more records arriving between pages."""

    async def post(api: Any, count: int) -> int:
        last = 0
        for start in range(0, count, 800):
            batch = [record(seq=start + i) for i in range(min(800, count - start))]
            last = (await api.client.post("/feedback/metrics", json=batch)).json()["last_seq"]
        return last

    async def main() -> list[int]:
        async with running_desk(tmp_path) as api:
            await wait_indexed(api.client, await post(api, 2400))
            seen: list[int] = []
            since = "2020-01-01T00:00:00Z"
            for page_number, limit in enumerate((1000, 333, 1, 1000, 1000, 1000, 1000)):
                page = (await api.client.get("/feedback/metrics", params={"since": since, "limit": limit})).json()
                seen += [item["seq"] for item in page["items"]]
                since = page["next_cursor"]
                if page_number == 2:  # mid-way: 800 more are written while the client pages
                    await wait_indexed(api.client, await post(api, 800))
            return seen

    assert run(main) == list(range(1, 3201))


def test_since_a_time_starts_at_the_first_record_at_or_after_it(tmp_path: Path) -> None:
    async def main() -> list[int]:
        async with running_desk(tmp_path) as api:
            times = [f"2026-11-23T03:45:0{i}Z" for i in range(6)]
            posted = await api.client.post("/feedback/metrics", json=[record(timestamp=t) for t in times])
            await wait_indexed(api.client, posted.json()["last_seq"])
            page = await api.client.get("/feedback/metrics", params={"since": "2026-11-23T09:15:03+05:30"})
            return [item["seq"] for item in page.json()["items"]]

    assert run(main) == [4, 5, 6]


def test_asset_and_scenario_filters_select_their_records(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], list[int], list[int]]:
        async with running_desk(tmp_path) as api:
            posted = await api.client.post("/feedback/metrics", json=[
                record(asset="NIFTY26NOV24000CE", underlying="NIFTY"),
                record(asset="BANKNIFTY26NOV52000PE", underlying="BANKNIFTY", scenario_id="burst"),
                record(asset="NIFTY26NOV24100PE", underlying="NIFTY", scenario_id="burst"),
            ])
            await wait_indexed(api.client, posted.json()["last_seq"])

            async def seqs(**params: str) -> list[int]:
                page = await api.client.get("/feedback/metrics", params=params)
                return [item["seq"] for item in page.json()["items"]]

            return (await seqs(asset="NIFTY"), await seqs(asset="NIFTY26NOV24100PE"),
                    await seqs(scenario_id="burst"))

    by_underlying, by_symbol, by_scenario = run(main)
    assert by_underlying == [1, 3]
    assert by_symbol == [3]
    assert by_scenario == [2, 3]


def test_a_caught_up_page_is_empty_and_its_cursor_asks_again_from_the_same_place(tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            posted = await api.client.post("/feedback/metrics", json=record())
            await wait_indexed(api.client, posted.json()["last_seq"])
            first = (await api.client.get("/feedback/metrics")).json()
            return first, (await api.client.get("/feedback/metrics", params={"since": first["next_cursor"]})).json()

    first, again = run(main)
    assert len(first["items"]) == 1
    assert again == {"items": [], "next_cursor": first["next_cursor"], "index_behind": False}


def test_bad_query_parameters_are_422_naming_the_parameter(tmp_path: Path) -> None:
    async def main() -> list[httpx.Response]:
        async with running_desk(tmp_path) as api:
            return [await api.client.get("/feedback/metrics", params=p)
                    for p in ({"since": "yesterday"}, {"limit": 0}, {"limit": 1001})]

    responses = run(main)
    assert [r.status_code for r in responses] == [422, 422, 422]
    assert [r.json()["detail"][0]["loc"] for r in responses] == [["query", "since"], ["query", "limit"],
                                                                 ["query", "limit"]]
    assert "yesterday" in responses[0].json()["detail"][0]["msg"]


# -- POST /feedback/scenario_outcome ----------------------------------------------------------------------------
def test_scenario_outcome_is_kept_as_a_scenario_outcome_record(tmp_path: Path) -> None:
    outcome = {"scenario_id": "latency-burst", "seed": 7, "outcome": "pass", "metrics": {"latency_p50_ms": 81.5}}

    async def main() -> tuple[httpx.Response, list[dict[str, Any]]]:
        async with running_desk(tmp_path) as api:
            created = await api.client.post("/feedback/scenario_outcome", json=outcome)
            await wait_indexed(api.client, created.json()["seq"])
            page = await api.client.get("/feedback/metrics", params={"scenario_id": "latency-burst"})
            return created, page.json()["items"]

    created, items = run(main)
    assert created.status_code == 201
    assert created.json() == {"id": "out_1", "seq": 1}
    assert [(r["event"], r["scenario_outcome"]) for r in items] == [("scenario_outcome", outcome)]


def test_scenario_outcome_without_a_seed_is_422(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/scenario_outcome", json={"scenario_id": "x", "outcome": "pass"})

    bad = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "seed"]


# -- GET/PUT /feedback/models -----------------------------------------------------------------------------------
def test_models_lists_each_underlyings_active_latency_and_slippage_models(tmp_path: Path) -> None:
    async def main() -> Any:
        async with running_desk(tmp_path) as api:
            return (await api.client.get("/feedback/models")).json()

    assets = run(main)["assets"]
    assert set(assets) == {"NIFTY", "BANKNIFTY"}
    assert assets["NIFTY"]["latency"]["order"] == {"scope": "global", "model": {"type": "constant", "value_ms": 40.0}}
    assert assets["NIFTY"]["slippage"]["order"]["model"]["unit"] == "bps"


def test_put_models_changes_the_next_fills_model_params(tmp_path: Path) -> None:
    change = {"kind": "latency", "scope": "NIFTY", "model": {"type": "constant", "value_ms": 7}}

    async def main() -> tuple[httpx.Response, list[dict[str, Any]]]:
        async with running_desk(tmp_path) as api:
            switched = await api.client.put("/feedback/models", json={"changes": [change]})
            symbol = atm_call(api.desk)
            await api.desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=65)).task
            await wait_indexed(api.client, api.desk.engine.tracker.seq)
            page = await api.client.get("/feedback/metrics", params={"asset": symbol})
            return switched, [r for r in page.json()["items"] if r["event"] == "fill"]

    switched, fills = run(main)
    assert switched.status_code == 200
    assert switched.json()["switches"] == [{"kind": "latency", "lane": "order", "scope": "NIFTY", "old": None,
                                            "new": {"type": "constant", "value_ms": 7.0}, "source": "rest"}]
    assert fills and all(f["model_params"]["latency"] == {"scope": "NIFTY", "type": "constant", "value_ms": 7.0}
                         for f in fills)
    assert all(f["latency_ms"] == 7.0 for f in fills)


def test_put_models_with_one_invalid_change_applies_none(tmp_path: Path) -> None:
    good = {"kind": "latency", "scope": "NIFTY", "model": {"type": "constant", "value_ms": 7}}
    bad = {"kind": "slippage", "scope": "BANKNIFTY", "model": {"type": "normal", "mean": 1.0, "std": -2, "unit": "bps"}}
    unknown = {"kind": "latency", "scope": "NOSUCH", "model": {"type": "constant", "value_ms": 7}}

    async def main() -> tuple[httpx.Response, dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            refused = await api.client.put("/feedback/models", json={"changes": [good, bad, unknown]})
            return refused, (await api.client.get("/feedback/models")).json()

    refused, models = run(main)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "changes", 1, "model"], ["body", "changes", 2, "scope"]]
    assert "std" in detail[0]["msg"] and "NOSUCH" in detail[1]["msg"]
    assert models["assets"]["NIFTY"]["latency"]["order"]["scope"] == "global"


def test_put_models_with_an_unknown_kind_is_422(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.put("/feedback/models", json={"changes": [
                {"kind": "fees", "scope": "NIFTY", "model": None}]})

    bad = run(main)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "changes", 0, "kind"]


# -- request body limit -----------------------------------------------------------------------------------------
def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    body = orjson.dumps([record(extra_metrics={"pad": "x" * 1000}) for _ in range(1100)])

    async def main() -> tuple[httpx.Response, int]:
        async with running_desk(tmp_path) as api:
            response = await api.client.post("/feedback/metrics", content=body,
                                             headers={"content-type": "application/json"})
            return response, api.desk.engine.tracker.seq

    response, seq = run(main)
    assert len(body) > 1_000_000
    assert response.status_code == 413
    assert seq == 0


def test_streamed_body_over_the_limit_is_413(tmp_path: Path) -> None:
    """No Content-Length (chunked): the bytes are counted as they arrive."""

    async def chunks() -> Any:
        yield b"["
        for i in range(1100):
            yield (b"," if i else b"") + orjson.dumps(record(extra_metrics={"pad": "x" * 1000}))
        yield b"]"

    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/metrics", content=chunks(),
                                         headers={"content-type": "application/json"})

    assert run(main).status_code == 413


# -- stop -------------------------------------------------------------------------------------------------------
def test_stopping_the_desk_stops_the_server_and_leaves_no_tasks(tmp_path: Path) -> None:
    async def main() -> tuple[list[asyncio.Task[Any]], bool]:
        async with running_desk(tmp_path) as api:
            await api.client.get("/feedback/models")
            await api.desk.stop()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            try:
                await api.client.get("/feedback/models")
                refused = False
            except httpx.TransportError:
                refused = True
            return left, refused

    left, refused = run(main)
    assert left == []
    assert refused


def test_a_port_in_use_is_a_config_error_naming_the_port(tmp_path: Path) -> None:
    from imperium_desk.config import ConfigError

    async def main() -> str:
        async with running_desk(tmp_path / "a") as api:
            port = int(api.address.rsplit(":", 1)[1])
            try:
                async with running_desk(tmp_path / "b", {"feedback": {"port": port}}):
                    return "started"
            except ConfigError as exc:
                return exc.errors[0]

    assert run(main).startswith("feedback.port: cannot listen on 127.0.0.1:")
