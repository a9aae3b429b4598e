"""Pydantic validation errors as the lines a user reads: `field.path: message`, with the path as written.

Every layer that validates user input (config and scenario files, instruments files, scenario events,
learners' proposals, the window's forms) reports through here, so one mistake reads the same wherever it is
made. This is the bottom layer: stdlib and pydantic only.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

_SHOWN_VALUE_CHARS = 60
MAX_PROBLEMS_LISTED = 20  # a list of a million wrong items is reported in a screenful, with the count of the rest
_MESSAGE_CHARS = 300  # a validator's message may quote its input; a line stays a line


def path_as_written(raw: Any, loc: tuple[int | str, ...]) -> str:
    """The error location as the user wrote it: pydantic inserts the tag of a tagged union (e.g. `normal`
    in `latency_model.global.normal.foo`), which is not a key of the file. With `raw` None, `loc` as is."""
    parts: list[str] = []
    node = raw
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # the discriminator value, not a key
        parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return ".".join(parts)


def _joined(prefix: str, path: str) -> str:
    if prefix and path:
        return f"{prefix}.{path}"
    return prefix or path


def field_errors(exc: ValidationError, raw: Any = None, prefix: str = "") -> list[str]:
    """One `path: message` per problem, the path under `prefix` (e.g. `risk` for a nested section).

    `raw` is the input that was validated; give it so tagged-union tags are dropped from the paths.
    """
    lines = []
    for err in exc.errors():
        path = _joined(prefix, path_as_written(raw, err["loc"]))
        lines.append(f"{path or '(top level)'}: {err['msg']}")
    return lines


def field_error_text(exc: ValidationError, raw: Any = None, prefix: str = "") -> str:
    """`field_errors` on one line, for a validator that must raise a single ValueError."""
    return "; ".join(field_errors(exc, raw, prefix))


def shown_value(value: Any, limit: int = _SHOWN_VALUE_CHARS) -> str:
    """`value` as JSON-ish text of at most `limit` characters, built from the value's head only: a list of a
    million items or a string of a megabyte (or an aliased structure that would expand to billions of nodes)
    costs no more to show than a short one. A mapping shows as `{...}`: its keys are the paths of other errors."""
    out: list[str] = []
    _render(value, out, limit + 1)
    shown = "".join(out)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return shown


def _render(value: Any, out: list[str], budget: int) -> int:
    """Append `value`'s text to `out`, stopping once `budget` characters are written; the budget left."""
    if budget <= 0:
        return 0
    if isinstance(value, dict):
        text = "{...}"
    elif isinstance(value, (list, tuple)):
        out.append("[")
        budget -= 1
        for index, item in enumerate(value):
            if budget <= 0:
                return 0
            if index:
                out.append(", ")
                budget -= 2
            budget = _render(item, out, budget)
        if budget > 0:
            out.append("]")
        return budget - 1
    elif isinstance(value, str):
        text = json.dumps(value[:budget])
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        text = json.dumps(value)
    elif isinstance(value, int):
        text = _int_text(value, budget)
    else:
        text = str(value)[:budget]
    out.append(text[:budget])
    return budget - len(text)


def _int_text(value: int, budget: int) -> str:
    """An int's digits, or its size when it has more than `budget` (str() of a huge int costs, and past 4,300
    digits raises)."""
    if value.bit_length() > 3.33 * budget:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    return str(value)


def validation_errors(source: str, exc: ValidationError, raw: Any = None) -> list[str]:
    """One `source: path: message (got value)` per problem, for a file the user wrote (`source` names it), the
    first `MAX_PROBLEMS_LISTED` of them and a line counting the rest. The value is shown from its head only
    (`shown_value`), so an error line costs the same whatever the input."""
    errors = exc.errors(include_url=False)
    lines = []
    for err in errors[:MAX_PROBLEMS_LISTED]:
        path = path_as_written(raw, err["loc"]) or "(top level)"
        lines.append(f"{source}: {path}: {err['msg'][:_MESSAGE_CHARS]} (got {shown_value(err.get('input'))})")
    if len(errors) > MAX_PROBLEMS_LISTED:
        lines.append(f"{source}: and {len(errors) - MAX_PROBLEMS_LISTED} more problems")
    return lines
