"""The running desk's orders: tickets and multi-strike actions started on the stack, exits that never meet the risk
gate, the kill switch, and the parents in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date

from pydantic import ValidationError

from imperium_desk.desk.engine import Engine
from imperium_desk.desk.events import DeskEvent, LegPreview, ParentFinished, ParentStarted, Submitted
from imperium_desk.domain.enums import Algo, OptionRight, OrderType, ParentStatus, Product, Side
from imperium_desk.domain.instruments import InstrumentError
from imperium_desk.domain.orders import Position
from imperium_desk.domain.protection import ExitReason
from imperium_desk.domain.validation import field_errors
from imperium_desk.execution.exits import cancelled_because, exit_requests
from imperium_desk.execution.request import (
    ExecutionRequest,
    FailureKind,
    InvalidOrder,
    ParentResult,
    PreTradeEstimate,
    RequestMetadata,
)


class DeskOrders:
    """Parents the desk runs on its engine's stack. Called on the loop.

    `refusal()` is asked before any new parent (a stopping desk or an expired broker session refuses with its
    reason); `changed()` is called whenever the work in flight changes (the desk re-emits its state and refreshes
    the portfolio). Exits (`metadata.is_exit`) are never refused by the risk gate or the kill switch; a symbol with
    an exit travelling is skipped by the next EXIT, so pressing it twice never flips a position. Entries with a
    `protection` are told to the engine's protection manager before they start; EXIT and EXIT ALL cancel the
    protections of the positions they close; the manager's exits come back through `send_exit`.
    """

    def __init__(self, engine: Engine, *, loop: asyncio.AbstractEventLoop, emit: Callable[[DeskEvent], None],
                 refusal: Callable[[], str | None], changed: Callable[[], None]) -> None:
        self._engine = engine
        self._loop = loop
        self._emit = emit
        self._refusal = refusal
        self._changed = changed
        self.tasks: dict[str, Submitted] = {}  # parents running now
        # Exits in flight: parent id -> (symbol, product). The broker's position may already include the fill whose
        # answer has not arrived, so counting is unsafe while one travels.
        self._exits: dict[str, tuple[str, Product | None]] = {}
        self._group_seq = 0

    def preview(self, request: ExecutionRequest) -> PreTradeEstimate:
        """Pre-trade estimate for a ticket; raises InvalidOrder naming the field."""
        return self._engine.stack.preview(request)

    def submit(self, request: ExecutionRequest) -> Submitted:
        """Validate (InvalidOrder names the field) and start the parent on the stack."""
        refusal = self._refusal()
        if refusal is not None:
            raise InvalidOrder(refusal)
        stack = self._engine.stack
        contract = stack.validate(request)
        parent_id = stack.reserve_parent_id()
        # Told before the parent starts: its first fill may come before anything else is heard of it.
        self._engine.protections.watch_entry(parent_id, request, contract)
        task = self._loop.create_task(stack.execute(request, parent_id), name=f"parent-{parent_id}")
        submitted = Submitted(parent_id, request, task)
        self.tasks[parent_id] = submitted
        if request.metadata.is_exit:
            self._exits[parent_id] = (request.symbol, request.product)
        task.add_done_callback(lambda t: self._finished(submitted, t))
        self._emit(ParentStarted(parent_id, request))
        self._changed()
        return submitted

    def send_exit(self, request: ExecutionRequest) -> str | None:
        """A protective exit the manager sends (`ProtectionManager.attach`): started like any parent, its id; an
        InvalidOrder (the desk stopping, the session expired) goes back to the manager, which marks it FAILED."""
        return self.submit(request).parent_id

    def submit_many(self, requests: Sequence[ExecutionRequest]) -> list[Submitted]:
        """Several parents as one action: all validated before any is sent, so one bad leg sends nothing."""
        for request in requests:
            self._engine.stack.validate(request)
        return [self.submit(r) for r in requests]

    def submit_for_drill(self, request: ExecutionRequest) -> tuple[str, asyncio.Task[ParentResult]]:
        submitted = self.submit(request)
        return submitted.parent_id, submitted.task

    def new_group(self, prefix: str) -> str:
        self._group_seq += 1
        return f"{prefix}-{self._group_seq:04d}"

    def multi_strike_legs(
        self, *, underlying: str, expiry: date, right: OptionRight, strikes_below: int, strikes_above: int,
        lots: int, side: Side, order_type: OrderType, algo: Algo | None, group: str | None, limit_offset_ticks: int,
    ) -> list[LegPreview]:
        """See `Desk.multi_strike_legs`: every leg's contract is subscribed, and priced from its own book."""
        if lots < 1:
            raise InvalidOrder(f"lots: {lots} must be at least 1")
        if strikes_below < 0 or strikes_above < 0:
            raise InvalidOrder(f"strikes: below {strikes_below} / above {strikes_above} must not be negative")
        catalog = self._engine.catalog
        try:
            lot = catalog.underlying(underlying).lot_size
            spot = self._engine.market.spot(underlying)
            legs: list[LegPreview] = []
            for k in range(-strikes_below, strikes_above + 1):
                strike = catalog.strike_offset(underlying, spot, k)
                if strike <= 0:
                    continue
                contract = catalog.contract(underlying, expiry, strike, right)
                self._engine.feed.subscribe(contract)
                quote = self._engine.feed.quote(contract.symbol)
                limit: float | None = None
                if order_type is OrderType.LIMIT:
                    touch = quote.ask if side is Side.BUY else quote.bid
                    limit = max(contract.tick_size,
                                round(touch + side.sign * limit_offset_ticks * contract.tick_size, 2))
                request = ExecutionRequest(
                    symbol=contract.symbol, side=side, quantity=lots * lot, order_type=order_type, algo=algo,
                    limit_price=limit, ltp=quote.ltp, bid=quote.bid, ask=quote.ask,
                    metadata=RequestMetadata(source="multi_strike", group=group),
                )
                legs.append(LegPreview(contract, request, self.preview(request)))
        except InstrumentError as exc:
            raise InvalidOrder(f"instrument: {exc}") from None
        except ValidationError as exc:
            raise InvalidOrder(field_errors(exc)[0]) from None
        return legs

    async def exit_positions(self, *, right: OptionRight | None, underlying: str | None,
                             source: str, exit_reason: ExitReason | None = None) -> list[Submitted]:
        """Close every open position (of one option type / underlying, or all) with MARKET exits. Refused
        (InvalidOrder) while the desk stops or its broker session is expired: the broker could not be asked.
        `exit_reason`: set when the desk exits by itself (the day's loss limit), None for the trader's EXIT."""
        refusal = self._refusal()
        if refusal is not None:
            raise InvalidOrder(refusal)
        catalog = self._engine.catalog

        def wanted(position: Position) -> bool:
            contract = catalog.resolve(position.symbol)
            return ((right is None or contract.right is right)
                    and (underlying is None or contract.underlying == underlying)
                    and (position.symbol, position.product) not in self._exits.values())  # an exit already travels

        positions = [p for p in await self._engine.broker.positions() if wanted(p)]
        requests = exit_requests(positions, catalog, self._engine.feed, source=source, group=self.new_group("EXIT"),
                                 exit_reason=exit_reason)
        submitted = self.submit_many(requests)
        # The exit replaces what the protections would have done.
        for request in requests:
            self._engine.protections.cancel_position(request.symbol, request.product, cancelled_because(exit_reason))
        return submitted

    @property
    def kill_switch(self) -> bool:
        return self._engine.stack.risk.config.kill_switch

    def set_kill_switch(self, on: bool) -> None:
        risk = self._engine.stack.risk
        risk.update(risk.config.model_copy(update={"kill_switch": on}))
        self._changed()

    async def cancel(self, parent_ids: set[str] | None = None) -> None:
        """Cancel the given parents (None: all) and wait until each has ended."""
        tasks = [s.task for pid, s in list(self.tasks.items()) if parent_ids is None or pid in parent_ids]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _finished(self, submitted: Submitted, task: asyncio.Task[ParentResult]) -> None:
        self.tasks.pop(submitted.parent_id, None)
        self._exits.pop(submitted.parent_id, None)
        request = submitted.request
        if task.cancelled():
            result = ParentResult(submitted.parent_id, request.symbol, request.side, request.quantity,
                                  ParentStatus.CANCELLED, reason="desk stopped", failure=FailureKind.INTERRUPTED)
        elif task.exception() is not None:
            exc = task.exception()
            result = ParentResult(submitted.parent_id, request.symbol, request.side, request.quantity,
                                  ParentStatus.FAILED, reason=f"{type(exc).__name__}: {exc}",
                                  failure=FailureKind.UNKNOWN_OUTCOME)
        else:
            result = task.result()
        self._emit(ParentFinished(result))
        self._changed()
