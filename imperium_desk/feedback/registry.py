"""Feedback types: each one is a pydantic body, a response and a handler, served as `POST /feedback/<name>`.

The app builds one route per registered type, so adding a kind of feedback (a new metric, a learner's report) is a
registration, never an edit of the router. Metrics, scenario outcomes and learner proposals are registered this way.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RegistryError(ValueError):
    """A feedback type that cannot be registered (a bad name, a name already taken, a non-2xx status); nothing was
    registered."""


@dataclass(frozen=True, slots=True)
class FeedbackType:
    """`POST /feedback/<name>`: the body is validated against `body` (a pydantic model, or any type pydantic
    validates, e.g. a union of a model and a list of it), answered with `status_code` and `response`."""

    name: str
    body: Any
    response: type[BaseModel]
    handler: Callable[[Any], Awaitable[BaseModel]]
    status_code: int = 201
    summary: str = ""


class FeedbackRegistry:
    """The feedback types one app serves, by unique name, in registration order (the order of their routes). The app
    reads it once, when it is built: a type registered later gets no route."""

    def __init__(self) -> None:
        self._types: dict[str, FeedbackType] = {}

    def register(self, feedback_type: FeedbackType) -> None:
        name = feedback_type.name
        if not _NAME.match(name):
            raise RegistryError(
                f"feedback type name {name!r}: lower-case letters, digits and _, starting with a letter"
            )
        if name in self._types:
            raise RegistryError(f"feedback type {name!r} is already registered")
        if not 200 <= feedback_type.status_code < 300:
            raise RegistryError(f"feedback type {name!r}: status_code {feedback_type.status_code} is not a success")
        self._types[name] = feedback_type

    def __iter__(self) -> Iterator[FeedbackType]:
        return iter(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __len__(self) -> int:
        return len(self._types)
