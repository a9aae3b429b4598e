"""Guardrails every proposal passes before it is applied or kept for a person to accept: bounds on the proposed
model, its rate of change against the model it would replace, and a minimum interval between applied changes of
one (kind, scope, lane). A failure is a reason in words, kept with the refused proposal."""

from __future__ import annotations

import math
from typing import Any

from imperium_desk.feedback.learning.config import GuardrailsConfig
from imperium_desk.feedback.learning.model_stats import StatsCache
from imperium_desk.feedback.learning.proposal import ModelProposal

Key = tuple[str, str, str]  # kind, scope, lane


def _key(proposal: ModelProposal) -> Key:
    return proposal.kind, proposal.scope, proposal.lane


class Guardrails:
    """The checks of the module docstring for one learner host. Stateful: it remembers when each (kind, scope, lane)
    last changed, so the host calls `record_applied` as it starts applying a change and `forget_applied` if that change
    then fails. Times are the clock's monotonic seconds (virtual in a replay). Not thread-safe: the host's loop
    thread."""

    def __init__(self, config: GuardrailsConfig, stats: StatsCache | None = None) -> None:
        self.config = config
        self._stats = stats or StatsCache()
        self._last_applied: dict[Key, float] = {}
        self._previous: dict[Key, float | None] = {}

    def check(self, proposal: ModelProposal, active: Any, *, now_s: float) -> str | None:
        """None when `proposal` may replace `active` (the model its scope uses now) at clock time `now_s`,
        else why not."""
        reason = self._latency(proposal, active) if proposal.kind == "latency" else self._slippage(proposal, active)
        return reason or self._interval(proposal, now_s)

    def record_applied(self, proposal: ModelProposal, now_s: float) -> None:
        """A change of this (kind, scope, lane) is being applied now: the next must wait `min_interval_s`."""
        key = _key(proposal)
        self._previous[key] = self._last_applied.get(key)
        self._last_applied[key] = now_s

    def forget_applied(self, proposal: ModelProposal) -> None:
        """The change recorded last failed to apply: the interval runs from the one before it."""
        key = _key(proposal)
        previous = self._previous.pop(key, None)
        if previous is None:
            self._last_applied.pop(key, None)
        else:
            self._last_applied[key] = previous

    def _latency(self, proposal: ModelProposal, active: Any) -> str | None:
        c = self.config
        new = self._stats.of("latency", proposal.parsed).median
        if not c.min_latency_median_ms <= new <= c.max_latency_median_ms:
            return (f"bounds: proposed latency median {new:.6g} ms is outside "
                    f"[{c.min_latency_median_ms:g}, {c.max_latency_median_ms:g}] ms")
        old = self._stats.of("latency", active).median
        floor = c.min_latency_median_ms  # a zero-latency model would make every ratio infinite
        ratio = max(new, floor) / max(old, floor)
        if abs(math.log(ratio)) > math.log(c.max_change_factor) + 1e-12:
            return (f"rate of change: median {old:.6g} ms -> {new:.6g} ms is a factor of "
                    f"{max(ratio, 1 / ratio):.3g}, above max_change_factor {c.max_change_factor:g}")
        return None

    def _slippage(self, proposal: ModelProposal, active: Any) -> str | None:
        c = self.config
        unit = proposal.parsed.unit
        new = self._stats.of("slippage", proposal.parsed).mean
        if math.isnan(new):
            return "bounds: the proposed slippage model has no finite mean (e.g. a Student t with df <= 1)"
        bound = c.max_abs_slippage[unit]
        if abs(new) > bound:
            return f"bounds: proposed slippage mean {new:.6g} {unit} is beyond +-{bound:g} {unit}"
        if active.unit != unit:
            return (f"rate of change: the active model is in {active.unit}, the proposal in {unit}; "
                    "a unit change is refused")
        old = self._stats.of("slippage", active).mean
        if math.isnan(old):
            return None  # nothing to compare with: the bounds above are the guard
        allowed = (c.max_change_factor - 1.0) * max(abs(old), c.slippage_change_floor[unit])
        if abs(new - old) > allowed + 1e-12:
            return (f"rate of change: mean {old:.6g} -> {new:.6g} {unit} moves by {abs(new - old):.6g}, "
                    f"above the {allowed:.6g} {unit} max_change_factor {c.max_change_factor:g} allows")
        return None

    def _interval(self, proposal: ModelProposal, now_s: float) -> str | None:
        last = self._last_applied.get(_key(proposal))
        gap = self.config.min_interval_s
        if last is not None and now_s - last < gap:
            return (f"interval: {proposal.kind} {proposal.lane} of {proposal.scope} changed {now_s - last:.3g} s ago; "
                    f"min_interval_s is {gap:g}")
        return None
