"""The day's P&L limits on the running desk: each portfolio refresh's account figures go to the guard, and a crossing
turns the kill switch on and sends EXIT ALL (`execution/daily_limit.py` decides; a replay acts through
`execution/limit_watch.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from imperium_desk.broker.errors import BrokerError
from imperium_desk.clock import Clock
from imperium_desk.desk.events import AccountView, DeskEvent, MessageEvent
from imperium_desk.desk.orders import DeskOrders
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.daily_limit import DailyLimitGuard, DayPnl, LimitCrossing
from imperium_desk.execution.limit_watch import EXIT_SOURCE
from imperium_desk.execution.request import InvalidOrder
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.tracker import FillQualityTracker


class DeskDayLimit:
    """Checks the day's P&L against `risk.daily_loss_limit` / `risk.profit_lock` on every portfolio refresh (every
    second and after each fill: `Desk.refresh_portfolio`) with the figures the Account panel shows, and on the
    first crossing of a trading day turns the kill switch on, exits every open position (EXIT ALL, each exit
    carrying the crossing as its `exit_reason`), writes one `risk_limit` record and tells the trader.

    Why the refresh and not every tick: the P&L needs the broker's positions, which the refresh already reads (live,
    a REST call a second is what the desk affords); a fill, the one thing that changes a position, triggers a
    refresh at once, so the check is at most a second (plus the broker's answer) behind the prices. The limit is
    a loss bound, not a stop price: its MARKET exits close at the market whatever the instant, and the kill
    switch holds the position count from the first crossing on.

    Called on the clock's loop. Works alike in paper, paper-on-live-data and live: it needs only the broker's
    positions and the feed's prices. An EXIT ALL the broker refuses (an expired session) is recorded in the
    record's `error` and told to the trader; the kill switch stays on and the guard does not fire again that day.
    """

    def __init__(self, *, clock: Clock, risk: RiskGate, orders: DeskOrders, tracker: FillQualityTracker,
                 emit: Callable[[DeskEvent], None]) -> None:
        self.guard = DailyLimitGuard(lambda: risk.config, clock)
        self._orders = orders
        self._tracker = tracker
        self._emit = emit

    async def check(self, account: AccountView) -> AccountView:
        """The account with the day's limits filled in, after acting on a crossing if this refresh is one."""
        guard = self.guard
        if not guard.active:
            return account
        crossing = guard.observe(DayPnl(account.realised_pnl, account.unrealised_pnl))
        if crossing is not None:
            await self._act(crossing)
        state = guard.state()
        return dataclasses.replace(account, daily_loss_limit=state.daily_loss_limit, profit_lock=state.profit_lock,
                                   day_pnl=state.day_pnl, limit_fired=state.fired)

    async def _act(self, crossing: LimitCrossing) -> None:
        self._orders.set_kill_switch(True)
        error: str | None = None
        parent_ids: list[str] = []
        try:
            submitted = await self._orders.exit_positions(right=None, underlying=None, source=EXIT_SOURCE,
                                                          exit_reason=crossing.reason)
            parent_ids = [s.parent_id for s in submitted]
        except (InvalidOrder, BrokerError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._tracker.risk_limit(crossing, parent_ids, error=error)
        what = "daily loss limit" if crossing.reason is ExitReason.DAILY_LOSS_LIMIT else "profit lock"
        text = (f"{what} ₹{crossing.limit:,.0f} reached (day P&L ₹{crossing.pnl.total:,.2f}): kill switch on, "
                f"{len(parent_ids)} exit(s) sent")
        self._emit(MessageEvent(text if error is None else f"{text}; EXIT ALL failed: {error}"))
