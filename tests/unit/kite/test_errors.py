"""Kite failures -> broker errors: the table (exceptions built as the real client builds them) and real transport
failures from the real client against loopback sockets (refused, silent, dropped) and a scripted HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from kiteconnect import KiteConnect  # type: ignore[import-untyped]
from kiteconnect import exceptions as kex

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
from imperium_desk.broker.kite.errors import KiteOrderBusy, redact, translate

ACCESS_TOKEN = "ZmFrZWFjY2Vzc3Rva2VuMTIzNDU2"
API_KEY = "kitekey1"

# (exception as the client raises it, the broker error class it becomes)
KITE_TABLE: list[tuple[BaseException, type[BrokerError]]] = [
    (kex.TokenException("Incorrect `api_key` or `access_token`.", code=403), BrokerSessionExpired),
    (kex.PermissionException("Insufficient permission for that call.", code=403), BrokerInputError),
    (kex.InputException("Invalid `tag` value.", code=400), BrokerInputError),
    (kex.InputException(
        "Market orders without market protection are not allowed via API. Please set market protection or use a "
        "Limit order.", code=400), BrokerInputError),
    (kex.InputException("Order cannot be modified as it is being processed. Try later.", code=400), KiteOrderBusy),
    (kex.NetworkException("Too many requests", code=429), BrokerThrottled),
    (kex.NetworkException("Couldn't reach the OMS.", code=503), BrokerNetworkError),
    (kex.NetworkException("Gateway error", code=504), BrokerNetworkError),
    (kex.NetworkException("Maximum allowed order modifications exceeded.", code=400), BrokerOrderRejected),
    (kex.DataException("Couldn't parse the JSON response received from the server: b'<html>'", code=502),
     BrokerNetworkError),
    (kex.OrderException("Order not found.", code=400), BrokerOrderRejected),
    (kex.OrderException("Order placement failed.", code=500), BrokerNetworkError),
    (kex.GeneralException(
        "Insufficient funds. Required margin is 95417.84 but available margin is 74251.80.", code=400),
     BrokerMarginError),
    (kex.GeneralException("Insufficient holdings.", code=400), BrokerMarginError),
    (kex.GeneralException("Invalid user.", code=403), BrokerOrderRejected),
    (kex.GeneralException("Something went wrong.", code=500), BrokerNetworkError),
    (kex.GeneralException("Upstream unavailable.", code=502), BrokerNetworkError),
]


@pytest.mark.parametrize(("exc", "expected"), KITE_TABLE, ids=lambda v: type(v).__name__)
def test_kite_exception_translates_by_class_code_and_text(exc: BaseException, expected: type[BrokerError]) -> None:
    assert type(translate(exc, sent=True)) is expected


def test_network_exception_429_is_throttle_not_transient() -> None:
    translated = translate(kex.NetworkException("Too many requests", code=429), sent=True)
    assert isinstance(translated, BrokerThrottled)
    assert not isinstance(translated, BrokerNetworkError)


def test_throttle_carries_the_retry_after_the_caller_saw() -> None:
    translated = translate(kex.NetworkException("Too many requests", code=429), sent=True, retry_after_s=2.0)
    assert isinstance(translated, BrokerThrottled)
    assert translated.retry_after_s == 2.0


def test_translated_error_keeps_the_real_http_status() -> None:
    assert translate(kex.GeneralException("Invalid user.", code=403), sent=True).status == 403


def test_translated_error_keeps_the_original_as_its_cause() -> None:
    original = kex.DataException("bad gateway", code=502)
    assert translate(original, sent=True).__cause__ is original


def test_a_broker_error_passes_through_unchanged() -> None:
    original = BrokerTimeout("late")
    assert translate(original, sent=True) is original


def test_kite_exception_ignores_sent_because_a_response_arrived() -> None:
    assert type(translate(kex.TokenException("expired", code=403), sent=False)) is BrokerSessionExpired


def test_any_failure_before_sending_is_unreachable() -> None:
    assert type(translate(RuntimeError("executor shut down"), sent=False)) is BrokerUnreachable


def test_unknown_failure_after_sending_is_outcome_unknown() -> None:
    assert type(translate(RuntimeError("surprise"), sent=True)) is BrokerNetworkError


def test_client_quirk_type_error_is_outcome_unknown() -> None:
    assert type(translate(TypeError("attribute name must be string"), sent=True)) is BrokerNetworkError


def test_client_quirk_key_error_is_outcome_unknown() -> None:
    assert type(translate(KeyError("content-type"), sent=True)) is BrokerNetworkError


def test_redact_removes_access_token_parameters_and_authorization_credentials() -> None:
    text = redact(f"GET /x?api_key={API_KEY}&access_token={ACCESS_TOKEN} Authorization: token {API_KEY}:{ACCESS_TOKEN}")
    assert ACCESS_TOKEN not in text


def test_message_with_a_token_in_a_url_is_redacted() -> None:
    exc = requests.exceptions.ConnectionError(f"Max retries exceeded with url: /ws?access_token={ACCESS_TOKEN}")
    assert ACCESS_TOKEN not in str(translate(exc, sent=True))


# -- the real client and real transport failures ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _client(port: int, timeout: float = 2.0) -> KiteConnect:
    return KiteConnect(API_KEY, access_token=ACCESS_TOKEN, root=f"http://127.0.0.1:{port}", timeout=timeout)


def _failure(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:  # whatever the client raises is the subject under test
        return exc
    raise AssertionError("the call did not fail")


def _place(kite: KiteConnect) -> Callable[[], object]:
    return lambda: kite.place_order(
        variety="regular", exchange="NFO", tradingsymbol="NIFTY26DEC26000CE", transaction_type="BUY",
        quantity=65, product="NRML", order_type="LIMIT", price=100.0, tag="A1B2C3",
    )


def test_refused_connection_is_unreachable() -> None:
    exc = _failure(_place(_client(_free_port())))
    assert type(translate(exc, sent=True)) is BrokerUnreachable


def test_refused_connection_message_carries_no_token() -> None:
    translated = translate(_failure(_place(_client(_free_port()))), sent=True)
    assert ACCESS_TOKEN not in str(translated)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield s.getsockname()[1]


def test_server_that_never_answers_is_a_timeout(silent_server: int) -> None:
    exc = _failure(_place(_client(silent_server, timeout=0.3)))
    assert isinstance(exc, requests.exceptions.ReadTimeout)
    assert type(translate(exc, sent=True)) is BrokerTimeout


@pytest.fixture
def dropping_server() -> Iterator[int]:
    """Reads the request, then closes the connection without a response."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=5)


def test_connection_dropped_after_sending_is_outcome_unknown(dropping_server: int) -> None:
    exc = _failure(_place(_client(dropping_server)))
    assert isinstance(exc, requests.exceptions.ConnectionError)
    translated = translate(exc, sent=True)
    assert isinstance(translated, BrokerNetworkError)
    assert not isinstance(translated, BrokerTimeout)


class _Scripted:
    """A loopback HTTP server answering every request with one scripted response."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self.body = b""
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(script.status)
                for name, value in script.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(script.body)))
                self.end_headers()
                self.wfile.write(script.body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's handler names

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def answer(
        self, status: int, body: bytes, content_type: str | None = "application/json", **headers: str
    ) -> None:
        self.status, self.body = status, body
        self.headers = ({} if content_type is None else {"Content-Type": content_type}) | headers


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=5)


def _error_body(error_type: str | None, message: str) -> bytes:
    kind = "" if error_type is None else f'"error_type": "{error_type}", '
    return f'{{"status": "error", {kind}"message": "{message}", "data": null}}'.encode()


JSON = "application/json"
# (status, body, content type, what the client raises, the broker error class)
REAL_CLIENT_TABLE: list[tuple[int, bytes, str | None, type[BaseException], type[BrokerError]]] = [
    (429, _error_body("NetworkException", "Too many requests"), JSON, kex.NetworkException, BrokerThrottled),
    (503, _error_body("NetworkException", "OMS unreachable"), JSON, kex.NetworkException, BrokerNetworkError),
    (400, _error_body("MarginException", "Insufficient funds. Required margin is 1.00"), JSON,
     kex.GeneralException, BrokerMarginError),
    (403, _error_body("TokenException", "Incorrect api_key or access_token."), JSON, kex.TokenException,
     BrokerSessionExpired),
    (400, _error_body("InputException", "Invalid tag"), JSON, kex.InputException, BrokerInputError),
    (502, b"<html><body>502 Bad Gateway</body></html>", "text/html", kex.DataException, BrokerNetworkError),
    (400, _error_body(None, "no error type"), JSON, TypeError, BrokerNetworkError),
    (200, b'{"status": "success", "data": {"order_id": "1"}}', None, KeyError, BrokerNetworkError),
]


@pytest.mark.parametrize(
    ("status", "body", "content_type", "raised", "expected"), REAL_CLIENT_TABLE,
    ids=["429", "503", "margin", "token", "input", "html-502", "no-error-type", "no-content-type"],
)
def test_real_client_failure_translates(
    scripted: _Scripted, status: int, body: bytes, content_type: str | None, raised: type[BaseException],
    expected: type[BrokerError],
) -> None:
    scripted.answer(status, body, content_type)
    exc = _failure(_place(_client(scripted.port)))
    assert type(exc) is raised
    assert type(translate(exc, sent=True)) is expected


def test_http_429_response_carries_its_retry_after(scripted: _Scripted) -> None:
    scripted.answer(429, b"slow down", "text/plain", **{"Retry-After": "3"})
    exc = _failure(lambda: requests.get(f"http://127.0.0.1:{scripted.port}/orders", timeout=2).raise_for_status())
    translated = translate(exc, sent=True)
    assert isinstance(translated, BrokerThrottled)
    assert translated.retry_after_s == 3.0
