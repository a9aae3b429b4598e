"""The async broker port, shaped after Kite Connect's order API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from imperium_desk.domain.enums import OrderType, Product, Side
from imperium_desk.domain.orders import BrokerOrder, Margins, OrderUpdate, Position

OrderListener = Callable[[OrderUpdate], None]


class Broker(Protocol):
    def place_order(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        product: Product,
        tag: str,
        price: float | None = None,
    ) -> Awaitable[str]:
        """Awaits to the broker's order id once the broker acknowledges (one round trip). Implementations
        may be coroutines or return a future; input errors may raise before anything is awaited."""
        ...

    async def modify_order(
        self, order_id: str, *, quantity: int | None = None, price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str: ...

    async def cancel_order(self, order_id: str) -> str: ...

    async def orders(self) -> list[BrokerOrder]: ...

    async def order(self, order_id: str) -> BrokerOrder: ...

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]: ...

    async def positions(self) -> list[Position]: ...

    async def margins(self) -> Margins: ...

    def add_listener(self, listener: OrderListener) -> None:
        """Order updates (status changes, fills) are pushed here, as Kite pushes postbacks."""
        ...
