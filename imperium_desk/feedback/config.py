"""The `feedback` config section: the local REST server, webhook subscribers and the learners."""

from __future__ import annotations

import ipaddress
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.webhooks.config import WebhooksConfig


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FeedbackConfig(BaseModel):
    """The `feedback:` section. Refuses a non-loopback `host` unless `allow_remote` says so: the API can switch the
    desk's models. A request body over `max_body_bytes` is answered 413."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True  # the desk (and `serve`) run the server; replays never do
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)  # 0: any free port (the bound one is shown)
    # Binding anything but loopback exposes the desk's measurements and its model switch: it must be asked for.
    allow_remote: bool = False
    # Names clients reach the server by besides `host` and the loopback names (e.g. the machine's DNS name when
    # bound to 0.0.0.0): a request whose `Host` is none of them is refused (421), the DNS-rebinding defence.
    host_names: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)

    @model_validator(mode="after")
    def _remote_is_explicit(self) -> Self:
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(
                f"host {self.host!r} is not loopback: set allow_remote: true (or serve --allow-remote) to bind it"
            )
        return self
