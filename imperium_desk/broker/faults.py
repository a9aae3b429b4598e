"""Fault injection around any broker: the drills and fault tests use it to make a good broker misbehave.

Faults are drawn per `place_order` from a seeded stream, so a run with the same seed sees the same faults:

* `lost_answer`: the broker accepts (and may fill) the order, but the answer never reaches the client,
  which times out: the case that makes naive retries send duplicates.
* `timeout`: the request never reaches the broker; the client times out.
* `throttle`: HTTP 429, refused before it was acted on.
* `reject`: refused with the configured error bucket (`transient`, `throttle`, `risk` or `fatal`).
* `lookup_failure`: order lookups (`orders_by_tag`, `order`, `orders`) fail with a network error.
"""

from __future__ import annotations

from dataclasses import dataclass

from imperium_desk.broker.errors import (
    BrokerError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerThrottled,
    BrokerTimeout,
)
from imperium_desk.broker.port import Broker, OrderListener
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import ErrorBucket, OrderType, Product, Side
from imperium_desk.domain.orders import BrokerOrder, Margins, Position
from imperium_desk.rng import RandomStreams


@dataclass(frozen=True, slots=True)
class FaultRates:
    lost_answer: float = 0.0
    timeout: float = 0.0
    throttle: float = 0.0
    reject: float = 0.0
    reject_bucket: ErrorBucket = ErrorBucket.FATAL
    lookup_failure: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lost_answer", "timeout", "throttle", "reject", "lookup_failure"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.lost_answer + self.timeout + self.throttle + self.reject > 1.0 + 1e-12:
            raise ValueError("lost_answer + timeout + throttle + reject must not exceed 1")


@dataclass(slots=True)
class FaultCounts:
    lost_answer: int = 0
    timeout: int = 0
    throttle: int = 0
    reject: int = 0
    lookup_failure: int = 0


def _rejection(bucket: ErrorBucket) -> BrokerError:
    if bucket is ErrorBucket.TRANSIENT:
        return BrokerNetworkError("injected: connection reset by peer")
    if bucket is ErrorBucket.THROTTLE:
        return BrokerThrottled("injected: Too many requests", status=429)
    if bucket is ErrorBucket.RISK:
        return BrokerMarginError("injected: Insufficient funds (RMS)")
    return BrokerOrderRejected("injected: order rejected by the exchange")


class FaultInjectingBroker:
    def __init__(
        self,
        inner: Broker,
        clock: Clock,
        streams: RandomStreams,
        rates: FaultRates | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._draws = streams.buffered("faults", "broker")
        self.rates = rates or FaultRates()
        self.timeout_s = timeout_s
        self.counts = FaultCounts()

    def add_listener(self, listener: OrderListener) -> None:
        self._inner.add_listener(listener)

    async def place_order(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        product: Product,
        tag: str,
        price: float | None = None,
    ) -> str:
        r = self.rates
        u = self._draws.uniform()
        if u < r.lost_answer:
            self.counts.lost_answer += 1
            started = self._clock.monotonic()
            await self._inner.place_order(
                symbol=symbol, side=side, quantity=quantity, order_type=order_type, product=product,
                tag=tag, price=price,
            )
            await self._clock.sleep(max(0.0, self.timeout_s - (self._clock.monotonic() - started)))
            raise BrokerTimeout(f"injected: no answer to order {tag} within {self.timeout_s:g}s")
        u -= r.lost_answer
        if u < r.timeout:
            self.counts.timeout += 1
            await self._clock.sleep(self.timeout_s)
            raise BrokerTimeout(f"injected: request for order {tag} timed out after {self.timeout_s:g}s")
        u -= r.timeout
        if u < r.throttle:
            self.counts.throttle += 1
            raise BrokerThrottled("injected: Too many requests", status=429)
        u -= r.throttle
        if u < r.reject:
            self.counts.reject += 1
            raise _rejection(r.reject_bucket)
        return await self._inner.place_order(
            symbol=symbol, side=side, quantity=quantity, order_type=order_type, product=product,
            tag=tag, price=price,
        )

    async def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        return await self._inner.modify_order(order_id, quantity=quantity, price=price, order_type=order_type)

    async def cancel_order(self, order_id: str) -> str:
        return await self._inner.cancel_order(order_id)

    def _lookup_fault(self) -> None:
        if self.rates.lookup_failure and self._draws.uniform() < self.rates.lookup_failure:
            self.counts.lookup_failure += 1
            raise BrokerNetworkError("injected: order lookup failed")

    async def orders(self) -> list[BrokerOrder]:
        self._lookup_fault()
        return await self._inner.orders()

    async def order(self, order_id: str) -> BrokerOrder:
        self._lookup_fault()
        return await self._inner.order(order_id)

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        self._lookup_fault()
        return await self._inner.orders_by_tag(tag)

    async def positions(self) -> list[Position]:
        return await self._inner.positions()

    async def margins(self) -> Margins:
        return await self._inner.margins()
