"""What the stack does with each translated broker error: look the tag up or not, wait, resend or stop, and the
failure kind the parent ends with. A scripted broker in front of the paper exchange raises the errors."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest

from imperium_desk.broker.errors import (
    BrokerOrderRejected,
    BrokerSessionExpired,
    BrokerThrottled,
    BrokerTimeout,
    BrokerUnreachable,
)
from imperium_desk.broker.port import Broker, OrderListener
from imperium_desk.domain.enums import ErrorBucket, OrderType, ParentStatus, Product, Side
from imperium_desk.domain.orders import BrokerOrder, Margins, Position
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.rng import RandomStreams
from tests.support import Harness, harness


class ScriptedBroker:
    """The harness's broker, raising scripted errors on the next sends (and cancels); counts sends and lookups."""

    def __init__(self, h: Harness, send_errors: list[Exception], cancel_error: Exception | None = None) -> None:
        self._inner: Broker = h.engine.broker
        self._clock = h.clock
        self._send_errors = deque(send_errors)
        self._cancel_error = cancel_error
        self.sent_at: list[float] = []
        self.lookups = 0

    async def place_order(
        self, *, symbol: str, side: Side, quantity: int, order_type: OrderType, product: Product, tag: str,
        price: float | None = None,
    ) -> str:
        self.sent_at.append(self._clock.monotonic())
        if self._send_errors:
            raise self._send_errors.popleft()
        return await self._inner.place_order(
            symbol=symbol, side=side, quantity=quantity, order_type=order_type, product=product, tag=tag, price=price
        )

    async def modify_order(
        self, order_id: str, *, quantity: int | None = None, price: float | None = None,
        order_type: OrderType | None = None,
    ) -> str:
        return await self._inner.modify_order(order_id, quantity=quantity, price=price, order_type=order_type)

    async def cancel_order(self, order_id: str) -> str:
        if self._cancel_error is not None:
            raise self._cancel_error
        return await self._inner.cancel_order(order_id)

    async def orders(self) -> list[BrokerOrder]:
        return await self._inner.orders()

    async def order(self, order_id: str) -> BrokerOrder:
        return await self._inner.order(order_id)

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        self.lookups += 1
        return await self._inner.orders_by_tag(tag)

    async def positions(self) -> list[Position]:
        return await self._inner.positions()

    async def margins(self) -> Margins:
        return await self._inner.margins()

    def add_listener(self, listener: OrderListener) -> None:
        self._inner.add_listener(listener)


def _stack(h: Harness, broker: Broker) -> ExecutionStack:
    engine = h.engine
    execution = engine.config.execution
    streams = RandomStreams(11)
    return ExecutionStack(
        clock=h.clock,
        broker=broker,
        market=engine.feed,
        catalog=engine.catalog,
        planner=ExecutionAlgoPlanner(streams.stream("planner"), execution.vwap_profile),
        router=SmartOrderRouter(execution.router),
        cost_model=SlippageModel(engine.feed, execution.impact_coefficient),
        retry=RetryPolicy(execution.retry, streams.buffered("retry")),
        limiter=OrderRateLimiter(h.clock, None),
        risk=RiskGate(engine.config.risk),
        tracker=engine.tracker,
        config=execution,
        id_prefix="T",
    )


def _execute(h: Harness, broker: ScriptedBroker, **request: Any) -> ParentResult:
    stack = _stack(h, broker)
    contract = h.atm()

    async def main() -> ParentResult:
        h.engine.market.start()
        try:
            return await stack.execute(
                ExecutionRequest(symbol=contract.symbol, side=Side.BUY, quantity=contract.lot_size, **request)
            )
        finally:
            h.engine.market.stop()

    return h.clock.run(main())


def test_unreachable_broker_is_resent_without_a_lookup() -> None:
    h = harness()
    broker = ScriptedBroker(h, [BrokerUnreachable("connection refused")])
    result = _execute(h, broker)
    assert result.status is ParentStatus.COMPLETE
    assert (len(broker.sent_at), broker.lookups) == (2, 0)
    assert [r["error_bucket"] for r in h.events("retry")] == ["transient"]


def test_timeout_is_looked_up_by_tag_before_the_resend() -> None:
    h = harness()
    broker = ScriptedBroker(h, [BrokerTimeout("no answer")])
    result = _execute(h, broker)
    assert result.status is ParentStatus.COMPLETE
    assert (len(broker.sent_at), broker.lookups) == (2, 1)


def test_session_expired_is_never_retried() -> None:
    h = harness()
    broker = ScriptedBroker(h, [BrokerSessionExpired("token expired")] * 5)
    result = _execute(h, broker)
    assert (result.status, result.failure) == (ParentStatus.FAILED, FailureKind.REJECTED)
    assert (len(broker.sent_at), broker.lookups) == (1, 0)
    assert [r["error_bucket"] for r in h.events("error")] == [ErrorBucket.FATAL.value]
    assert h.events("retry") == []


def test_throttle_waits_at_least_retry_after() -> None:
    h = harness()
    broker = ScriptedBroker(h, [BrokerThrottled("Too many requests", retry_after_s=3.0)])
    result = _execute(h, broker)
    assert result.status is ParentStatus.COMPLETE
    first, second = broker.sent_at
    assert second - first >= 3.0
    (retry,) = h.events("retry")
    assert retry["extra_metrics"]["backoff_ms"] == 3000.0
    assert broker.lookups == 0


def test_throttle_gives_up_at_its_own_attempt_limit() -> None:
    h = harness({"execution": {"retry": {"max_attempts": 5, "throttle": {"max_attempts": 2}}}})
    broker = ScriptedBroker(h, [BrokerThrottled("Too many requests")] * 5)
    result = _execute(h, broker)
    assert (result.status, result.failure) == (ParentStatus.FAILED, FailureKind.GAVE_UP)
    assert [r["attempt"] for r in h.events("error")] == [1, 2]


def test_transient_errors_keep_the_shared_attempt_limit_when_only_throttle_is_overridden() -> None:
    h = harness({"execution": {"retry": {"max_attempts": 4, "throttle": {"max_attempts": 2}}}})
    broker = ScriptedBroker(h, [BrokerUnreachable("connection refused")] * 5)
    result = _execute(h, broker)
    assert result.failure is FailureKind.GAVE_UP
    assert [r["attempt"] for r in h.events("error")] == [1, 2, 3, 4]


def test_a_failed_cancel_at_the_deadline_fails_the_parent() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.01}}}})
    broker = ScriptedBroker(h, [], cancel_error=BrokerOrderRejected("cannot be cancelled"))
    result = _execute(h, broker, order_type=OrderType.LIMIT, limit_price=0.05, horizon_s=5)
    assert (result.status, result.failure) == (ParentStatus.FAILED, FailureKind.CANCEL_FAILED)


@pytest.mark.parametrize(
    "error", [BrokerUnreachable("refused"), BrokerThrottled("slow down"), BrokerSessionExpired("log in")],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_prove_nothing_was_placed_never_trigger_a_lookup(error: Exception) -> None:
    h = harness()
    broker = ScriptedBroker(h, [error])
    _execute(h, broker)
    assert broker.lookups == 0


def test_the_desk_stopping_ends_the_parent_cancelled_in_its_record() -> None:
    h = harness({"market": {"per_underlying": {"NIFTY": {"vol": 0.01}}}})
    stack = _stack(h, h.engine.broker)
    contract = h.atm()
    request = ExecutionRequest(symbol=contract.symbol, side=Side.BUY, quantity=contract.lot_size,
                               order_type=OrderType.LIMIT, limit_price=0.05, horizon_s=60)

    async def main() -> None:
        h.engine.market.start()
        task = asyncio.ensure_future(stack.execute(request))
        await h.clock.sleep(5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        h.engine.market.stop()

    h.clock.run(main())
    (parent,) = h.events("parent")
    assert parent["parent"]["status"] == ParentStatus.CANCELLED.value
