"""The async broker port, shaped after Kite Connect's order API: what the execution stack needs from a venue.

Implementations: `broker.paper.PaperBroker` (the simulated exchange), `broker.faults.FaultInjectingBroker` (a
wrapper that makes any broker misbehave) and the Kite adapter. The contract is on `Broker`; every implementation
keeps all of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from imperium_desk.domain.enums import OrderType, Product, Side
from imperium_desk.domain.orders import BrokerOrder, Margins, OrderUpdate, Position

OrderListener = Callable[[OrderUpdate], None]


class Broker(Protocol):
    """One trading account at one broker.

    Threading: every method is called on the engine's event loop thread, and every awaitable resolves on it;
    listeners are called on it too. An implementation that talks to the network does its blocking I/O elsewhere
    (a worker thread, a socket reader) and hands results back to the loop. Nothing here blocks the loop.

    Tags and idempotency: there is no idempotency key. The `tag` (at most 20 alphanumeric characters, unique per
    trading day across restarts) is the client's id for an order: when the outcome of a `place_order` is unknown,
    the caller looks the tag up with `orders_by_tag` before sending again, and adopts what it finds. A broker never
    retries a request itself.

    Errors (all from `broker/errors.py`; every method may raise the first four):
    * `BrokerTimeout`, `BrokerNetworkError`: the outcome is unknown. The broker may have acted on the request (an
      order may exist and even be filled): look the tag (or order) up before acting again.
    * `BrokerUnreachable`: the request never reached the broker; nothing happened and it may be sent again.
    * `BrokerThrottled`: refused before it was acted on (HTTP 429); wait (`retry_after_s` when the broker said)
      and send again.
    * `BrokerSessionExpired`: nothing was done, and nothing more can be until the trader logs in again.
    * `BrokerInputError` (the request itself is invalid), `BrokerMarginError` (insufficient funds),
      `BrokerOrderRejected` (refused for a reason a retry will not fix), `OrderNotFound`: nothing was done.

    What may be kept: everything a broker hands out (`BrokerOrder`, `Fill`, `OrderUpdate`, `Margins`, and the
    `Position` copies) is a snapshot that the broker never changes afterwards; callers may keep it and must not
    expect it to follow the order. Ask again (or wait for the next update) for the new state.

    Updates: every change of an order the broker learns of (acknowledged, filled in part or in full, cancelled,
    rejected, modified) reaches every listener as one `OrderUpdate`. Updates of one order arrive in the order the
    broker made the changes; an order's `filled_quantity` never decreases from one update to the next, and each
    fill is in the `new_fills` of exactly one update. An update may arrive before the `place_order` awaitable
    resolves (a real broker's postback can beat the REST answer); updates of different orders are not ordered
    with respect to each other. A broker may report a change it learns of late (after a reconnect) and may merge
    changes into one update; it reports an order's terminal status (COMPLETE, CANCELLED, REJECTED) at least once.
    """

    def place_order(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        product: Product | None,
        tag: str,
        price: float | None = None,
    ) -> Awaitable[str]:
        """Send a new order; awaits to the broker's order id once the broker acknowledges it (one round trip).

        The acknowledgement says the order was accepted for processing, not that it is open: it may already be
        REJECTED (insufficient margin at the exchange) or filled, which its updates tell. `price` is for LIMIT
        orders only; `product` None is the venue's default product. Implementations may be coroutines or return a
        future; input errors (`BrokerInputError`: unknown symbol, quantity not a lot multiple or above the freeze
        quantity, price off the tick grid, LIMIT without a price, MARKET with one) may raise before anything is
        awaited. Raises any of the errors above; after `BrokerTimeout`/`BrokerNetworkError` the order may exist:
        `orders_by_tag`."""
        ...

    async def modify_order(
        self, order_id: str, *, quantity: int | None = None, price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        """Change an open order (None: keep that field; a MARKET order has no price). Returns the order id once
        the broker has applied the change, whose result (fills it caused included) comes as an update.
        `OrderNotFound` for an id the broker does not know, `BrokerInputError` for an invalid result (or a
        quantity below what has filled), `BrokerOrderRejected` if the order is no longer open."""
        ...

    async def cancel_order(self, order_id: str) -> str:
        """Cancel what is left of an open order. Returns the order id once the broker has cancelled it; the
        CANCELLED status comes as an update. `OrderNotFound` for an unknown id, `BrokerOrderRejected` if the order
        is no longer open (it may have filled while the cancel travelled: its updates say so)."""
        ...

    async def orders(self) -> list[BrokerOrder]:
        """Every order of the account today, as the broker holds it now (oldest first), including orders placed
        by other sessions or platforms on the same account."""
        ...

    async def order(self, order_id: str) -> BrokerOrder:
        """One order as the broker holds it now; `OrderNotFound` if the broker does not know it (yet)."""
        ...

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        """The orders carrying `tag` (oldest first; empty if none): the lookup that settles an unknown outcome.

        It scans the whole day's book of the account, so it also finds orders placed by other sessions or
        platforms with the same tag: tags must be unique per day. An order appears once it has reached the
        broker; an order still in flight may not be found yet (an empty answer soon after a send is not proof
        that nothing was placed)."""
        ...

    async def positions(self) -> list[Position]:
        """The account's net positions (copies), one per contract traded today, flat ones included."""
        ...

    async def margins(self) -> Margins:
        """The account's capital, margin used by positions and working orders, and what is available."""
        ...

    def add_listener(self, listener: OrderListener) -> None:
        """Push every `OrderUpdate` to `listener` from now on (as Kite pushes postbacks), on the loop thread.
        Every listener gets the same update object. A listener must not block and must not raise."""
        ...
