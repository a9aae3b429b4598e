"""The `stochastic` spelling of a model, as the execution-modelling specification writes it.

`{type: stochastic, distribution: <family>, params: {<that family's fields>}}` is the same model as
`{type: <family>, <fields>}`: it validates to the same config and dumps in the plain spelling. Fields may also
stand beside `params` (a mixture component's `weight`, a slippage `unit`), but not in both places. Errors
inside `params` are reported at the path the user wrote (`...BANKNIFTY.params.components.0.weight`), an
unknown family at `distribution`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

STOCHASTIC = "stochastic"
_ALIAS_KEYS = ("type", "distribution", "params")
_TITLE = "stochastic model"


def is_stochastic_alias(value: object) -> bool:
    """Whether `value` is a model mapping in the `stochastic` spelling."""
    return isinstance(value, Mapping) and value.get("type") == STOCHASTIC


def alias_params(value: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `params` of an alias, when they are a mapping (else None: validation reports it)."""
    params = value.get("params", {})
    return params if isinstance(params, Mapping) else None


def plain_spelling(value: Mapping[str, Any]) -> dict[str, Any]:
    """`{type: <distribution>, **params, **fields beside params}`; raises ValidationError (paths relative to
    the alias) when the alias itself is malformed."""
    problems: list[InitErrorDetails] = []
    family = value.get("distribution")
    if family is None:
        problems.append(InitErrorDetails(type="missing", loc=("distribution",), input=dict(value)))
    elif not isinstance(family, str):
        problems.append(InitErrorDetails(type="string_type", loc=("distribution",), input=family))
    params = alias_params(value)
    if params is None:
        problems.append(InitErrorDetails(type="dict_type", loc=("params",), input=value.get("params")))
        params = {}
    beside = {k: v for k, v in value.items() if k not in _ALIAS_KEYS}
    if "type" in params:
        problems.append(_custom(("params", "type"), params["type"],
                                "the family is given by `distribution`; params hold that family's fields"))
    for key in sorted(beside.keys() & params.keys()):
        problems.append(_custom(("params", key), params[key], f"{key} is given both in params and beside it"))
    if problems:
        raise ValidationError.from_exception_data(_TITLE, problems)
    return {**beside, **params, "type": family}


def expand_stochastic(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Wrap validator of a model union: validates the alias as its plain spelling, reporting errors where
    the user wrote them."""
    if not is_stochastic_alias(value):
        return handler(value)
    plain = plain_spelling(value)
    try:
        return handler(plain)
    except ValidationError as exc:
        details = [_relocated(err, plain["type"], value) for err in exc.errors()]
        raise ValidationError.from_exception_data(_TITLE, details) from None


STOCHASTIC_ALIAS = WrapValidator(expand_stochastic)


def _relocated(err: Any, family: str, alias: Mapping[str, Any]) -> InitErrorDetails:
    """An error of the plain spelling at the place in the alias the user wrote (or would write) the field."""
    loc: tuple[int | str, ...] = tuple(err["loc"])
    if loc and loc[0] == family:
        loc = loc[1:]  # the tagged union's tag, which the user did not write as a key
        written_beside = bool(loc) and loc[0] in alias and loc[0] not in _ALIAS_KEYS
        if not written_beside:
            loc = ("params", *loc)  # the family's fields, and those it misses, belong in params
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = ("distribution", *loc)
    details = InitErrorDetails(type=err["type"], loc=loc, input=err["input"])
    if "ctx" in err:
        details["ctx"] = err["ctx"]
    return details


def _custom(loc: tuple[int | str, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("stochastic_alias", message), loc=loc, input=value)
