"""A scenario's concrete event timeline: scripted events as written, random ones drawn from a seeded stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imperium_desk.scenarios.spec import RandomEvent, ScenarioSpec


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """One concrete event of a run: `index` is its place in the file's `events`; `instance` numbers the draws
    of a `random` event (None for a scripted one)."""

    at_s: float
    index: int
    instance: int | None
    event: Any  # a concrete event (never a RandomEvent)

    @property
    def label(self) -> str:
        return f"events.{self.index}" + (f"[{self.instance}]" if self.instance is not None else "")


def expand_timeline(spec: ScenarioSpec, gen: np.random.Generator, base: Any = None) -> list[TimedEvent]:
    """Scripted events as written, random ones drawn (Poisson arrivals, then their fields) from `gen`."""
    out: list[TimedEvent] = []
    for index, event in enumerate(spec.events):
        if not isinstance(event, RandomEvent):
            out.append(TimedEvent(event.at_s, index, None, event))
            continue
        until = spec.duration_s if event.until_s is None else event.until_s
        mean_gap_s = 60.0 / event.rate_per_min
        t, k = event.from_s, 0
        while True:
            t += float(gen.exponential(mean_gap_s))
            if t > until:
                break
            out.append(TimedEvent(round(t, 6), index, k, event.instance(round(t, 6), gen, base)))
            k += 1
    out.sort(key=lambda e: (e.at_s, e.index, -1 if e.instance is None else e.instance))
    return out
