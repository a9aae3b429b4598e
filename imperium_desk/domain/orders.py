"""Broker-side order, fill, position and margin records (named tuples and slotted dataclasses: the hot path).

What a broker hands out (`Fill`, `BrokerOrder`, `OrderUpdate`, `Margins`) is immutable: a snapshot that does not
change afterwards, so a listener may keep it. `Position` is the one mutable record: a broker nets fills into its own
and hands out copies.

`Fill`, `BrokerOrder` and `OrderUpdate` are named tuples, not frozen dataclasses: one of each is built per child
order in a replay, and a frozen dataclass's `__init__` (one `object.__setattr__` per field) made an order through
the paper broker cost 17 us of CPU instead of 14; as named tuples it costs 14.5. Use `_replace` to derive a changed
copy; do not rely on their being tuples (no unpacking, indexing or comparison with plain tuples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side


class Fill(NamedTuple):
    """One execution of (part of) an order. Immutable: listeners and callers may keep it."""

    order_id: str
    trade_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    timestamp: float  # epoch seconds on the clock
    book_price: float  # the depth level's price before the slippage draw
    # Paper fills know the model draws that produced them; live fills leave these None. The dict is never mutated
    # after the fill is made (it goes to telemetry as is).
    latency_ms: float | None = None
    model_params: dict[str, Any] | None = None


class BrokerOrder(NamedTuple):
    """A broker's order as it stood at one moment: an immutable snapshot, safe to keep (it never changes when the
    order later fills or is cancelled; ask the broker again for its new state). `fills` are every fill so far,
    oldest first."""

    order_id: str
    tag: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    price: float | None
    status: OrderStatus
    placed_at: float
    filled_quantity: int = 0
    average_price: float = 0.0
    status_message: str = ""
    fills: tuple[Fill, ...] = ()

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity if self.status is OrderStatus.OPEN else 0


class OrderUpdate(NamedTuple):
    """What the broker pushes to listeners (Kite: postback / order websocket): the order's state at `timestamp`
    and the fills not reported before. Immutable, and so is everything in it: a listener may keep it."""

    order: BrokerOrder
    new_fills: tuple[Fill, ...]
    timestamp: float


@dataclass(slots=True)
class Position:
    """A net position in one contract, with what it has realised. Mutable (a broker nets its fills into it with
    `apply`); brokers hand out copies."""

    symbol: str
    quantity: int = 0  # net, signed: long > 0
    average_price: float = 0.0
    realised_pnl: float = 0.0
    buy_quantity: int = 0
    sell_quantity: int = 0
    product: Product | None = None  # the product it is held in, where the venue keeps them apart (Kite)

    def apply(self, side: Side, qty: int, price: float) -> None:
        """Net a fill into the position; closing trades realise P&L against the average price."""
        if side is Side.BUY:
            signed = qty
            self.buy_quantity += qty
        else:
            signed = -qty
            self.sell_quantity += qty
        if self.quantity == 0 or (self.quantity > 0) == (signed > 0):
            total = abs(self.quantity) + qty
            self.average_price = (self.average_price * abs(self.quantity) + price * qty) / total
            self.quantity += signed
            return
        closing = min(qty, abs(self.quantity))
        direction = 1 if self.quantity > 0 else -1
        self.realised_pnl += closing * (price - self.average_price) * direction
        self.quantity += signed
        if self.quantity == 0:
            self.average_price = 0.0
        elif (self.quantity > 0) != (direction > 0):  # flipped: the remainder opens at this price
            self.average_price = price


@dataclass(slots=True, frozen=True)
class Margins:
    """The account's funds: `used` by positions and working orders, `available` = capital - used."""

    capital: float
    used: float
    available: float
