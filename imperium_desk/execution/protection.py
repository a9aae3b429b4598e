"""Protective exits: the stop-loss, target and trailing stop an entry asked for, watched on the tick stream and sent
as an exit through the same execution stack as any order (issue 21).

Below the desk and free of Qt: the engine builds one `ProtectionManager`, the composition root tells it of entries
(`watch_entry`) and gives it the way to send an exit (`attach`). The levels are domain arithmetic
(`imperium_desk.domain.protection`); this module keeps the state, reads the ticks and writes the records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from imperium_desk.broker.port import Broker
from imperium_desk.clock import Clock
from imperium_desk.domain.enums import Algo, OrderType, ParentStatus, Product, Side, Urgency
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.domain.protection import (
    ExitReason,
    ProtectionError,
    ProtectionKind,
    ProtectionLevels,
    ProtectionSpec,
    ProtectionStatus,
    crossed,
    levels,
    trailed,
)
from imperium_desk.execution.protection_store import ProtectionStore
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.port import MarketData, Quote, TickBatch
from imperium_desk.offload import Offloader

log = logging.getLogger(__name__)

SendExit = Callable[[ExecutionRequest], str | None]
ChangeListener = Callable[[], None]

# The order a tick checks an entry's protections in: the stops first, so a tick through both a stop and the target
# (a crossed book) exits as a stop, the conservative reading.
_CHECK_ORDER = (ProtectionKind.STOP_LOSS, ProtectionKind.TRAILING_STOP, ProtectionKind.TARGET)
ENDED_KEPT = 500  # ended protections kept for the views (the oldest forgotten first); live ones are always kept
_MAX_EXIT_CHILDREN = 64  # tags looked up for one exit on restore (a child per freeze quantity: far more than enough)
_NO_WAIT: Callable[[], tuple[int, float]] = lambda: (1, 0.0)  # noqa: E731 - a constant default
_RESTORED = "restored:"  # the key prefix of a protection restored from an earlier run (its ids may be reused now)


@dataclass(slots=True)
class _Confirm:
    """How long one level has been crossed: consecutive ticks and since when (clock monotonic seconds)."""

    ticks: int = 0
    since: float = 0.0


@dataclass(slots=True)
class Protection:
    """One entry's protections as the manager holds them (mutable, loop thread only)."""

    entry_parent_id: str
    symbol: str
    underlying: str
    product: Product | None
    side: Side  # the entry's side: BUY protects a long
    spec: ProtectionSpec
    tick: float
    status: ProtectionStatus = ProtectionStatus.PENDING
    filled_qty: int = 0  # what the entry filled: the units protected
    closed_qty: int = 0  # what the exit filled
    notional: float = 0.0
    levels: ProtectionLevels | None = None
    best: float | None = None  # the best exit-side price since arming (the trailing stop follows it)
    confirm: dict[ProtectionKind, _Confirm] | None = None
    exit_parent_id: str | None = None
    exit_reason: ExitReason | None = None
    trigger_price: float | None = None
    reason: str = "waiting for the entry to fill"

    @property
    def entry_price(self) -> float:
        return self.notional / self.filled_qty if self.filled_qty else 0.0

    @property
    def protected_qty(self) -> int:
        """The units still protected: what the entry filled, less what the exit closed."""
        return self.filled_qty - self.closed_qty

    @property
    def live(self) -> bool:
        """Still to be watched or still waiting on its exit."""
        return self.status in (ProtectionStatus.PENDING, ProtectionStatus.ARMED, ProtectionStatus.TRIGGERED)


class ProtectionManager:
    """Watches the entries that asked for protection and sends one exit per entry when a level is crossed.

    Threading: everything runs on the engine's loop (tick and record listeners, `watch_entry`, `cancel_position`);
    nothing blocks, nothing reads the wall clock: durations come from the `Clock`, so a replay repeats exactly.

    Promises:
    - An entry is watched from `watch_entry` (before it starts) and armed on what it fills, as the tracker's `fill`
      and `partial_fill` records say: levels are recomputed on the average fill price as fills come, and the units
      protected are the units filled. An entry whose parent ends with nothing filled is cancelled.
    - A tick reads the exit side of the book (the bid for a long, the ask for a short) for the symbols with armed
      protections only (a `TickBatch` is looked up, never built whole). A level triggers once the price has been
      through it on `confirm_ticks` consecutive ticks and for `confirm_ms` of clock time. The trailing stop only
      moves in the position's favour.
    - One exit per entry, ever (one-cancels-other): the first level to trigger sends a MARKET IMMEDIATE exit of the
      units protected, urgency HIGH, with `metadata.is_exit` (the risk gate and the kill switch never block it) and
      the protection as `exit_reason`, through `send_exit`; the entry then stops being watched.
    - The exit's `parent` record decides the end: EXITED when it filled everything, FAILED otherwise (red).
    - `cancel_position` (a manual EXIT / EXIT ALL) cancels the pending and armed protections of that position.
    - Every change writes a `protection` record through the tracker and calls the change listeners.

    - With a store (`persist_to`), the live protections are saved after every change (one save per loop step) until
      `stop_saving` (the desk stopping: its own cancellations are not saved). The snapshot is taken on the loop and
      written off it (`Offloader.thread`: the file is fsynced), one write at a time and the newest snapshot next, so
      the file never goes back to an older state and the loop never waits on the disk; `saved()` waits for the
      writes in flight. A triggered protection is on disk before its exit is sent (write-ahead: the exit waits for
      one write), so a desk that dies after sending it finds it TRIGGERED on restart and never arms it again. And
      `restore` brings them back on start against the broker: an armed one whose position is still held is armed
      again, one whose position is gone or smaller is UNRESTORED (red); a triggered one whose exit's outcome is
      unknown is looked up at the broker by the exit's tags before anything is sent again and, not found there (a
      broker may spell tags per session), an order working on the exit's side of that symbol is taken to be it
      (UNRESTORED, nothing sent): an exit is sent at most once across a restart.

    Keeps: every live protection, and the last `ENDED_KEPT` ended ones (for the views).
    """

    def __init__(self, *, clock: Clock, feed: MarketData, tracker: FillQualityTracker,
                 send_exit: SendExit | None = None,
                 confirmation: Callable[[], tuple[int, float]] | None = None) -> None:
        """`confirmation()`: the confirmation (ticks, ms) of a protection that sets none, read at each check (the
        desk config's `execution.protection_confirm_*`, so a reload applies at once); (1, 0.0) without it."""
        self._clock = clock
        self._confirmation = confirmation or _NO_WAIT
        self._feed = feed
        self._tracker = tracker
        self._send_exit = send_exit
        self._all: dict[str, Protection] = {}  # entry parent id -> protection, oldest first
        self._armed: dict[str, list[Protection]] = {}  # symbol -> armed protections on it
        self._exits: dict[str, Protection] = {}  # exit parent id -> the protection that sent it
        self._listeners: list[ChangeListener] = []
        self._ended = 0
        self._active = True
        self._store: ProtectionStore | None = None
        self._offload: Offloader | None = None
        self._save_pending = False
        self._next_save: tuple[ProtectionStore, list[dict[str, Any]]] | None = None  # the newest snapshot to write
        self._writing: asyncio.Future[None] | None = None  # the write in flight
        self._after_saved: list[Callable[[], None]] = []  # exits to send once the state they change is on disk
        feed.add_listener(self._on_ticks)
        tracker.add_listener(self._on_record)

    # -- wiring ----------------------------------------------------------------------------------------------
    def attach(self, send_exit: SendExit) -> None:
        """How exits are sent from now on: the desk's submit, a replay's runner. It answers the exit's parent id, or
        None when it refused to start it."""
        self._send_exit = send_exit

    def add_listener(self, listener: ChangeListener) -> None:
        """Call `listener` (no arguments) after every change of any protection."""
        self._listeners.append(listener)

    def persist_to(self, store: ProtectionStore, offload: Offloader) -> None:
        """Save the live protections to `store` after every change from now on (the desk's home), written through
        `offload` (off the loop on a wall clock, at once on the virtual one)."""
        self._store = store
        self._offload = offload

    def save_soon(self) -> None:
        """Save the protections as they stand (this loop step's changes included), without a change to say so."""
        self._changed_for_save()

    async def saved(self) -> None:
        """Until every write started so far is on disk."""
        while self._writing is not None:
            await asyncio.wait([self._writing])

    def stop_saving(self) -> None:
        """Save no more changes (the desk is stopping). What is pending is written now; what the stop itself does to
        the protections afterwards (their exits and entries cancelled, an exit refused) is not, so the file keeps what
        stood when the stop began, as a crash then would have left it, and the next start settles that against the
        broker (`restore`). Saved as they end, they would be gone: a held position unprotected and not flagged."""
        if self._save_pending:
            self._save()
        self._store = None

    def stop(self) -> None:
        """Trigger nothing more (a replay's run has ended: nothing would wait for another exit)."""
        self._active = False

    # -- what the composition root tells it -------------------------------------------------------------------
    def watch_entry(self, parent_id: str, request: ExecutionRequest, contract: OptionContract) -> None:
        """An entry about to start as `parent_id`: watch it if it asked for protection (exits never do)."""
        spec = request.protection
        if spec is None or request.metadata.is_exit:
            return
        self._all[parent_id] = Protection(
            entry_parent_id=parent_id, symbol=contract.symbol, underlying=contract.underlying,
            product=request.product, side=request.side, spec=spec, tick=contract.tick_size,
        )
        self._changed()

    def cancel_position(self, symbol: str, product: Product | None,
                        reason: str = "the position was exited by hand") -> list[str]:
        """The position is exited another way (the trader's EXIT or EXIT ALL, the day's limit): its pending and armed
        protections are cancelled, and a triggered one whose exit waits for its save is not sent, with `reason` (a
        None product, or a protection without one, matches any). Returns the entry parent ids cancelled."""
        cancelled: list[str] = []
        for p in list(self._all.values()):
            sending = p.status is ProtectionStatus.TRIGGERED and p.exit_parent_id is None  # its save still on the way
            if p.symbol != symbol or not (sending or p.status in (ProtectionStatus.PENDING, ProtectionStatus.ARMED)):
                continue
            if product is not None and p.product is not None and p.product is not product:
                continue
            self._end(p, ProtectionStatus.CANCELLED, reason)
            self._record(p, "cancelled")
            cancelled.append(p.entry_parent_id)
        if cancelled:
            self._changed()
        return cancelled

    # -- what it shows -----------------------------------------------------------------------------------------
    def get(self, entry_parent_id: str) -> Protection | None:
        return self._all.get(entry_parent_id)

    def protections(self) -> list[Protection]:
        """Every protection held, oldest entry first (live ones, and the most recent ended ones)."""
        return list(self._all.values())

    @property
    def armed_count(self) -> int:
        return sum(len(v) for v in self._armed.values())

    # -- fills and parent ends (tracker records) ---------------------------------------------------------------
    def _on_record(self, record: Record) -> None:
        # Called inside the tracker's emit: what it writes in answer waits for the next loop step (call_soon, FIFO, so
        # fills and parent ends keep their order), so every listener hears the fill before the `armed` it causes.
        event = record["event"]
        if event == "fill" or event == "partial_fill":  # noqa: PLR1714 (every record passes here: two compares)
            if record["parent_id"] in self._all:
                self._clock.call_soon(self._on_fill_record, record)
        elif event == "parent":
            pid = record["parent_id"]
            if pid in self._exits or pid in self._all:
                self._clock.call_soon(self._on_parent_record, record)

    def _on_fill_record(self, record: Record) -> None:
        p = self._all.get(record["parent_id"])
        if p is not None:
            self._on_entry_fill(p, record["qty"], record["executed_price"])

    def _on_parent_record(self, record: Record) -> None:
        pid = record["parent_id"]
        exit_of = self._exits.pop(pid, None)
        if exit_of is not None:
            self._on_exit_done(exit_of, record)
            return
        p = self._all.get(pid)
        if p is not None and p.status is ProtectionStatus.PENDING:
            self._end(p, ProtectionStatus.CANCELLED, "the entry filled nothing")
            self._record(p, "cancelled")
            self._changed()

    def _on_entry_fill(self, p: Protection, qty: int, price: float) -> None:
        if p.status not in (ProtectionStatus.PENDING, ProtectionStatus.ARMED):
            return  # triggered or ended: a late fill of the entry is the trader's (one exit per entry, ever)
        p.filled_qty += qty
        p.notional += qty * price
        try:
            new = levels(p.spec, p.side, p.entry_price, p.filled_qty, p.tick)
        except ProtectionError as exc:
            self._end(p, ProtectionStatus.FAILED, f"cannot arm: {exc}")
            self._record(p, "failed")
            self._changed()
            return
        if p.best is not None and new.trailing_stop is not None:
            # The trail keeps what it gained; trailed() never moves it back.
            moved = trailed(new, p.best, p.tick)
            if p.levels is not None and p.levels.trailing_stop is not None and moved is not None:
                moved = max(moved, p.levels.trailing_stop) if p.side is Side.BUY else min(moved, p.levels.trailing_stop)
            new = replace(new, trailing_stop=moved)
        p.levels = new
        if p.status is ProtectionStatus.PENDING:
            p.status = ProtectionStatus.ARMED
            p.confirm = {}
            self._armed.setdefault(p.symbol, []).append(p)
        p.reason = f"armed on {p.filled_qty} units at {p.entry_price:.2f}"
        self._record(p, "armed")
        self._changed()

    def _on_exit_done(self, p: Protection, record: Record) -> None:
        parent = record["parent"]
        filled = parent["filled_qty"]
        p.closed_qty = filled
        if parent["status"] == ParentStatus.COMPLETE.value and filled >= record["qty"]:
            self._end(p, ProtectionStatus.EXITED, f"exit {p.exit_parent_id} filled at {parent['average_price']}")
            self._record(p, "exited")
        else:
            self._end(p, ProtectionStatus.FAILED, f"exit {p.exit_parent_id} {parent['status']}: {filled} of "
                                                  f"{record['qty']} filled ({parent['reason']})")
            self._record(p, "failed")
        self._changed()

    # -- ticks -------------------------------------------------------------------------------------------------
    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        armed = self._armed
        if not armed or not self._active:
            return
        defaults = self._confirmation()  # once a tick: what a protection that sets no confirmation waits for
        if isinstance(quotes, TickBatch):
            for symbol in list(armed):
                quote = quotes.get(symbol)
                if quote is not None:
                    self._check(symbol, quote, defaults)
            return
        for quote in quotes:
            if quote.symbol in armed:
                self._check(quote.symbol, quote, defaults)

    def _check(self, symbol: str, quote: Quote, defaults: tuple[int, float]) -> None:
        now = self._clock.monotonic()
        for p in list(self._armed.get(symbol, ())):
            if p.status is not ProtectionStatus.ARMED:
                continue
            price = quote.bid if p.side is Side.BUY else quote.ask
            if price <= 0:
                continue  # an empty side of the book: nothing to exit against
            lv = p.levels
            assert lv is not None and p.confirm is not None
            if lv.trailing_stop is not None:
                better = p.best is None or (price > p.best if p.side is Side.BUY else price < p.best)
                if better:
                    p.best = price
                    moved = trailed(lv, price, p.tick)
                    if moved is not None and moved != lv.trailing_stop:
                        lv = p.levels = replace(lv, trailing_stop=moved)
                        self._record(p, "moved", level=moved, kind=ProtectionKind.TRAILING_STOP)
                        self._changed()
            elif p.best is None or (price > p.best if p.side is Side.BUY else price < p.best):
                p.best = price
            spec = p.spec
            confirm_ticks = spec.confirm_ticks if spec.confirm_ticks is not None else defaults[0]
            confirm_ms = spec.confirm_ms if spec.confirm_ms is not None else defaults[1]
            for kind in _CHECK_ORDER:
                level = _level(lv, kind)
                if level is None:
                    continue
                state = p.confirm.get(kind)
                if not crossed(kind, p.side, level, price):
                    if state is not None:
                        del p.confirm[kind]
                    continue
                if state is None:
                    state = p.confirm[kind] = _Confirm(0, now)
                state.ticks += 1
                if state.ticks >= confirm_ticks and (now - state.since) * 1000.0 >= confirm_ms:
                    self._trigger(p, kind, level, price, quote)
                    break

    def _trigger(self, p: Protection, kind: ProtectionKind, level: float, price: float, quote: Quote) -> None:
        self._unarm(p)
        p.status = ProtectionStatus.TRIGGERED
        p.exit_reason = ExitReason(kind.value)
        p.trigger_price = price
        p.reason = f"{kind.value} {level:g} crossed at {price:g}"
        request = ExecutionRequest(
            symbol=p.symbol, side=p.side.opposite, quantity=p.filled_qty, order_type=OrderType.MARKET,
            product=p.product, algo=Algo.IMMEDIATE, urgency=Urgency.HIGH,
            ltp=quote.ltp if quote.ltp > 0 else None, bid=quote.bid if quote.bid > 0 else None,
            ask=quote.ask if quote.ask > 0 else None,
            metadata=RequestMetadata(source="protection", is_exit=True, exit_reason=p.exit_reason),
        )
        if self._store is None:
            self._send(p, request, level, kind, quote)
            return
        # Saved before it is sent (write-ahead): a desk that dies after sending the exit must find it TRIGGERED on
        # restart, or it would arm the position again and could send a second exit. The wait is one file write.
        self._after_saved.append(lambda: self._send_if_still_due(p, request, level, kind, quote))
        self._changed()

    def _send_if_still_due(self, p: Protection, request: ExecutionRequest, level: float, kind: ProtectionKind,
                           quote: Quote) -> None:
        # While its save was written, the trader's EXIT (or the day's limit) may have closed the position and
        # cancelled this: its exit is then not sent (two exits would flip the position).
        if p.status is ProtectionStatus.TRIGGERED and p.exit_parent_id is None:
            self._send(p, request, level, kind, quote)

    def _send(self, p: Protection, request: ExecutionRequest, level: float, kind: ProtectionKind,
              quote: Quote) -> None:
        exit_id: str | None = None
        if self._send_exit is not None:
            try:
                exit_id = self._send_exit(request)
            except Exception as exc:  # a refusal must not break the tick stream; the status says it
                log.warning("protective exit of %s refused: %s", p.entry_parent_id, exc)
                p.reason += f"; exit refused: {exc}"
        p.exit_parent_id = exit_id
        self._record(p, "triggered", level=level, kind=kind, quote=quote)
        if exit_id is None:
            self._end(p, ProtectionStatus.FAILED, p.reason + ("" if "refused" in p.reason else "; no exit sent"))
            self._record(p, "failed")
        else:
            self._exits[exit_id] = p
        self._changed()

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _unarm(self, p: Protection) -> None:
        on_symbol = self._armed.get(p.symbol)
        if on_symbol is not None and p in on_symbol:
            on_symbol.remove(p)
            if not on_symbol:
                del self._armed[p.symbol]

    def _end(self, p: Protection, status: ProtectionStatus, reason: str) -> None:
        self._unarm(p)
        p.status = status
        p.reason = reason
        self._ended += 1
        if self._ended > ENDED_KEPT:
            for pid, old in list(self._all.items()):
                if not old.live and old is not p:
                    del self._all[pid]
                    self._ended -= 1
                    break

    def _record(self, p: Protection, action: str, *, level: float | None = None,
                kind: ProtectionKind | None = None, quote: Quote | None = None) -> None:
        lv = p.levels
        self._tracker.protection(
            entry_parent_id=p.entry_parent_id, symbol=p.symbol, underlying=p.underlying, side=p.side,
            qty=p.filled_qty, action=action, kind=kind.value if kind is not None else None, level=level,
            stop_loss=lv.stop_loss if lv else None, target=lv.target if lv else None,
            trailing_stop=lv.trailing_stop if lv else None,
            entry_price=round(p.entry_price, 6) if p.filled_qty else None,
            trigger_price=p.trigger_price if action == "triggered" else None,
            tick=(quote.timestamp, quote.bid, quote.ask) if quote is not None else None,
            exit_parent_id=p.exit_parent_id, exit_reason=p.exit_reason.value if p.exit_reason else None,
            status=p.status.value, reason=p.reason,
        )

    def _changed(self) -> None:
        self._changed_for_save()
        for listener in self._listeners:
            listener()

    def _changed_for_save(self) -> None:
        if self._store is not None and not self._save_pending:
            self._save_pending = True  # every change of this loop step in one write
            self._clock.call_soon(self._save)

    # -- persistence -------------------------------------------------------------------------------------------
    def _save(self) -> None:
        self._save_pending = False
        if self._store is None or self._offload is None:
            self._run_after_saved()  # nowhere to save to (the desk is stopping): nothing to wait for
            return
        self._next_save = (self._store, self.snapshot())
        if self._writing is None:
            self._write_next()

    def _write_next(self) -> None:
        """Write the newest snapshot waiting (one write in flight at a time, so the file never steps back)."""
        assert self._offload is not None and self._next_save is not None
        store, snapshot = self._next_save
        self._next_save = None
        self._writing = writing = self._offload.thread(lambda: store.save(snapshot), "protections-save")
        writing.add_done_callback(lambda done: self._written(store, done))

    def _written(self, store: ProtectionStore, done: asyncio.Future[None]) -> None:
        self._writing = None
        error = None if done.cancelled() else done.exception()
        if error is not None:  # the trader is told by the log; the protections themselves go on working
            log.error("protections could not be saved to %s: %s", store.path, error)
        if self._next_save is not None:
            self._write_next()
        elif not self._save_pending:
            # Everything changed so far is on disk (or failed to get there: an exit still goes, the position
            # matters more than the file).
            self._run_after_saved()

    def _run_after_saved(self) -> None:
        waiting, self._after_saved = self._after_saved, []
        for action in waiting:
            action()

    def snapshot(self) -> list[dict[str, Any]]:
        """The live protections (pending, armed, triggered) as plain data: what a restart needs to restore them."""
        out: list[dict[str, Any]] = []
        for p in self._all.values():
            if not p.live:
                continue
            lv = p.levels
            out.append({
                "entry_parent_id": p.entry_parent_id, "symbol": p.symbol, "underlying": p.underlying,
                "product": p.product.value if p.product is not None else None, "side": p.side.value,
                "spec": p.spec.model_dump(mode="json"), "tick": p.tick, "status": p.status.value,
                "filled_qty": p.filled_qty, "notional": p.notional, "closed_qty": p.closed_qty,
                "levels": None if lv is None else {
                    "entry_price": lv.entry_price, "quantity": lv.quantity, "stop_loss": lv.stop_loss,
                    "target": lv.target, "trailing_stop": lv.trailing_stop, "trail_points": lv.trail_points},
                "best": p.best, "exit_parent_id": p.exit_parent_id,
                "exit_reason": p.exit_reason.value if p.exit_reason is not None else None,
                "trigger_price": p.trigger_price,
            })
        return out

    async def restore(self, saved: list[dict[str, Any]], broker: Broker) -> None:
        """Bring back what an earlier run saved (`snapshot`), checked against the broker: see the class contract.
        Each restored protection writes a `protection` record (`restored` or `unrestored`). The saved ones are held
        (and so saved again) from the first line on, before the broker is asked: a save in between keeps them."""
        restored: list[Protection] = []
        for item in saved:
            try:
                p = _from_saved(item)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("restore: a saved protection could not be read (%s): skipped", exc)
                continue
            self._all[_RESTORED + p.entry_parent_id] = p
            restored.append(p)
        if not restored:
            return
        try:
            positions: dict[tuple[str, Product | None], int] | None = {
                (pos.symbol, pos.product): pos.quantity for pos in await broker.positions()}
        except Exception as exc:  # any broker failure: nothing can be re-armed safely
            log.warning("restore: positions unavailable: %s", exc)
            positions = None
        for p in restored:
            if p.status is ProtectionStatus.TRIGGERED:
                settled = await self._settle_saved_exit(p, broker, positions)
                if settled:
                    continue
            if p.status is ProtectionStatus.PENDING or p.levels is None:
                self._unrestored(p, "restore: the entry was still working when the desk stopped")
                continue
            self._rearm(p, positions)
        self._changed()

    async def _settle_saved_exit(self, p: Protection, broker: Broker,
                                 positions: dict[tuple[str, Product | None], int] | None) -> bool:
        """A saved TRIGGERED protection: look its exit up by its tags. True when that settled it (exited, failed,
        or unknown: flagged); False when the broker has no order for it (it never left: watch the position again)."""
        if p.exit_parent_id is None:
            # Saved TRIGGERED before its exit was sent (write-ahead): it may have left or not, and it has no tag to
            # look up. Flat: closed (by it or by hand). Anything else is the trader's to see; nothing is sent.
            if positions is not None and self._held(p, positions) <= 0:
                self._end(p, ProtectionStatus.EXITED, "restore: the position is flat (the desk stopped as its exit "
                                                      "was being sent)")
                self._record(p, "restored")
            else:
                self._unrestored(p, "restore: the desk stopped as this protection's exit was being sent; it may have "
                                    "reached the broker: check the position")
            return True
        found = []
        try:
            for index in range(_MAX_EXIT_CHILDREN):
                # The stack tags a parent's children `<parent id>C<index>` and keeps the tag across retries.
                orders = await broker.orders_by_tag(f"{p.exit_parent_id}C{index}")
                if not orders:
                    break
                found += orders
        except Exception as exc:  # a failed lookup proves nothing: never send blind
            self._unrestored(p, f"restore: the outcome of exit {p.exit_parent_id} is unknown (lookup failed: {exc})")
            return True
        if not found:
            # Not found by its tags. A broker may spell tags per session (Kite's carry the session's number: an exit
            # sent before the restart is not found by this session's spelling), so an order still working on the
            # exit's side may be that exit: then nothing is sent again and the trader is told. (One that already
            # filled has shrunk the position: `_rearm` does not re-arm it.)
            try:
                working = [o for o in await broker.orders() if o.symbol == p.symbol and o.side is p.side.opposite
                           and not o.status.terminal]
            except Exception as exc:
                self._unrestored(p, f"restore: the outcome of exit {p.exit_parent_id} is unknown (book unavailable: "
                                    f"{exc})")
                return True
            if working:
                self._unrestored(p, f"restore: exit {p.exit_parent_id} was sent before the restart and an order on "
                                    f"its side is working at the broker ({working[0].order_id}): watch it")
                return True
            if positions is not None and self._held(p, positions) <= 0:
                # Nothing is held any more: the exit (or the trader) closed the position while the desk was away.
                self._end(p, ProtectionStatus.EXITED, f"restore: the position is flat (exit {p.exit_parent_id} was "
                                                      "sent before the restart)")
                self._record(p, "restored")
                return True
            p.status, p.exit_parent_id, p.exit_reason, p.trigger_price = ProtectionStatus.ARMED, None, None, None
            return False
        filled = sum(o.filled_quantity for o in found)
        if any(not o.status.terminal for o in found):
            self._unrestored(p, f"restore: exit {p.exit_parent_id} is still working at the broker ({filled} of "
                                f"{p.protected_qty} filled): watch it")
        elif filled >= p.protected_qty:
            p.closed_qty += filled
            self._end(p, ProtectionStatus.EXITED, f"exit {p.exit_parent_id} filled (found at the broker on restore)")
            self._record(p, "restored")
        else:
            self._end(p, ProtectionStatus.FAILED, f"exit {p.exit_parent_id} ended with {filled} of "
                                                  f"{p.protected_qty} filled (found at the broker on restore)")
            self._record(p, "unrestored")
        return True

    @staticmethod
    def _held(p: Protection, positions: dict[tuple[str, Product | None], int]) -> int:
        """The units of `p`'s symbol (and product) the broker holds in the entry's direction."""
        held = sum(q for (symbol, product), q in positions.items()
                   if symbol == p.symbol and (p.product is None or product is None or product is p.product))
        return held * p.side.sign

    def _rearm(self, p: Protection, positions: dict[tuple[str, Product | None], int] | None) -> None:
        if positions is None:
            self._unrestored(p, "restore: the broker's positions could not be read")
            return
        held = self._held(p, positions)
        if held < p.protected_qty:
            self._unrestored(p, f"restore: the position holds {max(held, 0)} of the {p.protected_qty} units "
                                "protected")
            return
        p.status = ProtectionStatus.ARMED
        p.confirm = {}
        p.reason = f"restored: armed on {p.protected_qty} units at {p.entry_price:.2f}"
        self._armed.setdefault(p.symbol, []).append(p)
        self._record(p, "restored")

    def _unrestored(self, p: Protection, reason: str) -> None:
        self._end(p, ProtectionStatus.UNRESTORED, reason)
        self._record(p, "unrestored")


def _from_saved(item: dict[str, Any]) -> Protection:
    """A protection as `snapshot` saved it (KeyError, TypeError or ValueError if the data is not that)."""
    lv = item["levels"]
    product = item["product"]
    reason = item["exit_reason"]
    p = Protection(
        entry_parent_id=str(item["entry_parent_id"]), symbol=str(item["symbol"]), underlying=str(item["underlying"]),
        product=Product(product) if product is not None else None, side=Side(item["side"]),
        spec=ProtectionSpec.model_validate(item["spec"]), tick=float(item["tick"]),
        status=ProtectionStatus(item["status"]), filled_qty=int(item["filled_qty"]),
        notional=float(item["notional"]), closed_qty=int(item["closed_qty"]),
        best=None if item["best"] is None else float(item["best"]),
        exit_parent_id=None if item["exit_parent_id"] is None else str(item["exit_parent_id"]),
        exit_reason=ExitReason(reason) if reason is not None else None,
        trigger_price=None if item["trigger_price"] is None else float(item["trigger_price"]),
    )
    if lv is not None:
        if not isinstance(lv, dict):
            raise TypeError("levels: not a mapping")
        p.levels = ProtectionLevels(side=p.side, entry_price=float(lv["entry_price"]), quantity=int(lv["quantity"]),
                                    stop_loss=lv["stop_loss"], target=lv["target"], trailing_stop=lv["trailing_stop"],
                                    trail_points=lv["trail_points"])
    return p


def _level(lv: ProtectionLevels, kind: ProtectionKind) -> float | None:
    if kind is ProtectionKind.STOP_LOSS:
        return lv.stop_loss
    if kind is ProtectionKind.TARGET:
        return lv.target
    return lv.trailing_stop
