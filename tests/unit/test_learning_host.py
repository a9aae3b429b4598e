"""The learner host: proposals from learners and from outside go through the guardrails, then are applied
(auto-apply, on the next loop turn) or kept for accept/reject; every decision is kept and reported."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from imperium_desk.clock import VirtualClock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels
from imperium_desk.feedback.learning.host import LearnerHost, ProposalNotPending, UnknownProposal
from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelResolver

UNDERLYINGS = ("NIFTY", "BANKNIFTY")


def proposal(median_ms: float = 60.0, scope: str = "NIFTY") -> ModelProposal:
    return ModelProposal(kind="latency", scope=scope, learner="scripted",
                         model={"type": "lognormal", "median_ms": median_ms, "sigma": 0.2})


class Scripted:
    """A learner that proposes what it is told, on the record it is told."""

    name = "scripted"

    def __init__(self, on_seq: dict[int, Sequence[ModelProposal]] | None = None, fail: bool = False) -> None:
        self.on_seq = on_seq or {}
        self.fail = fail
        self.outcomes: list[Mapping[str, Any]] = []

    def on_record(self, record: Mapping[str, Any]) -> Sequence[ModelProposal]:
        if self.fail:
            raise RuntimeError("learner bug")
        return self.on_seq.get(record["seq"], ())

    def on_outcome(self, outcome: Mapping[str, Any]) -> Sequence[ModelProposal]:
        self.outcomes.append(outcome)
        return [proposal(70.0)]


class World:
    """A real resolver and virtual clock; `apply` switches the resolver and remembers when it ran."""

    def __init__(self, auto_apply: bool, learners: Sequence[Any] = (), min_interval_s: float = 10.0,
                 apply: Any = None) -> None:
        self.clock = VirtualClock(1_800_000_000.0)
        latency = LatencyModels.model_validate({"global": {"type": "lognormal", "median_ms": 50, "sigma": 0.2}})
        self.resolver = ModelResolver(latency, SlippageModels())
        self.applied: list[tuple[str, str]] = []
        config = LearningConfig(enabled=True, auto_apply=auto_apply,
                                guardrails={"min_interval_s": min_interval_s})  # type: ignore[arg-type]
        self.host = LearnerHost(
            config, clock=self.clock, models=ConfiguredModels(self.resolver, self.underlying_of),
            apply=apply or self.apply, learners=learners,
            scope_known=lambda scope: self.underlying_of(scope) is not None,
        )
        self.decisions: list[Decision] = []
        self.host.add_listener(self.decisions.append)

    @staticmethod
    def underlying_of(scope: str) -> str | None:
        return scope if scope in UNDERLYINGS else None

    def apply(self, p: ModelProposal, source: str) -> None:
        self.resolver.switch(p.kind, p.scope, p.parsed, lane=p.lane, source=source)
        self.applied.append((p.scope, source))

    def median(self, scope: str = "NIFTY") -> float:
        return float(self.resolver.resolve(scope, scope).latency.params["median_ms"])

    def run(self, coro: Any) -> Any:
        return self.clock.run(coro)


def record(seq: int) -> dict[str, Any]:
    return {"seq": seq, "event": "fill"}


async def next_turn() -> None:
    await asyncio.sleep(0)


def test_an_auto_applied_proposal_waits_for_the_next_loop_turn() -> None:
    w = World(auto_apply=True, learners=[Scripted({1: [proposal(60.0)]})])

    async def main() -> tuple[float, float]:
        w.host.on_record(record(1))
        during = w.median()  # still inside the record callback's turn
        await next_turn()
        return during, w.median()

    assert w.run(main()) == (50.0, 60.0)


def test_an_auto_applied_switch_names_the_learner_as_its_source() -> None:
    w = World(auto_apply=True, learners=[Scripted({1: [proposal(60.0)]})])

    async def main() -> None:
        w.host.on_record(record(1))
        await next_turn()

    w.run(main())
    assert w.applied == [("NIFTY", "learner:scripted")]
    assert [d.status for d in w.host.proposals()] == ["applied"]


def test_without_auto_apply_a_proposal_waits_pending() -> None:
    w = World(auto_apply=False, learners=[Scripted({1: [proposal(60.0)]})])

    async def main() -> None:
        w.host.on_record(record(1))
        await next_turn()

    w.run(main())
    assert [d.status for d in w.host.proposals()] == ["pending"] and w.median() == 50.0


def test_accept_applies_a_pending_proposal() -> None:
    w = World(auto_apply=False)

    async def main() -> Decision:
        pending = await w.host.propose(proposal(60.0))
        return await w.host.accept(pending.id)

    decision = w.run(main())
    assert decision.status == "applied" and w.median() == 60.0
    assert decision.replaces == {"type": "lognormal", "median_ms": 50.0, "sigma": 0.2}


def test_reject_keeps_the_model_and_records_the_reason() -> None:
    w = World(auto_apply=False)

    async def main() -> Decision:
        pending = await w.host.propose(proposal(60.0))
        return w.host.reject(pending.id, "not during the open")

    decision = w.run(main())
    assert (decision.status, decision.reason, w.median()) == ("rejected", "not during the open", 50.0)


def test_a_decided_proposal_cannot_be_accepted() -> None:
    w = World(auto_apply=False)

    async def main() -> None:
        pending = await w.host.propose(proposal(60.0))
        w.host.reject(pending.id)
        await w.host.accept(pending.id)

    with pytest.raises(ProposalNotPending, match="rejected"):
        w.run(main())


def test_an_unknown_proposal_id_is_reported() -> None:
    w = World(auto_apply=False)
    with pytest.raises(UnknownProposal, match="prop_9"):
        w.host.get("prop_9")


def test_a_proposal_failing_a_guardrail_is_refused_and_kept_with_its_reason() -> None:
    w = World(auto_apply=True)
    decision = w.run(w.host.propose(proposal(500.0)))
    assert decision.status == "refused" and decision.reason.startswith("rate of change")
    assert w.median() == 50.0 and w.host.proposals("refused")[0].id == decision.id


def test_a_proposal_for_an_unknown_scope_is_refused() -> None:
    w = World(auto_apply=True)
    decision = w.run(w.host.propose(proposal(60.0, scope="GOLD")))
    assert decision.status == "refused" and "GOLD" in decision.reason


def test_the_min_interval_refuses_a_second_auto_applied_change() -> None:
    w = World(auto_apply=True, min_interval_s=10.0)

    async def main() -> list[str]:
        first = await w.host.propose(proposal(60.0))
        await w.clock.sleep(5.0)
        second = await w.host.propose(proposal(70.0))
        await w.clock.sleep(6.0)
        third = await w.host.propose(proposal(70.0))
        return [first.status, second.status, third.status]

    assert w.run(main()) == ["applied", "refused", "applied"]


def test_a_newer_pending_proposal_supersedes_the_older_one() -> None:
    w = World(auto_apply=False)

    async def main() -> tuple[Decision, Decision]:
        old = await w.host.propose(proposal(60.0))
        new = await w.host.propose(proposal(65.0))
        return w.host.get(old.id), new

    old, new = w.run(main())
    assert old.status == "rejected" and old.reason == f"superseded by {new.id}" and new.status == "pending"


def test_accept_rechecks_the_guardrails() -> None:
    w = World(auto_apply=False, min_interval_s=10.0)

    async def main() -> Decision:
        pending = await w.host.propose(proposal(60.0))
        w.resolver.switch("latency", "NIFTY", proposal(400.0).parsed, source="panel")  # moved meanwhile
        return await w.host.accept(pending.id)

    decision = w.run(main())
    assert decision.status == "refused" and decision.reason.startswith("at accept: rate of change")


def test_an_async_apply_goes_through_applying_to_applied() -> None:
    async def slow_apply(p: ModelProposal, source: str) -> None:
        await asyncio.sleep(0)

    w = World(auto_apply=True, apply=slow_apply)
    decision = w.run(w.host.propose(proposal(60.0)))
    assert decision.status == "applied"
    assert [d.status for d in w.decisions] == ["applying", "applied"]


def test_an_apply_that_raises_marks_the_proposal_failed_with_the_error() -> None:
    class Refused(ValueError):
        def __init__(self) -> None:
            super().__init__("x")
            self.errors = ["latency_model.per_asset.NIFTY: refused by the desk"]

    async def failing_apply(p: ModelProposal, source: str) -> None:
        raise Refused

    w = World(auto_apply=True, apply=failing_apply)
    decision = w.run(w.host.propose(proposal(60.0)))
    assert decision.status == "failed"
    assert decision.reason == "apply: latency_model.per_asset.NIFTY: refused by the desk"


def test_a_learner_that_raises_does_not_stop_the_record_stream() -> None:
    healthy = Scripted({1: [proposal(60.0)]})
    w = World(auto_apply=True, learners=[Scripted(fail=True), healthy])

    async def main() -> None:
        w.host.on_record(record(1))
        await next_turn()

    w.run(main())
    assert w.host.learner_errors == 1 and w.median() == 60.0


def test_outcomes_reach_the_learners_and_their_proposals_are_decided() -> None:
    learner = Scripted()
    w = World(auto_apply=True, learners=[learner])

    async def main() -> None:
        w.host.on_outcome({"scenario_id": "drill", "seed": 1, "outcome": "pass", "metrics": {}})
        await next_turn()

    w.run(main())
    assert learner.outcomes[0]["scenario_id"] == "drill" and w.median() == 70.0


def test_an_unsubscribed_listener_hears_nothing_more() -> None:
    w = World(auto_apply=False)
    heard: list[Decision] = []
    remove = w.host.add_listener(heard.append)

    async def main() -> None:
        await w.host.propose(proposal(60.0))
        remove()
        await w.host.propose(proposal(65.0, scope="BANKNIFTY"))

    w.run(main())
    assert len(heard) == 1


def test_the_history_keeps_pending_proposals_beyond_its_limit() -> None:
    w = World(auto_apply=False)
    w.host.config = w.host.config.model_copy(update={"history_limit": 10})

    async def main() -> None:
        kept = await w.host.propose(proposal(60.0))
        for _ in range(15):
            await w.host.propose(proposal(5000.0, scope="BANKNIFTY"))  # refused: bounds
        assert w.host.get(kept.id).status == "pending"

    w.run(main())
    assert len(w.host.proposals()) == 10
