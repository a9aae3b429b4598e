"""RetryPolicy: error classification (broker error type, then HTTP status, then text), per-bucket limits and seeded
backoff, Retry-After, and which errors need a lookup by tag before a resend."""

from __future__ import annotations

import pytest

from imperium_desk.broker.errors import (
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerSessionExpired,
    BrokerThrottled,
    BrokerTimeout,
    BrokerUnreachable,
)
from imperium_desk.domain.enums import ErrorBucket
from imperium_desk.execution.config import RetryConfig
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.rng import RandomStreams

TRANSIENT, THROTTLE = ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE
RISK, FATAL = ErrorBucket.RISK, ErrorBucket.FATAL
classify = RetryPolicy.classify


# Kite Connect's exception classes, re-created by name: the engine must give their names no meaning (the Kite
# adapter translates them into broker errors), only an HTTP status they carry.
class KiteException(Exception):
    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


class NetworkException(KiteException):
    pass


class TokenException(KiteException):
    pass


class HttpError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def policy(seed: int = 1, **config: object) -> RetryPolicy:
    return RetryPolicy(RetryConfig.model_validate(config), RandomStreams(seed).buffered("retry", "jitter"))


# --- classification by type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "bucket"),
    [
        (BrokerThrottled("slow down"), THROTTLE),
        (BrokerTimeout("no answer"), TRANSIENT),
        (BrokerNetworkError("reset by peer"), TRANSIENT),
        (BrokerUnreachable("connection refused"), TRANSIENT),
        (BrokerSessionExpired("token expired"), FATAL),
        (TimeoutError(), TRANSIENT),
        (ConnectionError(), TRANSIENT),
        (ConnectionResetError(), TRANSIENT),
        (BrokerMarginError("short by 1,000"), RISK),
        (BrokerInputError("bad tradingsymbol"), FATAL),
        (BrokerOrderRejected("price out of band"), FATAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification_by_exception_type(exc: BaseException, bucket: ErrorBucket) -> None:
    assert classify(exc) is bucket


def test_network_exception_429_class_does_not_matter_only_the_translated_error() -> None:
    # Kite sends its 429 as NetworkException(code=429): an untranslated one is a throttle by its code, not a
    # transient error by its class name; translated, it is BrokerThrottled.
    assert classify(NetworkException("Too many requests", code=429)) is THROTTLE
    assert classify(BrokerThrottled("Too many requests")) is THROTTLE


def test_a_kite_class_name_gives_no_bucket_of_its_own() -> None:
    assert classify(TokenException("gateway", code=503)) is TRANSIENT
    assert classify(TokenException("something odd", code=403)) is FATAL  # unknown status: by its text


def test_broker_error_type_beats_its_http_status() -> None:
    assert classify(BrokerSessionExpired("token expired", status=503)) is FATAL
    assert classify(BrokerUnreachable("refused", status=429)) is TRANSIENT


@pytest.mark.parametrize(("status", "bucket"), [(429, THROTTLE), (503, TRANSIENT), (504, TRANSIENT)])
def test_classification_by_http_status_of_an_unknown_type(status: int, bucket: ErrorBucket) -> None:
    assert classify(HttpError("something broke", status=status)) is bucket


def test_http_status_beats_message_text() -> None:
    assert classify(HttpError("Insufficient funds", status=429)) is THROTTLE


@pytest.mark.parametrize(
    ("message", "bucket"),
    [
        ("Insufficient funds. Required margin is 95,000", RISK),
        ("Too many requests", THROTTLE),
        ("Request timed out", TRANSIENT),
        ("Something odd happened", FATAL),
        ("", FATAL),
    ],
)
def test_classification_by_message_text_as_a_fallback(message: str, bucket: ErrorBucket) -> None:
    assert classify(RuntimeError(message)) is bucket


def test_unknown_http_status_falls_back_to_text() -> None:
    assert classify(HttpError("Insufficient funds", status=400)) is RISK


@pytest.mark.parametrize(
    "exc",
    [BrokerThrottled("margin"), BrokerThrottled("Insufficient funds"), BrokerThrottled("invalid input")],
    ids=str,
)
def test_throttle_type_beats_contradicting_text(exc: BaseException) -> None:
    assert classify(exc) is THROTTLE


def test_transient_type_beats_contradicting_text() -> None:
    assert classify(BrokerTimeout("RMS: margin exceeds")) is TRANSIENT


def test_margin_type_beats_contradicting_text() -> None:
    assert classify(BrokerMarginError("Too many requests")) is RISK


def test_session_expired_type_beats_contradicting_text() -> None:
    assert classify(BrokerSessionExpired("network unavailable, too many requests")) is FATAL


# --- which errors need a lookup by tag before a resend -------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [BrokerTimeout("no answer"), BrokerNetworkError("reset by peer"), TimeoutError(), ConnectionResetError(),
     HttpError("bad gateway", status=502)],
    ids=lambda v: type(v).__name__,
)
def test_an_error_that_may_hide_a_placed_order_needs_a_lookup(exc: BaseException) -> None:
    assert RetryPolicy.outcome_unknown(exc) is True


@pytest.mark.parametrize(
    "exc",
    [BrokerUnreachable("connection refused"), BrokerThrottled("slow down"), BrokerSessionExpired("log in"),
     BrokerInputError("bad tradingsymbol"), BrokerMarginError("short")],
    ids=lambda v: type(v).__name__,
)
def test_an_error_that_proves_nothing_was_placed_needs_no_lookup(exc: BaseException) -> None:
    assert RetryPolicy.outcome_unknown(exc) is False


# --- retryable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket", "retryable"), [(TRANSIENT, True), (THROTTLE, True), (RISK, False), (FATAL, False)]
)
def test_only_transient_and_throttle_are_retryable(bucket: ErrorBucket, retryable: bool) -> None:
    assert RetryPolicy.retryable(bucket) is retryable


# --- backoff -----------------------------------------------------------------------------------------


def test_backoff_stays_within_half_step_and_step() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=1_000_000)
    for attempt in range(1, 11):
        step_s = 0.1 * 2 ** (attempt - 1)
        for _ in range(50):
            assert step_s / 2 <= p.backoff_s(TRANSIENT, attempt) <= step_s


def test_backoff_grows_exponentially() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=1_000_000)
    delays = [p.backoff_s(TRANSIENT, attempt) for attempt in range(1, 9)]
    # Equal jitter: every delay of attempt n+1 is at least the largest possible delay of attempt n.
    assert delays == sorted(delays)
    assert delays[-1] >= 0.1 * 2**7 / 2  # 6.4 s at attempt 8, from 0.05..0.1 s at attempt 1
    assert delays[0] <= 0.1


def test_backoff_is_capped_by_max_delay() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=2_000)
    late = [p.backoff_s(TRANSIENT, attempt) for attempt in range(6, 30)]
    assert all(1.0 <= d <= 2.0 for d in late)


def test_backoff_jitter_actually_varies() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=2_000)
    assert len({p.backoff_s(TRANSIENT, 3) for _ in range(20)}) > 1


def test_backoff_is_reproducible_for_the_same_seed() -> None:
    first, second = policy(seed=9), policy(seed=9)
    assert [first.backoff_s(TRANSIENT, a) for a in range(1, 6)] == [second.backoff_s(TRANSIENT, a) for a in range(1, 6)]


def test_backoff_differs_for_different_seeds() -> None:
    a, b = policy(seed=9), policy(seed=10)
    assert [a.backoff_s(TRANSIENT, n) for n in range(1, 6)] != [b.backoff_s(TRANSIENT, n) for n in range(1, 6)]


def test_each_bucket_backs_off_by_its_own_steps() -> None:
    p = policy(throttle={"base_delay_ms": 1_000, "max_delay_ms": 1_000}, transient={"max_delay_ms": 10})
    assert all(0.5 <= p.backoff_s(THROTTLE, attempt) <= 1.0 for attempt in range(1, 8))
    assert all(0.005 <= p.backoff_s(TRANSIENT, attempt) <= 0.01 for attempt in range(1, 8))


def test_each_bucket_has_its_own_attempt_limit() -> None:
    p = policy(max_attempts=4, throttle={"max_attempts": 9})
    assert (p.max_attempts(TRANSIENT), p.max_attempts(THROTTLE)) == (4, 9)


@pytest.mark.parametrize("bucket", [RISK, FATAL])
def test_a_bucket_that_is_never_retried_has_no_attempt_limit(bucket: ErrorBucket) -> None:
    with pytest.raises(ValueError, match=bucket.value):
        policy().max_attempts(bucket)


# --- Retry-After ---------------------------------------------------------------------------------------


def test_throttle_waits_at_least_retry_after() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=200)
    assert p.delay_s(BrokerThrottled("slow down", retry_after_s=7.5), THROTTLE, 1) == 7.5


def test_backoff_longer_than_retry_after_is_kept() -> None:
    steps = {"base_delay_ms": 4_000, "max_delay_ms": 4_000}
    p, same = policy(seed=3, **steps), policy(seed=3, **steps)
    delay = p.delay_s(BrokerThrottled("slow down", retry_after_s=0.5), THROTTLE, 1)
    assert delay == same.backoff_s(THROTTLE, 1)
    assert delay >= 2.0


def test_a_throttle_without_retry_after_waits_the_backoff() -> None:
    p, same = policy(seed=4), policy(seed=4)
    assert p.delay_s(BrokerThrottled("slow down"), THROTTLE, 2) == same.backoff_s(THROTTLE, 2)


def test_retry_after_does_not_shift_later_jitter_draws() -> None:
    p, same = policy(seed=5), policy(seed=5)
    p.delay_s(BrokerThrottled("slow down", retry_after_s=30.0), THROTTLE, 1)
    same.backoff_s(THROTTLE, 1)
    assert p.backoff_s(TRANSIENT, 2) == same.backoff_s(TRANSIENT, 2)
