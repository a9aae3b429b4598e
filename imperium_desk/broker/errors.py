"""Broker exceptions, shaped after Kite Connect's exception classes (and carrying an HTTP status).

The retry policy classifies by these types first and by `status` next; message text is only a fallback
for exceptions from code that does not use this hierarchy.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Any failure a broker reports. `status` is the HTTP status it corresponds to; a subclass says what the
    failure means for the order (placed or not, worth retrying or not)."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BrokerNetworkError(BrokerError):
    """Connection failed or dropped. Whether the broker acted on the request is unknown."""

    status = 503


class BrokerTimeout(BrokerNetworkError):
    """No answer in time. The broker may have accepted the order: reconcile by tag before resending."""

    status = 504


class BrokerUnreachable(BrokerError):
    """The request never reached the broker (connection refused, connect timeout): nothing was placed, so it may
    be sent again without a lookup."""

    status = 503


class BrokerThrottled(BrokerError):
    """HTTP 429: the request was refused before it was acted on. `retry_after_s` is the broker's own wait
    (a `Retry-After` header) when it gave one."""

    status = 429

    def __init__(self, message: str, status: int | None = None, *, retry_after_s: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


class BrokerSessionExpired(BrokerError):
    """The session is no longer valid (Kite: TokenException, HTTP 403; the access token dies at 06:00 IST): nothing
    was placed, and nothing more can be until the trader logs in again."""

    status = 403


class BrokerMarginError(BrokerError):
    """Insufficient funds / RMS rejection."""

    status = 400


class BrokerInputError(BrokerError):
    """The request itself is invalid (Kite: InputException)."""

    status = 400


class BrokerOrderRejected(BrokerError):
    """The exchange or OMS rejected the order for a reason that a retry will not fix."""

    status = 400


class OrderNotFound(BrokerError):
    """The broker does not know the order id (yet: a new order may take a moment to appear)."""

    status = 404
