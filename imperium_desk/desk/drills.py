"""Scenario drills in the running desk: the library, a drill's preview, and one drill at a time run against the
live paper session (its orders through the desk's own stack, its events on the wall clock), with its no-event
baseline computed in a child process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imperium_desk.clock import VirtualClock, WallClock
from imperium_desk.config import Config, ConfigError
from imperium_desk.desk.engine import Engine
from imperium_desk.desk.events import DeskEvent, DrillEvent, DrillPreview, MessageEvent
from imperium_desk.desk.replay import no_event_summary
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.offload import Offloader
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.injector import ActiveEvent
from imperium_desk.scenarios.library import DrillInfo, DrillSource, live_problems, scan, shipped_scenarios_dir
from imperium_desk.scenarios.live import CancelParents, DrillState, DrillView, LiveDrill, Submit
from imperium_desk.scenarios.runner import ScenarioRunner
from imperium_desk.scenarios.spec import LoadedScenario, ModelSwitchEvent, load_scenario
from imperium_desk.scenarios.timeline import TimedEvent, expand_timeline


def drill_timeline(scenario: LoadedScenario) -> list[TimedEvent]:
    """A drill's events as a run of its seed fires them (random ones drawn as a replay draws them)."""
    streams = RandomStreams(scenario.spec.seed)
    return expand_timeline(scenario.spec, streams.stream("scenario", "random"), scenario.path.parent)


def timeline_row(timed: TimedEvent) -> dict[str, Any]:
    """One timeline entry as the drills panel lists it."""
    event = timed.event
    params = event.model_dump(mode="json", exclude={"type", "at_s", "underlying", "symbol", "duration_s"},
                              exclude_none=True)
    target = event.scope if isinstance(event, ModelSwitchEvent) else event.target
    return {"at_s": timed.at_s, "event": timed.label, "type": event.type, "target": target,
            "duration_s": getattr(event, "duration_s", None), "params": params}


class DeskDrills:
    """The drills side of the running desk. Called on the loop; file reads run off it, the baseline in a child
    process. `drill` is the drill running now, or the last one (its outcome); one runs at a time.

    The desk hands in what a drill needs of it as callables: `submit` places a parent through the desk (so it shows
    in the blotter), `cancel_parents` cancels some, `stopping` says the desk's stop has begun, `models` gives the
    active models (the baseline runs with them), `record_outcome` logs an outcome (and hands it to the learners).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        config: Config,
        clock: WallClock | VirtualClock,
        offload: Offloader,
        emit: Callable[[DeskEvent], None],
        drills_dir: Path,
        submit: Submit,
        cancel_parents: CancelParents,
        stopping: Callable[[], bool],
        models: Callable[[], tuple[LatencyModels, SlippageModels]],
        record_outcome: Callable[[dict[str, Any]], object],
    ) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._offload = offload
        self._emit = emit
        self.drills_dir = drills_dir  # the trader's own drills, listed after the shipped ones
        self._submit = submit
        self._cancel_parents = cancel_parents
        self._stopping = stopping
        self._models = models
        self._record_outcome = record_outcome
        self.drill: LiveDrill | None = None

    async def library(self) -> list[DrillInfo]:
        """The shipped drills, then the trader's (`<home>/scenarios/`), each checked against this desk."""
        folders: list[tuple[Path, DrillSource]] = [(shipped_scenarios_dir(), "shipped"), (self.drills_dir, "user")]
        catalog, underlyings = self._engine.catalog, list(self._engine.market.underlyings)
        market_events = self._engine.simulator is not None
        return await self._offload.thread(
            lambda: scan(folders, catalog, underlyings, market_events=market_events), "drill-library")

    async def preview(self, path: Path) -> DrillPreview:
        """A drill's description, event timeline (random events drawn from its seed) and order count.
        Raises ConfigError (field paths) for a file that cannot run here."""
        scenario = await self._offload.thread(lambda: self._load(path), "drill-load")
        spec = scenario.spec
        orders = sum(len(o.times(spec.duration_s)) for o in spec.orders)
        info = DrillInfo(path, "user" if path.parent == self.drills_dir else "shipped", spec.id, spec.description,
                         spec.duration_s, len(spec.orders), len(spec.events), None)
        return DrillPreview(info, [timeline_row(t) for t in drill_timeline(scenario)], orders)

    async def start(self, path: Path) -> DrillView:
        """Run a drill against the live paper session: its orders through the stack, its events on the wall
        clock. One drill at a time; raises ConfigError for a file that cannot run here (nothing starts)."""
        self._check_can_start()
        scenario = await self._offload.thread(lambda: self._load(path), "drill-load")
        self._check_can_start()  # again: a second start (or the desk's stop) may have come while it loaded
        spec = scenario.spec
        engine = self._engine
        latency, slippage = self._models()
        calm_config = self._config.model_copy(update={"latency_model": latency, "slippage_model": slippage})
        calm = scenario.model_copy(update={"spec": spec.model_copy(update={"events": []})})

        def runner(execute: Callable[[ExecutionRequest], Any]) -> ScenarioRunner:
            return ScenarioRunner(spec, clock=self._clock, stack=engine.stack, market=engine.feed,
                                  catalog=engine.catalog, timeline=drill_timeline(scenario),
                                  on_event=injector.start, execute=execute, source="drill")

        injector = engine.event_injector(on_change=self._changed)
        drill = LiveDrill(
            spec, runner, loop=self._clock.loop, clock=self._clock, injector=injector, tracker=engine.tracker,
            submit=self._submit, cancel_parents=self._cancel_parents, seed=spec.seed,
            baseline=self._offload.process(
                "drill-baseline", no_event_summary, (calm, calm_config, engine.catalog, spec.seed),
                preload=[no_event_summary.__module__],
            ),
        )
        self.drill = drill
        drill.task.add_done_callback(lambda _t: self._done(drill))
        self._emit(DrillEvent("started", drill.view()))
        self._emit(MessageEvent(f"drill {spec.id} started ({spec.duration_s:g} s)"))
        return drill.view()

    async def stop(self) -> DrillView | None:
        """Stop the running drill (events undone, its parents cancelled); its outcome covers what ran."""
        drill = self.drill
        if drill is None:
            return None
        await drill.stop()
        return drill.view()

    def _check_can_start(self) -> None:
        if self._engine.faults is None:
            # A drill places its orders through the desk's stack: never against a live account.
            raise ConfigError(["drills run on the paper exchange: paper or paper-live-data mode, never live"])
        if self._stopping():
            raise ConfigError(["desk: stopping; no drill can start"])
        if self.drill is not None and self.drill.state is DrillState.RUNNING:
            raise ConfigError([f"drill {self.drill.spec.id!r} is running: stop it first"])

    def _load(self, path: Path) -> LoadedScenario:
        scenario = load_scenario(path)
        problems = live_problems(scenario, self._engine.catalog, list(self._engine.market.underlyings),
                                 market_events=self._engine.simulator is not None)
        if problems:
            raise ConfigError(problems)
        return scenario

    def _changed(self, active: ActiveEvent, phase: str) -> None:
        if self.drill is not None:  # None only while the drill is being built (no event fires then)
            self._emit(DrillEvent(f"event_{phase}", self.drill.view()))

    def _done(self, drill: LiveDrill) -> None:
        view = drill.view()
        if view.outcome is not None:
            # Logged as a `scenario_outcome` record (webhooks, the stream, the index) and, with the feedback API
            # running, handed to the learners as a posted outcome is.
            self._record_outcome({
                "scenario_id": view.id, "seed": drill.seed, "outcome": view.outcome,
                "metrics": {"state": view.state.value, "elapsed_s": view.elapsed_s, "parents": view.parents},
            })
        self._emit(DrillEvent(view.state.value, view))
        text = f"drill {drill.spec.id} {view.state.value} after {view.elapsed_s:g} s"
        self._emit(MessageEvent(text + (f": {view.error}" if view.error else "")))
