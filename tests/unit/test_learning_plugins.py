"""Learner discovery through the `imperium_desk.learners` entry-point group: the shipped learner, a learner
another installed package ships, and the errors a bad name or a bad plugin gives."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from imperium_desk.clock import VirtualClock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.factory import build_learner_host
from imperium_desk.feedback.learning.plugin import GROUP, LearnerLoadError, installed, load_factories
from imperium_desk.feedback.learning.proposal import ModelProposal
from imperium_desk.feedback.learning.recalibration import RecalibrationLearner
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams

PLUGIN = '''
from imperium_desk.feedback.learning.proposal import ModelProposal


class AcmeLearner:
    def __init__(self, context):
        self.name = context.name
        self.median_ms = context.options["median_ms"]

    def on_record(self, record):
        if record["event"] != "fill":
            return ()
        return [ModelProposal(kind="latency", scope="NIFTY", learner=self.name,
                              model={"type": "lognormal", "median_ms": self.median_ms, "sigma": 0.2})]

    def on_outcome(self, outcome):
        return ()


def not_a_learner(context):
    return object()
'''


def install(site: Path, entry_points: dict[str, str], module: str = PLUGIN) -> None:
    """A package installed the ordinary way: a module and its dist-info with entry_points.txt, on sys.path. Each
    test's module is named after its own tmp dir: an imported module stays in sys.modules."""
    name = f"acme_{site.name.replace('-', '_')}"
    (site / f"{name}.py").write_text(module)
    entry_points = {k: v.replace("acme_learner:", f"{name}:") for k, v in entry_points.items()}
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-learner\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_shipped_learner_is_found_by_its_entry_point() -> None:
    [(name, factory)] = load_factories(LearningConfig(learners=("recalibration",)))
    assert name == "recalibration" and factory is RecalibrationLearner


def test_an_unknown_learner_is_named_with_its_config_path() -> None:
    with pytest.raises(LearnerLoadError) as info:
        load_factories(LearningConfig(learners=("recalibration", "nope")))
    assert info.value.errors[0].startswith("feedback.learning.learners.1: no learner 'nope' is installed")
    assert "recalibration" in info.value.errors[0]


def test_a_learner_from_another_package_is_discovered_and_fed(site: Path) -> None:
    install(site, {"acme": "acme_learner:AcmeLearner"})
    assert "acme" in installed()
    clock = VirtualClock(1_800_000_000.0)
    latency = LatencyModels.model_validate({"global": {"type": "lognormal", "median_ms": 50, "sigma": 0.2}})
    resolver = ModelResolver(latency, SlippageModels())
    applied: list[ModelProposal] = []
    config = LearningConfig(enabled=True, auto_apply=True, learners=("acme",), options={"acme": {"median_ms": 80}})
    host = build_learner_host(
        config, clock=clock, models=resolver, underlying_of=lambda s: s if s == "NIFTY" else None,
        apply=lambda p, source: applied.append(p), streams=RandomStreams(1),
    )

    async def main() -> None:
        host.on_record({"seq": 1, "event": "fill"})
        await asyncio.sleep(0)

    clock.run(main())
    assert host.learners == ["acme"] and [p.parsed.median_ms for p in applied] == [80.0]
    assert host.proposals()[0].source == "learner:acme"


def test_a_plugin_that_builds_no_learner_is_refused(site: Path) -> None:
    install(site, {"odd": "acme_learner:not_a_learner"})
    with pytest.raises(LearnerLoadError, match=r"learners\.0: 'odd' built a object"):
        build_learner_host(
            LearningConfig(enabled=True, learners=("odd",)), clock=VirtualClock(0.0),
            models=ModelResolver(LatencyModels(), SlippageModels()), underlying_of=lambda s: None,
            apply=lambda p, source: None, streams=RandomStreams(1),
        )


def test_a_plugin_that_fails_to_import_is_reported(site: Path) -> None:
    install(site, {"broken": "acme_learner:AcmeLearner"}, module=textwrap.dedent("raise ImportError('no numpy 9')"))
    with pytest.raises(LearnerLoadError, match=r"learner 'broken' \(.*\) failed to load: ImportError: no numpy 9"):
        load_factories(LearningConfig(learners=("broken",)))


def test_a_disabled_host_runs_no_learner_but_takes_proposals() -> None:
    host = build_learner_host(
        LearningConfig(enabled=False, learners=("nope",)), clock=VirtualClock(0.0),
        models=ModelResolver(LatencyModels(), SlippageModels()), underlying_of=lambda s: None,
        apply=lambda p, source: None, streams=RandomStreams(1),
    )
    assert host.learners == []
