"""Retry policy: classify a broker failure into an error bucket, and decide whether and when to retry.

Classification looks at the exception's type first (this package's broker errors, Kite Connect's
exception class names, Python's network errors), then its HTTP status, and only then its message.
"""

from __future__ import annotations

from imperium_desk.broker.errors import (
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerThrottled,
)
from imperium_desk.domain.enums import ErrorBucket
from imperium_desk.execution.config import RetryConfig
from imperium_desk.rng import BufferedDraws

# Kite Connect's exception classes, matched by name so the engine need not import the client library.
_KITE_CLASSES = {
    "NetworkException": ErrorBucket.TRANSIENT,
    "DataException": ErrorBucket.TRANSIENT,
    "TokenException": ErrorBucket.FATAL,
    "PermissionException": ErrorBucket.FATAL,
    "InputException": ErrorBucket.FATAL,
}
_RISK_WORDS = ("margin", "insufficient", "rms", "funds")
_THROTTLE_WORDS = ("too many requests", "rate limit", "throttl")
_TRANSIENT_WORDS = ("timeout", "timed out", "temporarily", "connection", "network", "unavailable")


class RetryPolicy:
    def __init__(self, config: RetryConfig, jitter: BufferedDraws) -> None:
        self.config = config
        self._jitter = jitter

    @staticmethod
    def classify(exc: BaseException) -> ErrorBucket:
        if isinstance(exc, BrokerThrottled):
            return ErrorBucket.THROTTLE
        if isinstance(exc, BrokerNetworkError | TimeoutError | ConnectionError):
            return ErrorBucket.TRANSIENT
        if isinstance(exc, BrokerMarginError):
            return ErrorBucket.RISK
        if isinstance(exc, BrokerInputError | BrokerOrderRejected):
            # An OMS rejection whose text is about margin is a risk refusal, not a malformed order.
            return ErrorBucket.RISK if _by_text(str(exc)) is ErrorBucket.RISK else ErrorBucket.FATAL
        for cls in type(exc).__mro__:
            bucket = _KITE_CLASSES.get(cls.__name__)
            if bucket is not None:
                # Kite reports RMS/margin refusals as InputException: the text tells them apart.
                if bucket is ErrorBucket.FATAL and _by_text(str(exc)) is ErrorBucket.RISK:
                    return ErrorBucket.RISK
                return bucket
        status = getattr(exc, "status", None) or getattr(exc, "code", None)
        if isinstance(status, int):
            if status == 429:
                return ErrorBucket.THROTTLE
            if status in (408, 502, 503, 504):
                return ErrorBucket.TRANSIENT
        return _by_text(str(exc))

    @staticmethod
    def retryable(bucket: ErrorBucket) -> bool:
        return bucket in (ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE)

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with 'equal jitter': half the step fixed, half drawn (seeded)."""
        step = min(self.config.max_delay_ms, self.config.base_delay_ms * 2.0 ** (attempt - 1))
        return (0.5 * step + 0.5 * step * self._jitter.uniform()) / 1000.0


def _by_text(message: str) -> ErrorBucket:
    text = message.lower()
    if any(w in text for w in _RISK_WORDS):
        return ErrorBucket.RISK
    if any(w in text for w in _THROTTLE_WORDS):
        return ErrorBucket.THROTTLE
    if any(w in text for w in _TRANSIENT_WORDS):
        return ErrorBucket.TRANSIENT
    return ErrorBucket.FATAL
