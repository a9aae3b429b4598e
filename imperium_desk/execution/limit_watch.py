"""The day's P&L limits acting on an engine with no desk around it (a replay): `LimitWatch` checks the P&L on the
clock and after fills, and on a crossing turns the kill switch on, exits every position through the stack and writes
the `risk_limit` record. The running desk does the same through its own EXIT ALL (`desk/day_limit.py`).
"""

from __future__ import annotations

import asyncio

from imperium_desk.broker.port import Broker
from imperium_desk.clock import Cancellable, Clock
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.domain.orders import Position
from imperium_desk.execution.daily_limit import DailyLimitGuard, LimitCrossing, positions_pnl
from imperium_desk.execution.exits import cancelled_because, exit_requests
from imperium_desk.execution.protection import ProtectionManager
from imperium_desk.execution.request import InvalidOrder, ParentResult
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.port import MarketData

CHECK_INTERVAL_S = 1.0  # as often as the desk refreshes its portfolio (desk.PORTFOLIO_REFRESH_S)
EXIT_SOURCE = "daily_limit"


class LimitWatch:
    """Feeds a `DailyLimitGuard` from an engine's broker positions and feed prices, every `CHECK_INTERVAL_S` of the
    clock and on the loop turn after each fill (as the desk refreshes its portfolio), and acts on a crossing: the
    risk gate's kill switch goes on (new entries are rejected from then on; exits still go), every open position
    gets a MARKET exit with the crossing's `exit_reason`, and the tracker writes one `risk_limit` record naming
    the exits' parent ids.

    Built only when a limit is configured, so a run without one schedules nothing and its telemetry is unchanged.
    Runs on the clock's loop; time comes from the clock port only, so a replay stays deterministic. `stop()` ends
    the checks; `drain()` waits for the exits it sent (a replay awaits them before it ends).
    """

    def __init__(self, guard: DailyLimitGuard, *, clock: Clock, broker: Broker, feed: MarketData,
                 catalog: InstrumentCatalog, stack: ExecutionStack, tracker: FillQualityTracker,
                 protections: ProtectionManager | None = None) -> None:
        self._guard = guard
        self._clock = clock
        self._broker = broker
        self._feed = feed
        self._catalog = catalog
        self._stack = stack
        self._tracker = tracker
        self._protections = protections  # an exit of the limit's replaces what they would have done
        self._timer: Cancellable | None = None
        self._pending = False
        self._stopped = False
        self._checks: set[asyncio.Future[None]] = set()
        self.exits: list[asyncio.Future[ParentResult]] = []
        self.crossings: list[LimitCrossing] = []

    def start(self) -> None:
        self._timer = self._clock.call_later(CHECK_INTERVAL_S, self._tick)
        self._tracker.add_listener(self._on_record)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        self._tracker.remove_listener(self._on_record)

    async def drain(self) -> None:
        """Wait for the checks under way and the exits sent (each exit's own records say how it ended)."""
        while self._checks:
            await asyncio.gather(*self._checks, return_exceptions=True)
        if self.exits:
            await asyncio.gather(*self.exits, return_exceptions=True)

    def _tick(self) -> None:
        self._timer = self._clock.call_later(CHECK_INTERVAL_S, self._tick)
        self._schedule()

    def _on_record(self, record: Record) -> None:
        if record["event"] in {"fill", "partial_fill"}:
            self._schedule()

    def _schedule(self) -> None:
        if self._pending or self._stopped:
            return  # one check at a time, as the desk's portfolio refresh
        self._pending = True
        check = asyncio.ensure_future(self._check())
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def _check(self) -> None:
        try:
            positions = await self._broker.positions()
            crossing = self._guard.observe(positions_pnl(positions, self._ltp))
            if crossing is not None:
                self._act(crossing, positions)
        finally:
            self._pending = False

    def _ltp(self, symbol: str) -> float:
        return self._feed.subscribe(self._catalog.resolve(symbol)).ltp

    def _act(self, crossing: LimitCrossing, positions: list[Position]) -> None:
        risk = self._stack.risk
        risk.update(risk.base.model_copy(update={"kill_switch": True}))
        self.crossings.append(crossing)
        requests = exit_requests(positions, self._catalog, self._feed, source=EXIT_SOURCE,
                                 group=f"{EXIT_SOURCE}-{crossing.trading_day.isoformat()}",
                                 exit_reason=crossing.reason)
        parent_ids: list[str] = []
        error: str | None = None
        try:
            for request in requests:  # all validated before any is sent, as the desk's EXIT ALL
                self._stack.validate(request)
        except InvalidOrder as exc:
            requests, error = [], f"InvalidOrder: {exc}"
        for request in requests:
            if self._protections is not None:
                self._protections.cancel_position(request.symbol, request.product,
                                                  cancelled_because(crossing.reason))
            parent_id = self._stack.reserve_parent_id()
            parent_ids.append(parent_id)
            self.exits.append(asyncio.ensure_future(self._stack.execute(request, parent_id)))
        # Written before the exits' first records: their tasks start on the next loop turn.
        self._tracker.risk_limit(crossing, parent_ids, error=error)
