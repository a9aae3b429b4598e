"""The running desk (window, `serve`): one engine on the wall clock, its telemetry file, and every operation the
window offers. `Desk` is the one object the ui talks to (DESIGN §2); models, drills and the feedback API are
collaborators behind it (`desk/models.py`, `desk/drills.py`, `desk/feedback.py`), each reached by one line here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imperium_desk.broker.errors import BrokerError
from imperium_desk.broker.kite.secrets import secrets_path
from imperium_desk.clock import Cancellable, VirtualClock, WallClock
from imperium_desk.config import Config
from imperium_desk.desk.day_limit import DeskDayLimit
from imperium_desk.desk.drills import DeskDrills
from imperium_desk.desk.engine import build_engine
from imperium_desk.desk.events import (
    AccountView,
    ChainRow,
    DeskEmitter,
    DeskListener,
    DrillPreview,
    LegPreview,
    MessageEvent,
    ModelRow,
    PortfolioEvent,
    PositionView,
    ProtectionsEvent,
    ProtectionView,
    RecordEvent,
    StateEvent,
    Submitted,
    TicksEvent,
)
from imperium_desk.desk.feedback import DeskFeedback, FeedbackApi
from imperium_desk.desk.live import StoreChoice
from imperium_desk.desk.models import DeskModels
from imperium_desk.desk.orders import DeskOrders
from imperium_desk.desk.session import DeskSession
from imperium_desk.domain.enums import Algo, Mode, OptionRight, OrderType, Side
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.protection_store import ProtectionStore, ProtectionStoreError
from imperium_desk.execution.request import ExecutionRequest, InvalidOrder, PreTradeEstimate
from imperium_desk.execution.tracker import Record
from imperium_desk.feedback.token import token_path
from imperium_desk.home import HomeCheck, secure_home
from imperium_desk.market.port import Quote
from imperium_desk.model_input import ModelKind
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelSwitch
from imperium_desk.offload import Offloader
from imperium_desk.scenarios.library import DrillInfo
from imperium_desk.scenarios.live import DrillView, LiveDrill
from imperium_desk.telemetry.aggregates import LiveAggregates
from imperium_desk.telemetry.factory import build_secondaries
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.secondary import SinkStatus
from imperium_desk.telemetry.sqlite_index import SqliteIndex, index_path_for

if TYPE_CHECKING:  # the Kite client loads only in the live modes
    from imperium_desk.broker.kite.factory import KiteVenue
    from imperium_desk.desk.connector import LiveConnector

PORTFOLIO_REFRESH_S = 1.0


def secure_desk_home(home: Path) -> HomeCheck:
    """The home holds every fill, the API token and the webhook store: its user's alone (0700, files 0600). A home an
    older desk left open is narrowed, with a warning naming what changed; the API token and the Kite secrets file are
    left as they are, since they refuse a loose mode themselves (quietly tightening one would hide that it may have
    been read)."""
    return secure_home(home, leave=(token_path(home), secrets_path(home)))

log = logging.getLogger(__name__)


class Desk:
    """The running desk. Widgets call these methods and listen to `DeskEvent`s; nothing in the ui touches the
    broker, the market or the stack directly.

    Threading: every method is called on the clock's loop (the Qt thread under qasync); blocking work goes through
    `offload`. `stop()` is the one way down (no new orders, working parents cancelled, the feed stopped, telemetry
    flushed), shared by every caller.
    """

    def __init__(
        self,
        config: Config,
        *,
        home: Path,
        clock: WallClock | VirtualClock,
        mode: Mode = Mode.PAPER,
        seed: int | None = None,
        config_path: Path | None = None,
        venue: KiteVenue | None = None,
        connector: LiveConnector | None = None,
    ) -> None:
        self.config = config
        self.home = home
        self.home_check = secure_desk_home(home)
        self.mode = mode
        self.clock = clock
        self._loop = clock.loop
        self.offload = Offloader(clock)
        self.events = DeskEmitter()
        # Telemetry: the JSONL (torn tail repaired, rotated by size/day) and the secondary sinks that follow it.
        self.telemetry_path = home / f"execution_quality_{mode.value}.jsonl"
        self.telemetry_index_path = index_path_for(self.telemetry_path)
        self._writer = TelemetryHub(
            self.telemetry_path, config.telemetry, build_secondaries(config.telemetry, self.telemetry_path),
            append=True, rotate=True,
        )
        self.engine = build_engine(
            config, clock=clock, seed=config.market.seed if seed is None else seed, mode=mode,
            sink=self._writer.write, venue=venue,
        )
        self.engine.tracker.seq = self._writer.last_seq  # seq continues across restarts, gap-free
        self.catalog = self.engine.catalog
        # Portfolio: refreshed from the broker every second and after fills; empty until the first refresh (which
        # start() asks for at once), since only the broker knows the account.
        self._portfolio_timer: Cancellable | None = None
        self._portfolio_pending = False
        self._portfolio_task: asyncio.Task[None] | None = None
        self.last_portfolio = PortfolioEvent([], AccountView(0.0, 0.0, 0.0, 0.0, 0.0))
        # Live execution figures (stats table, charts). Registered before `_on_record`, so a widget reacting to a
        # record already finds it counted.
        self.aggregates = LiveAggregates(clock.now)
        self.engine.tracker.add_listener(self.aggregates.add)
        self.engine.tracker.add_listener(self._on_record)
        self.engine.feed.add_listener(self._on_ticks)
        # What a trader does, each behind its own object.
        self.orders = DeskOrders(self.engine, loop=self._loop, emit=self.events.emit, refusal=self._refusal,
                                 changed=self._orders_changed)
        self.day_limit = DeskDayLimit(clock=clock, risk=self.engine.stack.risk, orders=self.orders,
                                      tracker=self.engine.tracker, emit=self.events.emit)
        self.engine.protections.attach(self.orders.send_exit)
        self._protections_pending = False
        self.engine.protections.add_listener(self._protections_changed)
        # Saved under home on every change; restored on start (`_restore_protections`).
        self.protection_store = ProtectionStore(home / f"protections_{mode.value}.json")
        self._restore_task: asyncio.Task[None] | None = None
        self.models = DeskModels(self.engine, config=config, config_path=config_path, clock=clock,
                                 offload=self.offload, emit=self.events.emit)
        self.drills = DeskDrills(
            self.engine, config=config, clock=clock, offload=self.offload, emit=self.events.emit,
            drills_dir=home / "scenarios", submit=self.orders.submit_for_drill, cancel_parents=self.orders.cancel,
            stopping=lambda: self._stopped, models=self.models_config, record_outcome=self._record_outcome,
        )
        self.feedback = FeedbackApi(self)
        # The broker session, in the live modes: a refused token stops orders until the trader logs in again.
        self.session: DeskSession | None = None
        if venue is not None and connector is not None:
            self.session = DeskSession(venue, connector, clock=clock, emit=self.events.emit,
                                       resumed=self._emit_state)
        self._venue = venue
        # Lifecycle.
        self._stopped = False  # stop requested: no new orders
        self._closed = False  # stop finished
        self._stop_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the market feed, the portfolio refresh and the config watch (the clock's loop must be the app's)."""
        self.engine.market.start()
        self._portfolio_timer = self.clock.call_later(PORTFOLIO_REFRESH_S, self._portfolio_tick)
        self._schedule_portfolio()
        self.models.start()
        if self.session is not None:
            self.session.start()
        self._restore_protections()
        self._emit_state()

    async def stop(self) -> None:
        """Stop cleanly: no new orders, running parents cancelled, the feed stopped, telemetry flushed. Every caller
        (the window's close, Ctrl+C, a test's teardown) awaits the same single stop."""
        await asyncio.shield(self.start_stop())

    def start_stop(self) -> asyncio.Task[None]:
        """`stop` as a task, for callers that are not coroutines (the window's close)."""
        if self._stop_task is None:
            self._stopped = True  # from now on submit() refuses
            self.engine.protections.stop_saving()  # the saved ones stay as they stand now, for the next start
            self._stop_task = self._loop.create_task(self._stop())
        return self._stop_task

    async def _stop(self) -> None:
        if self.feedback.running:
            await self.feedback.stop()  # first: no request reaches a desk that is stopping
        if self._portfolio_timer is not None:
            self._portfolio_timer.cancel()
        self.models.stop()
        if self.drills.drill is not None:
            await self.drills.drill.stop()  # its events undone and its parents cancelled before the market stops
            await asyncio.sleep(0)  # its done callback (the outcome record) runs while the log is still open
        self.offload.kill_children()  # none is left once the drill has its outcome; a stop leaves none behind
        self.engine.market.stop()
        if self.session is not None:
            self.session.stop()
        if self._restore_task is not None and not self._restore_task.done():
            await asyncio.wait([self._restore_task])  # its records are written before the log closes
        await self.orders.cancel()
        await self.engine.protections.saved()  # the last save (`stop_saving`) is on disk
        if self.engine.tracker.markouts is not None:
            self.engine.tracker.markouts.flush()  # fills whose horizons have not passed: written with nulls
        if self._portfolio_task is not None and not self._portfolio_task.done():
            await asyncio.wait([self._portfolio_task])  # a refresh in flight ends before the broker is closed
        if self._venue is not None:
            await self._venue.aclose()  # the order poll, the ticker and the REST lanes
        # Joining the writer thread waits on the disk: off the loop (a failed flush is raised here).
        await self.offload.thread(self._writer.close, "telemetry-close")
        self._closed = True

    def _restore_protections(self) -> None:
        """The protections the last run saved: against the broker's positions in live mode; dropped, with a message,
        on the paper venues, whose account starts flat at every start (nothing they protected is held any more)."""
        manager = self.engine.protections
        try:
            saved = self.protection_store.load()
        except ProtectionStoreError as exc:
            saved = []
            self.events.emit(MessageEvent(f"saved protections not restored: {exc}"))
        manager.persist_to(self.protection_store, self.offload)  # from now on: every change saved (off the loop)
        if saved and self.mode is not Mode.LIVE:
            self.events.emit(MessageEvent(
                f"{len(saved)} protection(s) of the last {self.mode.value} session dropped: the paper account starts "
                "flat, so the positions they protected are gone"))
            saved = []
            manager.save_soon()  # what was dropped stays dropped
        if saved:
            self._restore_task = self._loop.create_task(manager.restore(saved, self.engine.broker))

    def _refusal(self) -> str | None:
        """Why no new parent may start now, or None."""
        if self._stopped:
            return "desk: stopping; no new orders"
        if self.session is not None and self.session.expired:
            return "session expired: log in again; no order is sent until then"
        return None

    async def relogin(self, request_token: str, api_secret: str | None, remember: StoreChoice) -> None:
        """A new broker login mid-session (after SessionEvent EXPIRED); orders go out again after it. Raises
        LoginError (for the trader) or RuntimeError in paper mode."""
        if self.session is None:
            raise RuntimeError("relogin: this desk has no broker session (paper mode)")
        await self.session.relogin(request_token, api_secret, remember)

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for: no new order, drill or API start is accepted."""
        return self._stopped

    @property
    def stopped(self) -> bool:
        """True once the stop has finished (telemetry flushed and closed)."""
        return self._closed

    @property
    def telemetry_flushed_seq(self) -> int:
        """The last `seq` the JSONL writer has flushed (what followers of the file may read)."""
        return self._writer.flushed_seq

    def wait_indexed(self, seq: int, timeout_s: float) -> bool:
        """Block the calling thread (never the loop: it writes the records) until the telemetry index holds `seq`,
        for at most `timeout_s`; the JSONL flushes at once for it. False past the bound, or at once when the index
        is down or not kept (`telemetry.sinks` without `sqlite`)."""
        return self._writer.wait_stored(SqliteIndex.name, seq, timeout_s)

    def telemetry_status(self) -> list[SinkStatus]:
        """Each telemetry sink (the JSONL, then SQLite/Redis): live, catching up or down, for the status bar."""
        return self._writer.status()

    def add_listener(self, listener: DeskListener) -> None:
        self.events.add_listener(listener)

    # -- feedback API (desk/feedback.py) ---------------------------------------------------------------------
    async def start_feedback(self) -> str:
        """Serve the feedback API on this desk's loop and return its address (see `FeedbackApi.start`)."""
        return await self.feedback.start()

    async def stop_feedback(self) -> None:
        await self.feedback.stop()

    @property
    def feedback_token_path(self) -> Path:
        return self.feedback.token_path

    @property
    def feedback_address(self) -> str | None:
        return self.feedback.address

    @property
    def feedback_backend(self) -> DeskFeedback | None:
        return self.feedback.backend

    # -- market --------------------------------------------------------------------------------------------
    @property
    def underlyings(self) -> list[str]:
        return self.engine.market.underlyings

    def lot_size(self, underlying: str) -> int:
        return self.catalog.underlying(underlying).lot_size

    def expiries(self, underlying: str, count: int = 4) -> list[date]:
        return self.catalog.expiries(underlying, datetime.fromtimestamp(self.clock.now(), UTC), count)

    def spot(self, underlying: str) -> float:
        return self.engine.market.spot(underlying)

    def atm_strike(self, underlying: str) -> float:
        return self.catalog.atm_strike(underlying, self.spot(underlying))

    def chain(self, underlying: str, expiry: date, strikes_each_side: int) -> list[ChainRow]:
        """The ladder around ATM, lowest strike first; every contract in it is subscribed (and ticks)."""
        contracts = self.engine.market.chain(underlying, expiry, strikes_each_side)
        atm = self.atm_strike(underlying)
        market = self.engine.feed
        rows: list[ChainRow] = []
        for i in range(0, len(contracts), 2):
            call, put = contracts[i], contracts[i + 1]
            rows.append(ChainRow(call.strike, call.strike == atm, market.quote(call.symbol),
                                 market.quote(put.symbol)))
        return rows

    def contract(self, underlying: str, expiry: date, strike: float, right: OptionRight) -> OptionContract:
        contract = self.catalog.contract(underlying, expiry, strike, right)
        self.engine.feed.subscribe(contract)
        return contract

    def quote(self, symbol: str) -> Quote:
        return self.engine.feed.subscribe(self.catalog.resolve(symbol))

    # -- orders (desk/orders.py) -----------------------------------------------------------------------------
    def preview(self, request: ExecutionRequest) -> PreTradeEstimate:
        """Pre-trade estimate for a ticket; raises InvalidOrder naming the field."""
        return self.orders.preview(request)

    def submit(self, request: ExecutionRequest) -> Submitted:
        """Validate (InvalidOrder names the field) and start the parent on the stack."""
        return self.orders.submit(request)

    def submit_many(self, requests: Sequence[ExecutionRequest]) -> list[Submitted]:
        """Several parents as one action: all validated before any is sent, so one bad leg sends nothing."""
        return self.orders.submit_many(requests)

    def new_group(self, prefix: str) -> str:
        return self.orders.new_group(prefix)

    def multi_strike_legs(
        self,
        *,
        underlying: str,
        expiry: date,
        right: OptionRight,
        strikes_below: int,
        strikes_above: int,
        lots: int,
        side: Side = Side.BUY,
        order_type: OrderType = OrderType.MARKET,
        algo: Algo | None = None,
        group: str | None = None,
        limit_offset_ticks: int = 0,
    ) -> list[LegPreview]:
        """The strikes a multi-strike action trades, lowest first, each with its request and estimate.
        LIMIT legs are priced at the near-side touch of their own book, `limit_offset_ticks` through it.
        Raises InvalidOrder naming the field."""
        return self.orders.multi_strike_legs(
            underlying=underlying, expiry=expiry, right=right, strikes_below=strikes_below,
            strikes_above=strikes_above, lots=lots, side=side, order_type=order_type, algo=algo, group=group,
            limit_offset_ticks=limit_offset_ticks,
        )

    async def exit_positions(
        self, *, right: OptionRight | None = None, underlying: str | None = None, source: str = "exit"
    ) -> list[Submitted]:
        """Close every open position (of one option type / underlying, or all) with MARKET exits that the risk
        gate never blocks. A symbol whose exit is still travelling is skipped, so pressing EXIT twice never flips a
        position."""
        return await self.orders.exit_positions(right=right, underlying=underlying, source=source)

    def start_exit(
        self, *, right: OptionRight | None = None, underlying: str | None = None, source: str = "exit"
    ) -> asyncio.Task[list[Submitted]]:
        """`exit_positions` as a task, for callers that are not coroutines (buttons, shortcuts). A refused or failed
        exit is also told to the trader as a message (a button does not read the task's exception)."""
        task = self._loop.create_task(self.exit_positions(right=right, underlying=underlying, source=source))
        task.add_done_callback(self._exit_done)
        return task

    def _exit_done(self, task: asyncio.Task[list[Submitted]]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, InvalidOrder):
            self.events.emit(MessageEvent(f"EXIT refused: {exc}"))
        elif isinstance(exc, BrokerError):
            self.events.emit(MessageEvent(f"EXIT failed: the broker answered {type(exc).__name__}: {exc}"))

    @property
    def kill_switch(self) -> bool:
        return self.orders.kill_switch

    @property
    def protections(self) -> tuple[ProtectionView, ...]:
        """Every protection the desk holds, oldest entry first (the Positions table's protections column)."""
        return tuple(
            ProtectionView(
                entry_parent_id=p.entry_parent_id, symbol=p.symbol, product=p.product, side=p.side,
                quantity=p.protected_qty, entry_price=round(p.entry_price, 4),
                stop_loss=p.levels.stop_loss if p.levels else None, target=p.levels.target if p.levels else None,
                trailing_stop=p.levels.trailing_stop if p.levels else None, status=p.status,
                exit_parent_id=p.exit_parent_id, reason=p.reason,
            )
            for p in self.engine.protections.protections()
        )

    def _protections_changed(self) -> None:
        # One event per loop step: a tick can move many trailing stops, and each event carries every protection.
        if not self._protections_pending:
            self._protections_pending = True
            self.clock.call_soon(self._emit_protections)

    def _emit_protections(self) -> None:
        self._protections_pending = False
        self.events.emit(ProtectionsEvent(self.protections))

    def set_kill_switch(self, on: bool) -> None:
        self.orders.set_kill_switch(on)

    @property
    def parents_in_flight(self) -> int:
        return len(self.orders.tasks)

    @property
    def children_in_flight(self) -> int:
        return self.engine.stack.children_in_flight

    # -- portfolio -------------------------------------------------------------------------------------------
    async def refresh_portfolio(self) -> PortfolioEvent:
        """Positions and the account from the broker, valued at the feed's last prices; the day's P&L limits are
        checked on them (a crossing turns the kill switch on and exits every position)."""
        broker, market = self.engine.broker, self.engine.feed
        positions = await broker.positions()
        margins = await broker.margins()
        views: list[PositionView] = []
        for p in positions:
            contract = self.catalog.resolve(p.symbol)
            ltp = market.subscribe(contract).ltp
            unrealised = (ltp - p.average_price) * p.quantity if p.quantity else 0.0
            views.append(PositionView(p.symbol, contract.underlying, contract.right, p.quantity, p.average_price,
                                      ltp, round(p.realised_pnl, 2), round(unrealised, 2)))
        account = AccountView(
            capital=margins.capital, margin_used=round(margins.used, 2),
            margin_available=round(margins.available, 2),
            realised_pnl=round(sum(v.realised_pnl for v in views), 2),
            unrealised_pnl=round(sum(v.unrealised_pnl for v in views), 2),
        )
        account = await self.day_limit.check(account)  # the day's loss limit / profit lock (desk/day_limit.py)
        event = PortfolioEvent(views, account)
        self.last_portfolio = event
        self.events.emit(event)
        return event

    def _portfolio_tick(self) -> None:
        self._portfolio_timer = self.clock.call_later(PORTFOLIO_REFRESH_S, self._portfolio_tick)
        self._schedule_portfolio()
        self._emit_state()

    def _schedule_portfolio(self) -> None:
        if self._portfolio_pending or self._stopped or (self.session is not None and self.session.expired):
            return  # one refresh at a time; none while the broker would refuse it
        self._portfolio_pending = True
        self._portfolio_task = self._loop.create_task(self._refresh_once())

    async def _refresh_once(self) -> None:
        try:
            await self.refresh_portfolio()
        except BrokerError as exc:
            # The next tick tries again; the session's own events tell the trader about an expired login.
            log.warning("portfolio refresh failed: %s", type(exc).__name__)
        finally:
            self._portfolio_pending = False

    # -- latency and slippage models (desk/models.py) --------------------------------------------------------
    @property
    def config_path(self) -> Path | None:
        return self.models.config_path

    def models_config(self) -> tuple[LatencyModels, SlippageModels]:
        return self.models.models_config()

    def model_rows(self) -> list[ModelRow]:
        return self.models.rows(self.underlyings)

    async def switch_model(self, kind: ModelKind, scope: str, model: Mapping[str, Any] | None, *,
                           lane: str = "order", source: str = "panel") -> ModelSwitch:
        return await self.models.switch(kind, scope, model, lane=lane, source=source)

    async def preview_samples(self, kind: ModelKind, model: Mapping[str, Any], n: int = 20_000) -> np.ndarray:
        return await self.models.preview_samples(kind, model, n)

    async def reload_config(self) -> list[ModelSwitch]:
        return await self.models.reload_config()

    # -- drills (desk/drills.py) -----------------------------------------------------------------------------
    @property
    def drill(self) -> LiveDrill | None:
        return self.drills.drill

    @property
    def drills_dir(self) -> Path:
        return self.drills.drills_dir

    async def drill_library(self) -> list[DrillInfo]:
        return await self.drills.library()

    async def drill_preview(self, path: Path) -> DrillPreview:
        return await self.drills.preview(path)

    async def start_drill(self, path: Path) -> DrillView:
        return await self.drills.start(path)

    async def stop_drill(self) -> DrillView | None:
        return await self.drills.stop()

    def _record_outcome(self, posted: dict[str, Any]) -> None:
        backend = self.feedback.backend
        if backend is not None:
            backend.record_outcome(posted)
        else:
            self.engine.tracker.scenario_outcome(posted)

    # -- events ----------------------------------------------------------------------------------------------
    def _emit_state(self) -> None:
        self.events.emit(StateEvent(self.kill_switch, self.parents_in_flight, self.children_in_flight,
                                    self.engine.market.running, self.clock.now()))

    def _on_record(self, record: Record) -> None:
        self.events.emit(RecordEvent(record))
        if record["event"] in {"fill", "partial_fill"}:
            self._schedule_portfolio()

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        self.events.emit(TicksEvent(quotes))

    def _orders_changed(self) -> None:
        self._emit_state()
        self._schedule_portfolio()
