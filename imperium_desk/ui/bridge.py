"""The one signal bridge: engine events (`DeskEvent`s) in, Qt signals out.

Everything runs on the Qt thread (qasync). Events are emitted straight away, except the four that only carry the
desk's current state (`state`, `portfolio`, `feed`, `protections`): of a burst of those the first is emitted at once
and then at most the newest one per `COALESCE_MS`, because every emission repaints its labels. At 50 orders/s the
desk changes its in-flight counts ~75 times a second and its account ~25 times, and each was a paint pass of its own
(benchmarks/ui_responsiveness.py). Widgets that would redraw per record (charts, blotter) batch their updates on
their own timers instead.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance

from imperium_desk.desk import (
    Desk,
    DeskEvent,
    DrillEvent,
    FeedEvent,
    MessageEvent,
    ModelsChanged,
    ModelSwitch,
    ParentFinished,
    ParentStarted,
    PortfolioEvent,
    RecordEvent,
    SessionEvent,
    StateEvent,
    TicksEvent,
)
from imperium_desk.desk.events import ProtectionsEvent
from imperium_desk.domain.enums import ParentStatus

_NEEDS_ATTENTION = frozenset({ParentStatus.REJECTED, ParentStatus.FAILED})
COALESCE_MS = 100  # the status bar's and account summary's figures change at most 10 times a second


class LatestOnly(QObject):
    """Emits the newest of a burst of values on `signal`: a value after a quiet spell at once, then at most one
    (the newest) per `interval_ms` while values keep coming. A state shown on screen is never older than
    `interval_ms`, and a single change (the kill switch, the last order finishing) shows without delay."""

    def __init__(self, signal: SignalInstance, interval_ms: int = COALESCE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._signal = signal
        self._pending: tuple[Any] | None = None  # a 1-tuple, so that None can be a value too
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._release)

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def push(self, value: Any) -> None:
        if self._timer.isActive():
            self._pending = (value,)
            return
        self._signal.emit(value)
        self._timer.start()

    def _release(self) -> None:
        if self._pending is None:
            return  # the spell is over: the next value goes out at once
        (value,) = self._pending
        self._pending = None
        self._signal.emit(value)
        self._timer.start()


class DeskBridge(QObject):
    """The desk's events as Qt signals, on the Qt thread: one signal per event kind (`state`, `portfolio`, `feed` and
    `protections` coalesced by `LatestOnly`), plus a status-bar `message` for rejections and failures the trader
    must see."""

    record = Signal(object)  # a telemetry record (dict), as written to the JSONL file
    ticks = Signal(object)  # Sequence[Quote] that changed on this tick
    parent_started = Signal(object)  # ParentStarted
    parent_finished = Signal(object)  # ParentFinished
    portfolio = Signal(object)  # PortfolioEvent: the newest, at most one per COALESCE_MS (LatestOnly)
    state = Signal(object)  # StateEvent: the newest, at most one per COALESCE_MS (LatestOnly)
    message = Signal(str)  # a line for the status bar (rejections, errors the trader must see)
    models = Signal(object)  # ModelsChanged: latency/slippage models switched
    drill = Signal(object)  # DrillEvent: a drill started, one of its events began/ended, or it ended
    session = Signal(object)  # SessionEvent: the broker login is valid, expiring or expired (live modes)
    feed = Signal(object)  # FeedEvent: the live quote feed's health, the newest, at most one per COALESCE_MS
    # ProtectionsEvent: every protection the desk holds, the newest, at most one per COALESCE_MS (each event carries
    # them all, so the newest alone is the whole story)
    protections = Signal(object)

    def __init__(self, desk: Desk, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
        self._state = LatestOnly(self.state, parent=self)
        self._portfolio = LatestOnly(self.portfolio, parent=self)
        self._feed = LatestOnly(self.feed, parent=self)
        self._protections = LatestOnly(self.protections, parent=self)
        desk.add_listener(self._dispatch)

    def _dispatch(self, event: DeskEvent) -> None:
        match event:
            case RecordEvent(record):
                self.record.emit(record)
            case TicksEvent():
                self.ticks.emit(event.quotes)
            case ParentStarted():
                self.parent_started.emit(event)
            case ParentFinished():
                self.parent_finished.emit(event)
                result = event.result
                if result.reason and result.status in _NEEDS_ATTENTION:
                    self.message.emit(f"{result.parent_id} {result.symbol}: {result.status.value}: {result.reason}")
            case PortfolioEvent():
                self._portfolio.push(event)
            case StateEvent():
                self._state.push(event)
            case ModelsChanged():
                self.models.emit(event)
                for switch in event.switches:
                    self.message.emit(_describe_switch(switch))
            case DrillEvent():
                self.drill.emit(event)
            case MessageEvent(text):
                self.message.emit(text)
            case SessionEvent():
                self.session.emit(event)
            case FeedEvent():
                self._feed.push(event)
            case ProtectionsEvent():
                self._protections.push(event)


def _describe_switch(switch: ModelSwitch) -> str:
    def name(model: dict[str, object] | None) -> str:
        return str(model["type"]) if model is not None else "inherited"

    lane = "" if switch.lane == "order" else f" {switch.lane}"
    return (f"{switch.scope} {switch.kind}{lane} model: {name(switch.old)} → {name(switch.new)} "
            f"({switch.source}; new orders only)")
