"""Places a scenario's orders on the clock through the execution stack and counts how the parents ended."""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imperium_desk.clock import Clock
from imperium_desk.domain.enums import ParentStatus
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.execution.protection import ProtectionManager
from imperium_desk.execution.request import (
    ContractExpired,
    ExecutionRequest,
    FailureKind,
    InvalidOrder,
    ParentResult,
    RequestMetadata,
)
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.validation import check_not_expired
from imperium_desk.market.port import MarketData
from imperium_desk.scenarios.spec import InstrumentRef, OrderSpec, RandomEvent, ScenarioSpec
from imperium_desk.scenarios.timeline import TimedEvent

ProgressCallback = Callable[[float], None]
EventHandler = Callable[[TimedEvent], object]
Execute = Callable[[ExecutionRequest], Awaitable[ParentResult]]
ResultListener = Callable[[ParentResult], None]


@dataclass(frozen=True, slots=True)
class ScheduledOrder:
    """One placement of an order entry (a repeated rule yields one per time): `schedule` makes them, by time then file
    order, and the runner places each `at_s` seconds after its run starts."""

    at_s: float
    index: int  # position in the file's `orders`, for error messages
    order: OrderSpec


def schedule(spec: ScenarioSpec) -> Iterator[ScheduledOrder]:
    """Every order the scenario places, by time (file order among equal times), made as they are consumed: the
    entries' times merged, so a run of many parents holds one time per parent, not one object."""
    per_entry = [_timed(i, o.times(spec.duration_s)) for i, o in enumerate(spec.orders)]
    for at_s, index in heapq.merge(*per_entry):  # each entry's times ascend; ties go to the earlier entry
        yield ScheduledOrder(at_s, index, spec.orders[index])


def _timed(index: int, times: list[float]) -> Iterator[tuple[float, int]]:
    return ((t, index) for t in times)


@dataclass
class ParentTally:
    """How a run's parents ended, counted as each ends (no parent's result is kept): by status and, for those that
    stopped short, by failure kind."""

    parents: int = 0
    statuses: Counter[ParentStatus] = field(default_factory=Counter)
    failures: Counter[FailureKind] = field(default_factory=Counter)

    def add(self, result: ParentResult) -> None:
        self.parents += 1
        self.statuses[result.status] += 1
        if result.failure is not None:
            self.failures[result.failure] += 1

    def status_counts(self) -> dict[str, int]:
        """Every status, in enum order, with its count (zeros included)."""
        return {s.value: self.statuses.get(s, 0) for s in ParentStatus}

    def failure_counts(self) -> dict[str, int]:
        """Every failure kind, in enum order, with its count (zeros included)."""
        return {k.value: self.failures.get(k, 0) for k in FailureKind}


def check_instruments(spec: ScenarioSpec, catalog: InstrumentCatalog, simulated: list[str]) -> list[str]:
    """Problems with the orders' instruments that can be known before the run (symbol, underlying)."""
    errors = []
    for i, order in enumerate(spec.orders):
        if order.symbol is not None:
            try:
                contract = catalog.resolve(order.symbol)
            except InstrumentError as exc:
                errors.append(f"orders.{i}.symbol: {exc}")
                continue
            underlying = contract.underlying
            field = "symbol"
        else:
            assert order.instrument is not None
            underlying = order.instrument.underlying
            field = "instrument.underlying"
        if underlying not in simulated:
            errors.append(
                f"orders.{i}.{field}: {underlying} is not simulated (market.underlyings: {', '.join(simulated)})"
            )
    for i, event in enumerate(spec.events):
        if isinstance(event, RandomEvent):
            where, symbol, target_underlying = f"events.{i}.event", event.event.get("symbol"), \
                event.event.get("underlying")
        else:
            where, symbol, target_underlying = f"events.{i}", event.symbol, event.underlying
        if isinstance(symbol, str):
            try:
                target_underlying = catalog.resolve(symbol).underlying
            except InstrumentError as exc:
                errors.append(f"{where}.symbol: {exc}")
                continue
        if isinstance(target_underlying, str) and target_underlying not in simulated:
            errors.append(f"{where}.{'symbol' if isinstance(symbol, str) else 'underlying'}: {target_underlying} "
                          f"is not simulated (market.underlyings: {', '.join(simulated)})")
    return errors


class ScenarioRunner:
    """Plays one scenario's orders on the clock. `run` places each at its time without waiting for earlier parents,
    starts the timeline's events through `on_event`, and returns once `duration_s` has passed and every parent has
    ended, with a `ParentTally` of how they ended (`on_result` hears each result as its parent ends). Only the
    parents in flight are held, so memory does not grow with the number of orders.

    Instruments resolve when an order is placed, so `ATM` and `nearest` follow the market at that moment; an order
    that cannot be formed then becomes a REJECTED result (`FailureKind.INVALID`; `FailureKind.EXPIRED` for a
    contract past its expiry) rather than failing the run. Replays use it on the virtual clock, live drills on the
    wall clock (with the desk's submit as `execute`). It runs on the clock's loop; cancelling `run` cancels the
    parents already placed and starts no more events; a parent that raises fails the run (once every order is
    placed) and the parents still in flight are cancelled.
    """

    def __init__(
        self,
        spec: ScenarioSpec,
        *,
        clock: Clock,
        stack: ExecutionStack,
        market: MarketData,
        catalog: InstrumentCatalog,
        timeline: Sequence[TimedEvent] = (),
        on_event: EventHandler | None = None,
        execute: Execute | None = None,
        source: str = "replay",
        protections: ProtectionManager | None = None,
    ) -> None:
        """`execute` sends a parent (default: straight to the stack; the live desk passes its own submit, so a
        drill's orders show in the blotter like the trader's); `source` is the requests' metadata source."""
        self.spec = spec
        self.timeline = list(timeline)
        self._on_event = on_event
        self._clock = clock
        self._market = market
        self._catalog = catalog
        self._execute = execute if execute is not None else stack.execute
        self._stack = stack
        self._source = source
        # Entries are told to the manager here only when the runner sends to the stack itself.
        self._protections = protections if execute is None else None
        self._in_flight: set[asyncio.Future[ParentResult]] | None = None  # while `run` runs
        self._ended: Callable[[asyncio.Future[ParentResult]], None] | None = None
        # One validated request per (order entry, contract): everything in a request comes from the entry and the
        # contract, so a repeated entry's later parents on the same contract get the very request its first one
        # was built and validated as (frozen, never changed by the stack), not one pydantic validation each.
        self._requests: dict[tuple[int, str], ExecutionRequest] = {}

    def contract_for(self, order: OrderSpec) -> OptionContract:
        if order.symbol is not None:
            return self._catalog.resolve(order.symbol)
        ref = order.instrument
        assert ref is not None
        return self._resolve_ref(ref)

    def _resolve_ref(self, ref: InstrumentRef) -> OptionContract:
        if isinstance(ref.expiry, str):
            now = datetime.fromtimestamp(self._clock.now(), UTC)
            expiries = self._catalog.expiries(ref.underlying, now, 2)
            expiry = expiries[0] if ref.expiry == "nearest" else expiries[1]
        else:
            expiry = ref.expiry
        offset = ref.atm_offset
        if offset is None:
            strike = float(ref.strike)
        else:
            strike = self._catalog.strike_offset(ref.underlying, self._market.spot(ref.underlying), offset)
        return self._catalog.contract(ref.underlying, expiry, strike, ref.right)

    def request_for(self, order: OrderSpec) -> ExecutionRequest:
        """The order's request at this moment; `InvalidOrder` if it cannot be formed now (`ContractExpired` for a
        contract past its expiry)."""
        contract = self.contract_for(order)
        check_not_expired(contract, self._clock.now())
        return self._build_request(order, contract)

    def _request(self, order: OrderSpec, index: int) -> ExecutionRequest:
        """`request_for`, built and validated once per (entry, contract) (see `__init__`)."""
        contract = self.contract_for(order)
        check_not_expired(contract, self._clock.now())
        key = (index, contract.symbol)
        request = self._requests.get(key)
        if request is None:
            request = self._requests[key] = self._build_request(order, contract)
        return request

    def _build_request(self, order: OrderSpec, contract: OptionContract) -> ExecutionRequest:
        p = order.params
        return ExecutionRequest(
            symbol=contract.symbol,
            side=order.side,
            quantity=order.lots * contract.lot_size,
            order_type=order.order_type,
            limit_price=order.limit_price,
            algo=order.algo,
            urgency=order.urgency,
            max_child_orders=p.max_child_orders,
            participation_rate=p.participation_rate,
            randomize_slices=p.randomize_slices,
            horizon_s=p.horizon_s,
            protection=order.protection,
            metadata=RequestMetadata(source=self._source, group=self.spec.id),
        )

    async def _place(self, order: OrderSpec, index: int) -> ParentResult:
        try:
            request = self._request(order, index)
            if request.protection is not None and self._protections is not None:
                # The manager hears of the entry before it starts (its first fill may come before its answer).
                contract = self._stack.validate(request)
                parent_id = self._stack.reserve_parent_id()
                self._protections.watch_entry(parent_id, request, contract)
                return await self._stack.execute(request, parent_id)
            return await self._execute(request)
        except (InstrumentError, InvalidOrder) as exc:
            # The order could not be formed at its time (e.g. a strike that does not exist there, an expired contract).
            kind = FailureKind.EXPIRED if isinstance(exc, ContractExpired) else FailureKind.INVALID
            return ParentResult(
                parent_id="", symbol=order.symbol or "", side=order.side, quantity=0,
                status=ParentStatus.REJECTED, reason=f"orders.{index}: {exc}", failure=kind,
            )

    def send_exit(self, request: ExecutionRequest) -> str | None:
        """Start a protective exit on the stack as one of the run's parents (the run waits for it); its parent id,
        or None once the run has ended. `InvalidOrder` if it cannot be sent (checked before it starts, so every exit
        started writes its `parent` record)."""
        if self._in_flight is None or self._ended is None:
            return None
        self._stack.validate(request)
        parent_id = self._stack.reserve_parent_id()
        placed = asyncio.ensure_future(self._stack.execute(request, parent_id))
        self._in_flight.add(placed)
        placed.add_done_callback(self._ended)
        return parent_id

    async def run(
        self, progress: ProgressCallback | None = None, on_result: ResultListener | None = None
    ) -> ParentTally:
        start = self._clock.monotonic()
        duration = self.spec.duration_s
        timers = []
        if self._on_event is not None:
            for timed in self.timeline:  # timers keep timeline order among events at one instant
                timers.append(self._clock.call_later(timed.at_s, self._on_event, timed))
        tally = ParentTally()
        in_flight: set[asyncio.Future[ParentResult]] = set()
        # Resolved when the last parent in flight ends after the schedule is exhausted, or by the first that raises.
        settled: asyncio.Future[None] = self._clock.create_future()
        scheduled = False

        def ended(task: asyncio.Future[ParentResult]) -> None:
            in_flight.discard(task)
            if task.cancelled():
                return  # only when the run itself is stopped (below), which raises on its own
            error = task.exception()
            if error is not None:
                if not settled.done():
                    settled.set_exception(error)
                return
            result = task.result()
            tally.add(result)
            if on_result is not None:
                on_result(result)
            if scheduled and not in_flight and not settled.done():
                settled.set_result(None)

        self._in_flight, self._ended = in_flight, ended
        try:
            for item in schedule(self.spec):
                wait = start + item.at_s - self._clock.monotonic()
                if wait > 0:
                    await self._clock.sleep(wait)
                placed = asyncio.ensure_future(self._place(item.order, item.index))
                in_flight.add(placed)
                placed.add_done_callback(ended)
                if progress is not None:
                    progress(min(1.0, item.at_s / duration))
            rest = start + duration - self._clock.monotonic()
            if rest > 0:
                await self._clock.sleep(rest)
            scheduled = True
            if not in_flight and not settled.done():
                settled.set_result(None)
            await settled
            while in_flight:  # exits a protection sent after the last parent ended, before the run returned
                await asyncio.wait(list(in_flight))
        except BaseException:
            for task in list(in_flight):  # stopped early: the orders already placed stop with the run
                task.cancel()
            raise
        finally:
            self._in_flight = self._ended = None
            for timer in timers:  # a run stopped early starts no more events
                timer.cancel()
        if progress is not None:
            progress(1.0)
        return tally
