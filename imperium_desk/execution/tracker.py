"""FillQualityTracker: turns what the stack sees into telemetry records (DESIGN.md §5).

Records are plain dicts with the common keys first, in schema order; they are final when handed to the
sink (sinks serialise them on their own thread) and to live listeners (aggregates, the UI bridge). A parent
builds its common keys once and each child copies them into a template of its own, so a record costs one dict
copy and a few assignments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from imperium_desk.clock import Clock
from imperium_desk.domain.enums import ErrorBucket, Mode, Route, Side
from imperium_desk.domain.orders import Fill
from imperium_desk.execution.context import ChildContext, ParentContext
from imperium_desk.execution.daily_limit import LimitCrossing
from imperium_desk.execution.markouts import MarkoutRecorder, PendingMarkout
from imperium_desk.execution.request import ParentResult
from imperium_desk.models.resolver import ModelSwitch
from imperium_desk.telemetry.schema import COMMON_KEYS, SCHEMA_VERSION, iso_utc

Record = dict[str, Any]
RecordSink = Callable[[Record], None]


class FillQualityTracker:
    """Writes the stack's telemetry records (DESIGN.md §5) to the sink, then to every listener, in `seq` order.

    Loop thread only. A record is final once handed over: the sink and listeners may keep it but must not change
    it. The methods named after an event write its record (`parent_done` writes the `parent` record), each with
    the next `seq`."""

    def __init__(self, clock: Clock, *, mode: Mode, scenario_id: str | None, sink: RecordSink) -> None:
        self._clock = clock
        self._mode = mode.value
        self.scenario_id = scenario_id
        self._sink = sink
        self._listeners: list[RecordSink] = []
        self.seq = 0
        self._stamp_at = -1.0
        self._stamp = ""
        self.markouts: MarkoutRecorder | None = None

    def enable_markouts(self, horizons_s: Sequence[float], mid: Callable[[str], float]) -> None:
        """Read each fill's symbol mid back at these horizons and write a `markout` record per fill."""
        self.markouts = MarkoutRecorder(self._clock, horizons_s, mid, self._markout) if horizons_s else None

    def add_listener(self, listener: RecordSink) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: RecordSink) -> None:
        """Stop calling `listener` (a drill's measurement ends with the drill); unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, record: Record) -> None:
        self._sink(record)
        for listener in self._listeners:
            listener(record)

    def _timestamp(self) -> str:
        now = self._clock.now()
        if now != self._stamp_at:  # an ack and its fills share one instant
            self._stamp_at, self._stamp = now, iso_utc(now)
        return self._stamp

    def _template(self, parent: ParentContext) -> Record:
        """The parent's common keys (child keys null), as a new dict the caller may change. The constant part is
        built once per parent; `children` is read again each time (POV counts its children up as it sends them)."""
        base = parent.template
        if base is None:
            contract = parent.contract
            base = parent.template = {
                "schema_version": SCHEMA_VERSION,
                "seq": None,
                "event": None,
                "timestamp": None,
                "mode": self._mode,
                "scenario_id": self.scenario_id,
                "order_id": None,
                "parent_id": parent.parent_id,
                "client_tag": None,
                "asset": contract.symbol,
                "underlying": contract.underlying,
                "side": parent.request.side.value,
                "qty": None,
                "execution_algo": parent.algo.value,
                "child_index": None,
                "children": parent.children,
                "route": None,
                "queue_priority": parent.urgency.queue_priority,
            }
        rec = base.copy()
        rec["children"] = parent.children
        return rec

    def child_template(self, parent: ParentContext, tag: str, index: int, route: Route) -> Record:
        """A child's common keys, which every record about it starts from (`ChildContext.template`)."""
        rec = self._template(parent)
        rec["client_tag"] = tag
        rec["child_index"] = index
        rec["route"] = route.value
        return rec

    def _record(self, event: str, child: ChildContext, qty: int) -> Record:
        self.seq += 1
        rec = child.template.copy()
        rec["seq"] = self.seq
        rec["event"] = event
        rec["timestamp"] = self._timestamp()
        rec["order_id"] = child.order_id
        rec["qty"] = qty
        return rec

    def placed(self, child: ChildContext, expected_slippage: float, impact: float, extra: Record) -> None:
        """`expected_slippage` and `impact` as the record has them (the caller rounds them to 6 places: it works them
        out once per quote)."""
        rec = self._record("placed", child, child.qty)
        rec["arrival_price"] = child.parent.arrival_price
        rec["intended_price"] = child.intended_price
        rec["limit_price"] = child.limit_price
        rec["expected_slippage"] = expected_slippage
        rec["impact_estimate"] = impact
        rec["extra_metrics"] = extra
        self._emit(rec)

    def ack(self, child: ChildContext, latency_ms: float | None, extra: Record | None = None) -> None:
        child.acked = True
        rec = self._record("ack", child, child.qty)
        rec["latency_ms"] = latency_ms
        if extra:
            rec["extra_metrics"] = extra
        self._emit(rec)

    def fill(self, child: ChildContext, fill: Fill, final: bool, measured_latency_ms: float | None) -> None:
        rec = self._record("fill" if final else "partial_fill", child, fill.qty)
        intended = child.intended_price
        slippage = round((fill.price - intended) * child.parent.sign, 6)
        # The price the slippage is measured against travels with the fill, so a fill read alone (a webhook, the
        # Redis stream) can be scored without its `placed` record.
        rec["intended_price"] = intended
        rec["executed_price"] = fill.price
        rec["slippage"] = slippage
        rec["slippage_bps"] = round(slippage / intended * 10_000.0, 4)
        rec["latency_ms"] = fill.latency_ms if fill.latency_ms is not None else measured_latency_ms
        rec["model_params"] = fill.model_params
        rec["extra_metrics"] = {"trade_id": fill.trade_id, "book_price": fill.book_price}
        self._emit(rec)
        if self.markouts is not None:
            parent = child.parent
            self.markouts.track(PendingMarkout(
                self.seq, child.template, child.order_id, fill.qty, parent.contract.symbol,
                parent.sign, fill.price, self._clock.monotonic(),
            ))

    def _markout(self, entry: PendingMarkout) -> None:
        assert self.markouts is not None
        self.seq += 1
        rec = entry.template.copy()
        rec["seq"] = self.seq
        rec["event"] = "markout"
        rec["timestamp"] = self._timestamp()
        rec["order_id"] = entry.order_id
        rec["qty"] = entry.qty
        rec["markout"] = {
            "fill_seq": entry.fill_seq, "executed_price": entry.executed_price,
            "horizons_s": list(self.markouts.horizons_s), "mids": entry.mids, "bps": entry.bps(),
        }
        self._emit(rec)

    def _desk_record(self, event: str) -> Record:
        """A record about the desk rather than an order: every order key null."""
        self.seq += 1
        rec: Record = dict.fromkeys(COMMON_KEYS)
        rec["schema_version"] = SCHEMA_VERSION
        rec["seq"] = self.seq
        rec["event"] = event
        rec["timestamp"] = self._timestamp()
        rec["mode"] = self._mode
        rec["scenario_id"] = self.scenario_id
        return rec

    def scenario_event(self, entry: Record, *, underlying: str | None, symbol: str | None) -> None:
        """A scenario event began or ended (`entry`: at_s, phase, event, type, target, params)."""
        rec = self._desk_record("scenario")
        rec["asset"] = symbol
        rec["underlying"] = underlying
        rec["scenario"] = entry
        self._emit(rec)

    def scenario_outcome(self, outcome: Record) -> int:
        """A drill's result reported from outside ({scenario_id, seed, outcome, metrics}); returns its seq."""
        rec = self._desk_record("scenario_outcome")
        rec["scenario_id"] = outcome["scenario_id"]
        rec["scenario_outcome"] = outcome
        self._emit(rec)
        return self.seq

    def risk_limit(self, crossing: LimitCrossing, exit_parent_ids: Sequence[str], *, error: str | None = None) -> int:
        """The day's P&L crossed a limit: the kill switch went on and these exits were sent (`error`: why none could
        be, e.g. an expired broker session). Written after the exits are started, before any of their records.
        Returns its seq."""
        rec = self._desk_record("risk_limit")
        pnl = crossing.pnl
        rec["risk_limit"] = {
            "reason": crossing.reason.value,
            "limit": crossing.limit,
            "pnl": pnl.total,
            "realised": pnl.realised,
            "unrealised": pnl.unrealised,
            "trading_day": crossing.trading_day.isoformat(),
            "kill_switch": True,
            "exit_parent_ids": list(exit_parent_ids),
            "error": error,
        }
        self._emit(rec)
        return self.seq

    def external(self, record: Record, provenance: Record) -> int:
        """A measurement posted from outside (the REST API), re-sequenced into this log like the desk's own: the
        sender's seq and the like are kept under `extra_metrics.external` (`provenance`). Returns the new seq."""
        self.seq += 1
        rec: Record = dict.fromkeys(COMMON_KEYS)
        rec.update(record)  # common keys keep their schema order; the sender's own keys follow
        rec["schema_version"] = SCHEMA_VERSION
        rec["seq"] = self.seq
        if rec["timestamp"] is None:
            rec["timestamp"] = self._timestamp()
        if rec["mode"] is None:
            rec["mode"] = self._mode
        extra = rec.get("extra_metrics")
        rec["extra_metrics"] = {**(extra if isinstance(extra, dict) else {}), "external": provenance}
        self._emit(rec)
        return self.seq

    def parent_done(
        self, parent: ParentContext, result: ParentResult, end_mid: float, volume: int, turnover: float
    ) -> None:
        """The parent's end-of-life record: what post-trade analysis (TCA) needs that its children do not carry.
        `volume`/`turnover` are the market's cumulative figures now; the interval is since the parent started."""
        self.seq += 1
        rec = self._template(parent)
        rec["seq"] = self.seq
        rec["event"] = "parent"
        rec["timestamp"] = self._timestamp()
        rec["qty"] = parent.request.quantity
        interval_volume = max(volume - parent.start_volume, 0)
        interval_vwap = (
            round((turnover - parent.start_turnover) / interval_volume, 6) if interval_volume > 0 else None
        )
        rec["parent"] = {
            "status": result.status.value,
            "filled_qty": result.filled_qty,
            "average_price": result.average_price if result.filled_qty else None,
            "reason": result.reason,
            "failure": result.failure.value if result.failure is not None else None,
            "urgency": parent.urgency.value,
            "exchange": parent.contract.exchange,
            "lot_size": parent.contract.lot_size,
            "decision_price": parent.arrival_price,
            "started_at": iso_utc(parent.started_at),
            "first_sent_mid": parent.first_sent_mid,
            "end_mid": round(end_mid, 6),
            "interval_volume": interval_volume,
            "interval_vwap": interval_vwap,
        }
        self._emit(rec)

    def error(self, child: ChildContext, bucket: ErrorBucket, error: str, attempt: int) -> None:
        rec = self._record("error", child, child.qty)
        rec["error_bucket"] = bucket.value
        rec["error"] = error
        rec["attempt"] = attempt
        self._emit(rec)

    def retry(self, child: ChildContext, attempt: int, delay_s: float, bucket: ErrorBucket) -> None:
        rec = self._record("retry", child, child.qty)
        rec["error_bucket"] = bucket.value
        rec["attempt"] = attempt
        rec["extra_metrics"] = {"backoff_ms": round(delay_s * 1000.0, 3)}
        self._emit(rec)

    def cancel(self, child: ChildContext, qty: int, reason: str) -> None:
        rec = self._record("cancel", child, qty)
        rec["extra_metrics"] = {"reason": reason}
        self._emit(rec)

    def reject(
        self, parent: ParentContext, child: ChildContext | None, reason: str, bucket: ErrorBucket
    ) -> None:
        """A parent refused before sending (child None), or a child the broker rejected."""
        self.seq += 1
        rec = child.template.copy() if child is not None else self._template(parent)
        rec["seq"] = self.seq
        rec["event"] = "reject"
        rec["timestamp"] = self._timestamp()
        rec["order_id"] = child.order_id if child is not None else None
        rec["qty"] = child.qty if child is not None else parent.request.quantity
        rec["error_bucket"] = bucket.value
        rec["error"] = reason
        self._emit(rec)

    def model_switch(self, switch: ModelSwitch, underlying: str | None) -> None:
        """A model replaced at runtime. `asset`/`underlying` name the scope when it is one (null for global)."""
        rec = self._desk_record("model_switch")
        if switch.scope != "global":
            rec["asset"] = switch.scope if switch.scope != underlying else None
            rec["underlying"] = underlying
        rec["model_switch"] = {
            "kind": switch.kind, "lane": switch.lane, "scope": switch.scope,
            "old": switch.old, "new": switch.new, "source": switch.source,
        }
        self._emit(rec)

    def protection(
        self, *, entry_parent_id: str, symbol: str, underlying: str, side: Side, qty: int, action: str,
        kind: str | None, level: float | None, stop_loss: float | None, target: float | None,
        trailing_stop: float | None, entry_price: float | None, trigger_price: float | None,
        tick: tuple[float, float, float] | None, exit_parent_id: str | None, exit_reason: str | None, status: str,
        reason: str,
    ) -> None:
        """A protective exit's state changed (`action`: armed, moved, triggered, cancelled, exited, failed; restored or
        unrestored on a restart). The common keys are the entry's (`parent_id`, `asset`, `side`; `qty` the units
        protected); `trigger_price` is the exit-side price that crossed `level` (the bid for a long), `tick` the quote
        that triggered, and the exit's own `parent` record (`exit_parent_id`) has its average price: the cost of the
        stop is the gap between them."""
        rec = self._desk_record("protection")
        rec["parent_id"] = entry_parent_id
        rec["asset"] = symbol
        rec["underlying"] = underlying
        rec["side"] = side.value
        rec["qty"] = qty
        rec["protection"] = {
            "action": action,
            "kind": kind,
            "level": level,
            "levels": {"stop_loss": stop_loss, "target": target, "trailing_stop": trailing_stop},
            "entry_price": entry_price,
            "trigger_price": trigger_price,
            "tick": None if tick is None else {"timestamp": iso_utc(tick[0]), "bid": tick[1], "ask": tick[2]},
            "exit_parent_id": exit_parent_id,
            "exit_reason": exit_reason,
            "status": status,
            "reason": reason,
        }
        self._emit(rec)
