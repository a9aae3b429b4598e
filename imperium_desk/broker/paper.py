"""The paper exchange: the `Broker` port filled against the simulated market with latency/slippage models.

An order's round trip (submit to acknowledgement) is one draw from its asset's latency model. The order
meets the book `fill_point` of the way through that trip; the acknowledgement (and the report of any fills
made on arrival) reaches the client at the end of it. Where the `insert` and `report` lanes are configured they
replace those two legs (a lane not configured is its share of a round-trip draw), so `latency_ms` is their sum;
the report of a later fill of a resting order travels the report leg too; cancels and modifies take a `cancel`
lane draw (the round-trip model when that lane is not configured).

MARKET orders walk the depth, consuming it for the rest
of the tick, then one slippage draw per order moves every fill adversely (rounded to the tick grid by seeded
stochastic rounding, so the mean realised slippage equals the model mean). LIMIT orders take what is
marketable up to the limit and rest; a resting order fills at its limit when the market trades through it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any

from imperium_desk.broker.config import PaperBrokerConfig
from imperium_desk.broker.errors import (
    BrokerInputError,
    BrokerOrderRejected,
    OrderNotFound,
)
from imperium_desk.broker.port import OrderListener
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import OrderStatus, OrderType, Product, Side
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.domain.orders import BrokerOrder, Fill, Margins, OrderUpdate, Position
from imperium_desk.market.port import MarketData, Quote
from imperium_desk.models.resolver import ModelResolver, ResolvedModels
from imperium_desk.rng import BufferedDraws, RandomStreams


@dataclass(slots=True)
class _Pricing:
    """What an order keeps from placement: switching models later does not touch orders in flight."""

    latency_ms: float
    models: ResolvedModels
    model_params: dict[str, Any]
    draws: BufferedDraws
    contract: OptionContract
    delivered: int = 0  # fills already reported to listeners
    resting: bool = False  # on the book, waiting for the market to trade through it


@dataclass(slots=True)
class _DepthUse:
    quote: Quote  # the quote object whose depth was consumed; a new tick brings a new object
    asks: list[int]
    bids: list[int]


class PaperBroker:
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
        self._streams = streams
        self._config = config
        self._id_prefix = id_prefix
        self._next_id = 0
        self._next_trade = 0
        self._orders: dict[str, BrokerOrder] = {}
        self._by_tag: dict[str, list[str]] = {}
        self._pricing: dict[str, _Pricing] = {}
        self._resting: dict[str, list[BrokerOrder]] = {}
        self._positions: dict[str, Position] = {}
        self._depth: dict[str, _DepthUse] = {}
        self._listeners: list[OrderListener] = []
        self._latency_draws: dict[str, BufferedDraws] = {}
        self._slippage_draws: dict[str, BufferedDraws] = {}
        self._long_value = 0.0
        self._resting_buy_value = 0.0
        # A dict, not a set: iteration order must not depend on string hashing (replays are byte-identical).
        self._shorts: dict[str, None] = {}
        market.add_listener(self._on_ticks)

    # -- the port ------------------------------------------------------------------------------------------
    def add_listener(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

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
        # A plain function returning the acknowledgement future (not a coroutine): one frame less per order.
        contract = self._contract(symbol)
        self._validate(contract, quantity, order_type, price)
        models = self._models.resolve(symbol, contract.underlying)
        params = models.model_params
        if models.conditioned:
            params = self._conditioned_latency(models, contract.underlying)
        draws = self._latency_stream(symbol)
        insert, report = models.insert, models.report
        if insert is None and report is None:
            draw = models.latency.sampler.draw(draws)
            latency_ms = round(draw * _factor(params, "latency") if models.conditioned else draw, 3)
            arrive_s = latency_ms / 1000.0 * self._config.fill_point
        else:
            trip = 0.0
            if insert is None or report is None:
                trip = models.latency.sampler.draw(draws) * _factor(params, "latency")
            fp = self._config.fill_point
            insert_ms = insert.sampler.draw(draws) * _factor(params, "insert") if insert else trip * fp
            report_ms = report.sampler.draw(draws) * _factor(params, "report") if report else trip * (1 - fp)
            latency_ms = round(insert_ms + report_ms, 3)
            arrive_s = insert_ms / 1000.0
        self._next_id += 1
        order = BrokerOrder(
            order_id=f"{self._id_prefix}{self._next_id:010d}",
            tag=tag,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            product=product,
            price=price,
            status=OrderStatus.OPEN,
            placed_at=self._clock.now(),
        )
        self._pricing[order.order_id] = _Pricing(latency_ms, models, params, self._slippage_stream(symbol), contract)
        answer: asyncio.Future[str] = self._clock.create_future()
        self._clock.call_later(arrive_s, self._arrive, order)
        self._clock.call_later(latency_ms / 1000.0, self._answer, answer, order)
        return answer

    async def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        order = self._get(order_id)
        contract = self._pricing[order_id].contract
        new_qty = quantity if quantity is not None else order.quantity
        new_type = order_type if order_type is not None else order.order_type
        new_price = price if price is not None else order.price
        self._validate(contract, new_qty, new_type, new_price if new_type is OrderType.LIMIT else None)
        await self._round_trip(order)
        if order.status is not OrderStatus.OPEN:
            raise BrokerOrderRejected(f"order {order_id} cannot be modified: it is {order.status}")
        if new_qty < order.filled_quantity:
            raise BrokerInputError(f"quantity {new_qty} is below the filled quantity {order.filled_quantity}")
        order.quantity, order.order_type = new_qty, new_type
        order.price = new_price if new_type is OrderType.LIMIT else None
        self._unrest(order)
        self._match(order, self._market.quote(order.symbol))
        self._finish_arrival(order)
        self._deliver(order)
        return order_id

    async def cancel_order(self, order_id: str) -> str:
        order = self._get(order_id)
        await self._round_trip(order)
        if order.status is not OrderStatus.OPEN:
            raise BrokerOrderRejected(f"order {order_id} cannot be cancelled: it is {order.status}")
        self._unrest(order)
        order.status = OrderStatus.CANCELLED
        order.status_message = "cancelled by the client"
        self._deliver(order)
        return order_id

    async def orders(self) -> list[BrokerOrder]:
        return [_snapshot(o) for o in self._orders.values()]

    async def order(self, order_id: str) -> BrokerOrder:
        return _snapshot(self._get(order_id))

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        return [_snapshot(self._orders[i]) for i in self._by_tag.get(tag, ())]

    async def positions(self) -> list[Position]:
        return [replace(p) for p in self._positions.values()]

    async def margins(self) -> Margins:
        used = self._margin_used()
        return Margins(capital=self._config.capital, used=used, available=self._config.capital - used)

    # -- internals -----------------------------------------------------------------------------------------
    def _contract(self, symbol: str) -> OptionContract:
        try:
            return self._catalog.resolve(symbol)
        except InstrumentError as exc:
            raise BrokerInputError(str(exc)) from None

    def _validate(
        self, contract: OptionContract, quantity: int, order_type: OrderType, price: float | None
    ) -> None:
        if quantity <= 0 or quantity % contract.lot_size:
            raise BrokerInputError(
                f"quantity {quantity} is not a positive multiple of the lot size {contract.lot_size}"
            )
        if quantity > contract.freeze_qty:
            raise BrokerInputError(f"quantity {quantity} exceeds the freeze quantity {contract.freeze_qty}")
        if order_type is OrderType.LIMIT:
            if price is None or price <= 0:
                raise BrokerInputError(f"a LIMIT order needs a positive price, got {price}")
            if abs(price / contract.tick_size - round(price / contract.tick_size)) > 1e-6:
                raise BrokerInputError(f"price {price} is not on the tick grid {contract.tick_size}")
        elif price is not None:
            raise BrokerInputError("a MARKET order takes no price")

    def _latency_stream(self, symbol: str) -> BufferedDraws:
        draws = self._latency_draws.get(symbol)
        if draws is None:
            draws = self._latency_draws[symbol] = self._streams.buffered("latency", symbol)
        return draws

    def _slippage_stream(self, symbol: str) -> BufferedDraws:
        draws = self._slippage_draws.get(symbol)
        if draws is None:
            draws = self._slippage_draws[symbol] = self._streams.buffered("slippage", symbol)
        return draws

    def _conditioned_latency(self, models: ResolvedModels, underlying: str) -> dict[str, Any]:
        """The order's own `model_params`, with the regime factor of each conditioned latency model."""
        vol, rate = self._market.regime(underlying)
        params = dict(models.model_params)
        for name, model in (("latency", models.latency), ("insert", models.insert), ("report", models.report)):
            if model is not None and model.scale is not None:
                entry = {**_entry(params, name), "factor": round(model.factor(vol, rate), 6)}
                _set_entry(params, name, entry)
        return params

    def _get(self, order_id: str) -> BrokerOrder:
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        return order

    async def _round_trip(self, order: BrokerOrder) -> None:
        """A cancel's or modify's trip: a `cancel` lane draw, or a round-trip draw without that lane."""
        underlying = self._pricing[order.order_id].contract.underlying
        models = self._models.resolve(order.symbol, underlying)
        model = models.cancel or models.latency
        draw = model.sampler.draw(self._latency_stream(order.symbol))
        if model.scale is not None:
            draw *= model.factor(*self._market.regime(underlying))
        await self._clock.sleep(draw / 1000.0)

    def _report_delay_s(self, order: BrokerOrder) -> float:
        """How long the report of a fill made at the exchange takes to reach the client (with the models the
        order was placed under: a switch since then does not reach it)."""
        pricing = self._pricing[order.order_id]
        models = pricing.models
        draws = self._latency_stream(order.symbol)
        model = models.report
        share = 1.0
        if model is None:
            model, share = models.latency, 1.0 - self._config.fill_point
        draw = model.sampler.draw(draws) * share
        if model.scale is not None:
            draw *= model.factor(*self._market.regime(pricing.contract.underlying))
        return draw / 1000.0

    def _arrive(self, order: BrokerOrder) -> None:
        self._orders[order.order_id] = order
        self._by_tag.setdefault(order.tag, []).append(order.order_id)
        shortfall = self._margin_shortfall(order)
        if shortfall is not None:
            order.status = OrderStatus.REJECTED
            order.status_message = shortfall
            return
        self._match(order, self._market.quote(order.symbol))
        self._finish_arrival(order)

    def _finish_arrival(self, order: BrokerOrder) -> None:
        if order.status is not OrderStatus.OPEN:
            return
        if order.order_type is OrderType.MARKET:
            # Market protection: what the visible depth cannot fill is cancelled, not left to sweep.
            order.status = OrderStatus.CANCELLED
            order.status_message = "insufficient depth: unfilled quantity cancelled"
        else:
            self._rest(order)

    def _answer(self, answer: asyncio.Future[str], order: BrokerOrder) -> None:
        if not answer.done():
            answer.set_result(order.order_id)
        # The report of what happened on arrival travels with the acknowledgement.
        self._deliver(order)

    def _deliver(self, order: BrokerOrder) -> None:
        """Report the order's state and the fills not reported yet."""
        pricing = self._pricing[order.order_id]
        fills = order.fills[pricing.delivered :]
        pricing.delivered = len(order.fills)
        update = OrderUpdate(order=order, new_fills=fills, timestamp=self._clock.now())
        for listener in self._listeners:
            listener(update)

    def _match(self, order: BrokerOrder, quote: Quote) -> list[Fill]:
        """Fill what is marketable now, walking the depth; returns the new fills."""
        use = self._depth.get(order.symbol)
        if use is None or use.quote is not quote:
            use = _DepthUse(quote, [0] * len(quote.asks), [0] * len(quote.bids))
            self._depth[order.symbol] = use
        buy = order.side is Side.BUY
        levels, used = (quote.asks, use.asks) if buy else (quote.bids, use.bids)
        limit = order.price if order.order_type is OrderType.LIMIT else None
        remaining = order.quantity - order.filled_quantity
        lot = self._pricing[order.order_id].contract.lot_size
        taken: list[tuple[float, int]] = []
        for i, (level_price, level_qty) in enumerate(levels):
            if remaining <= 0:
                break
            if limit is not None and (level_price > limit if buy else level_price < limit):
                break
            available = level_qty - used[i]
            if available <= 0:
                continue
            qty = min(remaining, available - available % lot)
            if qty <= 0:
                continue
            used[i] += qty
            remaining -= qty
            taken.append((level_price, qty))
        if not taken:
            return []
        pricing = self._pricing[order.order_id]
        offset = self._slippage_offset(pricing, taken[0][0], order.quantity - order.filled_quantity, levels)
        fills = []
        for level_price, qty in taken:
            price = self._on_grid(level_price + offset * order.side.sign, pricing)
            if limit is not None:
                price = min(price, limit) if buy else max(price, limit)
            fills.append(self._fill(order, qty, price, level_price, pricing))
        return fills

    def _slippage_offset(
        self, pricing: _Pricing, reference: float, quantity: int, levels: list[tuple[float, int]]
    ) -> float:
        model = pricing.models.slippage
        draw = model.sampler.draw(pricing.draws)
        if model.scale is not None:
            # Participation: the order's share of the depth it meets; a liquidity drop raises it.
            depth = sum(q for _, q in levels)
            participation = quantity / depth if depth > 0 else 1.0
            factor = model.factor(*self._market.regime(pricing.contract.underlying), participation)
            draw *= factor
            params = dict(pricing.model_params)
            params["slippage"] = {**params["slippage"], "factor": round(factor, 6)}
            pricing.model_params = params  # fills already reported keep the dict they were given
        if model.unit == "bps":
            return reference * draw / 10_000.0
        if model.unit == "ticks":
            return draw * pricing.contract.tick_size
        return draw

    def _on_grid(self, price: float, pricing: _Pricing) -> float:
        """Seeded unbiased stochastic rounding to the tick grid, never below one tick."""
        tick = pricing.contract.tick_size
        ticks = price / tick
        low = math.floor(ticks)
        frac = ticks - low
        if frac > 1e-9 and pricing.draws.uniform() < frac:
            low += 1
        return round(max(low, 1) * tick, 2)

    def _fill(
        self, order: BrokerOrder, qty: int, price: float, book_price: float, pricing: _Pricing
    ) -> Fill:
        self._next_trade += 1
        fill = Fill(
            order_id=order.order_id,
            trade_id=f"{self._id_prefix}T{self._next_trade:010d}",
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            timestamp=self._clock.now(),
            book_price=book_price,
            latency_ms=pricing.latency_ms,
            model_params=pricing.model_params,
        )
        if pricing.resting and order.side is Side.BUY and order.price is not None:
            self._resting_buy_value -= qty * order.price
        order.add_fill(fill)
        position = self._positions.get(order.symbol)
        if position is None:
            position = self._positions[order.symbol] = Position(order.symbol)
        self._long_value -= max(position.quantity, 0) * position.average_price
        position.apply(order.side, qty, price)
        self._long_value += max(position.quantity, 0) * position.average_price
        if position.quantity < 0:
            self._shorts[order.symbol] = None
        else:
            self._shorts.pop(order.symbol, None)
        return fill

    def _rest(self, order: BrokerOrder) -> None:
        self._pricing[order.order_id].resting = True
        self._resting.setdefault(order.symbol, []).append(order)
        if order.side is Side.BUY and order.price is not None:
            self._resting_buy_value += (order.quantity - order.filled_quantity) * order.price

    def _unrest(self, order: BrokerOrder) -> None:
        pricing = self._pricing[order.order_id]
        if pricing.resting:
            pricing.resting = False
            self._resting[order.symbol].remove(order)
            if order.side is Side.BUY and order.price is not None:
                self._resting_buy_value -= (order.quantity - order.filled_quantity) * order.price

    def _on_ticks(self, quotes: Any) -> None:
        for quote in quotes:
            resting = self._resting.get(quote.symbol)
            if not resting:
                continue
            for order in list(resting):
                fills = self._match_resting(order, quote)
                if order.status is not OrderStatus.OPEN:
                    self._unrest(order)
                if fills:
                    self._clock.call_later(self._report_delay_s(order), self._deliver, order)

    def _match_resting(self, order: BrokerOrder, quote: Quote) -> list[Fill]:
        """A resting limit fills at its own price once the opposite touch trades through it."""
        assert order.price is not None
        buy = order.side is Side.BUY
        crossed = quote.ask <= order.price if buy else quote.bid >= order.price
        if not crossed:
            return []
        levels = quote.asks if buy else quote.bids
        available = sum(q for p, q in levels if (p <= order.price if buy else p >= order.price))
        pricing = self._pricing[order.order_id]
        lot = pricing.contract.lot_size
        qty = min(order.quantity - order.filled_quantity, available - available % lot)
        if qty <= 0:
            return []
        return [self._fill(order, qty, order.price, order.price, pricing)]

    # -- margin ------------------------------------------------------------------------------------------
    def _margin_used(self) -> float:
        """Premium of long positions and of resting buys (kept incrementally), plus short-option margin."""
        used = self._long_value + self._resting_buy_value
        for symbol in self._shorts:
            pos = self._positions[symbol]
            underlying = self._catalog.resolve(symbol).underlying
            used += -pos.quantity * self._market.spot(underlying) * self._config.short_margin_rate
        return max(used, 0.0)

    def _margin_shortfall(self, order: BrokerOrder) -> str | None:
        pricing = self._pricing[order.order_id]
        if order.side is Side.BUY:
            quote = self._market.quote(order.symbol)
            required = order.quantity * (order.price if order.price is not None else quote.ask)
        else:
            pos = self._positions.get(order.symbol)
            long_qty = pos.quantity if pos is not None and pos.quantity > 0 else 0
            short_qty = max(0, order.quantity - long_qty)
            if short_qty == 0:
                return None  # closing a long needs no margin
            spot = self._market.spot(pricing.contract.underlying)
            required = short_qty * spot * self._config.short_margin_rate
        available = self._config.capital - self._margin_used()
        if required <= available:
            return None
        return f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}"


def _snapshot(order: BrokerOrder) -> BrokerOrder:
    return replace(order, fills=list(order.fills))


def _factor(params: dict[str, Any], name: str) -> float:
    """The regime factor recorded for one model of an order (1.0 when it is not conditioned)."""
    entry = _entry(params, name)
    factor: float = entry.get("factor", 1.0) if entry is not None else 1.0
    return factor


def _entry(params: dict[str, Any], name: str) -> dict[str, Any]:
    if name in ("latency", "slippage"):
        entry: dict[str, Any] = params[name]
    else:
        entry = params["lanes"][name]
    return entry


def _set_entry(params: dict[str, Any], name: str, entry: dict[str, Any]) -> None:
    if name in ("latency", "slippage"):
        params[name] = entry
    else:
        params["lanes"] = {**params["lanes"], name: entry}
