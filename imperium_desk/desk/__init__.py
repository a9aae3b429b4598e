"""The composition root: the only package that wires the engine's parts together (DESIGN §2).

- `engine.py`: `build_engine`, the one place that picks the venue (broker and market feed), on either clock.
- `replay.py`: the headless deterministic run (`run_replay`) and what it writes.
- `desk.py`: `Desk`, the running desk the window and `serve` use: lifecycle, market, orders, portfolio; and behind it
  `models.py` (latency/slippage models, config reload), `drills.py` (scenario drills) and `feedback.py` (the
  feedback API's backend and server).
- `events.py`: the views `Desk` returns and the events its listeners receive.

What the window and the command line use is listed in `__all__`; nothing below this layer imports it.
"""

from imperium_desk.desk.desk import Desk, secure_desk_home
from imperium_desk.desk.engine import Engine, build_engine
from imperium_desk.desk.events import (
    AccountView,
    ChainRow,
    DeskEvent,
    DeskListener,
    DrillEvent,
    DrillPreview,
    FeedEvent,
    LegPreview,
    MessageEvent,
    ModelRow,
    ModelsChanged,
    ParentFinished,
    ParentStarted,
    PortfolioEvent,
    PositionView,
    RecordEvent,
    SessionEvent,
    SessionState,
    StateEvent,
    Submitted,
    TicksEvent,
)
from imperium_desk.desk.feedback import DeskFeedback, FeedbackApi
from imperium_desk.desk.replay import ReplaySummary, RunStats, prepare_replay, run_replay, write_json_atomic
from imperium_desk.execution.request import InvalidOrder, PreTradeEstimate
from imperium_desk.model_input import ModelConfigError, ModelKind
from imperium_desk.models.resolver import ModelSwitch
from imperium_desk.scenarios.library import DrillInfo
from imperium_desk.scenarios.live import DrillState, DrillView
from imperium_desk.scenarios.prepare import load_catalog
from imperium_desk.telemetry.aggregates import AggregateView

__all__ = [
    "AccountView",
    "AggregateView",
    "ChainRow",
    "Desk",
    "DeskEvent",
    "DeskFeedback",
    "DeskListener",
    "DrillEvent",
    "DrillInfo",
    "DrillPreview",
    "DrillState",
    "DrillView",
    "Engine",
    "FeedEvent",
    "FeedbackApi",
    "InvalidOrder",
    "LegPreview",
    "MessageEvent",
    "ModelConfigError",
    "ModelKind",
    "ModelRow",
    "ModelSwitch",
    "ModelsChanged",
    "ParentFinished",
    "ParentStarted",
    "PortfolioEvent",
    "PositionView",
    "PreTradeEstimate",
    "RecordEvent",
    "ReplaySummary",
    "RunStats",
    "SessionEvent",
    "SessionState",
    "StateEvent",
    "Submitted",
    "TicksEvent",
    "build_engine",
    "load_catalog",
    "prepare_replay",
    "run_replay",
    "secure_desk_home",
    "write_json_atomic",
]
