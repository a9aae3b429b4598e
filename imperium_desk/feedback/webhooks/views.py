"""What the webhook service shows its callers (REST responses, the desk's panel): pydantic, secrets never included."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from imperium_desk.feedback.webhooks.config import EventNames, WebhookSecret
from imperium_desk.feedback.webhooks.events import known_events

# `whsec_` and the base64 of 16 to 64 key bytes (padding optional), as `parse_secret` takes it: published so that a
# client generated from the API document builds secrets the desk accepts.
_B64: Final = "[A-Za-z0-9+/]"
_TAIL: Final = f"(?:{_B64}{{2}}(?:==)?|{_B64}{{3}}=?)"
_EVENT_NAMES: Final[list[JsonValue]] = [*sorted(known_events())]
SECRET_PATTERN: Final = (
    f"^whsec_(?:(?:{_B64}{{4}}){{5}}{_TAIL}|(?:{_B64}{{4}}){{6,20}}{_TAIL}?|(?:{_B64}{{4}}){{21}}"
    f"(?:{_B64}{{2}}(?:==)?)?)$"
)

SubscriberState = Literal["active", "disabled"]
Origin = Literal["config", "api"]


class NewSubscriber(BaseModel):
    """`POST /feedback/webhooks` body. The URL's host is checked against the allow-list by the service (config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The API document adds the allow-list's pattern (app.py): it depends on the desk's config.
    url: str = Field(min_length=1, max_length=2048, examples=["http://127.0.0.1:9000/hooks"])
    secret: WebhookSecret = Field(min_length=1, max_length=200, examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                                  json_schema_extra={"pattern": SECRET_PATTERN})
    events: EventNames | None = Field(default=None, examples=[["fill", "error"]], json_schema_extra={
        "anyOf": [{"type": "array", "minItems": 1, "items": {"enum": _EVENT_NAMES}}, {"type": "null"}],
    })  # None: every event


class SubscriberView(BaseModel):
    """A subscriber as the API shows it: its settings without the secret, its state, and its delivery counts at
    the time of the call."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    events: list[str] | None
    origin: Origin  # config: from the config file (change it there); api: added through the API
    state: SubscriberState
    disabled_reason: str | None  # why it stopped (e.g. the receiver answered 410 Gone)
    pending: int  # deliveries waiting, the one being retried included
    dead: int  # dead letters
    delivered: int  # deliveries acknowledged with a 2xx since it was added
    last_error: str | None
    created_at: str  # ISO-8601 UTC


class DeadLetterView(BaseModel):
    """A delivery that ran out of attempts, kept until it is redelivered (with the same message id) or its subscriber is
    removed."""

    model_config = ConfigDict(frozen=True)

    id: int
    subscriber_id: str
    url: str
    message_id: str  # the webhook-id every attempt carried (and a redelivery carries again)
    event: str
    seq: int | None  # the telemetry record's seq; None for a published message
    attempts: int
    last_status: int | None  # the last HTTP status, None when no response came (refused, timeout)
    last_error: str | None
    dead_at: str  # ISO-8601 UTC
