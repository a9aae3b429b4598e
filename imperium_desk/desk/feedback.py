"""The running desk as the feedback API sees it (`DeskFeedback`), and the API's start and stop (`FeedbackApi`).

Records are read from the desk's telemetry index; measurements and outcomes are written through its tracker, so
they flow like the desk's own records (JSONL, index, stream, webhooks, learners); models are switched the way the
models panel switches them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from imperium_desk.config import ConfigError
from imperium_desk.desk.events import ModelsChanged
from imperium_desk.domain.instruments import InstrumentError
from imperium_desk.feedback.backend import (
    ActiveModelRow,
    FeedbackInputError,
    FeedbackStartError,
    FieldProblem,
    MetricsQuery,
    ModelChange,
    RecordListener,
)
from imperium_desk.feedback.learning.factory import build_learner_host
from imperium_desk.feedback.learning.host import LearnerHost
from imperium_desk.feedback.learning.plugin import LearnerLoadError
from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.model_input import ModelConfigError, model_path
from imperium_desk.models.resolver import ModelResolver, ModelSwitch, ModelSwitchError
from imperium_desk.telemetry.factory import default_desk_id
from imperium_desk.telemetry.schema import iso_utc
from imperium_desk.telemetry.sqlite_index import IndexReader

if TYPE_CHECKING:
    from imperium_desk.desk.desk import Desk
    from imperium_desk.execution.tracker import Record
    from imperium_desk.feedback.server import FeedbackServer
    from imperium_desk.feedback.webhooks.service import WebhookService


class DeskFeedback:
    """`FeedbackBackend` (feedback/backend.py) over a running desk; its contract is that protocol's.

    It uses the desk's public parts only: the engine's tracker and models, `desk.models` (parsing and the active
    models), `desk.offload` (work off the loop), `desk.events` (the window hears of a REST model switch) and
    `desk.wait_indexed` (a read waits for the index to hold what the desk accepted).
    """

    def __init__(self, desk: Desk, *, webhooks: WebhookService | None = None,
                 learning: LearnerHost | None = None) -> None:
        self._desk = desk
        self._reader = IndexReader(desk.telemetry_index_path)
        self._listeners: list[RecordListener] = []
        desk.engine.tracker.add_listener(self._fan_out)
        self.webhooks = webhooks
        self.learning = learning
        self._unhook: list[Callable[[], None]] = []
        if learning is not None:
            self._unhook.append(self.subscribe(learning.on_record))
            if webhooks is not None:
                self._unhook.append(learning.add_listener(self._publish_decision))

    def close(self) -> None:
        """Stop handing records out and close the index reader (the services are `aclose`'s)."""
        for unhook in self._unhook:
            unhook()
        self._listeners.clear()
        self._reader.close()

    async def aclose(self) -> None:
        """`close`, then the learner host (changes being applied finish) and the webhook outbox."""
        self.close()
        if self.learning is not None:
            await self.learning.close()
        if self.webhooks is not None:
            await self.webhooks.stop()

    def _publish_decision(self, decision: Decision) -> None:
        """Each proposal's decision (pending, applied, refused, ...) to the webhook subscribers that want them."""
        assert self.webhooks is not None
        try:
            self.webhooks.publish("model_proposal", decision.model_dump(mode="json"))
        except Exception:  # a listener must not break the host's decision; the outbox logs its own failures
            logging.getLogger(__name__).exception("could not publish decision %s to webhooks", decision.id)

    # -- records -------------------------------------------------------------------------------------------
    def metrics_lines(self, query: MetricsQuery) -> list[tuple[int, bytes]]:
        return self._reader.query_lines(since_seq=query.since_seq, since_time=query.since_time, asset=query.asset,
                                        scenario_id=query.scenario_id, limit=query.limit)

    def last_seq(self) -> int:
        return self._desk.engine.tracker.seq

    def wait_indexed(self, seq: int, timeout_s: float) -> bool:
        return self._desk.wait_indexed(seq, timeout_s)

    def subscribe(self, listener: RecordListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _fan_out(self, record: Record) -> None:
        for listener in self._listeners:
            listener(record)

    def ingest_metrics(self, records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        tracker = self._desk.engine.tracker
        received = iso_utc(self._desk.clock.now())
        first = tracker.seq + 1
        for record in records:
            tracker.external(dict(record), {"seq": record.get("seq"), "received_at": received, "via": "rest"})
        return first, tracker.seq

    def record_outcome(self, outcome: Mapping[str, Any]) -> int:
        seq = self._desk.engine.tracker.scenario_outcome(dict(outcome))
        if self.learning is not None:
            self.learning.on_outcome(outcome)
        return seq

    # -- models --------------------------------------------------------------------------------------------
    def models(self) -> list[ActiveModelRow]:
        return [ActiveModelRow(r.asset, r.kind, r.lane, r.scope, r.params) for r in self._desk.model_rows()]

    async def put_models(self, changes: Sequence[ModelChange], source: str) -> list[ModelSwitch]:
        """Every change validated (models parsed off the loop, then all switches tried on a scratch resolver), then
        all applied at once on the loop: one bad change applies none."""
        desk = self._desk

        def parse_all() -> list[tuple[Any, list[FieldProblem]]]:
            parsed: list[tuple[Any, list[FieldProblem]]] = []
            for i, change in enumerate(changes):
                if change.model is None:
                    parsed.append((None, []))
                    continue
                where = model_path(change.kind, change.scope, change.lane)
                try:
                    parsed.append((desk.models.parse_now(change.kind, change.model, where), []))
                except ModelConfigError as exc:
                    parsed.append((None, [FieldProblem(("body", "changes", i, "model"), e) for e in exc.errors]))
            return parsed

        parsed = await desk.offload.thread(parse_all, "model-parse")
        engine = desk.engine
        problems = [p for _, found in parsed for p in found]
        scratch = ModelResolver(*desk.models_config())  # the switches in order, as they would apply now
        for i, (change, (model, found)) in enumerate(zip(changes, parsed, strict=True)):
            if found:
                continue
            if model is not None and change.scope != "global" and engine.underlying_of_scope(change.scope) is None:
                problems.append(FieldProblem(("body", "changes", i, "scope"), (
                    f"{change.scope!r} is not global, a simulated underlying ({', '.join(desk.underlyings)}) or a "
                    "known trading symbol")))
                continue
            try:
                scratch.switch(change.kind, change.scope, model, lane=change.lane, source=source)
            except ModelSwitchError as exc:
                problems.append(FieldProblem(("body", "changes", i), str(exc)))
        if problems:
            raise FeedbackInputError(problems)
        switches = [engine.switch_model(c.kind, c.scope, model, lane=c.lane, source=source)
                    for c, (model, _) in zip(changes, parsed, strict=True)]
        desk.events.emit(ModelsChanged(switches))
        return switches


class FeedbackApi:
    """The feedback API of one desk (DESIGN.md §6): its token, webhook outbox, learner host, app and server.

    Started and stopped on the desk's loop; `address` and `backend` are set while it runs. Not part of the desk's
    `start()`: the window and `serve` start it, tests and other desks do not.
    """

    def __init__(self, desk: Desk) -> None:
        self._desk = desk
        self.token_path = desk.home / "feedback.token"
        self.address: str | None = None
        self.backend: DeskFeedback | None = None
        self._server: FeedbackServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> str:
        """Serve the API on the desk's loop and return its address: the token (created in `token_path` on first
        start), the webhook outbox (`<home>/webhooks.sqlite`), the learner host, the app and its server. Raises
        ConfigError (port in use, remote host not allowed, unusable token file, unknown learner)."""
        desk = self._desk
        if self._server is not None or desk.stopping:
            raise RuntimeError("the feedback API is already started, or the desk is stopping")
        if "sqlite" not in desk.config.telemetry.sinks:
            raise ConfigError(["telemetry.sinks: the feedback API serves records from the SQLite index; add sqlite"])
        cfg = desk.config.feedback
        token_path = self.token_path

        def prepare() -> tuple[str, WebhookService | None]:
            # FastAPI, uvicorn and httpx take a while to import, and the token is a file: not on the loop.
            import imperium_desk.feedback.app
            import imperium_desk.feedback.server  # noqa: F401
            from imperium_desk.feedback.token import load_or_create_token
            from imperium_desk.feedback.webhooks.service import WebhookService
            from imperium_desk.feedback.webhooks.source import JsonlSource

            token = load_or_create_token(token_path)
            if not cfg.webhooks.enabled:
                return token, None
            source = JsonlSource(desk.telemetry_path, lambda: desk.telemetry_flushed_seq)
            desk_id = desk.config.telemetry.desk_id or default_desk_id(desk.telemetry_path)
            return token, WebhookService(desk.home / "webhooks.sqlite", cfg.webhooks, desk.clock, desk_id, source)

        from imperium_desk.feedback.app import build_app
        from imperium_desk.feedback.server import FeedbackServer

        backend: DeskFeedback | None = None
        try:
            token, webhooks = await desk.offload.thread(prepare, "feedback-start")
            learning = build_learner_host(
                cfg.learning, clock=desk.clock, models=desk.engine.models,
                underlying_of=desk.engine.underlying_of_scope, apply=self._apply_proposal,
                streams=desk.engine.streams, tick_size=self._tick_size,
            )
            backend = DeskFeedback(desk, webhooks=webhooks, learning=learning)
            if webhooks is not None:
                await webhooks.start()
            server = FeedbackServer(build_app(backend, token, cfg), cfg.host, cfg.port,
                                    allow_remote=cfg.allow_remote)
            address = await server.start()
        except (FeedbackStartError, LearnerLoadError) as exc:
            if backend is not None:
                await backend.aclose()
            raise ConfigError(exc.errors if isinstance(exc, LearnerLoadError) else [str(exc)]) from None
        except BaseException:
            if backend is not None:
                await backend.aclose()
            raise
        self._server, self.backend, self.address = server, backend, address
        if desk.stopping:
            # The desk began stopping while the API started: its stop did not see a server to stop, so stop it here.
            await self.stop()
            raise ConfigError(["desk: stopped while the feedback API was starting"])
        return address

    async def stop(self) -> None:
        """Stop the API (its streams ended, running requests finished), then the learner host and the webhook
        outbox; no task of theirs is left."""
        server, backend = self._server, self.backend
        self._server = self.backend = None
        self.address = None
        if server is not None:
            await server.stop()
        if backend is not None:
            await backend.aclose()

    def _apply_proposal(self, proposal: ModelProposal, source: str) -> Awaitable[ModelSwitch]:
        """The learner host's switch: the models panel's own, so a learner's change is validated and logged alike."""
        return self._desk.switch_model(proposal.kind, proposal.scope, proposal.model, lane=proposal.lane,
                                       source=source)

    def _tick_size(self, symbol: str) -> float | None:
        try:
            return self._desk.catalog.resolve(symbol).tick_size
        except InstrumentError:
            return None
