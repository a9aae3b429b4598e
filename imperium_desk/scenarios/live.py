"""A drill run against the live paper session: the scenario's orders and events on the wall clock.

The orders go through the desk's own submit (they show in the blotter like the trader's), the events through the
event injector (market, models, broker, risk), and the drill's execution quality is measured from the records of
its own parents. The comparison it ends with is the same as a replay's outcome: the drill against the same orders
with no events, here a virtual-clock replay of the calm scenario on the drill's seed (computed off the loop while
the drill runs), because a live market cannot be run twice.

Stopping a drill ends its active events at once (the desk is back to its configured state), stops placing orders
and cancels the drill's parents still working; the outcome then covers what ran.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from imperium_desk.clock import Clock
from imperium_desk.execution.request import ExecutionRequest, ParentResult
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.scenarios.injector import ActiveEvent, EventInjector
from imperium_desk.scenarios.outcome import OutcomeMetrics, compare
from imperium_desk.scenarios.runner import ScenarioRunner
from imperium_desk.scenarios.spec import ScenarioSpec

Submit = Callable[[ExecutionRequest], tuple[str, Awaitable[ParentResult]]]  # (parent id, its result)
CancelParents = Callable[[set[str]], Awaitable[None]]


class DrillState(enum.StrEnum):
    """Where a drill is: RUNNING until its orders are done (FINISHED), it is stopped (STOPPED) or it breaks (FAILED,
    with the error). The outcome comes after the state changes, once the baseline is in."""

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ActiveEventView:
    """One event in force as the desk shows it; times are seconds since the drill started."""

    label: str  # events.N or events.N[k]
    type: str
    target: str | None
    started_s: float  # drill time
    ends_s: float | None  # drill time, None: until the drill ends


@dataclass(frozen=True, slots=True)
class DrillView:
    """What the desk shows of a drill: progress, the events active now, the timeline so far, the outcome."""

    id: str
    description: str
    duration_s: float
    state: DrillState
    elapsed_s: float
    active: list[ActiveEventView]
    timeline: list[dict[str, Any]]
    parents: int
    outcome: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class _ParentFilter:
    """Forwards the records of the drill's own parents (a trader's orders during the drill are not its)."""

    target: Callable[[Record], None]
    parent_ids: set[str] = field(default_factory=set)

    def __call__(self, record: Record) -> None:
        if record.get("parent_id") in self.parent_ids:
            self.target(record)


class LiveDrill:
    """One drill on the desk's loop (module docstring), started by constructing it; every method is called on that loop.
    While it runs, every record the tracker writes carries the drill's scenario id, and the records of its own parents
    feed its metrics. `view` is a snapshot a caller may keep. `stop` returns once the events are undone, the drill's
    working parents cancelled and the outcome worked out (when the baseline came through)."""

    def __init__(
        self,
        spec: ScenarioSpec,
        runner_factory: Callable[[Callable[[ExecutionRequest], Awaitable[ParentResult]]], ScenarioRunner],
        *,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        injector: EventInjector,
        tracker: FillQualityTracker,
        submit: Submit,
        cancel_parents: CancelParents,
        baseline: Awaitable[dict[str, Any]],
        seed: int,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self._clock = clock
        self._injector = injector
        self._tracker = tracker
        self._submit = submit
        self._cancel_parents = cancel_parents
        self._baseline = baseline
        self._metrics = OutcomeMetrics()
        self._filter = _ParentFilter(self._metrics)
        self._runner = runner_factory(self._execute)
        self._results: list[Awaitable[ParentResult]] = []
        self._started = clock.monotonic()
        self._stopped_at: float | None = None
        self.state = DrillState.RUNNING
        self.outcome: dict[str, Any] | None = None
        self.error: str | None = None
        self._previous_scenario = tracker.scenario_id
        tracker.scenario_id = spec.id  # every record written while the drill runs is under its conditions
        tracker.add_listener(self._filter)
        self._stop_requested = False
        self.task: asyncio.Task[None] = loop.create_task(self._run(), name=f"drill-{spec.id}")

    # -- the drill's orders ----------------------------------------------------------------------------------
    async def _execute(self, request: ExecutionRequest) -> ParentResult:
        parent_id, result = self._submit(request)
        self._filter.parent_ids.add(parent_id)
        return await result

    async def _run(self) -> None:
        try:
            await self._runner.run()
            self.state = DrillState.FINISHED
        except asyncio.CancelledError:
            self.state = DrillState.STOPPED
        except Exception as exc:  # a drill that breaks must still give the desk back its configured state
            self.state = DrillState.FAILED
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._stopped_at = self._clock.monotonic()
            self._injector.stop()
            if self.state is not DrillState.FINISHED:
                await self._cancel_parents(set(self._filter.parent_ids))
            self._tracker.scenario_id = self._previous_scenario
        try:
            baseline = await self._baseline
        except Exception as exc:
            self.error = self.error or f"no baseline: {type(exc).__name__}: {exc}"
        else:
            self.outcome = compare(self.spec.id, self.seed, self._metrics.summary(), baseline)
        finally:
            self._tracker.remove_listener(self._filter)

    async def stop(self) -> None:
        """End the drill now: events undone, no more orders, its working parents cancelled."""
        if not self.task.done():
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    # -- what the desk shows ---------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        end = self._stopped_at if self._stopped_at is not None else self._clock.monotonic()
        return round(min(end - self._started, self.spec.duration_s), 3)

    def view(self) -> DrillView:
        return DrillView(
            id=self.spec.id,
            description=self.spec.description,
            duration_s=self.spec.duration_s,
            state=self.state,
            elapsed_s=self.elapsed_s,
            active=[_active_view(a) for a in self._injector.active],
            timeline=list(self._injector.timeline),
            parents=len(self._filter.parent_ids),
            outcome=self.outcome,
            error=self.error,
        )


def _active_view(active: ActiveEvent) -> ActiveEventView:
    event = active.timed.event
    duration = getattr(event, "duration_s", None)
    return ActiveEventView(
        label=active.timed.label,
        type=event.type,
        target=getattr(event, "target", None),
        started_s=active.started_at_s,
        ends_s=None if duration is None else round(active.started_at_s + duration, 6),
    )
