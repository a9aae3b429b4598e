"""Broker-side order, fill, position and margin records (plain slotted dataclasses: they are on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side


@dataclass(slots=True)
class Fill:
    order_id: str
    trade_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    timestamp: float  # epoch seconds on the clock
    book_price: float  # the depth level's price before the slippage draw
    # Paper fills know the model draws that produced them; live fills leave these None.
    latency_ms: float | None = None
    model_params: dict[str, Any] | None = None


@dataclass(slots=True)
class BrokerOrder:
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
    fills: list[Fill] = field(default_factory=list)

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity if self.status is OrderStatus.OPEN else 0

    def add_fill(self, fill: Fill) -> None:
        total = self.filled_quantity + fill.qty
        self.average_price = (self.average_price * self.filled_quantity + fill.price * fill.qty) / total
        self.filled_quantity = total
        self.fills.append(fill)
        if total >= self.quantity:
            self.status = OrderStatus.COMPLETE


@dataclass(slots=True)
class OrderUpdate:
    """What the broker pushes to listeners (Kite: postback / order websocket)."""

    order: BrokerOrder
    new_fills: list[Fill]
    timestamp: float


@dataclass(slots=True)
class Position:
    symbol: str
    quantity: int = 0  # net, signed: long > 0
    average_price: float = 0.0
    realised_pnl: float = 0.0
    buy_quantity: int = 0
    sell_quantity: int = 0

    def apply(self, side: Side, qty: int, price: float) -> None:
        """Net a fill into the position; closing trades realise P&L against the average price."""
        signed = qty * side.sign
        if side is Side.BUY:
            self.buy_quantity += qty
        else:
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
    capital: float
    used: float
    available: float
