"""Kite Connect's order vocabulary <-> ours: enum tables in both directions, the order dict as a typed `KiteOrder`,
`KiteOrder` -> `BrokerOrder`, and the fills an update adds (kite-notes §1.3, §1.4, §1.7).

Tables follow vnpy's gateways (a dict each way at the top of the module). Kite's order book covers every order of
the account for the day, from any platform, so the Kite -> ours tables also read what this desk never sends
(SL orders, CNC products) rather than failing the whole book on one foreign order. A status string Kite adds later
maps to OPEN (still live: the safe reading, since a live order is watched and reconciled while a terminal one is
forgotten) and is reported (a logged warning, and `is_known_status` for the adapter's alert), never raised.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.domain.orders import BrokerOrder, Fill

__all__ = [
    "KITE_STATUS",
    "KITE_TO_ORDER_TYPE",
    "KITE_TO_PRODUCT",
    "KITE_TO_SIDE",
    "KITE_TO_VALIDITY",
    "ORDER_TYPE_TO_KITE",
    "PRODUCT_TO_KITE",
    "SIDE_TO_KITE",
    "VALIDITY_TO_KITE",
    "KiteMappingError",
    "KiteOrder",
    "Validity",
    "is_known_status",
    "kite_time_to_utc",
    "new_fills",
    "status_from_kite",
    "to_broker_order",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_log = logging.getLogger(__name__)


class KiteMappingError(ValueError):
    """A Kite order field this module cannot read (a side or order type Kite does not document)."""


# -- enum tables, both directions ----------------------------------------------------------------------------------

SIDE_TO_KITE: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
KITE_TO_SIDE: dict[str, Side] = {v: k for k, v in SIDE_TO_KITE.items()}

ORDER_TYPE_TO_KITE: dict[OrderType, str] = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT"}
KITE_TO_ORDER_TYPE: dict[str, OrderType] = {
    **{v: k for k, v in ORDER_TYPE_TO_KITE.items()},
    # Stop orders placed elsewhere (Kite web) share the book; the desk never sends them. Once triggered an SL rests
    # as a limit and an SL-M trades as a market order, which is how they are read here.
    "SL": OrderType.LIMIT,
    "SL-M": OrderType.MARKET,
}

PRODUCT_TO_KITE: dict[Product, str] = {Product.NRML: "NRML", Product.MIS: "MIS"}
KITE_TO_PRODUCT: dict[str, Product] = {
    **{v: k for k, v in PRODUCT_TO_KITE.items()},
    # Equity products from other platforms: delivery/margin-funded ones carry over night like NRML, a cover order is
    # squared off the same day like MIS.
    "CNC": Product.NRML,
    "MTF": Product.NRML,
    "CO": Product.MIS,
}


class Validity(StrEnum):
    """How long an order lives at the exchange (the desk sends DAY; IOC for a take-or-cancel child)."""

    DAY = "DAY"
    IOC = "IOC"
    TTL = "TTL"


VALIDITY_TO_KITE: dict[Validity, str] = {v: v.value for v in Validity}
KITE_TO_VALIDITY: dict[str, Validity] = {v: k for k, v in VALIDITY_TO_KITE.items()}

# Every status string Kite documents or is seen sending (kite-notes §1.4). Only the first four are terminal.
KITE_STATUS: dict[str, OrderStatus] = {
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCELLED AMO": OrderStatus.CANCELLED,
    "PUT ORDER REQ RECEIVED": OrderStatus.OPEN,
    "VALIDATION PENDING": OrderStatus.OPEN,
    "OPEN PENDING": OrderStatus.OPEN,
    "OPEN": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.OPEN,
    "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
    "MODIFY PENDING": OrderStatus.OPEN,
    "MODIFIED": OrderStatus.OPEN,
    "NOT MODIFIED": OrderStatus.OPEN,
    "CANCEL PENDING": OrderStatus.OPEN,
    "AMO REQ RECEIVED": OrderStatus.OPEN,
}



def is_known_status(raw: str) -> bool:
    """True for a status string in `KITE_STATUS`: the adapter alerts the trader on any other."""
    return raw.strip().upper() in KITE_STATUS


def status_from_kite(raw: str) -> OrderStatus:
    """Our status for a Kite status string. An unknown string is OPEN (still live) and is logged as a warning;
    `is_known_status` lets the caller raise an alert too."""
    status = KITE_STATUS.get(raw.strip().upper())
    if status is not None:
        return status
    _log.warning("unknown Kite order status %r read as OPEN", raw)
    return OrderStatus.OPEN


def _lookup[T](table: dict[str, T], raw: str, field: str, order_id: str) -> T:
    try:
        return table[raw]
    except KeyError:
        raise KiteMappingError(f"order {order_id}: unknown Kite {field} {raw!r} (known: {', '.join(table)})") from None


# -- timestamps ----------------------------------------------------------------------------------------------------


def kite_time_to_utc(value: str | datetime | None) -> datetime | None:
    """An aware UTC instant for a Kite timestamp: REST strings are "YYYY-MM-DD HH:MM:SS" in IST with no zone, and the
    client's own parsed datetimes are the same wall time, naive. An aware datetime keeps its instant."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    if value.tzinfo is None:
        value = value.replace(tzinfo=IST)
    return value.astimezone(UTC)


# -- the order dict ------------------------------------------------------------------------------------------------


class KiteOrder(BaseModel):
    """One order as Kite's `orders()`, `order_history()` and the WebSocket order update carry it. Unknown fields are
    ignored (Kite adds fields without notice); numbers arrive as numbers or as numeric strings (postbacks).
    Timestamps are aware UTC; `status` is the raw Kite string (`our_status` maps it)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: str
    exchange_order_id: str | None = None
    status: str
    status_message: str | None = None
    variety: str = "regular"
    exchange: str
    tradingsymbol: str
    instrument_token: int | None = None
    transaction_type: str
    order_type: str
    product: str
    validity: str = "DAY"
    quantity: int = Field(ge=0)
    price: float = 0.0
    trigger_price: float = 0.0
    average_price: float = 0.0
    filled_quantity: int = Field(default=0, ge=0)
    pending_quantity: int = Field(default=0, ge=0)
    cancelled_quantity: int = Field(default=0, ge=0)
    market_protection: float = 0.0
    tag: str | None = None
    tags: tuple[str, ...] = ()
    guid: str | None = None
    order_timestamp: datetime | None = None
    exchange_timestamp: datetime | None = None
    exchange_update_timestamp: datetime | None = None

    @field_validator("order_id", "exchange_order_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_or_empty(cls, v: object) -> object:
        return () if v is None else v

    @field_validator("price", "trigger_price", "average_price", "market_protection", mode="before")
    @classmethod
    def _none_is_zero(cls, v: object) -> object:
        return 0.0 if v is None else v

    @field_validator("order_timestamp", "exchange_timestamp", "exchange_update_timestamp", mode="before")
    @classmethod
    def _ist_to_utc(cls, v: object) -> object:
        if v is None or isinstance(v, str | datetime):
            return kite_time_to_utc(v)
        return v

    @classmethod
    def from_kite(cls, data: dict[str, Any]) -> KiteOrder:
        return cls.model_validate(data)

    @property
    def our_status(self) -> OrderStatus:
        return status_from_kite(self.status)

    @property
    def status_known(self) -> bool:
        return is_known_status(self.status)

    @property
    def side(self) -> Side:
        return _lookup(KITE_TO_SIDE, self.transaction_type, "transaction_type", self.order_id)

    def carries_tag(self, tag: str) -> bool:
        """True when `tag` is this order's client tag (`tag`) or one of its system tags (`tags`): Kite has no
        server-side filter, so lookup by tag scans the day's book with this."""
        return self.tag == tag or tag in self.tags

    @property
    def updated_at(self) -> datetime | None:
        """The latest instant the order changed, as well as Kite says it."""
        return self.exchange_update_timestamp or self.exchange_timestamp or self.order_timestamp


def _epoch(instant: datetime | None) -> float:
    return instant.timestamp() if instant is not None else 0.0


def to_broker_order(order: KiteOrder, tag: str | None = None, fills: tuple[Fill, ...] = ()) -> BrokerOrder:
    """Our `BrokerOrder` snapshot of a Kite order. `tag` is the desk's own tag for it (the adapter decodes Kite's
    `tag` with `KiteTags`); without one, Kite's tag is kept as it is. A partial fill stays OPEN with
    0 < filled_quantity < quantity, as Kite reports it. `fills` are the ones seen so far (Kite's order carries
    none: the adapter accumulates `new_fills`)."""
    return BrokerOrder(
        order_id=order.order_id,
        tag=tag if tag is not None else (order.tag or ""),
        symbol=order.tradingsymbol,
        side=order.side,
        quantity=order.quantity,
        order_type=_lookup(KITE_TO_ORDER_TYPE, order.order_type, "order_type", order.order_id),
        product=_lookup(KITE_TO_PRODUCT, order.product, "product", order.order_id),
        price=order.price if order.order_type in ("LIMIT", "SL") else None,
        status=order.our_status,
        placed_at=_epoch(order.order_timestamp),
        filled_quantity=order.filled_quantity,
        average_price=order.average_price,
        status_message=order.status_message or "",
        fills=fills,
    )


# -- fills from successive snapshots ----------------------------------------------------------------------------


class FillState(Protocol):
    """What a previous snapshot must tell: how much had filled, at what average. KiteOrder and BrokerOrder do."""

    @property
    def filled_quantity(self) -> int: ...

    @property
    def average_price(self) -> float: ...


def new_fills(previous: FillState | None, current: KiteOrder) -> tuple[Fill, ...]:
    """The fill `current` adds over `previous` (None: nothing filled before), derived from the cumulative
    filled_quantity and average_price, since WebSocket updates carry no trade records:

        qty   = filled' - filled
        price = (avg' * filled' - avg * filled) / qty      rounded to the paisa

    The price is exact when Kite's averages are (rounded averages can put it a fraction of a tick off; the trades
    endpoint has the exact prices). An update seen twice, or an older snapshot after a newer one, adds nothing.
    The trade id is the order id and the cumulative filled quantity, so the same fill always gets the same id."""
    before_qty = previous.filled_quantity if previous is not None else 0
    before_avg = previous.average_price if previous is not None else 0.0
    qty = current.filled_quantity - before_qty
    if qty <= 0:
        return ()
    price = round((current.average_price * current.filled_quantity - before_avg * before_qty) / qty, 2)
    return (
        Fill(
            order_id=current.order_id,
            trade_id=f"{current.order_id}F{current.filled_quantity}",
            symbol=current.tradingsymbol,
            side=current.side,
            qty=qty,
            price=price,
            timestamp=_epoch(current.updated_at),
            book_price=price,  # a live fill has no model draw behind it: the book price is the price itself
        ),
    )
