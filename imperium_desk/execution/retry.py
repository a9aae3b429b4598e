"""Retry policy: classify a broker failure into an error bucket, and decide whether, when and how to retry.

Classification looks at the exception's type first (this package's broker errors, which the broker adapters
translate their client library's errors into, and Python's network errors), then its HTTP status, and only then
its message: the text decides only for foreign exceptions that carry neither.
"""

from __future__ import annotations

from imperium_desk.broker.errors import (
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerSessionExpired,
    BrokerThrottled,
    BrokerUnreachable,
)
from imperium_desk.domain.enums import ErrorBucket
from imperium_desk.execution.config import RetryConfig
from imperium_desk.rng import BufferedDraws

_RISK_WORDS = ("margin", "insufficient", "rms", "funds")
_THROTTLE_WORDS = ("too many requests", "rate limit", "throttl")
_TRANSIENT_WORDS = ("timeout", "timed out", "temporarily", "connection", "network", "unavailable")
_TRANSIENT_STATUSES = frozenset({408, 502, 503, 504})


class RetryPolicy:
    """Decides what a failed broker call means and what the stack does next.

    `classify` puts an error in a bucket; only TRANSIENT and THROTTLE are `retryable`, each up to its own
    `max_attempts` with its own backoff (`RetryConfig.backoff`). `outcome_unknown` says whether the broker may have
    acted on a request it gave no answer to, in which case the stack looks the tag up before any resend. Backoff
    jitter comes from one seeded stream, one draw per delay, so a replay waits exactly as it did.
    """

    def __init__(self, config: RetryConfig, jitter: BufferedDraws) -> None:
        self.config = config
        self._jitter = jitter

    @staticmethod
    def classify(exc: BaseException) -> ErrorBucket:
        if isinstance(exc, BrokerThrottled):
            return ErrorBucket.THROTTLE
        if isinstance(exc, BrokerSessionExpired):
            return ErrorBucket.FATAL  # nothing can be sent until the trader logs in again
        if isinstance(exc, BrokerUnreachable | BrokerNetworkError | TimeoutError | ConnectionError):
            return ErrorBucket.TRANSIENT
        if isinstance(exc, BrokerMarginError):
            return ErrorBucket.RISK
        if isinstance(exc, BrokerInputError | BrokerOrderRejected):
            # An OMS rejection whose text is about margin is a risk refusal, not a malformed order.
            return ErrorBucket.RISK if _by_text(str(exc)) is ErrorBucket.RISK else ErrorBucket.FATAL
        status = getattr(exc, "status", None) or getattr(exc, "code", None)
        if isinstance(status, int):
            if status == 429:
                return ErrorBucket.THROTTLE
            if status in _TRANSIENT_STATUSES:
                return ErrorBucket.TRANSIENT
        return _by_text(str(exc))

    @staticmethod
    def retryable(bucket: ErrorBucket) -> bool:
        return bucket in (ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE)

    @staticmethod
    def outcome_unknown(exc: BaseException) -> bool:
        """True if the broker may have acted on the request without our hearing of it (a timeout, a dropped
        connection, a 5xx): the tag must be looked up before any resend. An unreachable broker never got the
        request, and a throttled one refused it, so those are resent without a lookup."""
        return RetryPolicy.classify(exc) is ErrorBucket.TRANSIENT and not isinstance(exc, BrokerUnreachable)

    def max_attempts(self, bucket: ErrorBucket) -> int:
        """Attempts in all (the first send included) once the latest error is in this retryable bucket."""
        return self.config.backoff(bucket).max_attempts

    def backoff_s(self, bucket: ErrorBucket, attempt: int) -> float:
        """Exponential backoff with 'equal jitter' (half the step fixed, half drawn), by the bucket's steps."""
        backoff = self.config.backoff(bucket)
        step = min(backoff.max_delay_ms, backoff.base_delay_ms * 2.0 ** (attempt - 1))
        return (0.5 * step + 0.5 * step * self._jitter.uniform()) / 1000.0

    def delay_s(self, exc: BaseException, bucket: ErrorBucket, attempt: int) -> float:
        """The wait before resending after `exc`: the bucket's backoff, and never less than the broker's own
        Retry-After. The jitter is drawn either way, so a Retry-After does not shift later delays' draws."""
        delay = self.backoff_s(bucket, attempt)
        retry_after_s = exc.retry_after_s if isinstance(exc, BrokerThrottled) else None
        return delay if retry_after_s is None else max(delay, retry_after_s)


def _by_text(message: str) -> ErrorBucket:
    text = message.lower()
    if any(w in text for w in _RISK_WORDS):
        return ErrorBucket.RISK
    if any(w in text for w in _THROTTLE_WORDS):
        return ErrorBucket.THROTTLE
    if any(w in text for w in _TRANSIENT_WORDS):
        return ErrorBucket.TRANSIENT
    return ErrorBucket.FATAL
