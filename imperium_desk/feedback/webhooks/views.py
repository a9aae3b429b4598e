"""What the webhook service shows its callers (REST responses, the desk's panel): pydantic, secrets never included."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imperium_desk.feedback.webhooks.config import EventNames, WebhookSecret

SubscriberState = Literal["active", "disabled"]
Origin = Literal["config", "api"]


class NewSubscriber(BaseModel):
    """`POST /feedback/webhooks` body. The URL's host is checked against the allow-list by the service (config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2048, examples=["http://127.0.0.1:9000/hooks"])
    secret: WebhookSecret = Field(min_length=1, max_length=200, examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    events: EventNames | None = Field(default=None, examples=[["fill", "error"]])  # None: every event


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
