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


def _shown(value: Any) -> str:
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    if len(shown) > _SHOWN_VALUE_CHARS:
        shown = shown[: _SHOWN_VALUE_CHARS - 3] + "..."
    return shown


def validation_errors(source: str, exc: ValidationError, raw: Any = None) -> list[str]:
    """One `source: path: message (got value)` per problem, for a file the user wrote (`source` names it)."""
    lines = []
    for err in exc.errors():
        path = path_as_written(raw, err["loc"]) or "(top level)"
        lines.append(f"{source}: {path}: {err['msg']} (got {_shown(err.get('input'))})")
    return lines
