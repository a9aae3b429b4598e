"""`/feedback/webhooks` over real HTTP against a real desk, delivering to a real loopback receiver that verifies every
signature with `standardwebhooks`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from imperium_desk.feedback.webhooks.signing import generate_secret
from tests.integration.feedback_desk import Running, record, run, running_desk
from tests.webhook_receiver import Receiver

SECRET = generate_secret()
FAST_HOOKS: dict[str, Any] = {"feedback": {"webhooks": {
    "backoff_base_s": 0.01, "backoff_max_s": 0.02, "poll_interval_s": 0.02, "max_attempts": 2, "timeout_s": 2.0,
}}}


@asynccontextmanager
async def desk_and_receiver(home: Path) -> AsyncIterator[tuple[Running, Receiver]]:
    receiver = Receiver(SECRET)
    await receiver.start()
    try:
        async with running_desk(home, FAST_HOOKS) as api:
            yield api, receiver
    finally:
        await receiver.stop()


def test_a_subscriber_added_over_the_api_gets_each_new_record_signed(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, list[int], list[str], dict[str, Any]]:
        async with desk_and_receiver(tmp_path) as (api, receiver):
            added = await api.client.post("/feedback/webhooks", json={"url": receiver.url, "secret": SECRET})
            await api.client.post("/feedback/metrics", json=[record("ack"), record("cancel")])
            await receiver.wait_for(2)
            listed = (await api.client.get("/feedback/webhooks")).json()
            return added, [r.payload["data"]["seq"] for r in receiver.accepted], receiver.rejected, listed

    added, seqs, rejected, listed = run(main)
    assert added.status_code == 201
    assert added.json()["url"].endswith("/hooks") and "secret" not in added.json()
    assert seqs == [1, 2]
    assert rejected == []  # every signature verified
    assert [s["id"] for s in listed["subscribers"]] == [added.json()["id"]]


def test_a_subscriber_outside_the_allow_list_is_422_naming_the_url(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/webhooks",
                                         json={"url": "http://198.51.100.7/hooks", "secret": SECRET})

    refused = run(main)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "url"]
    assert "198.51.100.7" in refused.json()["detail"][0]["msg"]


def test_a_secret_not_in_whsec_form_is_422_naming_the_secret(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/webhooks",
                                         json={"url": "http://127.0.0.1:9/hooks", "secret": "hunter2"})

    refused = run(main)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "secret"]


def test_a_removed_subscriber_is_gone_and_removing_it_again_is_404(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            added = (await api.client.post("/feedback/webhooks",
                                           json={"url": "http://127.0.0.1:9/hooks", "secret": SECRET})).json()
            first = await api.client.delete(f"/feedback/webhooks/{added['id']}")
            again = await api.client.delete(f"/feedback/webhooks/{added['id']}")
            return first.status_code, again.status_code, (await api.client.get("/feedback/webhooks")).json()

    assert run(main) == (204, 404, {"subscribers": []})


def test_a_dead_letter_is_listed_and_redelivered(tmp_path: Path) -> None:
    async def main() -> tuple[list[dict[str, Any]], httpx.Response, list[str], dict[str, Any]]:
        async with desk_and_receiver(tmp_path) as (api, receiver):
            receiver.script.extend([(500, {}), (500, {})])  # both attempts fail: a dead letter
            await api.client.post("/feedback/webhooks", json={"url": receiver.url, "secret": SECRET})
            await api.client.post("/feedback/metrics", json=record("ack"))
            dead: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while not dead:
                    dead = (await api.client.get("/feedback/webhooks/dead_letters")).json()["dead_letters"]
            redelivered = await api.client.post(f"/feedback/webhooks/dead_letters/{dead[0]['id']}/redeliver")
            await receiver.wait_for(1)
            after = (await api.client.get("/feedback/webhooks/dead_letters")).json()
            return dead, redelivered, receiver.ids, after

    dead, redelivered, delivered, after = run(main)
    assert [(d["event"], d["seq"], d["attempts"], d["last_status"]) for d in dead] == [("ack", 1, 2, 500)]
    assert redelivered.status_code == 202
    assert delivered == [dead[0]["message_id"]]  # the same webhook-id as every earlier attempt
    assert after == {"dead_letters": []}


def test_redelivering_an_unknown_dead_letter_is_404(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/webhooks/dead_letters/12345/redeliver")

    assert run(main).status_code == 404


def test_a_proposals_decisions_are_pushed_to_subscribers_of_model_proposal(tmp_path: Path) -> None:
    async def main() -> list[tuple[str, str]]:
        async with desk_and_receiver(tmp_path) as (api, receiver):
            await api.client.post("/feedback/webhooks",
                                  json={"url": receiver.url, "secret": SECRET, "events": ["model_proposal"]})
            await api.client.post("/feedback/metrics", json=record("ack"))  # not wanted by this subscriber
            posted = (await api.client.post("/feedback/proposals", json={
                "kind": "latency", "scope": "NIFTY", "model": {"type": "constant", "value_ms": 55}})).json()
            await api.client.post(f"/feedback/proposals/{posted['id']}/reject")
            await receiver.wait_for(2)
            return [(r.payload["type"], r.payload["data"]["status"]) for r in receiver.accepted]

    assert run(main) == [("model_proposal", "pending"), ("model_proposal", "rejected")]
