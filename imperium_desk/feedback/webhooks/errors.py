"""Errors the webhook service raises to its callers (the REST API maps them to 422 and 404)."""

from __future__ import annotations


class WebhookInputError(ValueError):
    """Bad input from a caller: `field` names it (`url`, `secret`, `events`), the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WebhookConflict(WebhookInputError):
    """The input is valid but clashes with what is stored (the URL is already subscribed): the API answers 409."""


class UnknownWebhook(LookupError):
    """No subscriber or dead letter with that id."""


class WebhooksNotRunning(RuntimeError):
    """The service was asked for work before `start()` or after `stop()`."""
