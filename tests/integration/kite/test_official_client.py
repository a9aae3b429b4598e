"""Contract tests: the REAL official client (`kiteconnect` 5.2.2) against the fake Kite.

They prove the double speaks Kite's protocol: every call the adapter will make parses, and every error reaches the
client as the exception class (and `.code`) the real venue produces (kite-notes §1.5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, datetime

import pytest
import requests
from kiteconnect import KiteConnect  # type: ignore[import-untyped]
from kiteconnect import exceptions as kex

from imperium_desk.broker.kite.market import INDEX_INSTRUMENTS
from tests.fake_kite.faults import Fault, Route
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.conftest import TickerProbe, official_client

Probe = Callable[[FakeKite, str, str, list[int]], TickerProbe]


def _buy_market(client: KiteConnect, row: InstrumentRow, tag: str, **extra: object) -> str:
    params: dict[str, object] = {"market_protection": -1, **extra}
    return str(client.place_order(
        "regular", row.exchange, row.tradingsymbol, "BUY", row.contract.lot_size, "NRML", "MARKET", tag=tag,
        **params,
    ))


def _buy_limit_far_below(client: KiteConnect, row: InstrumentRow, tag: str) -> str:
    """A LIMIT buy at one tick: it rests OPEN (nobody sells there)."""
    return str(client.place_order(
        "regular", row.exchange, row.tradingsymbol, "BUY", row.contract.lot_size, "NRML", "LIMIT",
        price=row.contract.tick_size, tag=tag,
    ))


# -- session and account ----------------------------------------------------------------------------------------
def test_generate_session_exchanges_the_request_token_for_a_working_access_token(fake_kite: FakeKite) -> None:
    client = KiteConnect(fake_kite.api_key, root=fake_kite.root)
    session = client.generate_session(fake_kite.request_token, api_secret=fake_kite.api_secret)
    assert isinstance(session["login_time"], datetime)
    assert client.access_token == session["access_token"]
    assert client.profile()["user_id"] == fake_kite.config.user_id


def test_generate_session_with_a_wrong_secret_raises_token_exception(fake_kite: FakeKite) -> None:
    client = KiteConnect(fake_kite.api_key, root=fake_kite.root)
    with pytest.raises(kex.TokenException):
        client.generate_session(fake_kite.request_token, api_secret="not-the-secret")


def test_request_token_is_single_use(fake_kite: FakeKite) -> None:
    KiteConnect(fake_kite.api_key, root=fake_kite.root).generate_session(fake_kite.request_token, fake_kite.api_secret)
    with pytest.raises(kex.TokenException):
        KiteConnect(fake_kite.api_key, root=fake_kite.root).generate_session(
            fake_kite.request_token, fake_kite.api_secret
        )


def test_invalidated_access_token_is_refused(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    kite_client.invalidate_access_token()
    with pytest.raises(kex.TokenException):
        kite_client.profile()


def test_margins_report_the_paper_capital_in_the_equity_segment(
    fake_kite: FakeKite, kite_client: KiteConnect
) -> None:
    margins = kite_client.margins()
    assert margins["equity"]["available"]["cash"] == fake_kite.config.capital
    assert kite_client.margins("equity") == margins["equity"]


def test_margins_of_an_unknown_segment_raise_input_exception(kite_client: KiteConnect) -> None:
    with pytest.raises(kex.InputException):
        kite_client.margins("forex")


# -- orders ------------------------------------------------------------------------------------------------------
def test_market_order_with_protection_fills_and_is_found_by_tag(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    order_id = _buy_market(kite_client, row, "mkt1")
    found = [o for o in kite_client.orders() if o["tag"] == "mkt1" or "mkt1" in o["tags"]]
    assert [o["order_id"] for o in found] == [order_id]
    assert found[0]["status"] == "COMPLETE"
    assert found[0]["filled_quantity"] == row.contract.lot_size
    assert isinstance(found[0]["order_timestamp"], datetime)


def test_limit_order_below_the_market_rests_open(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    order_id = _buy_limit_far_below(kite_client, row, "lim1")
    order = next(o for o in kite_client.orders() if o["order_id"] == order_id)
    assert order["status"] == "OPEN"
    assert order["pending_quantity"] == row.contract.lot_size


def test_order_history_walks_kite_statuses_to_complete(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    order_id = _buy_market(kite_client, fake_kite.instrument("NIFTY"), "hist1")
    statuses = [h["status"] for h in kite_client.order_history(order_id)]
    assert statuses == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "COMPLETE"]


def test_order_trades_and_the_trade_book_list_the_fill(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    order_id = _buy_market(kite_client, row, "trd1")
    trades = kite_client.order_trades(order_id)
    assert sum(t["quantity"] for t in trades) == row.contract.lot_size
    assert [t["trade_id"] for t in kite_client.trades()] == [t["trade_id"] for t in trades]


def test_modify_order_reprices_a_resting_limit(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    order_id = _buy_limit_far_below(kite_client, row, "mod1")
    assert kite_client.modify_order("regular", order_id, price=2 * row.contract.tick_size) == order_id
    order = kite_client.order_history(order_id)[-1]
    assert order["price"] == pytest.approx(2 * row.contract.tick_size)
    assert order["modified"] is True


def test_cancel_order_cancels_a_resting_limit(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    order_id = _buy_limit_far_below(kite_client, fake_kite.instrument("NIFTY"), "can1")
    assert kite_client.cancel_order("regular", order_id) == order_id
    history = kite_client.order_history(order_id)
    assert [h["status"] for h in history[-2:]] == ["CANCEL PENDING", "CANCELLED"]


def test_positions_net_a_filled_buy(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    _buy_market(kite_client, row, "pos1")
    positions = kite_client.positions()
    net = [p for p in positions["net"] if p["tradingsymbol"] == row.tradingsymbol]
    assert [p["quantity"] for p in net] == [row.contract.lot_size]
    assert positions["day"] == positions["net"]


def test_external_order_shows_untagged_in_orders_and_positions(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY", steps=1)
    order_id = fake_kite.place_external(row.tradingsymbol, "SELL", row.contract.lot_size)
    order = next(o for o in kite_client.orders() if o["order_id"] == order_id)
    assert order["tag"] is None
    net = [p for p in kite_client.positions()["net"] if p["tradingsymbol"] == row.tradingsymbol]
    assert [p["quantity"] for p in net] == [-row.contract.lot_size]


# -- market data -------------------------------------------------------------------------------------------------
def test_instruments_dump_parses_with_the_clients_types(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    rows = kite_client.instruments("NFO")
    row = fake_kite.instrument("NIFTY")
    mine = next(r for r in rows if r["tradingsymbol"] == row.tradingsymbol)
    assert mine["instrument_token"] == row.instrument_token
    assert isinstance(mine["expiry"], date)
    assert mine["lot_size"] == row.contract.lot_size
    assert {r["segment"] for r in rows} == {"NFO-OPT"}


def test_bfo_dump_lists_sensex_options(kite_client: KiteConnect) -> None:
    assert {r["name"] for r in kite_client.instruments("BFO")} == {"SENSEX"}


def test_quote_and_ltp_price_the_instrument(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    key = fake_kite.instrument("NIFTY").key
    quote = kite_client.quote(key)[key]
    assert quote["depth"]["sell"][0]["price"] > quote["depth"]["buy"][0]["price"]
    assert kite_client.ltp(key)[key]["last_price"] > 0


def _still_spot(kite: FakeKite, underlying: str) -> float:
    """Stop the fake's market and return `underlying`'s spot to the paisa (what its index then quotes)."""
    kite.call(lambda account: account.market.stop())
    return kite.call(lambda account: round(account.market.spot(underlying), 2))


@pytest.mark.parametrize("underlying", ["NIFTY", "SENSEX"])
def test_quote_and_ltp_of_an_index_give_the_spot(
    fake_kite: FakeKite, kite_client: KiteConnect, underlying: str
) -> None:
    index = INDEX_INSTRUMENTS[underlying]
    key = f"{index.exchange}:{index.tradingsymbol}"
    spot = _still_spot(fake_kite, underlying)
    quote = kite_client.quote(key)[key]
    assert (quote["instrument_token"], quote["last_price"]) == (index.instrument_token, spot)
    assert isinstance(quote["timestamp"], datetime)
    assert kite_client.ltp(key)[key]["last_price"] == spot


# -- errors ------------------------------------------------------------------------------------------------------
def test_non_alphanumeric_tag_raises_input_exception(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    with pytest.raises(kex.InputException):
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "bad-tag")
    assert fake_kite.orders() == []


def test_tag_longer_than_twenty_characters_raises_input_exception(
    fake_kite: FakeKite, kite_client: KiteConnect
) -> None:
    with pytest.raises(kex.InputException):
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "a" * 21)


@pytest.mark.parametrize("protection", [None, 0])
def test_market_order_without_market_protection_raises_input_exception(
    fake_kite: FakeKite, kite_client: KiteConnect, protection: int | None
) -> None:
    with pytest.raises(kex.InputException):
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "nomp1", market_protection=protection)


def test_quantity_off_the_lot_raises_input_exception(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    with pytest.raises(kex.InputException):
        kite_client.place_order("regular", "NFO", row.tradingsymbol, "BUY", row.contract.lot_size + 1, "NRML",
                                "LIMIT", price=1.0, tag="lot1")


def test_price_off_the_tick_grid_raises_input_exception(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    row = fake_kite.instrument("NIFTY")
    with pytest.raises(kex.InputException):
        kite_client.place_order("regular", "NFO", row.tradingsymbol, "BUY", row.contract.lot_size, "NRML",
                                "LIMIT", price=1.03, tag="tick1")


def test_unknown_tradingsymbol_raises_input_exception(kite_client: KiteConnect) -> None:
    with pytest.raises(kex.InputException):
        kite_client.place_order("regular", "NFO", "NIFTY99X0126000CE", "BUY", 65, "NRML", "LIMIT", price=1.0,
                                tag="unk1")


def test_rate_limit_raises_network_exception_with_code_429(make_fake_kite: Callable[..., FakeKite]) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=1))
    client, row = official_client(kite), kite.instrument("NIFTY")
    _buy_limit_far_below(client, row, "rl1")
    with pytest.raises(kex.NetworkException) as raised:
        _buy_limit_far_below(client, row, "rl2")
    assert raised.value.code == 429


def test_html_502_raises_data_exception(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.ORDERS, Fault.html(502))
    with pytest.raises(kex.DataException):
        kite_client.orders()


def test_expired_token_raises_token_exception_and_calls_the_expiry_hook(
    fake_kite: FakeKite, kite_client: KiteConnect
) -> None:
    hook_calls: list[bool] = []
    kite_client.set_session_expiry_hook(lambda: hook_calls.append(True))
    fake_kite.expire_token()
    with pytest.raises(kex.TokenException) as raised:
        kite_client.orders()
    assert raised.value.code == 403
    assert hook_calls == [True]


def test_margin_error_type_arrives_as_general_exception(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.PLACE, Fault.error(400, "MarginException", "Insufficient funds."))
    with pytest.raises(kex.GeneralException) as raised:
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "mrg1")
    assert type(raised.value) is kex.GeneralException
    assert raised.value.code == 400


def test_delayed_answer_times_out_with_the_order_in_the_book(fake_kite: FakeKite, kite_client: KiteConnect) -> None:
    fake_kite.faults.inject(Route.PLACE, Fault.delay(30.0))
    with pytest.raises(requests.ReadTimeout):
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "lost1")
    assert [o["tag"] for o in kite_client.orders()] == ["lost1"]


def test_connection_dropped_after_creation_leaves_the_order_in_the_book(
    fake_kite: FakeKite, kite_client: KiteConnect
) -> None:
    fake_kite.faults.inject(Route.PLACE, Fault.drop())
    with pytest.raises(requests.ConnectionError):
        _buy_market(kite_client, fake_kite.instrument("NIFTY"), "drop1")
    assert [o["tag"] for o in kite_client.orders()] == ["drop1"]


def test_modification_cap_raises_network_exception(make_fake_kite: Callable[..., FakeKite]) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=None, max_modifications=2))
    client, row = official_client(kite), kite.instrument("NIFTY")
    order_id = _buy_limit_far_below(client, row, "cap1")
    for ticks in (2, 3):
        client.modify_order("regular", order_id, price=ticks * row.contract.tick_size)
    with pytest.raises(kex.NetworkException):
        client.modify_order("regular", order_id, price=4 * row.contract.tick_size)


def test_session_checksum_is_sha256_of_key_token_and_secret(fake_kite: FakeKite) -> None:
    checksum = hashlib.sha256(
        (fake_kite.api_key + fake_kite.request_token + fake_kite.api_secret).encode()
    ).hexdigest()
    answer = requests.post(
        f"{fake_kite.root}/session/token", headers={"X-Kite-Version": "3"}, timeout=5,
        data={"api_key": fake_kite.api_key, "request_token": fake_kite.request_token, "checksum": checksum},
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "success"


# -- ticker ------------------------------------------------------------------------------------------------------
def test_kite_ticker_receives_full_ticks_and_an_order_update(fake_kite: FakeKite, ticker_probe: Probe) -> None:
    row = fake_kite.instrument("NIFTY")
    probe = ticker_probe(fake_kite, fake_kite.access_token, "full", [row.instrument_token])
    probe.wait_for(lambda e: e["event"] == "connect")
    tick_event = probe.wait_for(lambda e: e["event"] == "ticks" and e["ticks"][0]["mode"] == "full")
    tick = tick_event["ticks"][0]
    assert tick["instrument_token"] == row.instrument_token
    assert len(tick["depth"]["buy"]) == 5
    order_id = fake_kite.place_external(row.tradingsymbol, "BUY", row.contract.lot_size)
    update = probe.wait_for(lambda e: e["event"] == "order_update" and e["data"]["order_id"] == order_id)
    assert update["data"]["status"] == "COMPLETE"


def test_kite_ticker_handshake_is_refused_after_the_token_expires(fake_kite: FakeKite, ticker_probe: Probe) -> None:
    fake_kite.expire_token()
    probe = ticker_probe(fake_kite, fake_kite.access_token, "quote", [fake_kite.instrument("NIFTY").instrument_token])
    probe.wait_for(lambda e: e["event"] == "close")
    assert fake_kite.ws_refusals() == [403]


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_kite_ticker_decodes_an_index_tick_with_the_spot_as_last_price(
    fake_kite: FakeKite, ticker_probe: Probe, mode: str
) -> None:
    token = INDEX_INSTRUMENTS["NIFTY"].instrument_token
    spot = _still_spot(fake_kite, "NIFTY")
    probe = ticker_probe(fake_kite, fake_kite.access_token, mode, [token])
    event = probe.wait_for(lambda e: e["event"] == "ticks" and e["ticks"][0]["mode"] == mode)
    tick = event["ticks"][0]
    assert (tick["instrument_token"], tick["tradable"], tick["last_price"]) == (token, False, spot)
