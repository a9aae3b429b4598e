"""Kite order vocabulary <-> ours: every status maps, tables round-trip, order dicts become typed orders, and fills
come from successive snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from imperium_desk.broker.kite.mapping import (
    KITE_STATUS,
    KITE_TO_ORDER_TYPE,
    KITE_TO_PRODUCT,
    KITE_TO_SIDE,
    KITE_TO_VALIDITY,
    ORDER_TYPE_TO_KITE,
    PRODUCT_TO_KITE,
    SIDE_TO_KITE,
    VALIDITY_TO_KITE,
    KiteMappingError,
    KiteOrder,
    is_known_status,
    kite_time_to_utc,
    new_fills,
    status_from_kite,
    to_broker_order,
)
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side

C, X, R, LIVE = OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.OPEN
EVERY_KITE_STATUS = {
    "COMPLETE": C, "CANCELLED": X, "REJECTED": R, "CANCELLED AMO": X,
    "PUT ORDER REQ RECEIVED": LIVE, "VALIDATION PENDING": LIVE, "OPEN PENDING": LIVE, "OPEN": LIVE,
    "TRIGGER PENDING": LIVE, "MODIFY VALIDATION PENDING": LIVE, "MODIFY PENDING": LIVE, "MODIFIED": LIVE,
    "NOT MODIFIED": LIVE, "CANCEL PENDING": LIVE,
    "AMO REQ RECEIVED": LIVE,
}


def kite_order(**overrides: Any) -> dict[str, Any]:
    """An order dict shaped like `orders()` returns it (strings for timestamps, as on the wire)."""
    base: dict[str, Any] = {
        "order_id": "260107000000001", "exchange_order_id": "1100000000000001", "parent_order_id": None,
        "status": "OPEN", "status_message": None, "status_message_raw": None,
        "order_timestamp": "2026-01-07 09:15:02", "exchange_update_timestamp": "2026-01-07 09:15:03",
        "exchange_timestamp": "2026-01-07 09:15:03", "variety": "regular", "modified": False, "exchange": "NFO",
        "tradingsymbol": "NIFTY2610626000CE", "instrument_token": 12345678, "order_type": "LIMIT",
        "transaction_type": "BUY", "validity": "DAY", "validity_ttl": 0, "product": "NRML", "quantity": 130,
        "disclosed_quantity": 0, "price": 101.5, "trigger_price": 0, "average_price": 0, "filled_quantity": 0,
        "pending_quantity": 130, "cancelled_quantity": 0, "market_protection": 0, "meta": {},
        "tag": "A1B2C3", "tags": ["A1B2C3"], "guid": "01Xabc",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(("raw", "expected"), sorted(EVERY_KITE_STATUS.items()))
def test_every_kite_status_maps(raw: str, expected: OrderStatus) -> None:
    assert status_from_kite(raw) is expected


def test_status_table_covers_every_documented_status() -> None:
    assert set(KITE_STATUS) == set(EVERY_KITE_STATUS)


def test_unknown_status_is_live_not_terminal() -> None:
    assert status_from_kite("LAPSED SOMEHOW") is OrderStatus.OPEN


def test_unknown_status_is_reported_as_unknown() -> None:
    assert not is_known_status("LAPSED SOMEHOW")


def test_unknown_status_in_an_order_does_not_crash() -> None:
    order = KiteOrder.from_kite(kite_order(status="SOMETHING NEW"))
    assert (to_broker_order(order).status, order.status_known) == (OrderStatus.OPEN, False)


@pytest.mark.parametrize(
    ("forward", "backward"),
    [(SIDE_TO_KITE, KITE_TO_SIDE), (ORDER_TYPE_TO_KITE, KITE_TO_ORDER_TYPE), (PRODUCT_TO_KITE, KITE_TO_PRODUCT),
     (VALIDITY_TO_KITE, KITE_TO_VALIDITY)],
    ids=["side", "order_type", "product", "validity"],
)
def test_tables_round_trip(forward: dict[Any, str], backward: dict[str, Any]) -> None:
    assert all(backward[kite] is ours for ours, kite in forward.items())


def test_foreign_stop_order_reads_as_its_triggered_type() -> None:
    assert KITE_TO_ORDER_TYPE["SL-M"] is OrderType.MARKET


def test_undocumented_order_type_is_a_mapping_error() -> None:
    with pytest.raises(KiteMappingError):
        to_broker_order(KiteOrder.from_kite(kite_order(order_type="ICEBERG-ISH")))


def test_order_dict_becomes_a_broker_order() -> None:
    order = to_broker_order(KiteOrder.from_kite(kite_order()), tag="P000001C0")
    assert (order.side, order.order_type, order.product, order.status, order.tag) == (
        Side.BUY, OrderType.LIMIT, Product.NRML, OrderStatus.OPEN, "P000001C0")


def test_partial_fill_stays_open() -> None:
    order = to_broker_order(KiteOrder.from_kite(kite_order(filled_quantity=65, pending_quantity=65,
                                                           average_price=101.5)))
    assert order.status is OrderStatus.OPEN
    assert 0 < order.filled_quantity < order.quantity
    assert order.pending_quantity == 65


def test_market_order_has_no_price() -> None:
    assert to_broker_order(KiteOrder.from_kite(kite_order(order_type="MARKET", price=0))).price is None


def test_tag_matches_on_the_client_tag() -> None:
    assert KiteOrder.from_kite(kite_order(tag="A1B2C3", tags=None)).carries_tag("A1B2C3")


def test_tag_matches_on_the_system_tags() -> None:
    assert KiteOrder.from_kite(kite_order(tag=None, tags=["mktp", "A1B2C3"])).carries_tag("A1B2C3")


def test_other_tag_does_not_match() -> None:
    assert not KiteOrder.from_kite(kite_order()).carries_tag("A1B2C4")


def test_ist_string_timestamp_becomes_aware_utc() -> None:
    assert kite_time_to_utc("2026-01-07 09:15:00") == datetime(2026, 1, 7, 3, 45, tzinfo=UTC)


def test_client_parsed_naive_datetime_is_read_as_ist() -> None:
    assert kite_time_to_utc(datetime(2026, 1, 7, 9, 15)) == datetime(2026, 1, 7, 3, 45, tzinfo=UTC)


def test_order_timestamps_are_utc_whether_string_or_parsed() -> None:
    as_string = KiteOrder.from_kite(kite_order())
    as_parsed = KiteOrder.from_kite(kite_order(order_timestamp=datetime(2026, 1, 7, 9, 15, 2)))
    assert as_string.order_timestamp == as_parsed.order_timestamp == datetime(2026, 1, 7, 3, 45, 2, tzinfo=UTC)


def test_placed_at_is_epoch_seconds_of_the_ist_time() -> None:
    order = to_broker_order(KiteOrder.from_kite(kite_order()))
    assert order.placed_at == datetime(2026, 1, 7, 3, 45, 2, tzinfo=UTC).timestamp()


def test_numeric_strings_from_postbacks_are_read() -> None:
    order = KiteOrder.from_kite(kite_order(quantity="130", filled_quantity="65", average_price="101.5"))
    assert (order.quantity, order.filled_quantity, order.average_price) == (130, 65, 101.5)


# -- fills ----------------------------------------------------------------------------------------------------------


def snapshot(filled: int, average: float, status: str = "OPEN") -> KiteOrder:
    return KiteOrder.from_kite(kite_order(status=status, filled_quantity=filled, pending_quantity=130 - filled,
                                          average_price=average))


def test_first_partial_fill_is_the_whole_filled_quantity() -> None:
    fills = new_fills(None, snapshot(65, 101.5))
    assert [(f.qty, f.price) for f in fills] == [(65, 101.5)]


def test_second_partial_fill_price_comes_from_the_average_arithmetic() -> None:
    # 65 @ 100.00, then 65 more: average 100.50 over 130 -> the second fill was at 101.00.
    fills = new_fills(snapshot(65, 100.0), snapshot(130, 100.5, "COMPLETE"))
    assert [(f.qty, f.price) for f in fills] == [(65, 101.0)]


def test_uneven_partials_keep_the_paisa() -> None:
    # 65 @ 100.05 then 130 @ 100.10: average (65*100.05 + 130*100.10) / 195 = 100.08333...
    first = snapshot(65, 100.05)
    second = KiteOrder.from_kite(kite_order(quantity=195, filled_quantity=195, average_price=19516.25 / 195,
                                            status="COMPLETE"))
    assert [(f.qty, f.price) for f in new_fills(first, second)] == [(130, 100.1)]


def test_update_arriving_twice_adds_no_fill() -> None:
    update = snapshot(65, 101.5)
    assert new_fills(update, update) == ()


def test_older_snapshot_after_a_newer_one_adds_no_fill() -> None:
    assert new_fills(snapshot(130, 100.5), snapshot(65, 100.0)) == ()


def test_fill_side_and_symbol_come_from_the_order() -> None:
    (fill,) = new_fills(None, snapshot(65, 101.5))
    assert (fill.side, fill.symbol) == (Side.BUY, "NIFTY2610626000CE")


def test_same_fill_gets_the_same_trade_id() -> None:
    assert new_fills(None, snapshot(65, 101.5))[0].trade_id == new_fills(None, snapshot(65, 101.5))[0].trade_id


def test_previous_snapshot_may_be_our_broker_order() -> None:
    previous = to_broker_order(snapshot(65, 100.0))
    assert [(f.qty, f.price) for f in new_fills(previous, snapshot(130, 100.5))] == [(65, 101.0)]
