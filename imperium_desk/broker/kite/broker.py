"""`KiteBroker`: the `Broker` port (broker/port.py) over Kite Connect's REST API, fed order updates by the ticker's
order-update frames and by a periodic order-book poll.

Placement: our symbol is Kite's tradingsymbol (the instruments dump names both), sent on the contract's exchange
(NFO/BFO) with the Kite tag built from the stack's tag (`tags.KiteTags`: unique per day across restarts and desks),
variety regular, validity DAY, the configured product, and the configured market protection for a MARKET order.
Nothing is ever resent here: an unknown outcome (BrokerTimeout, BrokerNetworkError) is the caller's to settle with
`orders_by_tag`, which scans the day's book on `tag`/`tags`.

Updates: every snapshot of an order (a ticker frame, a poll of the book, a lookup) goes through one gate that
reports it at most once and never backwards: a snapshot with less filled than one already reported is stale and
dropped, one with the same fill and the same state is a repeat and dropped, and nothing after a terminal status is
reported. Fills are the deltas of the cumulative filled quantity (`mapping.new_fills`), so each fill is in exactly
one update whichever path saw it first.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from imperium_desk.broker.errors import (
    BrokerError,
    BrokerInputError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerSessionExpired,
    OrderNotFound,
)
from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.errors import KiteOrderBusy
from imperium_desk.broker.kite.instruments import KiteInstruments
from imperium_desk.broker.kite.mapping import (
    KITE_TO_PRODUCT,
    ORDER_TYPE_TO_KITE,
    PRODUCT_TO_KITE,
    SIDE_TO_KITE,
    KiteMappingError,
    KiteOrder,
    Validity,
    new_fills,
    to_broker_order,
)
from imperium_desk.broker.kite.rest import KitePlacement, KiteRest
from imperium_desk.broker.kite.tags import KiteTagError, KiteTags, parse_tag
from imperium_desk.broker.paper.exchange import validate
from imperium_desk.broker.port import OrderListener
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import OrderType, Product, Side
from imperium_desk.domain.instruments import InstrumentError, OptionContract
from imperium_desk.domain.orders import BrokerOrder, Fill, Margins, OrderUpdate, Position

__all__ = ["KiteBroker"]

_log = logging.getLogger(__name__)

# A tag that reads like one of the stack's own (`{prefix}P{seq}C{index}`) but is not this session's: reported
# without it, so an order placed by hand with such a tag can never be taken for one of this session's children.
_STACK_SHAPED = re.compile(r"[A-Z0-9]*P\d+C\d+")


@dataclass(slots=True)
class _Seen:
    """What has been reported of one order: the snapshot it was reported at, and its fills so far."""

    order: KiteOrder
    fills: tuple[Fill, ...]
    raw_key: tuple[Any, ...]

    @property
    def terminal(self) -> bool:
        return self.order.our_status.terminal


def _raw_key(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """The fields whose change is worth reporting, read from the dict before it is validated (a poll of a 5,000-order
    book validates only the orders that changed)."""
    return (data.get("status"), data.get("filled_quantity"), data.get("quantity"), data.get("price"),
            data.get("average_price"), data.get("order_type"))


def _state(order: KiteOrder) -> tuple[Any, ...]:
    return (order.our_status, order.filled_quantity, order.quantity, order.price, order.average_price, order.order_type)


class KiteBroker:
    """The `Broker` port on a Kite Connect account (the port's contract holds; what is Kite-specific is here).

    Live-side entry points, beyond the port:
    * `on_order_update(data)`: the ticker client calls it (on the loop) with each order-update frame's `data` dict;
      the update reaches listeners at once, deduplicated with the poll.
    * `reconcile()` (a coroutine): called on start and by the ticker client after every reconnect. It reads the
      day's book, reports every change missed meanwhile, and answers this desk's orders (this session's and earlier
      ones today, found by tag) that are still working, so the desk can track them again.
    * `start()` reconciles and starts the order-book poll; `stop()` ends the poll. The poll also starts by itself
      with the first placement. It reads the book every `poll_interval_s` while an order of this desk is working or
      a placement is in flight (Kite's order updates can be lost with a dropped socket), and at once after a cancel
      or modify. Book reads are shared: whoever asks while one is on the wire gets the next one (`_fresh_book`).

    Product: an order goes out in the product it is given, or the configured `KiteConfig.product`; positions are
    one per contract and product, so an exit closes a position in its own product (an offsetting order in another
    product would open a second position instead).

    Tags: a `BrokerOrder` of this session carries the stack's tag (decoded from Kite's); any other order carries
    Kite's tag as it is (one shaped like a stack tag is left blank), so it is never taken for one of this session's.

    Threading: loop thread only; the REST calls run on `KiteRest`'s lanes.
    """

    def __init__(
        self,
        *,
        rest: KiteRest,
        instruments: KiteInstruments,
        tags: KiteTags,
        config: KiteConfig,
        clock: Clock,
        poll_interval_s: float = 2.0,
    ) -> None:
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        self.rest = rest
        self.instruments = instruments
        self.tags = tags
        self.config = config
        self._clock = clock
        self.poll_interval_s = poll_interval_s
        self._listeners: list[OrderListener] = []
        self._seen: dict[str, _Seen] = {}
        self._working: set[str] = set()  # this desk's orders (of any session today) not yet seen in a terminal state
        self._in_flight = 0  # placements sent and not answered
        self._poll_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._book_next: asyncio.Future[list[dict[str, Any]]] | None = None  # the next book read, not yet sent
        self._book_reading = False  # a book read is on the wire
        self.unknown_statuses: set[str] = set()  # Kite status strings mapping.py does not know (shown as alerts)
        # Kite tag -> when its placement's outcome became unknown: a lookup of that tag waits `lookup_settle_s` from
        # then, so a request still in flight inside Kite's OMS has reached the order book before "absent" is believed.
        self._unknown_since: dict[str, float] = {}

    # -- the port: orders ------------------------------------------------------------------------------------------
    def add_listener(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

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
        """Validate and map at once (input errors raise here, before anything is awaited), then send. `product`
        None sends the configured `KiteConfig.product`."""
        contract = self._contract(symbol)
        validate(contract, quantity, order_type, price)
        try:
            kite_tag = self.tags.encode(tag)
        except KiteTagError as exc:
            raise BrokerInputError(str(exc)) from None
        placement = KitePlacement(
            exchange=contract.exchange,
            tradingsymbol=contract.symbol,
            transaction_type=SIDE_TO_KITE[side],
            quantity=quantity,
            product=PRODUCT_TO_KITE[product or self.config.product],
            order_type=ORDER_TYPE_TO_KITE[order_type],
            tag=kite_tag,
            price=price if order_type is OrderType.LIMIT else None,
            market_protection=self.config.market_protection if order_type is OrderType.MARKET else None,
            validity=Validity.DAY.value,
        )
        return self._place(placement)

    async def _place(self, placement: KitePlacement) -> str:
        self._in_flight += 1
        self._ensure_polling()
        try:
            order_id = await self.rest.place_order(placement)
        except BrokerNetworkError:  # BrokerTimeout included: the order may exist, or may still be on its way
            self._unknown_since[placement.tag] = self._clock.monotonic()
            raise
        finally:
            self._in_flight -= 1
        seen = self._seen.get(order_id)
        if seen is None or not seen.terminal:
            self._working.add(order_id)
        return order_id

    async def modify_order(
        self, order_id: str, *, quantity: int | None = None, price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        seen = self._seen.get(order_id)
        if seen is not None:
            if seen.terminal:
                raise BrokerOrderRejected(f"order {order_id} is {seen.order.status}: it can no longer be modified")
            self._check_modify(seen.order, quantity, price, order_type)
        try:
            result = await self.rest.modify_order(
                order_id,
                quantity=quantity,
                price=price,
                order_type=ORDER_TYPE_TO_KITE[order_type] if order_type is not None else None,
                market_protection=self.config.market_protection if order_type is OrderType.MARKET else None,
            )
        except BrokerInputError as exc:
            await self._explain_refusal(order_id, exc, "modified")
            raise
        self._kick()
        return result

    async def cancel_order(self, order_id: str) -> str:
        seen = self._seen.get(order_id)
        if seen is not None and seen.terminal:
            raise BrokerOrderRejected(f"order {order_id} is {seen.order.status}: nothing is left to cancel")
        try:
            result = await self.rest.cancel_order(order_id)
        except BrokerInputError as exc:
            await self._explain_refusal(order_id, exc, "cancelled")
            raise
        self._kick()
        return result

    async def orders(self) -> list[BrokerOrder]:
        return [self._snapshot(order) for order in self._ingest_book(await self._fresh_book())]

    async def order(self, order_id: str) -> BrokerOrder:
        try:
            history = await self.rest.order_history(order_id)
        except BrokerInputError as exc:  # Kite: "Couldn't find that `order_id`." (InputException)
            raise OrderNotFound(f"order {order_id} is not known to Kite ({exc})") from exc
        if not history:
            raise OrderNotFound(f"order {order_id} is not known to Kite")
        latest = self._parse(history[-1])
        if latest is None:
            raise OrderNotFound(f"order {order_id}: Kite's answer could not be read")
        self._ingest(latest)
        return self._snapshot(latest)

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        """The orders carrying `tag`'s Kite tag in the day's book. What is found is also reported as updates (before
        this returns), so a caller settling an unknown outcome learns the order's fills and end the usual way."""
        try:
            kite_tag = self.tags.encode(tag)
        except KiteTagError as exc:
            raise BrokerInputError(str(exc)) from None
        since = self._unknown_since.get(kite_tag)
        if since is not None:
            wait = since + self.config.lookup_settle_s - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
        book = await self._fresh_book()
        found: list[BrokerOrder] = []
        for data in book:
            if data.get("tag") != kite_tag and kite_tag not in (data.get("tags") or ()):
                continue
            order = self._parse(data)
            if order is None:
                continue
            self._ingest(order, data)
            found.append(self._snapshot(order))
        return found

    # -- the port: account -----------------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        """Net positions in the contracts of today's instruments dump, one per contract and product, as Kite keeps
        them. Positions opened elsewhere (Kite web, mobile) are included; rows in other instruments (equity, stock
        options) are not the desk's to show or close and are left out."""
        net = (await self.rest.positions())["net"]
        positions: list[Position] = []
        for row in net:
            symbol = str(row.get("tradingsymbol", ""))
            try:
                self.instruments.contract(symbol)
            except InstrumentError:
                continue
            positions.append(_position(symbol, row))
        return positions

    async def margins(self) -> Margins:
        """The equity segment (F&O trades there): available = Kite's `net`, used = `utilised.debits`."""
        data = await self.rest.margins()
        equity = data.get("equity")
        if not isinstance(equity, Mapping):
            raise BrokerNetworkError("Kite's margins answer carries no equity segment")
        available = float(equity.get("net", 0.0))
        utilised = equity.get("utilised")
        used = float(utilised.get("debits", 0.0)) if isinstance(utilised, Mapping) else 0.0
        return Margins(capital=available + used, used=used, available=available)

    # -- live side: ticker, reconcile, poll ------------------------------------------------------------------------
    def on_order_update(self, data: Mapping[str, Any]) -> None:
        """An order-update frame's `data` (the ticker client calls this on the loop): reported at once, unless the
        poll reported it first."""
        order = self._parse(data)
        if order is None:
            return
        self._ingest(order, data)

    async def reconcile(self) -> list[BrokerOrder]:
        """Read the day's book and report what changed since it was last seen; answer this desk's orders of today
        (this session's and earlier sessions', by tag) that are still working, oldest first."""
        orders = self._ingest_book(await self._fresh_book())
        mine: list[BrokerOrder] = []
        for order in orders:
            if self._is_this_desks(order) and not order.our_status.terminal:
                self._working.add(order.order_id)  # followed by the poll to its end, like this session's own
                mine.append(self._snapshot(order))
        if self._working:
            self._ensure_polling()
        return mine

    async def start(self) -> list[BrokerOrder]:
        """Reconcile (see `reconcile`) and start the order-book poll."""
        working = await self.reconcile()
        self._ensure_polling()
        return working

    async def stop(self) -> None:
        """End the poll (a call in flight is abandoned; its answer is not reported)."""
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # its CancelledError stays in the task; a cancel of stop() itself is not eaten

    def _ensure_polling(self) -> None:
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.ensure_future(self._poll())

    def _kick(self) -> None:
        """Read the book now rather than at the next interval (a cancel or modify was accepted)."""
        self._ensure_polling()
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _poll(self) -> None:
        while True:
            wake = self._wake = self._clock.create_future()
            timer = self._clock.call_later(self.poll_interval_s, _settle, wake)
            try:
                await wake
            finally:
                timer.cancel()
            if not (self._working or self._in_flight) or not self.rest.session_valid:
                continue
            try:
                self._ingest_book(await self._fresh_book())
            except BrokerSessionExpired:
                continue  # KiteRest has told the desk; the poll resumes with the new token
            except BrokerError as exc:
                _log.warning("order-book poll failed: %s: %s", type(exc).__name__, exc)
            except Exception:  # one unreadable book must not end the poll that catches lost order updates
                _log.exception("order-book poll failed")

    # -- reading the book ------------------------------------------------------------------------------------------
    async def _fresh_book(self) -> list[dict[str, Any]]:
        """The day's order book as read by a request sent AFTER this call began.

        Callers asking while a read is on the wire share the next read, sent once that one is back: a tag lookup
        settling an unknown outcome must not be answered by a read that may have left before the order was made,
        and a burst of lookups (many lost answers at once) costs two book reads, not one each."""
        shared = self._book_next
        if shared is None:
            shared = self._book_next = self._clock.create_future()
            shared.add_done_callback(_retrieved)  # a failure nobody waits for any more is not an error
            if not self._book_reading:
                self._read_book()
        return await asyncio.shield(shared)

    def _read_book(self) -> None:
        shared, self._book_next = self._book_next, None
        assert shared is not None
        self._book_reading = True
        read = asyncio.ensure_future(self.rest.orders())
        read.add_done_callback(lambda done: self._book_read(done, shared))

    def _book_read(self, read: asyncio.Future[list[dict[str, Any]]], shared: asyncio.Future[list[dict[str, Any]]]
                   ) -> None:
        self._book_reading = False
        if not shared.done():
            if read.cancelled():
                shared.cancel()
            elif (error := read.exception()) is not None:
                shared.set_exception(error)
            else:
                shared.set_result(read.result())
        elif not read.cancelled():
            read.exception()  # nobody is waiting any more: mark the outcome as seen
        if self._book_next is not None:
            self._read_book()

    # -- the one gate every snapshot goes through ----------------------------------------------------------------
    def _ingest_book(self, book: Sequence[Mapping[str, Any]]) -> list[KiteOrder]:
        """Report every order of the book that changed; answer the book's orders (parsed), oldest first."""
        out: list[KiteOrder] = []
        for data in book:
            order_id = str(data.get("order_id", ""))
            seen = self._seen.get(order_id)
            if seen is not None and seen.raw_key == _raw_key(data):
                out.append(seen.order)  # unchanged: no validation, no update
                continue
            order = self._parse(data)
            if order is not None:
                self._ingest(order, data)
                out.append(order)
        return out

    def _ingest(self, order: KiteOrder, data: Mapping[str, Any] | None = None) -> None:
        """Report `order` if it is news: not a repeat, not older than what was reported, nothing after the end."""
        seen = self._seen.get(order.order_id)
        raw_key = _raw_key(data) if data is not None else (None,)
        if seen is not None:
            if seen.terminal or order.filled_quantity < seen.order.filled_quantity:
                return
            if order.filled_quantity == seen.order.filled_quantity:
                if _state(order) == _state(seen.order):
                    seen.raw_key = raw_key
                    return
                before, now = seen.order.updated_at, order.updated_at
                if before is not None and now is not None and now < before:
                    return  # an older snapshot (a poll taken before a frame already reported)
        if not order.status_known and order.status not in self.unknown_statuses:
            self.unknown_statuses.add(order.status)
            _log.warning("Kite reported an unknown order status %r (order %s): treated as working",
                         order.status, order.order_id)
        fills = new_fills(seen.order if seen is not None else None, order)
        all_fills = (seen.fills if seen is not None else ()) + fills
        try:
            snapshot = to_broker_order(order, self._tag_of(order), all_fills)
        except KiteMappingError as exc:
            _log.warning("order %s cannot be read: %s", order.order_id, exc)
            return
        self._seen[order.order_id] = _Seen(order, all_fills, raw_key)
        if snapshot.status.terminal:
            self._working.discard(order.order_id)
        elif self._is_this_desks(order):
            self._working.add(order.order_id)
        update = OrderUpdate(snapshot, fills, self._clock.now())
        for listener in self._listeners:
            listener(update)

    def _snapshot(self, order: KiteOrder) -> BrokerOrder:
        """`order` as a `BrokerOrder`, with the fills reported so far up to its own filled quantity (a snapshot read
        before the latest reported one carries only the fills it had seen)."""
        seen = self._seen.get(order.order_id)
        if seen is None:
            return to_broker_order(order, self._tag_of(order), new_fills(None, order))
        fills: list[Fill] = []
        filled = 0
        for fill in seen.fills:
            if filled + fill.qty > order.filled_quantity:
                break
            fills.append(fill)
            filled += fill.qty
        if filled < order.filled_quantity:
            fills.extend(new_fills(seen.order, order) if seen.order.filled_quantity == filled else ())
        return to_broker_order(order, self._tag_of(order), tuple(fills))

    def _is_this_desks(self, order: KiteOrder) -> bool:
        """Placed by this desk today, in this session or an earlier one (its tag says so)."""
        return any(
            parts is not None and parts.desk == self.tags.desk for parts in map(parse_tag, (order.tag, *order.tags))
        )

    def _tag_of(self, order: KiteOrder) -> str:
        for candidate in (order.tag, *order.tags):
            stack_tag = self.tags.decode(candidate)
            if stack_tag is not None:
                return stack_tag
        raw = order.tag or ""
        return "" if _STACK_SHAPED.fullmatch(raw) else raw

    @staticmethod
    def _parse(data: Mapping[str, Any]) -> KiteOrder | None:
        try:
            return KiteOrder.from_kite(dict(data))
        except ValidationError as exc:
            _log.warning("an order from Kite could not be read: %s", exc.errors(include_url=False)[:3])
            return None

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _contract(self, symbol: str) -> OptionContract:
        try:
            return self.instruments.contract(symbol)
        except InstrumentError as exc:
            raise BrokerInputError(str(exc)) from None

    def _check_modify(
        self, order: KiteOrder, quantity: int | None, price: float | None, order_type: OrderType | None
    ) -> None:
        """Refuse at once what Kite would refuse: the modified order invalid in itself, or below what has filled."""
        try:
            contract = self.instruments.contract(order.tradingsymbol)
        except InstrumentError:
            return  # an order in another instrument: Kite decides
        new_type = order_type or (OrderType.LIMIT if order.order_type in ("LIMIT", "SL") else OrderType.MARKET)
        new_qty = quantity if quantity is not None else order.quantity
        new_price = None if new_type is OrderType.MARKET else (price if price is not None else order.price)
        validate(contract, new_qty, new_type, new_price)
        if new_qty < order.filled_quantity:
            raise BrokerInputError(f"quantity {new_qty} is below the filled quantity {order.filled_quantity}")

    async def _explain_refusal(self, order_id: str, error: BrokerInputError, verb: str) -> None:
        """After Kite refused a modify or cancel: an order Kite does not know raises OrderNotFound, one that has ended
        is reported (so its end reaches the listeners) and raises BrokerOrderRejected; a busy order or any other
        refusal is left to the caller as it is."""
        if isinstance(error, KiteOrderBusy):
            return
        try:
            history = await self.rest.order_history(order_id)
        except BrokerInputError:
            raise OrderNotFound(f"order {order_id} is not known to Kite ({error})") from error
        except BrokerError:
            return  # cannot tell: the original refusal stands
        latest = self._parse(history[-1]) if history else None
        if latest is None:
            raise OrderNotFound(f"order {order_id} is not known to Kite ({error})") from error
        self._ingest(latest)
        if latest.our_status.terminal:
            raise BrokerOrderRejected(
                f"order {order_id} is {latest.status}: it can no longer be {verb}"
            ) from error


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _position(symbol: str, row: Mapping[str, Any]) -> Position:
    """One of Kite's net rows: a contract's position in one product."""
    return Position(
        symbol=symbol,
        quantity=int(row.get("quantity", 0)),
        average_price=round(float(row.get("average_price", 0.0)), 4),
        realised_pnl=float(row.get("realised", 0.0)),
        buy_quantity=int(row.get("buy_quantity", 0)),
        sell_quantity=int(row.get("sell_quantity", 0)),
        product=KITE_TO_PRODUCT.get(str(row.get("product", "")), Product.NRML),
    )
