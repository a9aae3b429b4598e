"""Kite Connect failures -> this project's broker errors, by one table (kite-notes §1.5, §5).

The official client raises `kiteconnect.exceptions.*` built from the response's `error_type` with `.code` set to the
REAL HTTP status (the class default applies only when the client raises one itself), lets `requests` transport
errors through unwrapped, and has two quirks of its own (a JSON error body without `error_type` raises TypeError, a
response without Content-Type raises KeyError). `translate` is the single place where all of that becomes a
`broker/errors.py` class, so the retry policy never sees a Kite class and classifies by our types alone:

- refused before being acted on: BrokerThrottled (429), BrokerUnreachable (never connected), BrokerSessionExpired;
- refused for good: BrokerInputError, BrokerOrderRejected, BrokerMarginError;
- outcome unknown, reconcile by tag before any resend: BrokerNetworkError, BrokerTimeout.

The translated error's message is the original's with anything secret-shaped removed, and the original is kept as
`__cause__`. Nothing from a request object (whose headers carry `Authorization: token <api_key>:<access_token>`) is
copied into the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import kiteconnect.exceptions as kex  # type: ignore[import-untyped]
import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from imperium_desk.broker.errors import (
    BrokerError,
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerSessionExpired,
    BrokerThrottled,
    BrokerTimeout,
    BrokerUnreachable,
)

__all__ = ["KiteOrderBusy", "redact", "translate"]


class KiteOrderBusy(BrokerInputError):
    """Kite refused a modify because the order "is being processed. Try later." (InputException, HTTP 400): the
    order was not changed, and the same modify may be sent again once the order settles."""


_ANY: tuple[int, int] = (0, 1000)
_4XX: tuple[int, int] = (400, 500)
_5XX: tuple[int, int] = (500, 1000)

# Margin/Holding refusals reach us as GeneralException: the client has no MarginException or HoldingException
# class, so `getattr(exceptions, error_type, GeneralException)` falls back (verified against a fake server).
_MARGIN_TEXT = ("margin", "insufficient", "funds")
_MODIFY_LIMIT_TEXT = ("maximum allowed order modifications exceeded",)
_BUSY_TEXT = ("being processed",)


@dataclass(frozen=True, slots=True)
class _KiteRule:
    """A row of the table: a Kite exception class, a half-open HTTP status range, and text fragments of which one
    must appear in the lower-cased message (none = any message). The first matching row wins."""

    kite_class: type[Exception]
    codes: tuple[int, int]
    text: tuple[str, ...]
    target: type[BrokerError]

    def matches(self, exc: Exception, code: int, message: str) -> bool:
        if not isinstance(exc, self.kite_class) or not self.codes[0] <= code < self.codes[1]:
            return False
        return not self.text or any(fragment in message for fragment in self.text)


_KITE_RULES: tuple[_KiteRule, ...] = (
    _KiteRule(kex.TokenException, _ANY, (), BrokerSessionExpired),
    # A call this api_key may not make: no retry or re-login will change that.
    _KiteRule(kex.PermissionException, _ANY, (), BrokerInputError),
    # 429 arrives as NetworkException (kite-notes §5.4): refused before it was acted on, so back off and resend.
    _KiteRule(kex.KiteException, (429, 430), (), BrokerThrottled),
    # The 25-modification cap arrives as NetworkException, which would otherwise read as "outcome unknown".
    _KiteRule(kex.KiteException, _ANY, _MODIFY_LIMIT_TEXT, BrokerOrderRejected),
    _KiteRule(kex.InputException, _ANY, _BUSY_TEXT, KiteOrderBusy),
    _KiteRule(kex.InputException, _ANY, (), BrokerInputError),
    _KiteRule(kex.NetworkException, _ANY, (), BrokerNetworkError),
    # Includes the client's own DataException for any non-JSON body (an HTML 502 from a proxy).
    _KiteRule(kex.DataException, _ANY, (), BrokerNetworkError),
    _KiteRule(kex.OrderException, (0, 500), (), BrokerOrderRejected),
    _KiteRule(kex.OrderException, _5XX, (), BrokerNetworkError),
    _KiteRule(kex.GeneralException, _4XX, _MARGIN_TEXT, BrokerMarginError),
    _KiteRule(kex.GeneralException, _4XX, (), BrokerOrderRejected),
    _KiteRule(kex.GeneralException, _5XX, (), BrokerNetworkError),
    # Anything else Kite-shaped (a class added in a later client, an odd status): the safe reading is "unknown".
    _KiteRule(kex.KiteException, _ANY, (), BrokerNetworkError),
)


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """A connection refused, a failed name lookup or a connect timeout: urllib3 gave up before a socket was open,
    so no byte of the request left. (urllib3 2's NewConnectionError and NameResolutionError subclass
    ConnectTimeoutError.)"""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, ConnectTimeoutError)


@dataclass(frozen=True, slots=True)
class _TransportRule:
    """A row for a raw `requests` (or client-quirk) exception: its class, an optional extra test, the target."""

    exc_class: type[BaseException]
    target: type[BrokerError]
    when: Callable[[requests.exceptions.ConnectionError], bool] | None = None

    def matches(self, exc: BaseException) -> bool:
        if not isinstance(exc, self.exc_class):
            return False
        return self.when is None or (
            isinstance(exc, requests.exceptions.ConnectionError) and self.when(exc)
        )


_TRANSPORT_RULES: tuple[_TransportRule, ...] = (
    # ConnectTimeout subclasses both ConnectionError and Timeout: the connection never opened.
    _TransportRule(requests.exceptions.ConnectTimeout, BrokerUnreachable),
    # The TLS handshake comes before the request is written.
    _TransportRule(requests.exceptions.SSLError, BrokerUnreachable),
    # A malformed REST root or header: nothing can be sent until the configuration is fixed.
    _TransportRule(requests.exceptions.InvalidURL, BrokerInputError),
    _TransportRule(requests.exceptions.MissingSchema, BrokerInputError),
    _TransportRule(requests.exceptions.InvalidSchema, BrokerInputError),
    _TransportRule(requests.exceptions.InvalidHeader, BrokerInputError),
    _TransportRule(requests.exceptions.ReadTimeout, BrokerTimeout),
    _TransportRule(requests.exceptions.Timeout, BrokerTimeout),
    _TransportRule(requests.exceptions.ConnectionError, BrokerUnreachable, _never_connected),
    # Reset, remote disconnect, broken pipe after the request went out: it may have been acted on.
    _TransportRule(requests.exceptions.ConnectionError, BrokerNetworkError),
    _TransportRule(requests.exceptions.RequestException, BrokerNetworkError),
    # Client quirks: a response arrived but the client could not read it (a JSON error body without
    # `error_type` -> TypeError from getattr(None); no Content-Type header -> KeyError).
    _TransportRule(TypeError, BrokerNetworkError),
    _TransportRule(KeyError, BrokerNetworkError),
)

_SECRET_PARAM = re.compile(
    r"(?i)\b(access_token|api_secret|request_token|refresh_token|enctoken|checksum|password)=[^&\s'\"]*"
)
_AUTH_HEADER = re.compile(r"(?i)\b(token|bearer|enctoken)\s+[A-Za-z0-9_\-.]+:[A-Za-z0-9_\-.]+")


def redact(message: str) -> str:
    """`message` with access tokens, secrets and checksums cut out (URL parameters and `token key:secret`
    credentials), so an error can be logged and shown."""
    message = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=<redacted>", message)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} <redacted>", message)


def _status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def _retry_after(exc: BaseException) -> float | None:
    """A `Retry-After` in seconds from a `requests` error that carries a response (the Kite client's own
    NetworkException carries none; the REST wrapper passes the header it saw instead)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, requests.Response):
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # the HTTP-date form: no wall-clock reading here, let the retry policy choose
        return None


def _build(
    target: type[BrokerError], message: str, status: int | None, retry_after_s: float | None, cause: BaseException
) -> BrokerError:
    error = (
        BrokerThrottled(message, status, retry_after_s=retry_after_s)
        if target is BrokerThrottled
        else target(message, status)
    )
    error.__cause__ = cause
    return error


def _from_http_error(exc: requests.exceptions.HTTPError) -> type[BrokerError]:
    status = exc.response.status_code if exc.response is not None else None
    if status == 429:
        return BrokerThrottled
    if status is not None and 400 <= status < 500:
        return BrokerOrderRejected
    return BrokerNetworkError


def translate(exc: BaseException, *, sent: bool, retry_after_s: float | None = None) -> BrokerError:
    """The broker error for a failed Kite call, with `exc` as its `__cause__` (a BrokerError comes back as is).

    `sent` is the caller's knowledge: False when the call failed before the request was handed to the client (the
    request certainly never left), True otherwise. A Kite exception proves a response arrived, so `sent` does not
    change its translation; for a transport error the exception itself can still prove the connection never
    opened. `retry_after_s` is a `Retry-After` the caller saw on a 429 response, when it saw one.
    """
    if isinstance(exc, BrokerError):
        return exc
    message = redact(str(exc))
    if isinstance(exc, kex.KiteException):
        code = _status_of(exc) or 500
        lowered = message.lower()
        for rule in _KITE_RULES:
            if rule.matches(exc, code, lowered):
                return _build(rule.target, message, code, retry_after_s, exc)
    if not sent:
        return _build(BrokerUnreachable, f"not sent: {type(exc).__name__}: {message}", None, None, exc)
    if isinstance(exc, requests.exceptions.HTTPError):
        target = _from_http_error(exc)
        status = exc.response.status_code if exc.response is not None else None
        wait = retry_after_s if retry_after_s is not None else _retry_after(exc)
        return _build(target, message, status, wait, exc)
    for transport in _TRANSPORT_RULES:
        if transport.matches(exc):
            text = message
            if isinstance(exc, TypeError | KeyError):
                text = f"the Kite client could not read the response ({type(exc).__name__}: {message})"
            return _build(transport.target, text, None, retry_after_s, exc)
    # Unknown failure after the request may have left: the only safe reading is "outcome unknown".
    return _build(BrokerNetworkError, f"{type(exc).__name__}: {message}", None, None, exc)
