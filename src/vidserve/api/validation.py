"""Request validation, once: the wire models validate, this module speaks the live service.

Every request body is validated by a pydantic model of the resource's ``wire.py`` (strict,
unknown fields forbidden, ``Literal`` types and limits from :mod:`vidserve.contract`); those
same models generate the server's OpenAPI document. :func:`validate` runs a model on the body
that :mod:`vidserve.api.bodies` read and turns the first problem into the 400 OpenAI's service
gave for it (``unknown_parameter``, ``missing_required_parameter``, ``invalid_type``,
``invalid_value``, ``string_above_max_length``...; texts in :mod:`vidserve.contract`). An
unknown field is reported before any other problem, as the service does.

Custom checks (a file part, the exactly-one rule of ``input_reference``) raise :func:`fail`
with the finished error; everything else is pydantic's own validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from vidserve import contract
from vidserve.api.bodies import FilePart
from vidserve.errors import InvalidRequest, InvalidType, InvalidValue, VidserveError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]

BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


class WireModel(BaseModel):
    """A request body or a part of one: strict types, no unknown fields."""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        strict=True, extra="forbid", arbitrary_types_allowed=True
    )


def type_name(value: object) -> str:
    """How the service names a value's JSON type in ``invalid_type`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, FilePart):
        return "a file"
    return "an object"


def fail(error: VidserveError) -> PydanticCustomError:
    """Raise this from a validator to answer with ``error`` exactly."""
    return PydanticCustomError("vidserve", "{message}", {"message": error.message, "error": error})


def validate(model: type[M], body: dict[str, Any], *, prefix: Loc = ()) -> M:
    """``model`` validated from ``body``, or the service's 400 for its first problem."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise api_error(exc, prefix) from None


def validate_nested(model: type[M], value: object, loc: Loc) -> M:
    """A nested object validated inside a field validator (``loc``: where it sits)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise fail(api_error(exc, loc)) from None


def path(loc: Loc) -> str:
    """``("characters", 0, "id")`` -> ``characters[0].id``."""
    text = str(loc[0]) if loc else ""
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _literal_values(expected: str) -> tuple[str, ...]:
    """pydantic's ``"'4', '8' or '12'"`` -> ``("4", "8", "12")``."""
    import re

    return tuple(re.findall(r"'([^']*)'", expected))


def api_error(exc: ValidationError, prefix: Loc = ()) -> VidserveError:
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    return _translate((unknown or errors)[0], prefix)


def _translate(error: ErrorDetails, prefix: Loc) -> VidserveError:
    kind, loc, value = error["type"], (*prefix, *error["loc"]), error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    name, top = path(loc), str(loc[0])
    if kind == "vidserve":
        found: VidserveError = ctx["error"]
        return found
    if kind == "extra_forbidden":
        return contract.unknown_parameter(name)
    if kind == "missing":
        return contract.missing_parameter(name, param=top)
    if kind == "literal_error":
        values = _literal_values(str(ctx.get("expected", "")))
        if not isinstance(value, str):
            return contract.invalid_type(name, contract.choices(values), type_name(value), name)
        return contract.unsupported_value(value, values, name)
    if kind == "string_too_short":
        return contract.string_too_short(name, param=top)
    if kind == "string_too_long":
        length = len(value) if isinstance(value, str) else 0
        return contract.string_too_long(name, int(ctx["max_length"]), length, param=top)
    if kind == "too_long":
        length = int(ctx.get("actual_length") or 0)
        return contract.array_too_long(name, int(ctx["max_length"]), length)
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return contract.invalid_type(name, expected, type_name(value), param=top)
    return InvalidValue(f"Invalid '{name}': {error['msg']}.", param=top)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean",
    "list_type": "an array of objects",  # every array parameter of this API holds objects
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "is_instance_of": "a file",
}


# -- field validators shared by the resources ------------------------------------------------


def decimal(value: object) -> object:
    """An integer field may come as its decimal string (multipart has only strings)."""
    if isinstance(value, str) and value.strip().isdigit() and value.isascii():
        return int(value.strip())
    return value


def in_range(name: str, low: int, high: int) -> Callable[[int], int]:
    """An integer check ``low <= n <= high`` with the service's ``integer_out_of_range``."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise fail(contract.integer_out_of_range(name, low, high, value))
        return value

    return check


def upload(name: str) -> Callable[[object], FilePart]:
    """A field that must be a file part of a multipart body."""

    def check(value: object) -> FilePart:
        if not isinstance(value, FilePart):
            raise fail(contract.invalid_type(name, "a file", type_name(value)))
        return value

    return check


# -- query strings ---------------------------------------------------------------------------


def reject_unknown_query(items: Iterable[tuple[str, str]], allowed: tuple[str, ...]) -> None:
    """Unknown query parameters are refused like unknown body fields (``unknown_parameter``),
    and so is one given twice (``?limit=1&limit=100``: which one was meant is not ours to
    guess). ``items``: the query's ``(name, value)`` pairs (``query_params.multi_items()``)."""
    seen: set[str] = set()
    for name, _value in items:
        if name not in allowed:
            raise contract.unknown_parameter(str(name))
        if name in seen:
            raise InvalidRequest(
                f"The query parameter '{name}' was given more than once; give it once.",
                param=name,
                code="duplicate_parameter",
            )
        seen.add(name)


# What parse_list_query accepts for ``limit``, as the OpenAPI document states it: plain ASCII
# digits (leading zeros allowed) whose value lies in the bounds (a test checks every value).
LIMIT_PATTERNS: dict[tuple[int, int, int], str] = {
    contract.VIDEO_LIST_LIMIT: r"^0*([0-9]|[1-9][0-9]|100)$",
    contract.FILE_LIST_LIMIT: r"^0*([1-9][0-9]{0,3}|10000)$",
}


def parse_list_query(
    limit: str | None,
    order: str | None,
    after: str | None,
    bounds: tuple[int, int, int],
) -> tuple[int, contract.Order, str | None]:
    """``limit`` (``bounds``: lowest, highest, default), ``order`` and ``after`` of a list."""
    low, high, n = bounds
    if limit is not None:
        # plain ASCII digits only: int() would also take "+5", " 5", "1_0" and other scripts'
        # digits, and refuse more than 4300 digits with an error of its own
        if not (limit.isascii() and limit.isdigit()):
            shown = limit[:40].encode("ascii", "replace").decode()
            raise InvalidType(
                f"Invalid type for 'limit': expected an integer, but got '{shown}' instead.",
                param="limit",
            )
        significant = limit.lstrip("0") or "0"
        n = int(significant) if len(significant) <= 9 else high + 1
        if not low <= n <= high:
            shown = significant if len(significant) <= 40 else significant[:40] + "..."
            raise InvalidValue(
                f"Invalid 'limit': expected an integer from {low} to {high}, but got {shown} "
                "instead.",
                param="limit",
                code="integer_out_of_range",
            )
    if order is None or order == "desc":
        return n, "desc", after or None
    if order == "asc":
        return n, "asc", after or None
    raise contract.unsupported_value(order, ("asc", "desc"), "order")
