"""The `feedback.webhooks` config section: subscribers, the URL allow-list, and how deliveries are retried."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from imperium_desk.feedback.webhooks.allowlist import check_url, normalise_host
from imperium_desk.feedback.webhooks.events import check_events
from imperium_desk.feedback.webhooks.signing import parse_secret


def _checked_secret(secret: str) -> str:
    parse_secret(secret)
    return secret


# A subscriber's secret and event names, as the config file and `POST /feedback/webhooks` both take them.
WebhookSecret = Annotated[str, AfterValidator(_checked_secret)]  # whsec_<base64>
EventNames = Annotated[tuple[str, ...], AfterValidator(check_events)]  # duplicates dropped, unknown names refused


def _loopback_hosts() -> tuple[str, ...]:
    return ("127.0.0.1", "::1", "localhost")


class SubscriberConfig(BaseModel):
    """A subscriber kept in the config file (API subscribers live in the outbox database)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2048)
    secret: WebhookSecret  # the key every delivery to this URL is signed with
    events: EventNames | None = None  # record `event` names (and message types) to send; None: all


class WebhooksConfig(BaseModel):
    """The `feedback.webhooks:` section: the subscribers configured in the file (API subscribers are added at runtime),
    the hosts any subscriber URL may name, and the delivery policy (timeout, retries with backoff, dead letters). Every
    configured URL is checked against `allow_hosts` here, so a config that names a host not allowed never loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True  # the desk runs the outbox and delivers (API subscribers included)
    # Hosts a subscriber URL may name (exact names or IP addresses). Loopback only unless widened on purpose:
    # a webhook carries the desk's fills to whatever the URL points at.
    allow_hosts: tuple[str, ...] = Field(default_factory=_loopback_hosts)
    subscribers: tuple[SubscriberConfig, ...] = ()
    timeout_s: float = Field(default=10.0, gt=0, le=300)  # one delivery attempt, connect to response
    # Attempt n waits min(backoff_max_s, backoff_base_s * 2**(n-1)), scaled by a random factor in [1/2, 1]
    # (jitter: subscribers that failed together do not all come back at once).
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=10, ge=1, le=100)  # then the delivery is a dead letter
    retry_after_max_s: float = Field(default=3600.0, ge=0)  # a receiver's Retry-After is honoured up to this
    # How often the outbox looks for flushed telemetry it was not handed directly (it is woken on each handed batch).
    poll_interval_s: float = Field(default=0.2, gt=0, le=60)
    batch_records: int = Field(default=500, ge=1, le=10_000)  # deliveries read from the outbox per query

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if not host or "/" in host or " " in host:
                raise ValueError(f"{host!r} is not a host name or IP address")
        return tuple(normalise_host(h) for h in hosts)

    @model_validator(mode="after")
    def _subscribers_allowed(self) -> Self:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError(f"backoff_max_s ({self.backoff_max_s}) is below backoff_base_s ({self.backoff_base_s})")
        seen: set[str] = set()
        for i, sub in enumerate(self.subscribers):
            try:
                url = check_url(sub.url, self.allow_hosts)
            except ValueError as exc:
                raise ValueError(f"subscribers.{i}.url: {exc}") from None
            if url in seen:
                raise ValueError(f"subscribers.{i}.url: {sub.url!r} is listed twice")
            seen.add(url)
        return self
