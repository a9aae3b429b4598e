"""`KiteRest` against the fake Kite: the official client inside, real HTTP on loopback, short timeouts. Every call
it makes, every error class the venue can produce (translated), the client-side limits as the fake counts requests,
and the session's end and resumption."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

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
from imperium_desk.broker.kite.config import KiteConfig, KiteLimits
from imperium_desk.broker.kite.rest import KitePlacement, KiteRest
from imperium_desk.clock import WallClock
from tests.fake_kite.faults import Fault, Route
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig, WriteOutcome
from tests.integration.kite.stack_support import run, until

MakeKite = Callable[[FakeKiteConfig], FakeKite]
READ_TIMEOUT_S = 0.3


def _config(root: str, limits: KiteLimits | None = None) -> KiteConfig:
    return KiteConfig(api_key="fakeapikey", rest_root=root, connect_timeout_s=0.5, read_timeout_s=READ_TIMEOUT_S,
                      limits=limits or KiteLimits())


def _rest(kite: FakeKite, limits: KiteLimits | None = None) -> KiteRest:
    """Built inside a coroutine (the clock reads the running loop)."""
    return KiteRest(_config(kite.root, limits), WallClock(), kite.access_token)


def _market(row: InstrumentRow, tag: str = "T1", lots: int = 1) -> KitePlacement:
    return KitePlacement(exchange=row.exchange, tradingsymbol=row.tradingsymbol, transaction_type="BUY",
                         quantity=lots * row.contract.lot_size, product="NRML", order_type="MARKET", tag=tag,
                         market_protection=-1)


def _resting(row: InstrumentRow, tag: str = "R1") -> KitePlacement:
    """A LIMIT buy at one tick: it rests OPEN (nobody sells there)."""
    return KitePlacement(exchange=row.exchange, tradingsymbol=row.tradingsymbol, transaction_type="BUY",
                         quantity=row.contract.lot_size, product="NRML", order_type="LIMIT", tag=tag,
                         price=row.contract.tick_size)


# -- every call ---------------------------------------------------------------------------------------------------
def test_place_answers_the_order_id_and_the_order_is_in_the_book_with_its_tag(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()

    async def main() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        rest = _rest(fake_kite)
        try:
            order_id = await rest.place_order(_market(row, tag="ABC123"))
            return order_id, await rest.orders(), await rest.order_history(order_id)
        finally:
            rest.close()

    order_id, book, history = run(main())
    assert [(o["order_id"], o["tag"]) for o in book] == [(order_id, "ABC123")]
    assert history[0]["order_id"] == order_id


def test_modify_and_cancel_answer_the_order_id(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()

    async def main() -> tuple[str, str, str]:
        rest = _rest(fake_kite)
        try:
            order_id = await rest.place_order(_resting(row))
            await until(lambda: any(o["status"] == "OPEN" for o in fake_kite.orders()))
            modified = await rest.modify_order(order_id, price=2 * row.contract.tick_size)
            cancelled = await rest.cancel_order(order_id)
            return order_id, modified, cancelled
        finally:
            rest.close()

    order_id, modified, cancelled = run(main())
    assert modified == cancelled == order_id
    assert [w.route for w in fake_kite.order_writes()] == [Route.PLACE, Route.MODIFY, Route.CANCEL]


def test_account_reads_answer_kites_shapes(fake_kite: FakeKite) -> None:
    async def main() -> tuple[Any, ...]:
        rest = _rest(fake_kite)
        try:
            return await rest.positions(), await rest.margins(), await rest.profile()
        finally:
            rest.close()

    positions, margins, profile = run(main())
    assert set(positions) == {"net", "day"}
    assert margins["equity"]["enabled"] is True
    assert profile["user_id"] == fake_kite.config.user_id


def test_quote_and_ltp_answer_by_instrument_key(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()
    key = f"{row.exchange}:{row.tradingsymbol}"

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        rest = _rest(fake_kite, KiteLimits(quote_calls_per_second=10))
        try:
            return await rest.quote([key]), await rest.ltp([key])
        finally:
            rest.close()

    quote, ltp = run(main())
    assert quote[key]["instrument_token"] == ltp[key]["instrument_token"] == row.instrument_token
    assert quote[key]["depth"]["buy"]


def test_instruments_are_downloaded_once_a_day_and_then_read_from_the_cache(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    async def main() -> tuple[int, int]:
        rest = _rest(fake_kite)
        try:
            first = await rest.instruments("NFO", tmp_path, date(2026, 12, 7))
            second = await rest.instruments("NFO", tmp_path, date(2026, 12, 7))
            return len(first), len(second)
        finally:
            rest.close()

    first, second = run(main())
    assert first == second > 0
    assert [r.route for r in fake_kite.requests()].count(Route.INSTRUMENTS) == 1


# -- every error, translated --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "error", "placed"),
    [
        (Fault.error(400, "InputException", "Invalid `quantity`."), BrokerInputError, False),
        (Fault.error(400, "OrderException", "Order rejected by the OMS."), BrokerOrderRejected, False),
        (Fault.error(400, "MarginException", "Insufficient funds. Required margin is 95.10"), BrokerMarginError,
         False),
        (Fault.error(500, "GeneralException", "Something went wrong."), BrokerNetworkError, False),
        (Fault.error(503, "NetworkException", "Gateway timed out."), BrokerNetworkError, False),
        (Fault.throttle(), BrokerThrottled, False),
        (Fault.html(502), BrokerNetworkError, False),
        (Fault.html(502, after=True), BrokerNetworkError, True),
        (Fault.delay(2.0), BrokerTimeout, True),
        (Fault.drop(), BrokerNetworkError, True),
    ],
    ids=["input", "order", "margin", "500", "503", "429", "html502", "html502-after", "read-timeout", "dropped"],
)
def test_each_failure_of_a_placement_becomes_its_broker_error(
    fake_kite: FakeKite, fault: Fault, error: type[BrokerError], placed: bool
) -> None:
    row = fake_kite.instrument()
    fake_kite.faults.inject(Route.PLACE, fault)

    async def main() -> type[BaseException]:
        rest = _rest(fake_kite)
        try:
            with pytest.raises(BrokerError) as caught:
                await rest.place_order(_market(row, tag="F1"))
            return caught.type
        finally:
            rest.close()

    assert run(main()) is error
    assert len([o for o in fake_kite.orders() if o["tag"] == "F1"]) == (1 if placed else 0)


def test_a_refused_connection_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> type[BaseException]:
        rest = KiteRest(_config(f"http://127.0.0.1:{port}"), WallClock(), "sometoken")
        try:
            with pytest.raises(BrokerError) as caught:
                await rest.orders()
            return caught.type
        finally:
            rest.close()

    assert run(main()) is BrokerUnreachable


class _Throttling(http.server.BaseHTTPRequestHandler):
    """Answers every request with Kite's 429 envelope and a Retry-After of 3 s."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "error", "message": "Too many requests", "error_type": "NetworkException",
                           "data": None}).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def throttling_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_429_carries_its_retry_after(throttling_server: str) -> None:
    async def main() -> float | None:
        rest = KiteRest(_config(throttling_server), WallClock(), "sometoken")
        try:
            with pytest.raises(BrokerThrottled) as caught:
                await rest.orders()
            return caught.value.retry_after_s
        finally:
            rest.close()

    assert run(main()) == 3.0


@pytest.mark.parametrize(
    "echo",
    ["Bad header: token {key}:{token}", "Bad request to /orders?access_token={token}", "Unknown session {token}"],
    ids=["header", "url", "bare"],
)
def test_no_error_message_or_repr_carries_the_access_token(fake_kite: FakeKite, echo: str) -> None:
    message = echo.format(key=fake_kite.api_key, token=fake_kite.access_token)
    fake_kite.faults.inject(Route.ORDERS, Fault.error(400, "InputException", message))

    async def main() -> tuple[BaseException, str]:
        rest = _rest(fake_kite)
        try:
            with pytest.raises(BrokerError) as caught:
                await rest.orders()
            return caught.value, repr(rest)
        finally:
            rest.close()

    error, shown = run(main())
    assert fake_kite.access_token not in str(error)
    assert error.__cause__ is None or fake_kite.access_token not in str(error.__cause__)
    assert fake_kite.access_token not in shown


# -- limits -------------------------------------------------------------------------------------------------------
def test_order_writes_never_exceed_ten_in_any_one_second_window_with_the_exchange_defaults(
    fake_kite: FakeKite,
) -> None:
    rows = [fake_kite.instrument(steps=s) for s in range(-2, 3)]

    async def main() -> None:
        rest = _rest(fake_kite)
        try:
            await asyncio.gather(*(rest.place_order(_market(rows[i % 5], tag=f"W{i}")) for i in range(25)))
        finally:
            rest.close()

    run(main())
    assert len(fake_kite.order_writes(Route.PLACE)) == 25
    assert fake_kite.max_writes_in_window(None) <= 10
    assert {w.outcome for w in fake_kite.order_writes()} == {WriteOutcome.ACCEPTED}


def test_quote_calls_stay_within_their_own_limit(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()
    key = f"{row.exchange}:{row.tradingsymbol}"

    async def main() -> None:
        rest = _rest(fake_kite, KiteLimits(quote_calls_per_second=20))
        try:
            await asyncio.gather(*(rest.ltp([key]) for _ in range(30)))
        finally:
            rest.close()

    run(main())
    times = sorted(r.at for r in fake_kite.requests() if r.route is Route.LTP)
    assert len(times) == 30
    assert all(times[i + 20] - times[i] >= 1.0 for i in range(len(times) - 20))


def test_the_days_order_limit_refuses_without_a_request(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()

    async def main() -> None:
        rest = _rest(fake_kite, KiteLimits(orders_per_day=2))
        try:
            await rest.place_order(_market(row, tag="D1"))
            await rest.place_order(_market(row, tag="D2"))
            for tag in ("D3", "D4"):  # the refusal itself gives nothing back
                with pytest.raises(BrokerOrderRejected):
                    await rest.place_order(_market(row, tag=tag))
        finally:
            rest.close()

    run(main())
    assert [w.tag for w in fake_kite.order_writes(Route.PLACE)] == ["D1", "D2"]


def test_the_modification_cap_refuses_without_a_request(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()
    tick = row.contract.tick_size

    async def main() -> None:
        rest = _rest(fake_kite, KiteLimits(modifications_per_order=2))
        try:
            order_id = await rest.place_order(_resting(row))
            await until(lambda: any(o["status"] == "OPEN" for o in fake_kite.orders()))
            await rest.modify_order(order_id, price=2 * tick)
            await rest.modify_order(order_id, price=3 * tick)
            for ticks in (4, 5):
                with pytest.raises(BrokerOrderRejected):
                    await rest.modify_order(order_id, price=ticks * tick)
        finally:
            rest.close()

    run(main())
    assert len(fake_kite.order_writes(Route.MODIFY)) == 2


# -- the session --------------------------------------------------------------------------------------------------
def test_session_expiry_stops_order_writes_without_a_request_and_a_new_token_resumes(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()
    expired: list[bool] = []

    async def main() -> tuple[bool, bool, str]:
        rest = _rest(fake_kite)
        rest.on_session_expired(lambda: expired.append(rest.session_valid))
        try:
            fake_kite.expire_token()
            with pytest.raises(BrokerSessionExpired):
                await rest.place_order(_market(row, tag="S1"))  # the 403
            await until(lambda: bool(expired), what="the expiry callback")
            with pytest.raises(BrokerSessionExpired):
                await rest.place_order(_market(row, tag="S2"))  # refused here: never sent
            with pytest.raises(BrokerSessionExpired):
                await rest.cancel_order("261207000000001")
            off = rest.session_valid
            rest.set_access_token(fake_kite.new_access_token())
            return off, rest.session_valid, await rest.place_order(_market(row, tag="S3"))
        finally:
            rest.close()

    off, on, order_id = run(main())
    assert (off, on, expired) == (False, True, [False])
    assert [(w.tag, w.outcome) for w in fake_kite.order_writes()] == [
        ("S1", WriteOutcome.REFUSED), ("S3", WriteOutcome.ACCEPTED),
    ]
    assert order_id


def test_writes_queued_behind_the_403_are_not_sent(fake_kite: FakeKite) -> None:
    row = fake_kite.instrument()

    async def main() -> list[BaseException | str]:
        rest = _rest(fake_kite)
        try:
            fake_kite.expire_token()
            return list(await asyncio.gather(*(rest.place_order(_market(row, tag=f"Q{i}")) for i in range(6)),
                                             return_exceptions=True))
        finally:
            rest.close()

    answers = run(main())
    assert {type(a) for a in answers} == {BrokerSessionExpired}
    assert len(fake_kite.order_writes()) == 1

