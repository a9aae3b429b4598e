"""Broker exceptions, shaped after Kite Connect's exception classes (and carrying an HTTP status).

The retry policy classifies by these types first and by `status` next; message text is only a fallback
for exceptions from code that does not use this hierarchy.
"""

from __future__ import annotations


class BrokerError(Exception):
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


class BrokerThrottled(BrokerError):
    """HTTP 429: the request was refused before it was acted on."""

    status = 429


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
    status = 404
