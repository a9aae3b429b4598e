"""`PaperBroker`: the `Broker` port in front of the paper exchange, with the network's latency drawn from models."""

from __future__ import annotations

import asyncio

from imperium_desk.broker.config import PaperBrokerConfig
from imperium_desk.broker.paper.exchange import PaperExchange, WorkingOrder
from imperium_desk.broker.paper.latency import SymbolStreams, leg_times, trip_ms
from imperium_desk.broker.paper.params import factor_or_one
from imperium_desk.broker.port import OrderListener
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import OrderType, Product, Side
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.domain.orders import BrokerOrder, Margins, OrderUpdate, Position
from imperium_desk.market.port import MarketData
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams


class PaperBroker:
    """The `Broker` port filled by a `PaperExchange` on the simulated market (see the package docstring for the
    timing of each message). Keeps the port's contract: updates carry snapshots, in the order the client would
    hear them; lookups see only orders that have reached the exchange.

    `exchange` is public for the engine's own use (a fake broker server, tests); orders placed on it directly are
    not reported to this broker's listeners.
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
        self._models = models
        self._fill_point = config.fill_point
        self._latency_draws = SymbolStreams(streams, "latency")
        self._listeners: list[OrderListener] = []
        self.exchange = PaperExchange(
            clock=clock, market=market, catalog=catalog, models=models, streams=streams, config=config,
            id_prefix=id_prefix,
        )
        self.exchange.add_fill_listener(self._on_resting_fill)
        self._arrive = self.exchange.arrive

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
        product: Product | None,
        tag: str,
        price: float | None = None,
    ) -> asyncio.Future[str]:
        # A plain function returning the acknowledgement future (not a coroutine): one frame less per order.
        order = self.exchange.new_order(
            symbol=symbol, side=side, quantity=quantity, order_type=order_type, product=product or Product.NRML,
            tag=tag, price=price,
        )
        models = order.models
        draws = self._latency_draws(symbol)
        if models.insert is None and models.report is None:
            # `leg_times` without lanes, inlined (once per order): one round-trip draw, met at `fill_point` of it.
            latency_ms = round(models.latency.sampler.draw(draws) * factor_or_one(order.params.latency), 3)
            arrive_s = latency_ms / 1000.0 * self._fill_point
        else:
            arrive_s, latency_ms = leg_times(models, draws, order.params, self._fill_point)
        order.latency_ms = latency_ms
        answer: asyncio.Future[str] = self._clock.create_future()
        call_later = self._clock.call_later
        call_later(arrive_s, self._arrive, order)
        call_later(latency_ms / 1000.0, self._answer, answer, order)
        return answer

    async def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        order = self.exchange.working(order_id)
        self.exchange.check_modify(order, quantity=quantity, price=price, order_type=order_type)
        await self._round_trip(order)
        self.exchange.modify(order, quantity=quantity, price=price, order_type=order_type)
        self._deliver(order)
        return order_id

    async def cancel_order(self, order_id: str) -> str:
        order = self.exchange.working(order_id)
        await self._round_trip(order)
        self.exchange.cancel(order)
        self._deliver(order)
        return order_id

    async def orders(self) -> list[BrokerOrder]:
        return self.exchange.orders()

    async def order(self, order_id: str) -> BrokerOrder:
        return self.exchange.working(order_id).snapshot()

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        return self.exchange.orders_by_tag(tag)

    async def positions(self) -> list[Position]:
        return self.exchange.positions()

    async def margins(self) -> Margins:
        return self.exchange.margins()

    # -- the network ---------------------------------------------------------------------------------------
    async def _round_trip(self, order: WorkingOrder) -> None:
        """A cancel's or modify's trip: a `cancel` lane draw, or a round-trip draw without that lane (with the
        models of now: unlike the order's own legs, a switch since placement reaches it)."""
        underlying = order.contract.underlying
        models = self._models.resolve(order.symbol, underlying)
        ms = trip_ms(models.cancel or models.latency, self._latency_draws(order.symbol), self._market.regime,
                     underlying)
        await self._clock.sleep(ms / 1000.0)

    def _on_resting_fill(self, order: WorkingOrder) -> None:
        """The report of a fill the market made on a resting order travels the report leg (with the models the
        order was placed under: a switch since then does not reach it)."""
        models = order.models
        draws = self._latency_draws(order.symbol)
        regime, underlying = self._market.regime, order.contract.underlying
        if models.report is not None:
            delay_ms = trip_ms(models.report, draws, regime, underlying)
        else:
            delay_ms = trip_ms(models.latency, draws, regime, underlying, 1.0 - self._fill_point)
        self._clock.call_later(delay_ms / 1000.0, self._deliver, order)

    def _answer(self, answer: asyncio.Future[str], order: WorkingOrder) -> None:
        if not answer.done():
            answer.set_result(order.order_id)
        # The report of what happened on arrival travels with the acknowledgement.
        self._deliver(order)

    def _deliver(self, order: WorkingOrder) -> None:
        """Report the order's state now and the fills not reported yet: one snapshot, shared by every listener."""
        snapshot = order.snapshot()
        fills = snapshot.fills[order.reported :]  # the snapshot's own tuple when nothing was reported before
        order.reported = len(snapshot.fills)
        update = OrderUpdate(snapshot, fills, self._clock.now())
        for listener in self._listeners:
            listener(update)
