"""The learner plugin interface and its discovery.

A learner is found by name in the `imperium_desk.learners` entry-point group; the entry point is a factory
(a class or function) called with a `LearnerContext` and returning a `Learner`. A package ships one with

    [project.entry-points."imperium_desk.learners"]
    my_learner = "my_package.module:MyLearner"

and the desk runs it when `feedback.learning.learners` names it. Learners see every telemetry record as it is
written (`on_record`, synchronously: keep it cheap, batch anything heavy) and every scenario outcome; what they
return goes through the host's guardrails. Out-of-process learners post proposals over REST instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from imperium_desk.clock import Clock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels
from imperium_desk.feedback.learning.model_stats import StatsCache
from imperium_desk.feedback.learning.proposal import ModelProposal
from imperium_desk.rng import RandomStreams

GROUP = "imperium_desk.learners"


@runtime_checkable
class Learner(Protocol):
    """What a learner plugin implements (module docstring). Both methods are called on the desk's loop thread (a
    replay's, in a replay) and must not block; a record is the same dict the telemetry writer serialises, so a learner
    must not change it. What they return is decided on the next loop turn, through the guardrails, never inside the
    call. An exception is logged and counted and that call's output dropped; the learner keeps receiving records."""

    @property
    def name(self) -> str: ...

    def on_record(self, record: Mapping[str, Any]) -> Sequence[ModelProposal]:
        """Called for every record as it is written, on the loop: return at once (usually `()`)."""
        ...

    def on_outcome(self, outcome: Mapping[str, Any]) -> Sequence[ModelProposal]:
        """A scenario outcome ({scenario_id, seed, outcome, metrics} or a replay's outcome document)."""
        ...


@dataclass(frozen=True)
class LearnerContext:
    """What a learner may read: its options, the configured models, the clock and named random streams (a
    learner that draws takes `streams.stream("learner", name)`, so runs stay reproducible)."""

    name: str
    config: LearningConfig
    models: ConfiguredModels
    clock: Clock
    streams: RandomStreams
    stats: StatsCache = field(default_factory=StatsCache)
    tick_size: Callable[[str], float | None] | None = None  # a trading symbol's tick (slippage in ticks)

    @property
    def options(self) -> Mapping[str, Any]:
        return self.config.options.get(self.name, {})


LearnerFactory = Callable[[LearnerContext], Learner]


class LearnerLoadError(ValueError):
    """A configured learner is not installed, does not load, or is not a learner; `errors` name the field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def installed() -> dict[str, EntryPoint]:
    """Every learner entry point, by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_factories(
    config: LearningConfig, where: str = "feedback.learning.learners"
) -> list[tuple[str, LearnerFactory]]:
    """The configured learners' factories, in order; every problem reported at once."""
    found = installed()
    factories: list[tuple[str, LearnerFactory]] = []
    errors: list[str] = []
    for i, name in enumerate(config.learners):
        ep = found.get(name)
        if ep is None:
            have = ", ".join(sorted(found)) or "none"
            errors.append(f"{where}.{i}: no learner {name!r} is installed (entry point group {GROUP}: {have})")
            continue
        try:
            factory = ep.load()
        except Exception as exc:
            errors.append(f"{where}.{i}: learner {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}")
            continue
        if not callable(factory):
            errors.append(f"{where}.{i}: learner {name!r} ({ep.value}) is not callable")
            continue
        factories.append((name, factory))
    if errors:
        raise LearnerLoadError(errors)
    return factories


def build_learners(factories: Sequence[tuple[str, LearnerFactory]], context_for: Callable[[str], LearnerContext],
                   where: str = "feedback.learning.learners") -> list[Learner]:
    """One learner per factory, checked against the protocol."""
    learners: list[Learner] = []
    errors: list[str] = []
    for i, (name, factory) in enumerate(factories):
        try:
            learner = factory(context_for(name))
        except Exception as exc:
            errors.append(f"{where}.{i}: learner {name!r} could not be built: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(learner, Learner):
            errors.append(f"{where}.{i}: {name!r} built a {type(learner).__name__}, which lacks name/on_record/"
                          "on_outcome")
            continue
        learners.append(learner)
    if errors:
        raise LearnerLoadError(errors)
    return learners
