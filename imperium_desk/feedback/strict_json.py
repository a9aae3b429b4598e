"""Request bodies parsed strictly: the JSON the desk can store, bounded in depth, and a client's mistake answered 422
at its field rather than a 500.

Python's `json` (what FastAPI uses) takes `NaN`, `Infinity` and `1e999` as floats that no JSON writer can echo back
(the error answer then failed: 500) and that the telemetry log would keep as `null`; and it recurses once per level,
so a body nested a thousand deep ended in a RecursionError. Here orjson parses (it refuses non-finite numbers and
stops at 1,024 levels, in C), the tree's depth is bounded by `MAX_DEPTH`, and a body is read a second time by Python's
parser only to name a field: of a non-finite number in a body orjson refused, or of an integer beyond 64 bits, which
orjson reads as an inexact float and the telemetry log could not write as an integer (looked for only when the body
holds a run of 20 digits, which every such integer has).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any, Final

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

# Deeper than any body the API takes (a record's extras, a model config, an outcome document nest a few levels);
# well inside what validation and error reporting can walk without recursing out of the stack.
MAX_DEPTH: Final = 32
UNSUPPORTED_MEDIA_TYPE: Final = 415


_LONG_DIGITS: Final = re.compile(rb"[0-9]{20}")
_INT_RANGE: Final = range(-(2**63), 2**64)  # what orjson writes: signed or unsigned 64-bit


class _NonFinite(str):
    """A number that JSON cannot carry as a number (`NaN`, `Infinity`, a literal beyond a double), as written."""

    __slots__ = ()


class _TooLong(str):
    """An integer beyond 64 bits, as written."""

    __slots__ = ()


def _constant(text: str) -> _NonFinite:
    return _NonFinite(text)


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _int(text: str) -> int | _TooLong:
    value = int(text)
    return value if value in _INT_RANGE else _TooLong(text)


def _problem(loc: tuple[str | int, ...], kind: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"type": kind, "loc": ["body", *loc], "msg": msg}])


def _marked_at(value: Any, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str] | None:
    """The path and text of the first number marked unusable in `value` (`_NonFinite`, `_TooLong`); bounded: only
    called below `MAX_DEPTH`."""
    if isinstance(value, _NonFinite | _TooLong):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _marked_at(item, (*path, key))
        if found is not None:
            return found
    return None


def _too_deep(value: Any) -> bool:
    """True when containers nest deeper than `MAX_DEPTH` (iterative: a depth check must not recurse)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH + 1):
        below: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                below.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                below.extend(v for v in item if isinstance(v, dict | list))
        if not below:
            return False
        level = below
    return True


def parse_body(body: bytes) -> Any:
    """The body as JSON, or an HTTPException 422 naming the problem: a non-finite number (at its field), nesting
    deeper than `MAX_DEPTH`, or JSON that does not parse (`json_invalid`, at its character offset)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refused(body, exc) from None
    if isinstance(value, dict | list) and _too_deep(value):
        raise _problem((), "json_too_deep", f"the body nests deeper than {MAX_DEPTH} levels")
    if _LONG_DIGITS.search(body) is not None:
        _refuse_long_integers(body)
    return value


def _refuse_long_integers(body: bytes) -> None:
    """Raise a 422 at the first integer beyond 64 bits (the body parsed and is shallow: reading it again is safe)."""
    found = _marked_at(json.loads(body, parse_int=_int))
    if found is not None:
        path, text = found
        raise _problem(path, "int_too_long", f"{text[:40]} is beyond a 64-bit integer: send it as a string or a float")


def _refused(body: bytes, exc: orjson.JSONDecodeError) -> HTTPException:
    """Why orjson refused `body`: read again with Python's parser only to find a non-finite number's field."""
    located: Any = None
    # Not JSON at all, or too deep to read: orjson's own reason stands.
    with contextlib.suppress(ValueError, RecursionError):
        located = json.loads(body, parse_constant=_constant, parse_float=_float)
    if located is not None and not _too_deep(located):
        found = _marked_at(located)
        if found is not None:
            path, text = found
            return _problem(path, "finite_number", f"{text} is not a finite number: JSON numbers must be finite")
    if "depth" in exc.msg:
        return _problem((), "json_too_deep", f"the body nests deeper than {MAX_DEPTH} levels")
    return _problem((exc.pos,), "json_invalid", f"not valid JSON: {exc.msg}")


class StrictJsonRequest(Request):
    """A request whose `json()` is `parse_body`'s (FastAPI calls it for a JSON body)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_body(await self.body())
        return self._json


def is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class StrictJsonRoute(APIRoute):
    """An API route that reads its JSON body with `parse_body`, and answers 415 to a body sent as anything but JSON
    (FastAPI would hand the raw bytes to validation, whose error answer then failed on bytes that are not UTF-8)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict(request: Request) -> Response:
            strict_request = StrictJsonRequest(request.scope, request.receive)
            if takes_body:
                content_type = strict_request.headers.get("content-type")
                # No content-type is fine only without a body (an optional body left out).
                sent_as_json = is_json(content_type) if content_type is not None else not await strict_request.body()
                if not sent_as_json:
                    raise HTTPException(UNSUPPORTED_MEDIA_TYPE, "send the body as JSON: content-type: application/json")
            return await handler(strict_request)

        return strict
