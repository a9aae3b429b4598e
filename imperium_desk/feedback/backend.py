"""What the feedback API needs from the running desk: the `FeedbackBackend` protocol (desk.py implements it).

The REST app never touches the engine itself: it reads records, appends measurements and outcomes, and switches
models through this narrow interface, so the same app serves the window's desk and the headless `serve` desk, and
tests can reason about exactly what it can do.

Threading: `metrics_lines` (SQLite) and `wait_indexed` (waits for the index) block and are called on a worker
thread; every other method is called on the desk's loop thread (the server runs on that loop), where the engine
lives, and must not block it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.feedback.webhooks.views import DeadLetterView, SubscriberView
from imperium_desk.models.resolver import ModelKind, ModelSwitch

RecordListener = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """Records with seq > since_seq and timestamp >= since_time (epoch seconds), of one asset (its trading symbol or
    its underlying) and scenario, at most `limit`, in seq order."""

    since_seq: int | None = None
    since_time: float | None = None
    asset: str | None = None
    scenario_id: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One rejected input: where it is in the request (`loc`, FastAPI's shape) and why."""

    loc: tuple[str | int, ...]
    msg: str


class FeedbackInputError(ValueError):
    """Input the desk refused after the request was well-formed (e.g. a model config the engine rejects); nothing
    was changed. The API answers 422 with each problem's field path."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems))
        self.problems = list(problems)


class FeedbackStartError(Exception):
    """The feedback API cannot start (port in use, remote host not allowed, unusable token file); the message names
    the setting or file."""


@dataclass(frozen=True, slots=True)
class ActiveModelRow:
    """The model an asset uses for one kind and lane, and the scope it was resolved from."""

    asset: str
    kind: str  # latency | slippage
    lane: str  # order | insert | report | cancel | market_data
    scope: str  # a trading symbol, an underlying or "global"
    model: dict[str, Any]  # as a config file spells it


@dataclass(frozen=True, slots=True)
class ModelChange:
    """One scope's model to switch in (`model` None: remove that scope's override)."""

    kind: ModelKind
    scope: str
    lane: str
    model: Mapping[str, Any] | None


class WebhookAdmin(Protocol):
    """The webhook subscribers and dead letters (feedback/webhooks `WebhookService`). Raises `WebhookInputError`
    (bad url/secret/events, naming the field), `UnknownWebhook`, `WebhooksNotRunning`."""

    async def add(self, url: str, secret: str, events: Sequence[str] | None = None) -> SubscriberView: ...

    async def subscribers(self) -> list[SubscriberView]: ...

    async def remove(self, subscriber_id: str) -> None: ...

    async def enable(self, subscriber_id: str) -> SubscriberView: ...

    async def dead_letters(self, limit: int = ...) -> list[DeadLetterView]: ...

    async def redeliver(self, dead_letter_id: int) -> None: ...


class ProposalDesk(Protocol):
    """Model proposals and their decisions (feedback/learning `LearnerHost`). Raises `UnknownProposal`,
    `ProposalNotPending`."""

    def proposals(self, status: str | None = None) -> list[Decision]: ...

    async def propose(self, proposal: ModelProposal, source: str = "rest") -> Decision: ...

    async def accept(self, decision_id: str) -> Decision: ...

    def reject(self, decision_id: str, reason: str = "rejected") -> Decision: ...


class FeedbackBackend(Protocol):
    """The running desk as the REST app sees it. Threading as this module says: `metrics_lines` and `wait_indexed`
    block and run on a worker thread; everything else runs on the desk's loop and must not block. The app may keep
    the backend for its life; records handed to listeners are the desk's own: read them, do not keep or change."""

    @property
    def webhooks(self) -> WebhookAdmin | None:
        """None when the config turns webhooks off (`feedback.webhooks.enabled: false`)."""
        ...

    @property
    def learning(self) -> ProposalDesk | None:
        """None when the desk runs no learner host."""
        ...

    def metrics_lines(self, query: MetricsQuery) -> list[tuple[int, bytes]]:
        """(seq, stored JSON line) of the matching records from the telemetry index. Blocking: a worker thread."""
        ...

    def last_seq(self) -> int:
        """The seq of the newest record written (indexed or not yet)."""
        ...

    def wait_indexed(self, seq: int, timeout_s: float) -> bool:
        """Block until the index `metrics_lines` reads holds every record up to `seq` (a `last_seq()`), for at
        most `timeout_s`; the records on their way are pushed along now rather than on the telemetry's own schedule.
        True at once when it already holds them; False past the timeout, or at once when the index is down or not
        kept. Blocking: a worker thread, never the loop (the loop is what writes the records)."""
        ...

    def subscribe(self, listener: RecordListener) -> Callable[[], None]:
        """Call `listener` with every new record as it is written (on the loop thread; it must not raise or block).
        Returns the unsubscribe callable."""
        ...

    def ingest_metrics(self, records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Append validated external measurements to the desk's telemetry, re-sequenced (the sender's seq is kept
        under `extra_metrics.external`). Returns (first seq, last seq) as written."""
        ...

    def record_outcome(self, outcome: Mapping[str, Any]) -> int:
        """Keep a scenario outcome ({scenario_id, seed, outcome, metrics}) as a `scenario_outcome` record and hand it
        to the learners. Returns the record's seq."""
        ...

    def models(self) -> list[ActiveModelRow]:
        """The active latency and slippage models of each simulated underlying and of each asset with an override."""
        ...

    async def put_models(self, changes: Sequence[ModelChange], source: str) -> list[ModelSwitch]:
        """Validate every change, then switch them all in for new orders (none if any is invalid: raises
        `FeedbackInputError` naming each bad change)."""
        ...
