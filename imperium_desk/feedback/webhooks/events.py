"""Which event names a subscriber may filter on: telemetry record events plus the messages published directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from imperium_desk.telemetry.schema import EVENTS

# Messages that are not telemetry records but go to subscribers all the same (`WebhookService.publish`). Scenario
# outcomes are records (`scenario_outcome`): they arrive through the telemetry like any other.
MESSAGE_EVENTS: Final = ("model_proposal",)


def known_events() -> frozenset[str]:
    return frozenset(EVENTS) | frozenset(MESSAGE_EVENTS)


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The names as a tuple (duplicates dropped, order kept), or ValueError naming the first unknown one."""
    known = known_events()
    names = tuple(dict.fromkeys(events))
    if not names:
        raise ValueError("events: give at least one event name, or leave it out (null) for all events")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown event {name!r}; known: {', '.join(sorted(known))}")
    return names
