"""The fake Kite's account: the project's paper exchange behind Kite's order, position and margin shapes.

`KiteAccount` runs on the fake server's event loop (never another thread). It owns a `WallClock` on that loop, the
simulated market (`MarketSimulator`, ticking every `tick_interval_ms`) and a `PaperBroker` driven only through its
port methods, so orders really fill against a moving simulated chain. Kite tradingsymbols and instrument tokens come
from the `InstrumentDump` built at start and resolve to the catalog's contracts.

Indices: every simulated underlying that `imperium_desk.broker.kite.market.INDEX_INSTRUMENTS` names has an index
(`indices`, by Kite's instrument token, e.g. 256265 "NSE:NIFTY 50") whose level is the simulator's spot to the
paisa the wire carries (`index_level`), with the day's open, high and low, and the first level standing in for the
previous close as an option's first price does. The simulator tells its listeners only about books that quote
something, so each underlying's book carries one anchor contract from the start: every market tick then reaches
the listeners (and the ticker's index packets) even before any client quotes an option of that underlying.

Kite-side bookkeeping kept here, not in the paper broker: Kite order ids (15 digits), the client's `tag` (the paper
order carries the Kite order id as its own tag, so an update is matched to its Kite order even before the paper
acknowledgement resolves), variety/validity/market protection, the status walk (PUT ORDER REQ RECEIVED ->
VALIDATION PENDING -> OPEN PENDING -> then the paper's OPEN / COMPLETE / CANCELLED / REJECTED; modify and cancel
add MODIFY VALIDATION PENDING, MODIFY PENDING and CANCEL PENDING), the modification count, order history and trades.

Validation the real venue does, raised as `KiteApiError` (status, error_type, message): variety, exchange, unknown
tradingsymbol, product, transaction and order type, tag (alphanumeric, at most 20), quantity (a lot multiple, at
most the freeze quantity), price (positive, on the tick grid) for LIMIT, market protection for MARKET and SL-M
(-1 or 1..100; 0 or absent is refused with Kite's text), the modification cap. SL and SL-M are validated and then
refused with InputException: the paper exchange has no trigger orders. IOC is honoured (the unfilled rest is
cancelled at once); TTL is refused. A MARKET order's price is ignored as Kite ignores it.

Thread-safe reads for tests: every change of an order is published (a copy of its Kite dict) under a lock, so
`published_orders()` and `wait_for()` work from any thread.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from imperium_desk.broker.config import PaperBrokerConfig
from imperium_desk.broker.errors import BrokerInputError, BrokerOrderRejected, OrderNotFound
from imperium_desk.broker.kite.market import INDEX_INSTRUMENTS
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.clock import WallClock
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.domain.instruments import IST, InstrumentCatalog
from imperium_desk.domain.orders import Fill, OrderUpdate
from imperium_desk.market.config import MarketConfig, default_instruments_path
from imperium_desk.market.port import Quote
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams
from tests.fake_kite.instruments import InstrumentDump, InstrumentRow

MARKET_PROTECTION_REQUIRED: Final = (
    "Market orders without market protection are not allowed via API. Please set market protection or use a Limit "
    "order."
)
MODIFICATIONS_EXCEEDED: Final = "Maximum allowed order modifications exceeded."
TOO_MANY_REQUESTS: Final = "Too many requests"
BAD_TOKEN: Final = "Incorrect `api_key` or `access_token`."
VARIETIES: Final = frozenset({"regular", "amo", "co", "iceberg", "auction"})
_TAG = re.compile(r"[A-Za-z0-9]{1,20}")
_TERMINAL: Final = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
# States in which the OMS is still working on the last request: another modify or cancel must wait.
_IN_FLIGHT: Final = frozenset({
    "PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "MODIFY VALIDATION PENDING", "MODIFY PENDING",
    "CANCEL PENDING",
})


class KiteApiError(Exception):
    """An error answer: HTTP `status`, Kite's `error_type` (the client's exception class name) and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _input(message: str) -> KiteApiError:
    return KiteApiError(400, "InputException", message)


def ist_text(epoch_s: float) -> str:
    """An instant as Kite's REST timestamps spell it: IST wall time, no zone."""
    return datetime.fromtimestamp(epoch_s, IST).strftime("%Y-%m-%d %H:%M:%S")


def next_token_expiry(issued_epoch_s: float) -> float:
    """06:00 IST after `issued_epoch_s`: when an access token minted then dies (kite-notes §1.2)."""
    local = datetime.fromtimestamp(issued_epoch_s, IST)
    six = local.replace(hour=6, minute=0, second=0, microsecond=0)
    if six <= local:
        six += timedelta(days=1)
    return six.timestamp()


@dataclass(frozen=True, slots=True)
class IndexRow:
    """An index the fake quotes: the underlying it is the level of, as Kite names and numbers it."""

    underlying: str
    exchange: str
    tradingsymbol: str
    instrument_token: int

    @property
    def key(self) -> str:
        """`EXCHANGE:TRADINGSYMBOL`, as `/quote` names an instrument (`NSE:NIFTY 50`)."""
        return f"{self.exchange}:{self.tradingsymbol}"


@dataclass(frozen=True, slots=True)
class IndexLevel:
    """An index now: its level (the simulated spot, in paise as the wire carries it), the day's open, high, low,
    the previous close, and the clock time of the level."""

    last_price: float
    open: float
    high: float
    low: float
    close: float
    timestamp: float


@dataclass(frozen=True)
class FakeKiteConfig:
    """How a fake Kite behaves. Defaults are the real venue's limits; tests raise `orders_per_s` when they need
    speed (None: no limit)."""

    api_key: str = "fakeapikey"
    api_secret: str = "fakeapisecret"
    user_id: str = "FK1234"
    user_name: str = "Fake Kite User"
    orders_per_s: int | None = 10  # place + modify + cancel, per account, in any one-second window
    max_modifications: int = 25
    max_ws_connections: int = 3
    underlyings: tuple[str, ...] = ("NIFTY", "BANKNIFTY", "SENSEX")
    tick_interval_ms: int = 100
    heartbeat_s: float = 1.0
    seed: int = 7
    capital: float = 10_000_000.0
    latency_ms: float = 2.0  # the paper exchange's round trip behind each order write
    expiries: int = 2
    strikes_each_side: int = 20
    # The wall clock the 06:00 IST token expiry is judged on (inject one to move "now" in a test).
    wall_time: Callable[[], float] = time.time


class WriteOutcome(StrEnum):
    """What became of one order write (place, modify or cancel) the server received."""

    ACCEPTED = "accepted"  # acted on (an order placed, modified or cancelled)
    THROTTLED = "throttled"  # 429 from the rate limit or an injected storm: not acted on
    REFUSED = "refused"  # an error answer (validation, auth, an injected error before acting): not acted on
    FAULTED = "faulted"  # acted on, but the answer was lost, late or garbled (an injected AFTER fault)


@dataclass(frozen=True, slots=True)
class OrderWrite:
    """One order write as the server saw it. `at` is the fake's loop time (monotonic seconds) when it arrived."""

    route: str  # "order.place", "order.modify" or "order.cancel"
    at: float
    tag: str | None
    tradingsymbol: str | None
    order_id: str | None
    outcome: WriteOutcome


class SlidingWindowLimit:
    """At most `per_s` accepted writes in any one-second window. A sliding window rather than a token bucket: a
    bucket of depth N refilled at N/s admits 2N in a window straddling a refill, which the exchange's 10 orders/s
    rule does not allow."""

    def __init__(self, per_s: int | None) -> None:
        self.per_s = per_s
        self._times: list[float] = []

    def admit(self, now: float) -> bool:
        if self.per_s is None:
            return True
        self._times = [t for t in self._times if now - t < 1.0]
        if len(self._times) >= self.per_s:
            return False
        self._times.append(now)
        return True


@dataclass(eq=False)
class KiteOrderRecord:
    """The Kite side of one order. Mutated only on the fake's loop; `as_kite()` gives the REST/WS dict."""

    order_id: str
    variety: str
    exchange: str
    row: InstrumentRow
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    market_protection: float
    tag: str | None
    placed_by: str
    guid: str
    placed_at: float
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    exchange_order_id: str | None = None
    exchange_at: float | None = None
    updated_at: float = 0.0
    filled_quantity: int = 0
    average_price: float = 0.0
    modifications: int = 0
    paper_id: str | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in _TERMINAL

    def tags(self) -> list[str]:
        out = [self.tag] if self.tag else []
        if self.order_type in ("MARKET", "SL-M"):
            out.append("mktp" if self.market_protection == -1 else f"mktp:{self.market_protection:.2f}")
        return out

    def as_kite(self) -> dict[str, Any]:
        pending = self.quantity - self.filled_quantity if not self.terminal else 0
        cancelled = self.quantity - self.filled_quantity if self.status == "CANCELLED" else 0
        return {
            "placed_by": self.placed_by,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": None,
            "status": self.status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "order_timestamp": ist_text(self.placed_at),
            "exchange_update_timestamp": ist_text(self.updated_at) if self.exchange_at is not None else None,
            "exchange_timestamp": ist_text(self.exchange_at) if self.exchange_at is not None else None,
            "variety": self.variety,
            "modified": self.modifications > 0,
            "exchange": self.exchange,
            "tradingsymbol": self.row.tradingsymbol,
            "instrument_token": self.row.instrument_token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": 0,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": 0,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "average_price": round(self.average_price, 4),
            "filled_quantity": self.filled_quantity,
            "pending_quantity": pending,
            "cancelled_quantity": cancelled,
            "market_protection": self.market_protection,
            "meta": {},
            "tag": self.tag,
            "tags": self.tags(),
            "guid": self.guid,
        }


@dataclass(frozen=True, slots=True)
class _Checked:
    row: InstrumentRow
    side: Side
    order_type: OrderType
    kite_order_type: str
    product: Product
    validity: str
    quantity: int
    price: float | None
    market_protection: float
    tag: str | None


def _number(params: Mapping[str, str], name: str, kind: Callable[[str], Any]) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise _input(f"Invalid `{name}`.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _input(f"Invalid `{name}`.")
    return value


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise _input(f"Missing or empty field `{name}`.")
    return value


def _check_market_protection(value: float | None) -> float:
    if value is None or value == 0:
        raise _input(MARKET_PROTECTION_REQUIRED)
    if value != -1 and not 0 < value <= 100:
        raise _input("Invalid `market_protection`: -1 (automatic) or a percentage above 0 up to 100.")
    return value


def _check_price(price: float | None, row: InstrumentRow) -> float:
    tick = row.contract.tick_size
    if price is None or price <= 0:
        raise _input("Invalid `price`.")
    if abs(price / tick - round(price / tick)) > 1e-6:
        raise _input(
            f"Tick size for this script is {tick:.2f}. Kindly enter price in the multiple of tick size for this script."
        )
    return price


def _check_quantity(quantity: int | None, row: InstrumentRow) -> int:
    lot = row.contract.lot_size
    if quantity is None or quantity <= 0:
        raise _input("Invalid `quantity`.")
    if quantity % lot:
        raise _input(f"Quantity should be a multiple of lot size ({lot}).")
    if quantity > row.contract.freeze_qty:
        raise _input(f"Quantity exceeds the freeze limit of {row.contract.freeze_qty}.")
    return quantity


class KiteAccount:
    """One Kite account on the fake's loop (see the module docstring). Build it on the loop it will run on."""

    def __init__(self, config: FakeKiteConfig) -> None:
        self.config = config
        self.clock = WallClock()
        self.catalog = InstrumentCatalog.load(default_instruments_path())
        streams = RandomStreams(config.seed)
        market_config = MarketConfig(
            underlyings=list(config.underlyings), tick_interval_ms=config.tick_interval_ms, seed=config.seed,
        )
        self.market = MarketSimulator(market_config, self.catalog, self.clock, streams)
        models = ModelResolver(
            LatencyModels.model_validate({"global": {"type": "constant", "value_ms": config.latency_ms}}),
            SlippageModels.model_validate({"global": {"type": "constant", "value": 0, "unit": "bps"}}),
        )
        self.paper = PaperBroker(
            clock=self.clock, market=self.market, catalog=self.catalog, models=models, streams=streams,
            config=PaperBrokerConfig(capital=config.capital),
        )
        self.paper.add_listener(self._on_paper_update)
        self.dump = InstrumentDump.build(
            self.catalog, self.clock.now_datetime(), {u: self.market.spot(u) for u in config.underlyings},
            expiries=config.expiries, strikes_each_side=config.strikes_each_side,
        )
        self.limit = SlidingWindowLimit(config.orders_per_s)
        self._orders: dict[str, KiteOrderRecord] = {}
        self._ohlc: dict[str, list[float]] = {}  # symbol -> [open, high, low, close]
        self._oi_range: dict[str, list[int]] = {}  # symbol -> [day low, day high]
        self._order_seq = 0
        self._trade_seq = 0
        self.order_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.indices: dict[int, IndexRow] = {
            i.instrument_token: IndexRow(u, i.exchange, i.tradingsymbol, i.instrument_token)
            for u, i in INDEX_INSTRUMENTS.items() if u in config.underlyings
        }
        self._index_ohlc: dict[str, list[float]] = {}  # underlying -> [open, high, low, close]
        for index in self.indices.values():
            self.index_level(index.underlying)
            anchor = next((r for r in self.dump.rows if r.contract.underlying == index.underlying), None)
            if anchor is not None:
                self.market.subscribe(anchor.contract)
        self.market.add_listener(self._on_ticks)
        # Thread-safe view for tests.
        self._published: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.market.start()

    def stop(self) -> None:
        self.market.stop()

    # -- instruments and quotes --------------------------------------------------------------------------------
    def row_for_key(self, key: str) -> InstrumentRow | None:
        """`EXCHANGE:TRADINGSYMBOL` -> its row (None if the dump has no such instrument)."""
        exchange, _, symbol = key.partition(":")
        return self.dump.find(exchange, symbol)

    def index_for_key(self, key: str) -> IndexRow | None:
        """`EXCHANGE:TRADINGSYMBOL` (`NSE:NIFTY 50`) -> its index (None if the fake has no such index)."""
        return next((i for i in self.indices.values() if i.key == key), None)

    def index_level(self, underlying: str) -> IndexLevel:
        """The index of `underlying` now: the simulated spot in paise, the day's range widened to take it in."""
        level = round(self.market.spot(underlying), 2)
        ohlc = self._index_ohlc.get(underlying)
        if ohlc is None:
            ohlc = self._index_ohlc[underlying] = [level, level, level, level]
        ohlc[1] = max(ohlc[1], level)
        ohlc[2] = min(ohlc[2], level)
        o, h, low, c = ohlc
        return IndexLevel(last_price=level, open=o, high=h, low=low, close=c, timestamp=self.clock.now())

    def quote(self, row: InstrumentRow) -> Quote:
        """The contract's current quote, subscribing it on first use (the simulator quotes only what is asked)."""
        quote = self.market.subscribe(row.contract)
        self._track(quote)
        return quote

    def ohlc(self, symbol: str) -> tuple[float, float, float, float]:
        o, h, low, c = self._ohlc[symbol]
        return o, h, low, c

    def oi_range(self, symbol: str) -> tuple[int, int]:
        low, high = self._oi_range[symbol]
        return low, high

    def _track(self, quote: Quote) -> None:
        ohlc = self._ohlc.get(quote.symbol)
        if ohlc is None:
            # No previous session here: the first price seen is the open and stands in for the previous close.
            self._ohlc[quote.symbol] = [quote.ltp, quote.ltp, quote.ltp, quote.ltp]
            self._oi_range[quote.symbol] = [quote.oi, quote.oi]
            return
        ohlc[1] = max(ohlc[1], quote.ltp)
        ohlc[2] = min(ohlc[2], quote.ltp)
        oi = self._oi_range[quote.symbol]
        oi[0], oi[1] = min(oi[0], quote.oi), max(oi[1], quote.oi)

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self._track(quote)
        # The simulator notifies one underlying's book at a time: its index moved with it.
        underlying = self.market.contract(quotes[0].symbol).underlying if quotes else None
        if underlying is not None and underlying in self._index_ohlc:
            self.index_level(underlying)

    # -- order writes --------------------------------------------------------------------------------------------
    def check_place(self, variety: str, params: Mapping[str, str]) -> _Checked:
        """Everything the venue checks before it takes an order (raises `KiteApiError`)."""
        if variety not in VARIETIES:
            raise _input(f"Invalid `variety`: {variety}.")
        if variety != "regular":
            raise _input(f"Variety `{variety}` is not enabled for this account.")
        exchange = _required(params, "exchange")
        symbol = _required(params, "tradingsymbol")
        row = self.dump.find(exchange, symbol)
        if row is None:
            raise _input(f"Invalid `tradingsymbol`: {exchange}:{symbol} is not a tradable instrument.")
        transaction_type = _required(params, "transaction_type")
        if transaction_type not in ("BUY", "SELL"):
            raise _input("Invalid `transaction_type`.")
        product = _required(params, "product")
        if product not in ("NRML", "MIS"):
            raise _input(f"Product `{product}` is not allowed for {exchange} instruments.")
        kite_type = _required(params, "order_type")
        if kite_type not in ("MARKET", "LIMIT", "SL", "SL-M"):
            raise _input("Invalid `order_type`.")
        validity = params.get("validity") or "DAY"
        if validity not in ("DAY", "IOC", "TTL"):
            raise _input("Invalid `validity`.")
        tag = params.get("tag") or None
        if tag is not None and not _TAG.fullmatch(tag):
            raise _input("Tag must be alphanumeric and at most 20 characters long.")
        quantity = _check_quantity(_number(params, "quantity", int), row)
        protection = _number(params, "market_protection", float)
        price: float | None = None
        if kite_type in ("MARKET", "SL-M"):
            protection = _check_market_protection(protection)
        else:
            price = _check_price(_number(params, "price", float), row)
            protection = 0.0
        if kite_type in ("SL", "SL-M"):
            _check_price(_number(params, "trigger_price", float), row)
            raise _input(f"Order type `{kite_type}` is not supported by this venue (no trigger orders).")
        if validity == "TTL":
            raise _input("Validity `TTL` is not supported by this venue.")
        return _Checked(
            row=row, side=Side.BUY if transaction_type == "BUY" else Side.SELL,
            order_type=OrderType.MARKET if kite_type == "MARKET" else OrderType.LIMIT, kite_order_type=kite_type,
            product=Product(product), validity=validity, quantity=quantity, price=price,
            market_protection=protection, tag=tag,
        )

    def create(self, checked: _Checked, *, placed_by: str | None = None) -> KiteOrderRecord:
        """Put a checked order in the book (it walks to OPEN PENDING at once); `send` hands it to the exchange."""
        self._order_seq += 1
        now = self.clock.now()
        day = datetime.fromtimestamp(now, IST).strftime("%y%m%d")
        order_id = f"{day}{self._order_seq:09d}"
        record = KiteOrderRecord(
            order_id=order_id, variety="regular", exchange=checked.row.exchange, row=checked.row,
            transaction_type="BUY" if checked.side is Side.BUY else "SELL", order_type=checked.kite_order_type,
            product=checked.product.value, validity=checked.validity, quantity=checked.quantity,
            price=checked.price or 0.0, trigger_price=0.0, market_protection=checked.market_protection,
            tag=checked.tag, placed_by=placed_by or self.config.user_id, guid=f"FK{order_id}x{self._order_seq}",
            placed_at=now, updated_at=now,
        )
        self._orders[order_id] = record
        for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
            self._set_status(record, status, emit=False)
        self.market.subscribe(checked.row.contract)
        return record

    async def send(self, record: KiteOrderRecord, checked: _Checked) -> None:
        """Hand the order to the paper exchange and wait for its acknowledgement (fills on arrival included)."""
        try:
            await self.paper.place_order(
                symbol=checked.row.contract.symbol, side=checked.side, quantity=checked.quantity,
                order_type=checked.order_type, product=checked.product, tag=record.order_id, price=checked.price,
            )
        except BrokerInputError as exc:
            # The venue's own checks (above) mirror the exchange's, so this is a refusal they missed: the order
            # never existed, as for any 4xx.
            del self._orders[record.order_id]
            with self._changed:
                self._published.pop(record.order_id, None)
            raise _input(str(exc)) from None
        if record.validity == "IOC" and not record.terminal and record.paper_id is not None:
            with contextlib.suppress(BrokerOrderRejected):  # it filled meanwhile
                await self.paper.cancel_order(record.paper_id)

    async def place(self, variety: str, params: Mapping[str, str], *, placed_by: str | None = None) -> str:
        checked = self.check_place(variety, params)
        record = self.create(checked, placed_by=placed_by)
        await self.send(record, checked)
        return record.order_id

    def known(self, order_id: str) -> KiteOrderRecord | None:
        return self._orders.get(order_id)

    def record(self, order_id: str) -> KiteOrderRecord:
        record = self._orders.get(order_id)
        if record is None:
            raise _input("Couldn't find that `order_id`.")
        return record

    def check_write(self, order_id: str, variety: str, verb: str) -> KiteOrderRecord:
        record = self.record(order_id)
        if variety != record.variety:
            raise _input(f"Invalid `variety` for order {order_id}.")
        if record.terminal:
            raise _input(f"Order cannot be {verb} as it is already {record.status.lower()}.")
        if record.paper_id is None or record.status in _IN_FLIGHT:
            raise _input(f"Order cannot be {verb} as it is being processed. Try later.")
        if verb == "modified" and record.modifications >= self.config.max_modifications:
            raise KiteApiError(400, "NetworkException", MODIFICATIONS_EXCEEDED)
        return record

    async def modify(self, order_id: str, variety: str, params: Mapping[str, str]) -> str:
        record = self.check_write(order_id, variety, "modified")
        quantity = _number(params, "quantity", int)
        if quantity is not None:
            _check_quantity(quantity, record.row)
        new_type = params.get("order_type") or None
        if new_type is not None and new_type not in ("MARKET", "LIMIT"):
            raise _input(f"Order type `{new_type}` is not supported by this venue (no trigger orders).")
        protection = _number(params, "market_protection", float)
        price = _number(params, "price", float)
        if new_type == "MARKET" and record.order_type != "MARKET":
            protection = _check_market_protection(protection)
            price = None
        elif (new_type or record.order_type) == "LIMIT" and price is not None:
            _check_price(price, record.row)
        elif (new_type or record.order_type) == "MARKET":
            price = None
        assert record.paper_id is not None  # check_write refused an order still in flight
        self._set_status(record, "MODIFY VALIDATION PENDING", emit=False)
        self._set_status(record, "MODIFY PENDING", emit=False)
        # Counted and protected before the exchange acts, so the update the modification causes carries them.
        previous_protection = record.market_protection
        record.modifications += 1
        if new_type == "MARKET" and protection is not None:
            record.market_protection = protection
        elif new_type == "LIMIT":
            record.market_protection = 0.0
        try:
            await self.paper.modify_order(
                record.paper_id, quantity=quantity, price=price,
                order_type=OrderType(new_type) if new_type is not None else None,
            )
        except (BrokerInputError, BrokerOrderRejected, OrderNotFound) as exc:
            record.modifications -= 1
            record.market_protection = previous_protection
            await self._resync(record)
            raise _input(str(exc)) from None
        return order_id

    async def cancel(self, order_id: str, variety: str) -> str:
        record = self.check_write(order_id, variety, "cancelled")
        assert record.paper_id is not None
        self._set_status(record, "CANCEL PENDING", emit=False)
        try:
            await self.paper.cancel_order(record.paper_id)
        except (BrokerOrderRejected, OrderNotFound) as exc:
            await self._resync(record)
            raise _input(str(exc)) from None
        return order_id

    async def _resync(self, record: KiteOrderRecord) -> None:
        """Back to the exchange's status after a refused modify or cancel."""
        assert record.paper_id is not None
        order = await self.paper.order(record.paper_id)
        self._set_status(record, order.status.value, emit=False)

    # -- paper updates -------------------------------------------------------------------------------------------
    def _on_paper_update(self, update: OrderUpdate) -> None:
        order = update.order
        record = self._orders.get(order.tag)
        if record is None:
            return
        record.paper_id = order.order_id
        if record.exchange_order_id is None:
            record.exchange_order_id = f"{1_100_000_000_000_000 + int(record.order_id[-9:])}"
            record.exchange_at = update.timestamp
        record.quantity = order.quantity
        record.order_type = order.order_type.value
        record.price = order.price if order.price is not None else 0.0
        record.filled_quantity = order.filled_quantity
        record.average_price = order.average_price
        for fill in update.new_fills:
            record.trades.append(self._trade(record, fill))
        if order.status is OrderStatus.REJECTED or order.status is OrderStatus.CANCELLED:
            record.status_message = order.status_message or None
        record.updated_at = update.timestamp
        self._set_status(record, order.status.value)

    def _trade(self, record: KiteOrderRecord, fill: Fill) -> dict[str, Any]:
        self._trade_seq += 1
        return {
            "trade_id": f"{50_000_000 + self._trade_seq}",
            "order_id": record.order_id,
            "exchange": record.exchange,
            "tradingsymbol": record.row.tradingsymbol,
            "instrument_token": record.row.instrument_token,
            "product": record.product,
            "average_price": fill.price,
            "quantity": fill.qty,
            "exchange_order_id": record.exchange_order_id,
            "transaction_type": record.transaction_type,
            "fill_timestamp": ist_text(fill.timestamp),
            "order_timestamp": ist_text(record.placed_at),
            "exchange_timestamp": ist_text(fill.timestamp),
        }

    def _set_status(self, record: KiteOrderRecord, status: str, *, emit: bool = True) -> None:
        """Move the order to `status`: a history entry always; an order update to the websocket unless an
        interim state (Kite pushes fills, modifications, cancels and rejects, not every step)."""
        record.status = status
        snapshot = record.as_kite()
        record.history.append(snapshot)
        self._publish(record, snapshot)
        if emit:
            for listener in self.order_listeners:
                listener(dict(snapshot))

    def _publish(self, record: KiteOrderRecord, snapshot: dict[str, Any] | None = None) -> None:
        with self._changed:
            self._published[record.order_id] = snapshot if snapshot is not None else record.as_kite()
            self._changed.notify_all()

    # -- reads ------------------------------------------------------------------------------------------------------
    def orders(self) -> list[dict[str, Any]]:
        return [r.as_kite() for r in self._orders.values()]

    def history(self, order_id: str) -> list[dict[str, Any]]:
        return [dict(h) for h in self.record(order_id).history]

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        return [dict(t) for t in self.record(order_id).trades]

    def trades(self) -> list[dict[str, Any]]:
        return [dict(t) for r in self._orders.values() for t in r.trades]

    async def positions(self) -> dict[str, list[dict[str, Any]]]:
        """Kite's `{net, day}`: one row per (contract, product) traded today; with no overnight book, day = net.
        Quantities and values come from the fills; the average and realised P&L from the paper account."""
        paper_positions = {p.symbol: p for p in await self.paper.positions()}
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for record in self._orders.values():
            for trade in record.trades:
                key = (record.row.tradingsymbol, record.product)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = {"record": record, "buy_q": 0, "buy_v": 0.0, "sell_q": 0, "sell_v": 0.0}
                value = trade["quantity"] * trade["average_price"]
                if trade["transaction_type"] == "BUY":
                    row["buy_q"] += trade["quantity"]
                    row["buy_v"] += value
                else:
                    row["sell_q"] += trade["quantity"]
                    row["sell_v"] += value
        out: list[dict[str, Any]] = []
        for (symbol, product), agg in rows.items():
            rec: KiteOrderRecord = agg["record"]
            ltp = self.quote(rec.row).ltp
            quantity = agg["buy_q"] - agg["sell_q"]
            buy_price = agg["buy_v"] / agg["buy_q"] if agg["buy_q"] else 0.0
            sell_price = agg["sell_v"] / agg["sell_q"] if agg["sell_q"] else 0.0
            pnl = agg["sell_v"] - agg["buy_v"] + quantity * ltp
            paper = paper_positions.get(symbol)
            realised = paper.realised_pnl if paper is not None else 0.0
            average = paper.average_price if paper is not None else 0.0
            out.append({
                "tradingsymbol": symbol, "exchange": rec.exchange, "instrument_token": rec.row.instrument_token,
                "product": product, "quantity": quantity, "overnight_quantity": 0, "multiplier": 1,
                "average_price": average, "close_price": 0, "last_price": ltp, "value": agg["sell_v"] - agg["buy_v"],
                "pnl": pnl, "m2m": pnl, "unrealised": pnl - realised, "realised": realised,
                "buy_quantity": agg["buy_q"], "buy_price": buy_price, "buy_value": agg["buy_v"],
                "buy_m2m": agg["buy_v"],
                "sell_quantity": agg["sell_q"], "sell_price": sell_price, "sell_value": agg["sell_v"],
                "sell_m2m": agg["sell_v"],
                "day_buy_quantity": agg["buy_q"], "day_buy_price": buy_price, "day_buy_value": agg["buy_v"],
                "day_sell_quantity": agg["sell_q"], "day_sell_price": sell_price, "day_sell_value": agg["sell_v"],
            })
        return {"net": out, "day": [dict(r) for r in out]}

    async def margins(self) -> dict[str, dict[str, Any]]:
        """Kite's margins by segment: F&O lives in `equity`; `commodity` is an empty, disabled segment."""
        m = await self.paper.margins()
        return {"equity": _segment(m.capital, m.used, enabled=True), "commodity": _segment(0.0, 0.0, enabled=False)}

    # -- thread-safe views --------------------------------------------------------------------------------------
    def published_orders(self) -> list[dict[str, Any]]:
        """Every order as last changed (copies; any thread)."""
        with self._changed:
            return [dict(o) for o in self._published.values()]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Block (not on the fake's loop) until `predicate(orders)` holds; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                orders = [dict(o) for o in self._published.values()]
                if predicate(orders):
                    return orders
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the orders never met the condition")
                self._changed.wait(left)


def _segment(capital: float, used: float, *, enabled: bool) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "net": capital - used,
        "available": {
            "adhoc_margin": 0.0, "cash": capital, "opening_balance": capital, "live_balance": capital - used,
            "collateral": 0.0, "intraday_payin": 0.0,
        },
        "utilised": {
            "debits": used, "exposure": 0.0, "m2m_realised": 0.0, "m2m_unrealised": 0.0, "option_premium": 0.0,
            "payout": 0.0, "span": used, "holding_sales": 0.0, "turnover": 0.0, "liquid_collateral": 0.0,
            "stock_collateral": 0.0, "delivery": 0.0,
        },
    }

