"""The learner host: feeds learners the desk's records and outcomes, runs every proposal (theirs, and those posted
over REST) through the guardrails, and applies it (auto-apply) or keeps it pending for a person to accept or
reject. Every decision is kept in a history and handed to listeners (the window shows them).

Records arrive from a tracker listener, i.e. while a record is being emitted, in the middle of the execution
stack's work: the host only queues what learners return and decides on the next loop turn (`clock.call_soon`),
so a model is never switched from inside a record callback and, on the virtual clock, the switch lands at the same
virtual instant in every run.

`apply(proposal, source)` is the desk's switch: a plain call (`Engine.switch_model` in a replay) or one returning an
awaitable (`Desk.switch_model`); raising refuses the change (status `failed`, the error as the reason).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from imperium_desk.clock import Cancellable, Clock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels
from imperium_desk.feedback.learning.guardrails import Guardrails
from imperium_desk.feedback.learning.model_stats import StatsCache
from imperium_desk.feedback.learning.plugin import Learner
from imperium_desk.feedback.learning.proposal import FINAL, Decision, DecisionStatus, ModelProposal
from imperium_desk.models.resolver import dump_model
from imperium_desk.telemetry.schema import iso_utc

log = logging.getLogger(__name__)

ApplyFn = Callable[[ModelProposal, str], object]
DecisionListener = Callable[[Decision], None]


class UnknownProposal(LookupError):
    """No proposal with that id (or it has left the history)."""


class ProposalNotPending(ValueError):
    """Accept/reject of a proposal that was already decided."""


class LearnerHost:
    """The `ProposalDesk` of feedback/backend.py, and the feed of the in-process learners (module docstring). Everything
    runs on the clock's loop thread: record and outcome callbacks, REST handlers, the window's calls through the desk.

    Every `Decision` it hands out, returned or passed to a listener, is a copy a caller may keep; later statuses arrive
    as new copies. `propose` and `accept` return once the change is decided (applied, refused or failed), awaiting an
    asynchronous `apply`. Listeners are called inside the host's bookkeeping and must not raise. After `close` learners'
    proposals are dropped."""

    def __init__(
        self,
        config: LearningConfig,
        *,
        clock: Clock,
        models: ConfiguredModels,
        apply: ApplyFn,
        learners: Sequence[Learner] = (),
        scope_known: Callable[[str], bool] | None = None,
        stats: StatsCache | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._models = models
        self._apply = apply
        self._learners = list(learners)
        self._scope_known = scope_known
        self.guardrails = Guardrails(config.guardrails, stats)
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        self._next_id = 0
        self._queue: list[tuple[ModelProposal, str]] = []
        self._drain_handle: Cancellable | None = None
        self._listeners: list[DecisionListener] = []
        self._applying: dict[str, asyncio.Future[Any]] = {}
        self.learner_errors = 0  # exceptions raised by learners (logged; the record stream goes on)
        self._closed = False

    @property
    def learners(self) -> list[str]:
        return [learner.name for learner in self._learners]

    @property
    def auto_apply(self) -> bool:
        """Whether a proposal that passes the guardrails is applied at once (else it waits for accept/reject)."""
        return self.config.auto_apply

    def set_auto_apply(self, on: bool) -> None:
        """Switch auto-apply at runtime (the desk's checkbox); proposals already pending stay pending."""
        self.config = self.config.model_copy(update={"auto_apply": on})

    # -- feeding ---------------------------------------------------------------------------------------------
    def on_record(self, record: Mapping[str, Any]) -> None:
        """A tracker listener: every record, as it is written."""
        for learner in self._learners:
            try:
                proposals = learner.on_record(record)
            except Exception:
                self._learner_failed(learner, "on_record")
                continue
            if proposals:
                self._enqueue(learner, proposals)

    def on_outcome(self, outcome: Mapping[str, Any]) -> None:
        for learner in self._learners:
            try:
                proposals = learner.on_outcome(outcome)
            except Exception:
                self._learner_failed(learner, "on_outcome")
                continue
            if proposals:
                self._enqueue(learner, proposals)

    def _learner_failed(self, learner: Learner, where: str) -> None:
        self.learner_errors += 1
        log.exception("learner %s raised in %s; its output is dropped", learner.name, where)

    def _enqueue(self, learner: Learner, proposals: Sequence[ModelProposal]) -> None:
        if self._closed:
            return
        source = f"learner:{learner.name}"
        self._queue.extend((p, source) for p in proposals)
        if self._drain_handle is None:
            self._drain_handle = self._clock.call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_handle = None
        queue, self._queue = self._queue, []
        for proposal, source in queue:
            self._decide(proposal, source)

    # -- the API (desk, REST, UI) ----------------------------------------------------------------------------
    def proposals(self, status: str | None = None) -> list[Decision]:
        """The history, oldest first (copies), optionally of one status."""
        return [d.model_copy() for d in self._decisions.values() if status is None or d.status == status]

    def get(self, decision_id: str) -> Decision:
        return self._find(decision_id).model_copy()

    async def propose(self, proposal: ModelProposal, source: str = "rest") -> Decision:
        """A proposal from outside (an out-of-process learner over REST): same guardrails, same decision."""
        decision = self._decide(proposal, source)
        await self._settled(decision.id)
        return self.get(decision.id)

    async def accept(self, decision_id: str) -> Decision:
        """Apply a pending proposal, after checking the guardrails again (the models may have moved since)."""
        decision = self._pending(decision_id)
        refusal = self._refusal(decision.proposal)
        if refusal is not None:
            self._finish(decision, "refused", f"at accept: {refusal}")
        else:
            self._start_apply(decision, "accepted")
        await self._settled(decision.id)
        return self.get(decision.id)

    def reject(self, decision_id: str, reason: str = "rejected") -> Decision:
        decision = self._pending(decision_id)
        self._finish(decision, "rejected", reason)
        return decision.model_copy()

    def add_listener(self, listener: DecisionListener) -> Callable[[], None]:
        """Called with each decision whenever its status changes; returns the unsubscribe."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def close(self) -> None:
        """No more proposals; waits for changes being applied."""
        self._closed = True
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        self._queue.clear()
        if self._applying:
            await asyncio.gather(*self._applying.values(), return_exceptions=True)

    # -- deciding --------------------------------------------------------------------------------------------
    def _decide(self, proposal: ModelProposal, source: str) -> Decision:
        self._next_id += 1
        decision = Decision(id=f"prop_{self._next_id}", proposal=proposal, source=source, status="pending",
                            created_at=iso_utc(self._clock.now()))
        self._decisions[decision.id] = decision
        refusal = self._refusal(proposal)
        if refusal is not None:
            self._finish(decision, "refused", refusal)
        else:
            self._supersede(decision)
            if self.config.auto_apply:
                self._start_apply(decision, "auto-applied")
            else:
                self._notify(decision)
        self._trim()
        return decision

    def _refusal(self, proposal: ModelProposal) -> str | None:
        scope = proposal.scope
        if scope != "global" and self._scope_known is not None and not self._scope_known(scope):
            return f"scope: {scope!r} is not an underlying or trading symbol of this desk"
        _, active = self._models.for_scope(proposal.kind, scope, proposal.lane)
        return self.guardrails.check(proposal, active, now_s=self._clock.monotonic())

    def _supersede(self, decision: Decision) -> None:
        """An older pending proposal for the same model is stale once a newer one passed the guardrails."""
        p = decision.proposal
        for other in list(self._decisions.values()):
            q = other.proposal
            if other is not decision and other.status == "pending" and (q.kind, q.scope, q.lane) == (
                p.kind, p.scope, p.lane
            ):
                self._finish(other, "rejected", f"superseded by {decision.id}")

    def _start_apply(self, decision: Decision, how: str) -> None:
        proposal = decision.proposal
        scope, active = self._models.for_scope(proposal.kind, proposal.scope, proposal.lane)
        decision.replaces, decision.replaces_scope = dump_model(active), scope
        now = self._clock.monotonic()
        self.guardrails.record_applied(proposal, now)
        try:
            result = self._apply(proposal, decision.source)
        except Exception as exc:
            self._failed(decision, exc)
            return
        if not inspect.isawaitable(result):
            self._finish(decision, "applied", how)
            return
        decision.status = "applying"
        self._notify(decision)
        future = asyncio.ensure_future(_awaited(result))
        self._applying[decision.id] = future
        future.add_done_callback(lambda f: self._applied(decision, how, f))

    def _applied(self, decision: Decision, how: str, future: asyncio.Future[Any]) -> None:
        self._applying.pop(decision.id, None)
        if future.cancelled():
            self._failed(decision, RuntimeError("cancelled before it was applied"))
        elif (exc := future.exception()) is not None:
            self._failed(decision, exc)
        else:
            self._finish(decision, "applied", how)

    def _failed(self, decision: Decision, exc: BaseException) -> None:
        self.guardrails.forget_applied(decision.proposal)
        errors = getattr(exc, "errors", None)
        text = "; ".join(errors) if isinstance(errors, list) and errors else str(exc) or type(exc).__name__
        self._finish(decision, "failed", f"apply: {text}")

    def _finish(self, decision: Decision, status: DecisionStatus, reason: str) -> None:
        decision.status = status
        decision.reason = reason
        decision.decided_at = iso_utc(self._clock.now())
        p = decision.proposal
        log.info("proposal %s (%s %s/%s of %s from %s): %s - %s", decision.id, p.kind, p.lane, p.model.get("type"),
                 p.scope, decision.source, status, reason)
        self._notify(decision)

    def _notify(self, decision: Decision) -> None:
        for listener in list(self._listeners):
            listener(decision.model_copy())

    def _find(self, decision_id: str) -> Decision:
        decision = self._decisions.get(decision_id)
        if decision is None:
            raise UnknownProposal(f"proposal {decision_id!r}: no such proposal")
        return decision

    def _pending(self, decision_id: str) -> Decision:
        decision = self._find(decision_id)
        if decision.status != "pending":
            raise ProposalNotPending(f"proposal {decision_id!r} is {decision.status}, not pending")
        return decision

    async def _settled(self, decision_id: str) -> None:
        future = self._applying.get(decision_id)
        if future is not None:
            await asyncio.gather(future, return_exceptions=True)

    def _trim(self) -> None:
        """Keep `history_limit` decided proposals (the oldest go first); pending and applying ones always stay."""
        extra = len(self._decisions) - self.config.history_limit
        if extra <= 0:
            return
        for decision_id in [d.id for d in self._decisions.values() if d.status in FINAL][:extra]:
            del self._decisions[decision_id]


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result
