"""The execution stack: ticket -> risk gate -> router -> planner -> cost estimate -> broker -> retry -> telemetry.

One `ExecutionStack` serves every flow (ladder, multi-strike panel, replay, API). `execute()` is a coroutine
that never blocks the loop: children are scheduled on the clock, broker calls are awaited, telemetry goes to
a sink that writes on its own thread.

Idempotent retries: every child carries a unique tag that it keeps across retries. After an error whose outcome
is unknown (a timeout, a dropped connection, a 5xx: the broker may have accepted the order and lost the answer)
the stack looks the tag up at the broker before sending again; if the lookup itself cannot be completed the
child fails rather than risk a duplicate. Errors that prove nothing was placed (an unreachable broker, a
throttle) are resent after the backoff without a lookup; every other error ends the child.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Hashable
from datetime import UTC, datetime
from enum import Enum
from typing import NamedTuple

from imperium_desk.broker.port import Broker
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import Algo, ErrorBucket, OrderStatus, OrderType, Route, Side, Urgency
from imperium_desk.domain.instruments import IST, InstrumentCatalog, OptionContract
from imperium_desk.domain.orders import OrderUpdate
from imperium_desk.execution.config import ExecutionConfig
from imperium_desk.execution.context import ChildContext, Failure, ParentContext
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner, PlannedChild, PlanRequest
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.request import (
    ExecutionRequest,
    FailureKind,
    InvalidOrder,
    ParentResult,
    PreTradeEstimate,
)
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import RouteDecision, SmartOrderRouter
from imperium_desk.execution.tracker import FillQualityTracker
from imperium_desk.execution.validation import validate_request
from imperium_desk.market.port import MarketData, Quote

_SESSION_OPEN_S = 9 * 3600 + 15 * 60  # 09:15 IST
INTERRUPT_CANCEL_S = 5.0  # how long an interrupted child waits for the broker to take its cancel
log = logging.getLogger(__name__)


class Reconciled(Enum):
    """What looking a child's tag up at the broker found, after a send whose outcome is unknown."""

    FOUND = "found"  # the broker has the order: it is the child's order now, never to be sent again
    ABSENT = "absent"  # the broker surely has no order with the tag: safe to send again
    UNKNOWN = "unknown"  # the broker could not be asked: sending again could duplicate the order


class ExecutionStack:
    """Executes parent orders: validate, risk-check, plan children, route, send (tagged), retry, track.

    Contract: every method runs on the event loop's thread, and nothing here blocks it: `execute` is a coroutine
    that waits on the Clock and the broker only. `execute` answers a `ParentResult` for every parent it accepts
    (`InvalidOrder` for one it cannot read) and records exactly one `parent` telemetry record for it, also when
    the coroutine is cancelled. A child keeps one tag across its attempts and is never sent again while the
    broker may hold an order for it, so a tag maps to at most one broker order (`duplicate_orders` lists any tag
    that did not: it must stay empty). The stack listens to the broker's order updates from construction on.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        broker: Broker,
        market: MarketData,
        catalog: InstrumentCatalog,
        planner: ExecutionAlgoPlanner,
        router: SmartOrderRouter,
        cost_model: SlippageModel,
        retry: RetryPolicy,
        limiter: OrderRateLimiter,
        risk: RiskGate,
        tracker: FillQualityTracker,
        config: ExecutionConfig,
        id_prefix: str = "",
    ) -> None:
        self._clock = clock
        self._broker = broker
        self._market = market
        self._catalog = catalog
        self._planner = planner
        self._router = router
        self._cost = cost_model
        self._retry = retry
        self._limiter = limiter
        self.risk = risk
        self.tracker = tracker
        self.config = config
        self._id_prefix = id_prefix
        self._parent_seq = 0
        self._children: dict[str, ChildContext] = {}
        # Per symbol, the latest quote children were priced against and the answers per question (`_priced`).
        self._pricing: dict[str, tuple[Quote, dict[tuple[Hashable, ...], _Priced]]] = {}
        self._offset_second: int | None = None  # the clock second `_offset_s` (its session offset) is for
        self._offset_s = 0.0
        self.parents_in_flight = 0
        self.duplicate_orders: list[str] = []  # tags that ever mapped to two broker orders (must stay empty)
        broker.add_listener(self._on_update)

    @property
    def children_in_flight(self) -> int:
        return len(self._children)

    # -- validation ------------------------------------------------------------------------------------------
    def validate(self, request: ExecutionRequest) -> OptionContract:
        """The request's contract; `InvalidOrder` naming the field if it cannot be executed as written, or not yet:
        a live feed quotes a contract without a price until its first tick, and an order priced from an empty side
        of the book would have nothing to measure its fills against."""
        return self._validated(request)[0]

    def _validated(self, request: ExecutionRequest) -> tuple[OptionContract, Quote]:
        """`validate`, with the contract's quote it checked."""
        contract = validate_request(self._catalog, request, self._clock.now())
        quote = self._market.subscribe(contract)
        touch = quote.ask if request.side is Side.BUY else quote.bid
        if touch <= 0:
            side = "ask" if request.side is Side.BUY else "bid"
            raise InvalidOrder(f"quote: {contract.symbol} has no {side} to trade against (no tick yet, or an empty "
                               "side of the book): try again when it is quoted")
        return contract, quote

    def preview(self, request: ExecutionRequest) -> PreTradeEstimate:
        """What the stack expects this order to cost if sent now: the first child's route and intended price,
        and half spread + square-root impact for the algo's typical child (the ticket shows it live)."""
        contract, quote = self._validated(request)
        decision = self._route(request, contract, quote, request.urgency or self.config.urgency)
        algo = request.algo or self.config.algo
        children = 1 if algo is Algo.IMMEDIATE else (request.max_child_orders or self.config.max_child_orders)
        lots = request.quantity // contract.lot_size
        child_qty = max(1, lots // max(1, children)) * contract.lot_size
        estimate = self._cost.estimate(contract.symbol, quote, min(child_qty, request.quantity), decision.route)
        arrival = _arrival_price(request, quote.mid)
        expected = arrival + estimate.total * request.side.sign
        return PreTradeEstimate(
            symbol=contract.symbol,
            route=decision.route,
            intended_price=decision.intended_price,
            arrival_price=arrival,
            expected_price=round(expected, 4),
            half_spread=round(estimate.half_spread, 6),
            impact=round(estimate.impact, 6),
            cost_bps=round(estimate.bps(arrival), 4),
            premium=round(expected * request.quantity, 2),
        )

    def reserve_parent_id(self) -> str:
        """A parent id for a request about to be executed (the desk shows the parent before it starts)."""
        self._parent_seq += 1
        return f"{self._id_prefix}P{self._parent_seq:06d}"

    # -- the parent ------------------------------------------------------------------------------------------
    async def execute(self, request: ExecutionRequest, parent_id: str | None = None) -> ParentResult:
        contract, quote = self._validated(request)
        config = self.config
        urgency = request.urgency or config.urgency
        side = request.side
        parent = ParentContext(
            parent_id=parent_id or self.reserve_parent_id(),
            request=request,
            contract=contract,
            algo=request.algo or config.algo,
            urgency=urgency,
            arrival_price=_arrival_price(request, quote.mid),
            started_at=self._clock.now(),
            start_volume=quote.volume,
            start_turnover=quote.turnover,
            sign=side.sign,
            queue_priority=urgency.queue_priority,
            pricing_key=(side, urgency, request.order_type, request.limit_price),
        )
        reason = self.risk.check(request, contract, request.limit_price or quote.ask)
        if reason is not None:
            self.tracker.reject(parent, None, reason, ErrorBucket.RISK)
            parent.failure = Failure(FailureKind.RISK_REFUSED, reason)
            return self._finish(parent)
        plan_request = PlanRequest(
            algo=parent.algo,
            quantity=request.quantity,
            lot_size=contract.lot_size,
            max_child_qty=contract.max_order_qty,
            max_child_orders=request.max_child_orders or config.max_child_orders,
            horizon_s=request.horizon_s or config.horizon_s,
            urgency=parent.urgency,
            randomize=config.randomize_slices if request.randomize_slices is None else request.randomize_slices,
            participation_rate=request.participation_rate or config.participation_rate,
            session_offset_s=self._session_offset_s(),
            pov_interval_s=config.pov_interval_s,
        )
        self.parents_in_flight += 1
        try:
            if parent.algo is Algo.POV:
                await self._run_pov(parent, plan_request)
            else:
                await self._run_schedule(parent, plan_request, self._planner.plan(plan_request))
        except asyncio.CancelledError:
            # The desk is stopping (or the caller gave up): the parent's record still says how it ended; its children
            # still working at the broker were cancelled there (`_run_child`).
            if parent.failure is None:
                parent.failure = Failure(FailureKind.INTERRUPTED, "cancelled before the schedule ended")
            self._finish(parent)
            raise
        finally:
            self.parents_in_flight -= 1
        return self._finish(parent)

    def _finish(self, parent: ParentContext) -> ParentResult:
        """The parent's result, recorded once as its `parent` telemetry record."""
        result = parent.result()
        quote = self._market.quote(parent.contract.symbol)
        self.tracker.parent_done(parent, result, quote.mid, quote.volume, quote.turnover)
        return result

    def _session_offset_s(self) -> float:
        """Seconds since today's session open, to the whole second (VWAP reads it). Every parent of one clock second
        shares it, so it is worked out once per second: unless `now` is within a microsecond of the next second, where
        the datetime's rounding to microseconds could carry into it (then it is worked out afresh)."""
        now = self._clock.now()
        second = math.floor(now)
        if now - second >= 0.999999:
            return _session_offset_at(now)
        if second != self._offset_second:
            self._offset_second, self._offset_s = second, _session_offset_at(second)
        return self._offset_s

    async def _run_schedule(
        self, parent: ParentContext, plan_request: PlanRequest, plan: list[PlannedChild]
    ) -> None:
        parent.children = len(plan)
        clock = self._clock
        start = clock.monotonic()
        cap = parent.contract.max_order_qty
        last = len(plan) - 1
        end = plan_request.horizon_s + self.config.resting_grace_s  # the last child's deadline, from the start
        carry = 0
        for i, planned in enumerate(plan):
            wait = start + planned.offset_s - clock.monotonic()
            if wait > 0:
                await clock.sleep(wait)
            due = planned.qty + carry
            qty = min(due, cap)
            deadline = start + (end if i == last else plan[i + 1].offset_s)
            filled = await self._run_child(parent, i, qty, deadline)
            if parent.failure is not None:
                return
            carry = due - filled  # what was held back by the cap and what did not fill go with the next child
        if carry:
            parent.failure = self._expired(parent, carry) or Failure(
                FailureKind.UNFILLED, f"{carry} units unfilled when the schedule ended")

    async def _run_pov(self, parent: ParentContext, plan_request: PlanRequest) -> None:
        schedule = self._planner.pov(plan_request)
        start = self._clock.monotonic()
        start_volume = self._market.quote(parent.contract.symbol).volume
        carry = 0  # sized earlier but not filled (e.g. thin depth): sent again at the next check
        index = 0
        for offset in schedule.check_times():
            wait = start + offset - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            planned = schedule.next_child(self._market.quote(parent.contract.symbol).volume - start_volume)
            due = (planned.qty if planned is not None else 0) + carry
            if due == 0:
                continue
            qty = min(due, parent.contract.max_order_qty)
            parent.children = index + 1
            filled = await self._run_child(parent, index, qty, start + offset + plan_request.pov_interval_s)
            index += 1
            if parent.failure is not None:
                return
            carry = due - filled
            if schedule.done and carry == 0:
                break
        unfilled = plan_request.quantity - parent.filled_qty
        if unfilled:
            parent.failure = self._expired(parent, unfilled) or Failure(
                FailureKind.UNFILLED, f"{unfilled} units unfilled when the horizon ended (POV)")

    # -- one child ---------------------------------------------------------------------------------------------
    def _expired(self, parent: ParentContext, units: int) -> Failure | None:
        """An EXPIRED failure if the parent's contract has expired (`units` still to trade), else None."""
        expiry = parent.contract.expiry_at
        if self._clock.now() < expiry.timestamp():
            return None
        return Failure(FailureKind.EXPIRED, f"{parent.contract.symbol} expired at "
                                            f"{expiry.astimezone(IST):%Y-%m-%d %H:%M} IST with {units} units unfilled")

    async def _run_child(self, parent: ParentContext, index: int, qty: int, deadline: float) -> int:
        expired = self._expired(parent, parent.request.quantity - parent.filled_qty)
        if expired is not None:  # nothing more can be sent on it
            parent.failure = expired
            return 0
        priced = self._priced(parent, self._market.quote(parent.contract.symbol), qty)
        tag = f"{parent.parent_id}C{index}"
        route = priced.route
        child = ChildContext(
            parent, index, tag, qty, route, priced.order_type, priced.limit_price, priced.intended_price,
            self.tracker.child_template(parent, tag, index, route),
        )
        self._children[tag] = child
        if parent.first_sent_mid is None:
            parent.first_sent_mid = priced.mid
        arrival = parent.arrival_price
        cost_bps = priced.cost_bps.get(arrival)
        if cost_bps is None:  # parents that started on one quote share their arrival price
            # As `round(CostEstimate.bps(arrival), 4)` works it out, so the record's figure is the same to the bit.
            cost_bps = priced.cost_bps[arrival] = round(
                priced.expected_slippage / arrival * 10_000.0 if arrival > 0 else 0.0, 4
            )
        self.tracker.placed(
            child,
            priced.expected_slippage_6,
            priced.impact_6,
            {"expected_cost_bps": cost_bps, "spread": priced.spread, "mid": priced.mid},
        )
        try:
            if await self._send(child) and not child.terminal:
                await self._await_end(child, deadline)
        except asyncio.CancelledError:
            # The parent was cancelled (the desk stops, a drill stops): what this child left working at the broker is
            # cancelled there, not left behind (live, it would go on working after the desk is gone).
            await self._cancel_left_behind(child)
            raise
        finally:
            if child.terminal or child.order_id is None:
                self._children.pop(tag, None)
        if child.failure is not None and parent.failure is None:
            parent.failure = child.failure
        return child.filled_qty

    def _priced(self, parent: ParentContext, quote: Quote, qty: int) -> _Priced:
        """The route and pre-trade cost of a child of `qty` sent now. Both are pure functions of the quote and the
        request, so they are worked out once per quote (a tick) for every child that asks the same question: in a
        busy replay dozens of children of different parents go out against one quote."""
        contract = parent.contract
        symbol = contract.symbol
        cached = self._pricing.get(symbol)
        if cached is None or cached[0] is not quote:
            cached = self._pricing[symbol] = (quote, {})
        key = (parent.pricing_key, qty)
        priced = cached[1].get(key)
        if priced is None:
            decision = self._route(parent.request, contract, quote, parent.urgency)
            estimate = self._cost.estimate(symbol, quote, qty, decision.route)
            total = estimate.total
            priced = cached[1][key] = _Priced(
                decision.route, decision.order_type, decision.price, decision.intended_price, total,
                round(total, 6), round(estimate.impact, 6), round(quote.spread, 4), round(quote.mid, 6), {},
            )
        return priced

    def _route(
        self, request: ExecutionRequest, contract: OptionContract, quote: Quote, urgency: Urgency
    ) -> RouteDecision:
        return self._router.route(
            side=request.side,
            quote=quote,
            urgency=urgency,
            order_type=request.order_type,
            limit_price=request.limit_price,
            tick=contract.tick_size,
        )

    async def _send(self, child: ChildContext) -> bool:
        """Send the child until the broker has it (True) or the child has failed (False): classify each error,
        look the tag up after an unknown outcome, back off and resend with the same tag.

        Each attempt waits for the rate limiter (by urgency), then sends with the child's tag (the same on every
        attempt); its latency is measured from the send."""
        parent = child.parent
        request = parent.request
        limiter = self._limiter
        child.attempt = 1
        while True:
            wait = limiter.acquire(parent.queue_priority) if limiter.limited else None
            if wait is not None:
                await wait
            child.sent_at = self._clock.monotonic()
            try:
                order_id = await self._broker.place_order(
                    symbol=parent.contract.symbol,
                    side=request.side,
                    quantity=child.qty,
                    order_type=child.order_type,
                    product=request.product,
                    tag=child.tag,
                    price=child.limit_price,
                )
            except Exception as exc:
                error = exc
            else:
                if child.order_id != order_id:  # usually its update came first and adopted it already
                    self._adopt(child, order_id)
                self._record_ack(child)
                return True
            bucket = self._retry.classify(error)
            self.tracker.error(child, bucket, f"{type(error).__name__}: {error}", child.attempt)
            if self._retry.outcome_unknown(error):
                reconciled = await self._reconcile(child)
                if reconciled is Reconciled.FOUND:
                    return True
                if reconciled is Reconciled.UNKNOWN:
                    message = f"transient: outcome of order {child.tag} unknown ({error})"
                    child.failure = Failure(FailureKind.UNKNOWN_OUTCOME, message)
                    return False
            if not self._retry.retryable(bucket):
                child.failure = Failure(FailureKind.REJECTED, f"{bucket.value}: {error}")
                return False
            if child.attempt >= self._retry.max_attempts(bucket):
                message = f"{bucket.value}: gave up after {child.attempt} attempts ({error})"
                child.failure = Failure(FailureKind.GAVE_UP, message)
                return False
            delay = self._retry.delay_s(error, bucket, child.attempt)
            self.tracker.retry(child, child.attempt, delay, bucket)
            await self._clock.sleep(delay)
            child.attempt += 1

    def _record_ack(self, child: ChildContext) -> None:
        """The first word from the broker about this attempt (the answer or an order update, whichever comes
        first) is its acknowledgement; latency is measured from the attempt's send."""
        if not child.acked:
            self.tracker.ack(child, round((self._clock.monotonic() - child.sent_at) * 1000.0, 3))

    async def _reconcile(self, child: ChildContext) -> Reconciled:
        """After an unknown outcome: does the broker have an order with the child's tag? A found order is
        adopted (and its end applied if it has ended)."""
        if child.order_id is not None:  # an order update for the tag already told us
            return Reconciled.FOUND
        for attempt in range(1, self._retry.config.lookup_attempts + 1):
            try:
                found = await self._broker.orders_by_tag(child.tag)
            except Exception as exc:
                if self._retry.classify(exc) is not ErrorBucket.TRANSIENT:
                    return Reconciled.UNKNOWN
                await self._clock.sleep(self._retry.backoff_s(ErrorBucket.TRANSIENT, attempt))
                continue
            if not found:
                return Reconciled.ABSENT
            order = found[0]
            if child.order_id is None:
                self._adopt(child, order.order_id)
            if not child.acked:
                self.tracker.ack(child, None, {"reconciled": True})
            if order.status.terminal and not child.terminal:
                self._apply_status(child, order.status, order.status_message, order.quantity - order.filled_quantity)
            return Reconciled.FOUND
        return Reconciled.UNKNOWN

    def _adopt(self, child: ChildContext, order_id: str) -> bool:
        """Make `order_id` the child's order. False if the child already has another one: a second broker order
        for one tag, recorded in `duplicate_orders`."""
        if child.order_id is None:
            child.order_id = order_id
            child.parent.child_order_ids.append(order_id)
        elif child.order_id != order_id:
            self.duplicate_orders.append(child.tag)
            return False
        return True

    async def _await_end(self, child: ChildContext, deadline: float) -> None:
        """Until the child's order ends; at the deadline, cancel what is still working and wait for the end."""
        waiter = child.waiter = self._clock.create_future()
        remaining = deadline - self._clock.monotonic()
        timer = self._clock.call_later(max(0.0, remaining), _resolve, waiter)
        await waiter
        timer.cancel()
        if child.terminal or child.order_id is None:
            return
        # Deadline passed with the order still working: cancel what is left and wait for the broker to say so.
        waiter = child.waiter = self._clock.create_future()
        try:
            await self._broker.cancel_order(child.order_id)
        except Exception as exc:
            if not child.terminal:  # it may have filled while the cancel travelled
                bucket = self._retry.classify(exc)
                self.tracker.error(child, bucket, f"cancel failed: {type(exc).__name__}: {exc}", child.attempt)
                message = f"{bucket.value}: cancel of {child.order_id} failed ({exc})"
                child.failure = Failure(FailureKind.CANCEL_FAILED, message)
                return
        if not child.terminal:
            await waiter

    async def _cancel_left_behind(self, child: ChildContext) -> None:
        """Cancel at the broker what an interrupted child may have left working: its order, or (its placement's
        answer not in yet) whatever the broker holds under its tag. Bounded, and never raises: the interruption
        goes on whatever the broker says."""
        if child.terminal:
            return
        try:
            if child.order_id is not None:
                order_ids = [child.order_id]
            else:
                found = await asyncio.wait_for(self._broker.orders_by_tag(child.tag), INTERRUPT_CANCEL_S)
                order_ids = [o.order_id for o in found if not o.status.terminal]
            for order_id in order_ids:
                await asyncio.wait_for(self._broker.cancel_order(order_id), INTERRUPT_CANCEL_S)
        except (Exception, TimeoutError) as exc:
            log.warning("cancel of interrupted child %s at the broker failed: %s", child.tag, type(exc).__name__)

    # -- broker updates --------------------------------------------------------------------------------------
    def _on_update(self, update: OrderUpdate) -> None:
        order = update.order
        child = self._children.get(order.tag)
        if child is None:
            return
        if child.order_id != order.order_id and not self._adopt(child, order.order_id):
            return
        # The order update (Kite: postback) can reach us before, or instead of, the placing call's answer.
        self._record_ack(child)
        fills = update.new_fills
        if fills:
            parent = child.parent
            tracker = self.tracker
            last = len(fills) - 1
            complete = order.status is OrderStatus.COMPLETE
            for i, fill in enumerate(fills):
                qty, value = fill.qty, fill.qty * fill.price
                child.filled_qty += qty
                child.notional += value
                parent.filled_qty += qty
                parent.notional += value
                tracker.fill(child, fill, complete and i == last, None)
        if order.status.terminal and not child.terminal:
            self._apply_status(child, order.status, order.status_message, order.quantity - order.filled_quantity)

    def _apply_status(self, child: ChildContext, status: OrderStatus, message: str, unfilled: int) -> None:
        child.terminal = True
        if status is OrderStatus.CANCELLED:
            self.tracker.cancel(child, unfilled, message)
        elif status is OrderStatus.REJECTED:
            bucket = self._retry.classify(_BrokerMessage(message))
            self.tracker.reject(child.parent, child, message, bucket)
            child.failure = Failure(FailureKind.REJECTED, f"{bucket.value}: order {child.order_id} rejected: {message}")
        self._children.pop(child.tag, None)
        _resolve(child.waiter)


def _session_offset_at(epoch_s: float) -> float:
    local = datetime.fromtimestamp(epoch_s, UTC).astimezone(IST)
    return float(local.hour * 3600 + local.minute * 60 + local.second - _SESSION_OPEN_S)


def _arrival_price(request: ExecutionRequest, market_mid: float) -> float:
    """The price the trader decided at: the mid of the book the ticket showed, else its LTP, else the market's
    mid now. Implementation shortfall is measured from it."""
    if request.bid is not None and request.ask is not None:
        return round((request.bid + request.ask) / 2.0, 4)
    if request.ltp is not None:
        return request.ltp
    return market_mid


class _Priced(NamedTuple):
    """A child's route and pre-trade cost against one quote (`ExecutionStack._priced`): what the router decided,
    the cost estimate's total, and the `placed` record's figures as it rounds them (`cost_bps` by arrival price,
    filled in as parents ask)."""

    route: Route
    order_type: OrderType
    limit_price: float | None
    intended_price: float
    expected_slippage: float  # the estimate's total (half spread + impact), per unit
    expected_slippage_6: float  # ... rounded to 6 places
    impact_6: float
    spread: float
    mid: float
    cost_bps: dict[float, float]


class _BrokerMessage(Exception):
    """A rejection that arrived as an order status (not an exception): classified by its text."""


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)

