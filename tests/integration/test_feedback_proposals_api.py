"""Learner proposals over REST against a real desk: the guardrails decide, a person accepts or rejects, and an
accepted proposal switches the desk's model as the models panel would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.integration.feedback_desk import run, running_desk


def proposal(value_ms: float, scope: str = "NIFTY") -> dict[str, Any]:
    return {"kind": "latency", "scope": scope, "model": {"type": "constant", "value_ms": value_ms},
            "learner": "offline-fit", "reason": "refit on yesterday's fills", "evidence": {"samples": 400}}


def test_a_posted_proposal_waits_for_acceptance_then_switches_the_model(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, list[dict[str, Any]], httpx.Response, dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            posted = await api.client.post("/feedback/proposals", json=proposal(55.0))
            pending = (await api.client.get("/feedback/proposals", params={"status": "pending"})).json()
            accepted = await api.client.post(f"/feedback/proposals/{posted.json()['id']}/accept")
            return posted, pending["proposals"], accepted, (await api.client.get("/feedback/models")).json()

    posted, pending, accepted, models = run(main)
    assert posted.status_code == 201
    assert posted.json()["status"] == "pending" and posted.json()["source"] == "rest"
    assert [p["id"] for p in pending] == [posted.json()["id"]]
    assert accepted.status_code == 200 and accepted.json()["status"] == "applied"
    assert models["assets"]["NIFTY"]["latency"]["order"] == {"scope": "NIFTY",
                                                            "model": {"type": "constant", "value_ms": 55.0}}


def test_auto_apply_applies_a_proposal_within_the_guardrails_at_once(tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_desk(tmp_path, {"feedback": {"learning": {"auto_apply": True}}}) as api:
            decision = (await api.client.post("/feedback/proposals", json=proposal(60.0))).json()
            return decision, (await api.client.get("/feedback/models")).json()

    decision, models = run(main)
    assert decision["status"] == "applied"
    assert models["assets"]["NIFTY"]["latency"]["order"]["model"]["value_ms"] == 60.0


def test_a_proposal_beyond_the_rate_of_change_guardrail_is_refused(tmp_path: Path) -> None:
    async def main() -> Any:
        async with running_desk(tmp_path, {"feedback": {"learning": {"auto_apply": True}}}) as api:
            return (await api.client.post("/feedback/proposals", json=proposal(4000.0))).json()

    decision = run(main)
    assert decision["status"] == "refused"
    assert "rate of change" in decision["reason"]


def test_a_rejected_proposal_changes_nothing_and_cannot_be_accepted_after(tmp_path: Path) -> None:
    async def main() -> tuple[httpx.Response, httpx.Response, dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            posted = (await api.client.post("/feedback/proposals", json=proposal(55.0))).json()
            rejected = await api.client.post(f"/feedback/proposals/{posted['id']}/reject",
                                             json={"reason": "not during expiry week"})
            again = await api.client.post(f"/feedback/proposals/{posted['id']}/accept")
            return rejected, again, (await api.client.get("/feedback/models")).json()

    rejected, again, models = run(main)
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "not during expiry week"
    assert again.status_code == 409
    assert models["assets"]["NIFTY"]["latency"]["order"]["scope"] == "global"


def test_accepting_an_unknown_proposal_is_404(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/proposals/prop_999/accept")

    assert run(main).status_code == 404


def test_a_proposal_with_an_invalid_model_is_422(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        async with running_desk(tmp_path) as api:
            return await api.client.post("/feedback/proposals", json=proposal(-5.0))

    refused = run(main)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][0] == "body"
    assert "value_ms" in refused.json()["detail"][0]["msg"]
