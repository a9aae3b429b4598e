"""Read-your-writes over real HTTP on loopback: records a `202` accepted are all readable by the very next
`GET /feedback/metrics`, paging from the start, with no wait on the client's side. The desk's log is set to flush on
its own only once a second, far later than the reads come: they find the records only because each read has the
log flushed and indexed for it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from tests.integration.feedback_desk import Running, record, run, running_desk, wait_indexed

RECORDS = 3000
PAGE = 1000
SLOW_LOG: dict[str, Any] = {"telemetry": {"fsync": True, "flush_interval_ms": 1000, "flush_records": 1_000_000}}


async def page_until_short(api: Running) -> tuple[list[dict[str, Any]], list[bool]]:
    """What a client that stops at the first page shorter than `limit` reads: every item and each `index_behind`."""
    items: list[dict[str, Any]] = []
    behind: list[bool] = []
    params: dict[str, Any] = {"limit": PAGE}
    while True:
        response = await api.client.get("/feedback/metrics", params=params)
        assert response.status_code == 200
        page = response.json()
        items += page["items"]
        behind.append(page["index_behind"])
        if len(page["items"]) < PAGE:
            return items, behind
        params = {"since": page["next_cursor"], "limit": PAGE}


def sender_seqs(items: list[dict[str, Any]]) -> list[int]:
    return [item["extra_metrics"]["external"]["seq"] for item in items]


def test_records_posted_as_one_list_are_all_read_back_at_once_in_seq_order(tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, Any], list[dict[str, Any]], list[bool]]:
        async with running_desk(tmp_path, SLOW_LOG) as api:
            posted = await api.client.post("/feedback/metrics", json=[record(seq=i) for i in range(RECORDS)])
            assert posted.status_code == 202
            return posted.json(), *await page_until_short(api)

    accepted, items, behind = run(main)
    assert accepted == {"accepted": RECORDS, "first_seq": 1, "last_seq": RECORDS}
    assert [item["seq"] for item in items] == list(range(1, RECORDS + 1))
    assert sender_seqs(items) == list(range(RECORDS))
    assert behind == [False] * (RECORDS // PAGE + 1)


def test_records_posted_in_several_requests_are_all_read_back_at_once_in_seq_order(tmp_path: Path) -> None:
    batches = 6
    size = RECORDS // batches

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[bool]]:
        async with running_desk(tmp_path, SLOW_LOG) as api:
            posts = await asyncio.gather(*(
                api.client.post("/feedback/metrics", json=[record(seq=b * size + i) for i in range(size)])
                for b in range(batches)
            ))
            assert [p.status_code for p in posts] == [202] * batches
            return [p.json() for p in posts], *await page_until_short(api)

    accepted, items, behind = run(main)
    assert sorted((a["first_seq"], a["last_seq"]) for a in accepted) == [
        (b * size + 1, (b + 1) * size) for b in range(batches)
    ]
    assert [item["seq"] for item in items] == list(range(1, RECORDS + 1))
    assert sorted(sender_seqs(items)) == list(range(RECORDS))
    assert behind == [False] * (RECORDS // PAGE + 1)


def test_a_page_the_index_cannot_catch_up_for_in_time_says_so_and_its_cursor_finds_the_records(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            # Another connection holding the index's write lock (a sqlite3 shell, say): the desk cannot index.
            other = sqlite3.connect(api.desk.telemetry_index_path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                posted = (await api.client.post("/feedback/metrics", json=record())).json()
                behind = (await api.client.get("/feedback/metrics")).json()
            finally:
                other.close()
            await wait_indexed(api.client, posted["last_seq"])
            after = (await api.client.get("/feedback/metrics", params={"since": behind["next_cursor"]})).json()
            return behind, after

    behind, after = run(main)
    assert (behind["items"], behind["index_behind"]) == ([], True)
    assert ([item["seq"] for item in after["items"]], after["index_behind"]) == ([1], False)
