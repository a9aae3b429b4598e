"""RetryPolicy: error classification (type, Kite class name, HTTP status, then text) and seeded backoff."""

from __future__ import annotations

import pytest

from imperium_desk.broker.errors import (
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerThrottled,
    BrokerTimeout,
)
from imperium_desk.domain.enums import ErrorBucket
from imperium_desk.execution.config import RetryConfig
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.rng import RandomStreams

TRANSIENT, THROTTLE = ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE
RISK, FATAL = ErrorBucket.RISK, ErrorBucket.FATAL
classify = RetryPolicy.classify


# Kite Connect's exception classes, re-created by name only (the engine matches them by name).
class KiteException(Exception):
    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


class NetworkException(KiteException):
    pass


class InputException(KiteException):
    pass


class TokenException(KiteException):
    pass


class CustomInputException(InputException):
    """A subclass of a Kite class still classifies as its Kite base."""


class HttpError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def policy(seed: int = 1, **config: float) -> RetryPolicy:
    return RetryPolicy(RetryConfig(**config), RandomStreams(seed).buffered("retry", "jitter"))


# --- classification by type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "bucket"),
    [
        (BrokerThrottled("slow down"), THROTTLE),
        (BrokerTimeout("no answer"), TRANSIENT),
        (BrokerNetworkError("reset by peer"), TRANSIENT),
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


@pytest.mark.parametrize(
    ("exc", "bucket"),
    [
        (NetworkException("gateway", code=502), TRANSIENT),
        (InputException("invalid quantity", code=400), FATAL),
        (TokenException("session expired", code=403), FATAL),
        (CustomInputException("bad order", code=400), FATAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification_by_kite_class_name(exc: BaseException, bucket: ErrorBucket) -> None:
    assert classify(exc) is bucket


def test_kite_class_name_beats_its_http_code() -> None:
    assert classify(TokenException("token expired", code=503)) is FATAL


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
            assert step_s / 2 <= p.backoff_s(attempt) <= step_s


def test_backoff_grows_exponentially() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=1_000_000)
    delays = [p.backoff_s(attempt) for attempt in range(1, 9)]
    # Equal jitter: every delay of attempt n+1 is at least the largest possible delay of attempt n.
    assert delays == sorted(delays)
    assert delays[-1] >= 0.1 * 2**7 / 2  # 6.4 s at attempt 8, from 0.05..0.1 s at attempt 1
    assert delays[0] <= 0.1


def test_backoff_is_capped_by_max_delay() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=2_000)
    late = [p.backoff_s(attempt) for attempt in range(6, 30)]
    assert all(1.0 <= d <= 2.0 for d in late)


def test_backoff_jitter_actually_varies() -> None:
    p = policy(base_delay_ms=100, max_delay_ms=2_000)
    assert len({p.backoff_s(3) for _ in range(20)}) > 1


def test_backoff_is_reproducible_for_the_same_seed() -> None:
    first, second = policy(seed=9), policy(seed=9)
    assert [first.backoff_s(a) for a in range(1, 6)] == [second.backoff_s(a) for a in range(1, 6)]


def test_backoff_differs_for_different_seeds() -> None:
    a, b = policy(seed=9), policy(seed=10)
    assert [a.backoff_s(n) for n in range(1, 6)] != [b.backoff_s(n) for n in range(1, 6)]
