"""The one signal bridge: engine events (`DeskEvent`s) in, Qt signals out.

Everything runs on the Qt thread (qasync), so each event is emitted straight away; widgets that would redraw
per event (charts, blotter) batch their updates on their own timers instead.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from imperium_desk.desk import (
    Desk,
    DeskEvent,
    DrillEvent,
    MessageEvent,
    ModelsChanged,
    ModelSwitch,
    ParentFinished,
    ParentStarted,
    PortfolioEvent,
    RecordEvent,
    StateEvent,
    TicksEvent,
)
from imperium_desk.domain.enums import ParentStatus

_NEEDS_ATTENTION = frozenset({ParentStatus.REJECTED, ParentStatus.FAILED})


class DeskBridge(QObject):
    record = Signal(object)  # a telemetry record (dict), as written to the JSONL file
    ticks = Signal(object)  # Sequence[Quote] that changed on this tick
    parent_started = Signal(object)  # ParentStarted
    parent_finished = Signal(object)  # ParentFinished
    portfolio = Signal(object)  # PortfolioEvent
    state = Signal(object)  # StateEvent
    message = Signal(str)  # a line for the status bar (rejections, errors the trader must see)
    models = Signal(object)  # ModelsChanged: latency/slippage models switched
    drill = Signal(object)  # DrillEvent: a drill started, one of its events began/ended, or it ended

    def __init__(self, desk: Desk, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
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
                self.portfolio.emit(event)
            case StateEvent():
                self.state.emit(event)
            case ModelsChanged():
                self.models.emit(event)
                for switch in event.switches:
                    self.message.emit(_describe_switch(switch))
            case DrillEvent():
                self.drill.emit(event)
            case MessageEvent(text):
                self.message.emit(text)


def _describe_switch(switch: ModelSwitch) -> str:
    def name(model: dict[str, object] | None) -> str:
        return str(model["type"]) if model is not None else "inherited"

    lane = "" if switch.lane == "order" else f" {switch.lane}"
    return (f"{switch.scope} {switch.kind}{lane} model: {name(switch.old)} → {name(switch.new)} "
            f"({switch.source}; new orders only)")
