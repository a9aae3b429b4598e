"""Building a learner host from the `feedback.learning` config: the configured learners found by entry point and
built with their context. The desk (live) and a replay both come through here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imperium_desk.clock import Clock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels, ModelSource
from imperium_desk.feedback.learning.host import ApplyFn, LearnerHost
from imperium_desk.feedback.learning.model_stats import StatsCache
from imperium_desk.feedback.learning.plugin import LearnerContext, LearnerFactory, build_learners, load_factories
from imperium_desk.rng import RandomStreams


def build_learner_host(
    config: LearningConfig,
    *,
    clock: Clock,
    models: ModelSource,
    underlying_of: Callable[[str], str | None],
    apply: ApplyFn,
    streams: RandomStreams,
    tick_size: Callable[[str], float | None] | None = None,
    factories: Sequence[tuple[str, LearnerFactory]] | None = None,
) -> LearnerHost:
    """The host, with the configured learners when `config.enabled` (none otherwise: REST proposals only).

    `models` is the engine's `ModelResolver`; `underlying_of(scope)` names a scope's underlying (None for an
    unknown one: proposals for it are refused); `apply(proposal, source)` switches the model (see `LearnerHost`).
    `factories` skips discovery (a replay loads them once, before anything is written). Raises `LearnerLoadError`.
    """
    configured = ConfiguredModels(models, underlying_of)
    stats = StatsCache()
    learners = []
    if config.enabled:
        found = load_factories(config) if factories is None else factories

        def context_for(name: str) -> LearnerContext:
            return LearnerContext(name, config, configured, clock, streams, stats, tick_size)

        learners = build_learners(found, context_for)
    return LearnerHost(config, clock=clock, models=configured, apply=apply, learners=learners,
                       scope_known=lambda scope: underlying_of(scope) is not None, stats=stats)
