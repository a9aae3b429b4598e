"""Learning in a replay: the host on the run's virtual clock, auto-applying through the engine's switch, and the
report that becomes the outcome's `learning` section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imperium_desk.clock import Clock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels, ModelSource
from imperium_desk.feedback.learning.factory import build_learner_host
from imperium_desk.feedback.learning.host import ApplyFn, LearnerHost
from imperium_desk.feedback.learning.plugin import load_factories
from imperium_desk.feedback.learning.report import LearningReport
from imperium_desk.rng import RandomStreams

RecordListener = Callable[[dict[str, Any]], None]


class ReplayLearning:
    """Created before a replay writes anything (an unknown learner is an input error: `LearnerLoadError`), then
    attached to the engine of the run it measures."""

    def __init__(self, config: LearningConfig) -> None:
        self.config = config
        self._factories = load_factories(config)
        self.host: LearnerHost | None = None
        self._report: LearningReport | None = None

    def attach(
        self,
        *,
        clock: Clock,
        models: ModelSource,
        underlying_of: Callable[[str], str | None],
        apply: ApplyFn,
        streams: RandomStreams,
        add_listener: Callable[[RecordListener], None],
        tick_size: Callable[[str], float | None] | None = None,
    ) -> None:
        self.host = build_learner_host(self.config, clock=clock, models=models, underlying_of=underlying_of,
                                       apply=apply, streams=streams, tick_size=tick_size, factories=self._factories)
        self._report = LearningReport(ConfiguredModels(models, underlying_of), tick_size)
        add_listener(self._report.add)
        add_listener(self.host.on_record)

    def summary(self) -> dict[str, Any] | None:
        """The outcome's `learning` section (None when never attached)."""
        if self.host is None or self._report is None:
            return None
        return self._report.summary(self.host.proposals(), learners=self.host.learners,
                                    auto_apply=self.config.auto_apply)
