"""`/feedback/webhooks`: subscribers (add, list, remove, enable again after a 410) and dead letters (list,
redeliver), over the desk's `WebhookService`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from imperium_desk.feedback.backend import FeedbackBackend, FeedbackInputError, FieldProblem, WebhookAdmin
from imperium_desk.feedback.schemas import ErrorOut
from imperium_desk.feedback.strict_json import StrictJsonRoute
from imperium_desk.feedback.webhooks.errors import (
    UnknownWebhook,
    WebhookConflict,
    WebhookInputError,
    WebhooksNotRunning,
)
from imperium_desk.feedback.webhooks.views import DeadLetterView, NewSubscriber, SubscriberView

SubscriberId = Annotated[str, Path(min_length=1, max_length=64)]
DeadLetterId = Annotated[int, Path(ge=1, le=2**53)]  # a JSON-exact integer (schema-driven clients use doubles)

_OFF: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": ErrorOut, "description": "webhooks are off (feedback.webhooks.enabled) or stopping"},
}
_UNKNOWN: Final[dict[int | str, dict[str, Any]]] = {404: {"model": ErrorOut, "description": "no such id"}, **_OFF}
_ADD: Final[dict[int | str, dict[str, Any]]] = {
    409: {"model": ErrorOut, "description": "the URL is already subscribed"}, **_OFF,
}
# The webhooks tag's description in the API document (app.py): what a receiver must be ready for.
DELIVERY_CONTRACT: Final = (
    "Subscribers and dead letters. Deliveries are signed POSTs (Standard Webhooks: `webhook-id`, `webhook-timestamp`,"
    " `webhook-signature`), in order per subscriber, retried with backoff until a 2xx or `max_attempts`, then kept"
    " as dead letters.\n\n"
    "**Delivery is at-least-once.** An acknowledgement is written a moment after the 2xx arrives, so a desk stopped"
    " in between (a crash, kill -9) sends those messages again when it restarts, and a redelivered dead letter is"
    " sent again too. A repeat carries the same `webhook-id` and may arrive after later messages. A receiver"
    " de-duplicates by `webhook-id`: keep the ids it has processed (for at least the retry horizon) and answer 2xx"
    " to one it has seen without acting on it again. Order by the record's `seq` (in the body), not by arrival."
)


class SubscriberList(BaseModel):
    """Every subscriber, from the config file and from the API."""

    subscribers: list[SubscriberView]


class DeadLetterList(BaseModel):
    """The deliveries that ran out of attempts, kept until redelivered or their subscriber is removed."""

    dead_letters: list[DeadLetterView] = Field(description="deliveries that ran out of attempts, oldest first")


class Redelivered(BaseModel):
    """The dead letter is queued again with fresh attempts, ahead of its subscriber's later deliveries, under the same
    message id."""

    redelivered: int = Field(description="the dead letter queued again")


def webhook_routes(backend: FeedbackBackend) -> APIRouter:
    router = APIRouter(prefix="/feedback/webhooks", tags=["webhooks"], route_class=StrictJsonRoute)

    @router.post("", status_code=201, responses=_ADD)
    async def add_subscriber(body: NewSubscriber) -> SubscriberView:
        """Subscribe a URL (http or https, its host on `feedback.webhooks.allow_hosts`, no spaces or control
        characters). Deliveries to it are at-least-once: de-duplicate by `webhook-id` (see the webhooks tag)."""
        with _answers(id_loc=("body",)):
            return await _service(backend).add(body.url, body.secret, body.events)

    @router.get("", responses=_OFF)
    async def list_subscribers() -> SubscriberList:
        with _answers():
            return SubscriberList(subscribers=await _service(backend).subscribers())

    @router.delete("/{subscriber_id}", status_code=204, response_class=Response, responses=_UNKNOWN)
    async def remove_subscriber(subscriber_id: SubscriberId) -> Response:
        with _answers(id_loc=("path", "subscriber_id")):
            await _service(backend).remove(subscriber_id)
        return Response(status_code=204)

    @router.post("/{subscriber_id}/enable", responses=_UNKNOWN)
    async def enable_subscriber(subscriber_id: SubscriberId) -> SubscriberView:
        """Deliver again to a subscriber disabled by a 410 Gone; its queue resumes where it stopped."""
        with _answers(id_loc=("path", "subscriber_id")):
            return await _service(backend).enable(subscriber_id)

    @router.get("/dead_letters", responses=_OFF)
    async def list_dead_letters(limit: Annotated[int, Query(ge=1, le=1000)] = 1000) -> DeadLetterList:
        with _answers():
            return DeadLetterList(dead_letters=await _service(backend).dead_letters(limit))

    @router.post("/dead_letters/{dead_letter_id}/redeliver", status_code=202, responses=_UNKNOWN)
    async def redeliver(dead_letter_id: DeadLetterId) -> Redelivered:
        """Queue a dead letter again with fresh attempts, ahead of its subscriber's later deliveries."""
        with _answers(id_loc=("path", "dead_letter_id")):
            await _service(backend).redeliver(dead_letter_id)
        return Redelivered(redelivered=dead_letter_id)

    return router


def _service(backend: FeedbackBackend) -> WebhookAdmin:
    service = backend.webhooks
    if service is None:
        raise HTTPException(503, "webhooks are off: feedback.webhooks.enabled is false in the desk's config")
    return service


@contextmanager
def _answers(id_loc: tuple[str, ...] = ("body",)) -> Iterator[None]:
    """The service's errors as HTTP answers: bad input 422 at its field, a clash 409, unknown id 404, not running
    503."""
    try:
        yield
    except WebhookConflict as exc:
        raise HTTPException(409, exc.message) from None
    except WebhookInputError as exc:
        loc = id_loc if exc.field == "id" else ("body", exc.field)
        raise FeedbackInputError([FieldProblem(loc, exc.message)]) from None
    except UnknownWebhook as exc:
        raise HTTPException(404, str(exc)) from None
    except WebhooksNotRunning as exc:
        raise HTTPException(503, str(exc)) from None
