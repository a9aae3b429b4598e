"""A new kind of feedback is a registration (a pydantic body, a response, a handler), not an edit of the router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from imperium_desk.desk import DeskFeedback
from imperium_desk.feedback.app import build_app
from imperium_desk.feedback.registry import FeedbackRegistry, FeedbackType, RegistryError
from imperium_desk.feedback.server import FeedbackServer
from tests.integration.feedback_desk import run, running_desk


class VenueNote(BaseModel):
    venue: str = Field(min_length=1)
    queue_depth: int = Field(ge=0)


class NoteTaken(BaseModel):
    taken: int


def test_a_registered_feedback_type_is_served_validated_and_documented(tmp_path: Path) -> None:
    notes: list[VenueNote] = []

    async def take(note: VenueNote) -> NoteTaken:
        notes.append(note)
        return NoteTaken(taken=len(notes))

    async def main() -> tuple[httpx.Response, httpx.Response, dict[str, Any]]:
        async with running_desk(tmp_path) as api:
            backend = DeskFeedback(api.desk)
            app = build_app(backend, api.token, api.desk.config.feedback,
                            extra_types=[FeedbackType("venue_note", VenueNote, NoteTaken, take, 202)])
            server = FeedbackServer(app, "127.0.0.1", 0)
            try:
                async with httpx.AsyncClient(base_url=await server.start(), headers=api.client.headers) as client:
                    ok = await client.post("/feedback/venue_note", json={"venue": "NSE", "queue_depth": 3})
                    bad = await client.post("/feedback/venue_note", json={"venue": "NSE", "queue_depth": -1})
                    return ok, bad, (await client.get("/openapi.json")).json()
            finally:
                await server.stop()
                backend.close()

    ok, bad, schema = run(main)
    assert ok.status_code == 202 and ok.json() == {"taken": 1}
    assert notes == [VenueNote(venue="NSE", queue_depth=3)]
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "queue_depth"]
    assert "/feedback/venue_note" in schema["paths"]


def test_a_feedback_type_name_is_registered_once() -> None:
    async def handler(body: VenueNote) -> NoteTaken:
        return NoteTaken(taken=0)

    registry = FeedbackRegistry()
    registry.register(FeedbackType("venue_note", VenueNote, NoteTaken, handler))
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(FeedbackType("venue_note", VenueNote, NoteTaken, handler))
    with pytest.raises(RegistryError, match="lower-case"):
        registry.register(FeedbackType("Venue/Note", VenueNote, NoteTaken, handler))
