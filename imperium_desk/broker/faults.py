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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

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
    """The standing fault probabilities: each `place_order` fails as at most one of the first four (one uniform
    draw split across them, so they must sum to at most 1); `lookup_failure` is drawn per lookup."""

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


FaultKind = Literal["lost_answer", "timeout", "throttle", "reject", "lookup_failure"]


@dataclass(frozen=True, slots=True, eq=False)
class FaultRule:
    """A temporary fault for some symbols (a scenario's reject storm, outage or throttle): each order (or, for
    `lookup_failure`, each lookup) of a covered symbol fails this way with probability `rate`. Identity, not
    value, tells two rules apart, so removing one rule never removes an equal one still running."""

    kind: FaultKind
    rate: float
    target: str | None = None  # a trading symbol, an underlying, or None for every symbol
    bucket: ErrorBucket = ErrorBucket.FATAL  # for `reject`

    def covers(self, symbol: str, underlying: str) -> bool:
        return self.target is None or self.target in (symbol, underlying)


@dataclass(slots=True)
class FaultCounts:
    """How many faults of each kind were injected so far (standing rates and rules alike)."""

    lost_answer: int = 0
    timeout: int = 0
    throttle: int = 0
    reject: int = 0
    lookup_failure: int = 0


def _request(
    symbol: str, side: Side, quantity: int, order_type: OrderType, product: Product | None, tag: str,
    price: float | None,
) -> dict[str, Any]:
    """`place_order`'s arguments, for a fault that still places the order (a lost answer) or names its tag."""
    return {"symbol": symbol, "side": side, "quantity": quantity, "order_type": order_type, "product": product,
            "tag": tag, "price": price}


def _rejection(bucket: ErrorBucket) -> BrokerError:
    """The error a broker raises for a rejection of this bucket."""
    if bucket is ErrorBucket.TRANSIENT:
        return BrokerNetworkError("injected: connection reset by peer")
    if bucket is ErrorBucket.THROTTLE:
        return BrokerThrottled("injected: Too many requests", status=429)
    if bucket is ErrorBucket.RISK:
        return BrokerMarginError("injected: Insufficient funds (RMS)")
    return BrokerOrderRejected("injected: order rejected by the exchange")


class FaultInjectingBroker:
    """A `Broker` that passes every call to `inner`, failing some of them on purpose (see the module docstring).

    Keeps the `Broker` contract, with the faults it injects: an injected `BrokerTimeout` after a lost answer leaves
    a real order behind (found by `orders_by_tag`), any other injected failure leaves nothing. Positions, margins,
    modifies, cancels and listeners are never faulted. `rates` may be replaced and `rules` added or removed while
    it runs (the drills and scenario events do); `counts` says what was injected.
    """

    def __init__(
        self,
        inner: Broker,
        clock: Clock,
        streams: RandomStreams,
        rates: FaultRates | None = None,
        timeout_s: float = 2.0,
        underlying_of: Callable[[str], str] | None = None,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._draws = streams.buffered("faults", "broker")
        self._rule_draws = streams.buffered("faults", "rules")  # rules never shift the standing faults' draws
        self.rates = rates or FaultRates()
        self.timeout_s = timeout_s
        self.counts = FaultCounts()
        self._underlying_of = underlying_of or (lambda symbol: symbol)
        self.rules: list[FaultRule] = []

    def add_rule(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def remove_rule(self, rule: FaultRule) -> None:
        self.rules = [r for r in self.rules if r is not rule]

    def _ruled(self, symbol: str | None, kinds: tuple[FaultKind, ...]) -> FaultRule | None:
        """The first covering rule of these kinds that fires for this request (one draw per covering rule)."""
        if not self.rules:
            return None
        underlying = self._underlying_of(symbol) if symbol is not None else ""
        for rule in self.rules:
            covered = rule.kind in kinds and (symbol is None or rule.covers(symbol, underlying))
            if covered and self._rule_draws.uniform() < rule.rate:
                return rule
        return None

    def add_listener(self, listener: OrderListener) -> None:
        self._inner.add_listener(listener)

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
        # A plain function, not a coroutine: with no fault it hands back the inner broker's own awaitable (one
        # coroutine frame less per order on the replay's hot path); a fault is a coroutine that fails when awaited.
        rule = self._ruled(symbol, ("lost_answer", "timeout", "throttle", "reject"))
        if rule is not None:
            return self._fail(rule.kind, rule.bucket, _request(symbol, side, quantity, order_type, product, tag, price))
        rates = self.rates
        draw = self._draws.uniform()
        standing: tuple[tuple[FaultKind, float], ...] = (
            ("lost_answer", rates.lost_answer), ("timeout", rates.timeout), ("throttle", rates.throttle),
            ("reject", rates.reject),
        )
        for kind, rate in standing:
            if draw < rate:
                request = _request(symbol, side, quantity, order_type, product, tag, price)
                return self._fail(kind, rates.reject_bucket, request)
            draw -= rate
        return self._inner.place_order(
            symbol=symbol, side=side, quantity=quantity, order_type=order_type, product=product, tag=tag, price=price,
        )

    async def _fail(self, kind: FaultKind, bucket: ErrorBucket, request: dict[str, Any]) -> str:
        tag = request["tag"]
        if kind == "lost_answer":
            self.counts.lost_answer += 1
            started = self._clock.monotonic()
            await self._inner.place_order(**request)  # accepted (and maybe filled) ...
            await self._clock.sleep(max(0.0, self.timeout_s - (self._clock.monotonic() - started)))
            raise BrokerTimeout(f"injected: no answer to order {tag} within {self.timeout_s:g}s")  # ... unheard
        if kind == "timeout":
            self.counts.timeout += 1
            await self._clock.sleep(self.timeout_s)
            raise BrokerTimeout(f"injected: request for order {tag} timed out after {self.timeout_s:g}s")
        if kind == "throttle":
            self.counts.throttle += 1
            raise BrokerThrottled("injected: Too many requests", status=429)
        self.counts.reject += 1
        raise _rejection(bucket)

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

    def _lookup_fault(self, symbol: str | None = None) -> None:
        """Raise `BrokerNetworkError` if a lookup rule or the standing `lookup_failure` rate fires."""
        if self._ruled(symbol, ("lookup_failure",)) is not None or (
            self.rates.lookup_failure and self._draws.uniform() < self.rates.lookup_failure
        ):
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
