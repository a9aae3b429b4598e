"""`PaperExchange`: matching against the simulated market, with no network in front of it.

An order that arrives is checked for margin, takes what is marketable now and rests (LIMIT) or has its unfilled
rest cancelled (MARKET: market protection). MARKET orders walk the depth, consuming it for the rest of the tick;
one slippage draw per match moves every fill adversely, rounded to the tick grid by seeded stochastic rounding
(so the mean realised slippage equals the model mean). A resting limit fills at its own price once the market
trades through it.

The exchange keeps no clock of its own beyond stamping fills: `PaperBroker` puts the network's latency in front
of it, and a fake broker server can drive it directly (`new_order` + `arrive`, `modify`, `cancel`, the lookups,
and `add_fill_listener` for fills the market makes between requests).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from imperium_desk.broker.config import PaperBrokerConfig
from imperium_desk.broker.errors import BrokerInputError, BrokerOrderRejected, OrderNotFound
from imperium_desk.broker.paper.account import PaperAccount
from imperium_desk.broker.paper.latency import SymbolStreams, conditioned_params
from imperium_desk.broker.paper.params import ModelParams
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.domain.instruments import IST, InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.domain.orders import BrokerOrder, Fill, Margins, Position
from imperium_desk.market.port import MarketData, Quote, TickBatch
from imperium_desk.models.resolver import ModelResolver, ResolvedModels
from imperium_desk.rng import BufferedDraws, RandomStreams

ENDED_ORDER_RETENTION_S = 120.0  # loop seconds an ended order stays visible to lookups (class docstring)
SESSION_CLOSE_MESSAGE = "cancelled at the session close (DAY order)"


@dataclass(slots=True, eq=False)
class WorkingOrder:
    """The exchange's own, live order: it changes as the order fills. Hand out `snapshot()`s, never this.

    Besides the order's fields it keeps what the order was priced with at placement, so switching models later
    does not touch orders in flight.
    """

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
    contract: OptionContract
    models: ResolvedModels
    params: ModelParams
    slippage_draws: BufferedDraws  # the symbol's slippage stream (the slippage draw and the grid rounding)
    latency_ms: float = 0.0  # the order's round trip, recorded on its fills
    filled_quantity: int = 0
    average_price: float = 0.0
    status_message: str = ""
    fills: list[Fill] = field(default_factory=list)
    reported: int = 0  # fills already reported to the client (`PaperBroker`'s bookkeeping)
    resting: bool = False  # on the book, waiting for the market to trade through it

    def snapshot(self) -> BrokerOrder:
        # `tuple.__new__` with the fields in order: a named tuple's own `__new__` is a Python frame (0.2 us).
        return _new_tuple(BrokerOrder, (
            self.order_id, self.tag, self.symbol, self.side, self.quantity, self.order_type, self.product,
            self.price, self.status, self.placed_at, self.filled_quantity, self.average_price, self.status_message,
            tuple(self.fills),
        ))


_new_tuple = tuple.__new__


@dataclass(slots=True, frozen=True)
class _Listing:
    """What every order on one symbol needs, resolved once: the contract, its order limits as plain numbers (the
    expiry as epoch seconds), and the symbol's slippage stream. Contracts never change, so neither does this."""

    contract: OptionContract
    lot: int
    freeze_qty: int
    expires: float  # contract.expiry_at.timestamp()
    slippage_draws: BufferedDraws


@dataclass(slots=True)
class _DepthUse:
    """How much of each depth level this tick's orders have taken (a level consumed stays consumed until the
    next tick)."""

    quote: Quote  # the quote object whose depth was consumed; a new tick brings a new object
    ask_levels: Sequence[tuple[float, int]]  # the quote's depth, read once (a simulated quote builds it when read)
    bid_levels: Sequence[tuple[float, int]]
    asks: list[int]
    bids: list[int]


FillListener = Callable[[WorkingOrder], None]


class PaperExchange:
    """The paper venue's order book and account, driven directly (no latency: that is `PaperBroker`'s job).

    Single-threaded: every method is called on the engine's loop, and ticks arrive on it. Orders are created by
    `new_order` (validated, priced, given an id) and reach the book with `arrive`; until then lookups do not see
    them. `modify` and `cancel` act at once. Lookups return snapshots. Listeners added with `add_fill_listener`
    hear of every change the market makes to a resting order: a fill, or its cancellation at a session close
    (`close_session`); changes made by `arrive` or `modify` are the caller's to report. They get the live
    `WorkingOrder` and must not keep it (`snapshot()` is the record to keep). `account` holds the positions and
    margin.

    Lookups see every order (`orders()` is the day's book) unless `retention_s` is set: a replay sets it to
    `ENDED_ORDER_RETENTION_S`, and then an order stays visible while it is open and for `retention_s` of the loop's time
    after it arrived (or, for one that stays open longer, after it ended); then the exchange forgets it, so a long
    replay holds only the orders of its last minutes. What the engine looks up comes much sooner (a send's
    reconciliation within its timeout and backoffs, a cancel racing a fill's report), and every order's story stays
    in the telemetry. An audit of the whole book (a test counting orders per tag) sets `retention_s` to infinity.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        market: MarketData,
        catalog: InstrumentCatalog,
        models: ModelResolver,
        streams: RandomStreams,
        config: PaperBrokerConfig,
        id_prefix: str = "",
    ) -> None:
        self._clock = clock
        self._market = market
        self._catalog = catalog
        self._models = models
        self._id_prefix = id_prefix
        self._next_id = 0
        self._next_trade = 0
        self._orders: dict[str, WorkingOrder] = {}
        self._by_tag: dict[str, list[str]] = {}
        self._book: dict[str, list[WorkingOrder]] = {}  # resting orders per symbol, in the order they rested
        self._depth: dict[str, _DepthUse] = {}
        self._listings: dict[str, _Listing] = {}  # made by a symbol's first order
        self._slippage_draws = SymbolStreams(streams, "slippage")
        self._plain_params: dict[str, ModelParams] = {}  # per symbol, while its models are not conditioned
        self._fill_listeners: list[FillListener] = []
        self.retention_s = math.inf  # the whole day's book; replays set ENDED_ORDER_RETENTION_S (desk/engine.py)
        self._arrivals: deque[tuple[float, WorkingOrder]] = deque()  # (loop time, order), oldest first
        self._long_open: list[WorkingOrder] = []  # open past the retention: looked at again every half of it
        self._next_long_check = 0.0
        self.cancelled_at_close = 0  # orders `close_session` has cancelled
        self.account = PaperAccount(catalog=catalog, market=market, config=config)
        market.add_listener(self._on_ticks)

    def add_fill_listener(self, listener: FillListener) -> None:
        self._fill_listeners.append(listener)

    # -- orders ----------------------------------------------------------------------------------------------
    def new_order(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        product: Product,
        tag: str,
        price: float | None,
    ) -> WorkingOrder:
        """A validated order with its id and the models it is priced with (raises `BrokerInputError`); not on the
        book until `arrive`. Its `latency_ms` is 0 until the caller sets it."""
        listing = self._listings.get(symbol)
        if listing is None:
            listing = self._listing(symbol)
        contract = listing.contract
        now = self._clock.now()
        # The common order (an in-lot MARKET on a live contract) is checked with the listing's numbers; anything
        # else goes through `validate`, which accepts exactly the same orders and words the refusals.
        if not (
            order_type is OrderType.MARKET and price is None and now < listing.expires
            and 0 < quantity <= listing.freeze_qty and not quantity % listing.lot
        ):
            validate(contract, quantity, order_type, price, now)
        models = self._models.resolve(symbol, contract.underlying)
        params = self._params(models, symbol, contract.underlying)
        self._next_id += 1
        # Positional: one is made per order, and keywords cost a third more.
        return WorkingOrder(
            f"{self._id_prefix}{self._next_id:010d}", tag, symbol, side, quantity, order_type, product, price,
            OrderStatus.OPEN, now, contract, models, params, listing.slippage_draws,
        )

    def _listing(self, symbol: str) -> _Listing:
        contract = self.contract(symbol)
        listing = _Listing(contract, contract.lot_size, contract.freeze_qty, contract.expiry_at.timestamp(),
                           self._slippage_draws(symbol))
        self._listings[symbol] = listing
        return listing

    def _params(self, models: ResolvedModels, symbol: str, underlying: str) -> ModelParams:
        """A new order's `ModelParams`. Without conditioning nothing ever changes them, so the orders of a symbol
        share one until its models are switched (one object less per order on the replay's hot path)."""
        if models.conditioned:
            return conditioned_params(models, self._market.regime, underlying)
        shared = self._plain_params.get(symbol)
        if shared is None or shared.resolved is not models.model_params:
            shared = self._plain_params[symbol] = ModelParams(models.model_params)
        return shared

    def arrive(self, order: WorkingOrder) -> None:
        """The order reaches the exchange: margin check (REJECTED on a shortfall), then it matches and rests."""
        now = self._clock.monotonic()
        arrivals = self._arrivals
        if (arrivals and arrivals[0][0] <= now - self.retention_s) or (
            self._long_open and now >= self._next_long_check
        ):
            self._forget_ended(now)
        arrivals.append((now, order))
        self._orders[order.order_id] = order
        self._by_tag.setdefault(order.tag, []).append(order.order_id)
        quote = self._market.quote(order.symbol)
        if order.side is Side.BUY:
            price = order.price
            shortfall = self.account.buy_shortfall(order.quantity * (price if price is not None else quote.ask))
        else:
            shortfall = self.account.sell_shortfall(order.symbol, order.contract.underlying, order.quantity)
        if shortfall is not None:
            order.status = OrderStatus.REJECTED
            order.status_message = shortfall
            return
        self._match(order, quote)
        if order.status is OrderStatus.OPEN:
            self._finish_arrival(order)

    def check_modify(
        self, order: WorkingOrder, *, quantity: int | None, price: float | None, order_type: OrderType | None
    ) -> None:
        """Raise `BrokerInputError` if the modified order would be invalid in itself (whatever its state)."""
        new_type = order_type if order_type is not None else order.order_type
        new_price = price if price is not None else order.price
        validate(
            order.contract, quantity if quantity is not None else order.quantity, new_type,
            new_price if new_type is OrderType.LIMIT else None, self._clock.now(),
        )

    def modify(
        self, order: WorkingOrder, *, quantity: int | None, price: float | None, order_type: OrderType | None
    ) -> None:
        """Change an open order in place and match it again. Raises `BrokerInputError` (invalid, or below what
        has filled) or `BrokerOrderRejected` (the order is no longer open)."""
        self.check_modify(order, quantity=quantity, price=price, order_type=order_type)
        if order.status is not OrderStatus.OPEN:
            raise BrokerOrderRejected(f"order {order.order_id} cannot be modified: it is {order.status}")
        new_qty = quantity if quantity is not None else order.quantity
        if new_qty < order.filled_quantity:
            raise BrokerInputError(f"quantity {new_qty} is below the filled quantity {order.filled_quantity}")
        new_type = order_type if order_type is not None else order.order_type
        new_price = price if price is not None else order.price
        order.quantity, order.order_type = new_qty, new_type
        order.price = new_price if new_type is OrderType.LIMIT else None
        self._unrest(order)
        self._match(order, self._market.quote(order.symbol))
        self._finish_arrival(order)

    def cancel(self, order: WorkingOrder) -> None:
        """Cancel an open order; `BrokerOrderRejected` if it is no longer open."""
        if order.status is not OrderStatus.OPEN:
            raise BrokerOrderRejected(f"order {order.order_id} cannot be cancelled: it is {order.status}")
        self._unrest(order)
        order.status = OrderStatus.CANCELLED
        order.status_message = "cancelled by the client"

    def close_session(self) -> int:
        """The session closed: cancel every order still on the book, as NSE cancels DAY orders at the close, and
        tell the fill listeners. Returns how many were cancelled. (A replay calls it at every close; a desk on the
        wall clock never does: its simulated market stays open at any hour.)"""
        cancelled = 0
        for resting in self._book.values():
            for order in list(resting):
                self._unrest(order)
                order.status = OrderStatus.CANCELLED
                order.status_message = SESSION_CLOSE_MESSAGE
                cancelled += 1
                for listener in self._fill_listeners:
                    listener(order)
        self.cancelled_at_close += cancelled
        return cancelled

    def _forget_ended(self, now: float) -> None:
        """Drop the ended orders that arrived more than the retention ago; those still open are kept and looked at
        again every half retention, and forgotten a full retention after they are seen ended."""
        horizon = now - self.retention_s
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= horizon:
            order = arrivals.popleft()[1]
            if order.status is OrderStatus.OPEN:
                self._long_open.append(order)
            else:
                self._forget(order)
        if self._long_open and now >= self._next_long_check:
            self._next_long_check = now + self.retention_s / 2
            still_open = []
            for order in self._long_open:
                if order.status is OrderStatus.OPEN:
                    still_open.append(order)
                else:
                    arrivals.append((now, order))  # the newest entry: `arrivals` stays in time order
            self._long_open = still_open

    def _forget(self, order: WorkingOrder) -> None:
        del self._orders[order.order_id]
        ids = self._by_tag[order.tag]
        if len(ids) == 1:
            del self._by_tag[order.tag]
        else:
            ids.remove(order.order_id)

    # -- lookups ---------------------------------------------------------------------------------------------
    def working(self, order_id: str) -> WorkingOrder:
        """The live order (`OrderNotFound` if it has not arrived)."""
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        return order

    def orders(self) -> list[BrokerOrder]:
        return [o.snapshot() for o in self._orders.values()]

    def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        return [self._orders[i].snapshot() for i in self._by_tag.get(tag, ())]

    def positions(self) -> list[Position]:
        return self.account.positions()

    def margins(self) -> Margins:
        return self.account.margins()

    def contract(self, symbol: str) -> OptionContract:
        try:
            return self._catalog.resolve(symbol)
        except InstrumentError as exc:
            raise BrokerInputError(str(exc)) from None

    # -- matching --------------------------------------------------------------------------------------------
    def _finish_arrival(self, order: WorkingOrder) -> None:
        if order.status is not OrderStatus.OPEN:
            return
        if order.order_type is OrderType.MARKET:
            # Market protection: what the visible depth cannot fill is cancelled, not left to sweep.
            order.status = OrderStatus.CANCELLED
            order.status_message = "insufficient depth: unfilled quantity cancelled"
        else:
            self._rest(order)

    def _match(self, order: WorkingOrder, quote: Quote) -> None:
        """Fill what is marketable now, walking the depth."""
        use = self._depth.get(order.symbol)
        if use is None or use.quote is not quote:
            asks, bids = quote.asks, quote.bids
            use = _DepthUse(quote, asks, bids, [0] * len(asks), [0] * len(bids))
            self._depth[order.symbol] = use
        buy = order.side is Side.BUY
        levels, used = (use.ask_levels, use.asks) if buy else (use.bid_levels, use.bids)
        limit = order.price if order.order_type is OrderType.LIMIT else None
        wanted = remaining = order.quantity - order.filled_quantity
        lot = order.contract.lot_size
        touch = levels[0] if levels else None
        if (
            limit is None and remaining > 0 and touch is not None
            and (room := touch[1] - used[0]) - room % lot >= remaining
        ):
            # The common match (a MARKET the touch has room for): what the walk below would take, without walking.
            used[0] += remaining
            taken: Sequence[tuple[float, int]] = ((touch[0], remaining),)
        else:
            taken = self._walk(levels, used, remaining, lot, limit, buy)
            if not taken:
                return
        offset = self._slippage_offset(order, taken[0][0], wanted, levels)
        if not buy:
            offset = -offset  # adverse: the side's sign
        tick = order.contract.tick_size
        draws = order.slippage_draws
        for level_price, qty in taken:
            # Seeded unbiased stochastic rounding to the tick grid, never below one tick.
            ticks = (level_price + offset) / tick
            low = math.floor(ticks)
            frac = ticks - low
            if frac > 1e-9 and draws.uniform() < frac:
                low += 1
            price = round(max(low, 1) * tick, 2)
            if limit is not None:
                price = min(price, limit) if buy else max(price, limit)
            self._fill(order, qty, price, level_price)

    @staticmethod
    def _walk(
        levels: Sequence[tuple[float, int]], used: list[int], remaining: int, lot: int, limit: float | None, buy: bool
    ) -> list[tuple[float, int]]:
        """Take whole lots level by level, up to `limit` (None: any price), marking what is `used`: (price, qty)
        per level taken."""
        taken: list[tuple[float, int]] = []
        for i, (level_price, level_qty) in enumerate(levels):
            if remaining <= 0:
                break
            if limit is not None and (level_price > limit if buy else level_price < limit):
                break
            available = level_qty - used[i]
            if available > 0:
                qty = min(remaining, available - available % lot)
                if qty > 0:
                    used[i] += qty
                    remaining -= qty
                    taken.append((level_price, qty))
        return taken

    def _slippage_offset(
        self, order: WorkingOrder, reference: float, quantity: int, levels: Sequence[tuple[float, int]]
    ) -> float:
        """One slippage draw for a match, in price units (adverse when added with the side's sign)."""
        model = order.models.slippage
        draw = model.sampler.draw(order.slippage_draws)
        if model.scale is not None:
            # Participation: the order's share of the depth it meets; a liquidity drop raises it.
            depth = sum(q for _, q in levels)
            participation = quantity / depth if depth > 0 else 1.0
            factor = model.factor(*self._market.regime(order.contract.underlying), participation)
            draw *= factor
            order.params.set_slippage(round(factor, 6))
        if model.unit == "bps":
            return reference * draw / 10_000.0
        if model.unit == "ticks":
            return draw * order.contract.tick_size
        return draw

    def _fill(self, order: WorkingOrder, qty: int, price: float, book_price: float) -> None:
        self._next_trade += 1
        side = order.side
        fill = _new_tuple(Fill, (  # in field order (`WorkingOrder.snapshot`); one is made per fill
            order.order_id, f"{self._id_prefix}T{self._next_trade:010d}", order.symbol, side, qty, price,
            self._clock.now(), book_price, order.latency_ms, order.params.record(),
        ))
        if order.resting and side is Side.BUY and order.price is not None:
            self.account.release(qty * order.price)
        filled = order.filled_quantity
        total = filled + qty
        order.average_price = (order.average_price * filled + price * qty) / total
        order.filled_quantity = total
        order.fills.append(fill)
        if total >= order.quantity:
            order.status = OrderStatus.COMPLETE
        self.account.apply_fill(order.symbol, side, qty, price)

    def _rest(self, order: WorkingOrder) -> None:
        order.resting = True
        self._book.setdefault(order.symbol, []).append(order)
        if order.side is Side.BUY and order.price is not None:
            self.account.reserve((order.quantity - order.filled_quantity) * order.price)

    def _unrest(self, order: WorkingOrder) -> None:
        if order.resting:
            order.resting = False
            self._book[order.symbol].remove(order)
            if order.side is Side.BUY and order.price is not None:
                self.account.release((order.quantity - order.filled_quantity) * order.price)

    def _on_ticks(self, quotes: Iterable[Quote]) -> None:
        if isinstance(quotes, TickBatch):
            # A batch builds a quote when it is read (a whole chain per tick costs more than the rest of the tick):
            # read only the symbols with resting orders, in the batch's order.
            book = self._book
            if not book:
                return
            found: list[tuple[int, str]] = []
            for symbol in list(book):
                if not book[symbol]:
                    del book[symbol]  # emptied by _unrest; _rest adds it back
                    continue
                i = quotes.position(symbol)
                if i is not None:
                    found.append((i, symbol))
            if not found:
                return
            found.sort()
            quotes = [quotes[i] for i, _ in found]
        for quote in quotes:
            resting = self._book.get(quote.symbol)
            if not resting:
                continue
            for order in list(resting):
                filled = self._match_resting(order, quote)
                if order.status is not OrderStatus.OPEN:
                    self._unrest(order)
                if filled:
                    for listener in self._fill_listeners:
                        listener(order)

    def _match_resting(self, order: WorkingOrder, quote: Quote) -> bool:
        """A resting limit fills at its own price once the opposite touch trades through it; True if it did."""
        limit = order.price
        assert limit is not None  # only limits rest
        buy = order.side is Side.BUY
        crossed = quote.ask <= limit if buy else quote.bid >= limit
        if not crossed:
            return False
        levels = quote.asks if buy else quote.bids
        available = sum(q for p, q in levels if (p <= limit if buy else p >= limit))
        qty = min(order.quantity - order.filled_quantity, available - available % order.contract.lot_size)
        if qty <= 0:
            return False
        self._fill(order, qty, limit, limit)
        return True


def validate(
    contract: OptionContract, quantity: int, order_type: OrderType, price: float | None, now: float | None = None
) -> None:
    """Refuse (`BrokerInputError`) what the exchange would: lot multiples, the freeze quantity, the tick grid, a
    LIMIT without a price or a MARKET with one, and (given the time `now`, epoch seconds) a contract that has
    expired."""
    if now is not None and now >= contract.expiry_at.timestamp():
        raise BrokerInputError(
            f"{contract.symbol} expired at {contract.expiry_at.astimezone(IST):%Y-%m-%d %H:%M} IST: it takes no orders"
        )
    if quantity <= 0 or quantity % contract.lot_size:
        raise BrokerInputError(f"quantity {quantity} is not a positive multiple of the lot size {contract.lot_size}")
    if quantity > contract.freeze_qty:
        raise BrokerInputError(f"quantity {quantity} exceeds the freeze quantity {contract.freeze_qty}")
    if order_type is OrderType.LIMIT:
        if price is None or price <= 0:
            raise BrokerInputError(f"a LIMIT order needs a positive price, got {price}")
        if abs(price / contract.tick_size - round(price / contract.tick_size)) > 1e-6:
            raise BrokerInputError(f"price {price} is not on the tick grid {contract.tick_size}")
    elif price is not None:
        raise BrokerInputError("a MARKET order takes no price")
