"""How a request's pydantic validation refuses: the project's messages and `param` paths, and the field types
that carry them (numbers, integers and flags checked as strictly as JSON allows, never coerced from strings).

A check raises `refusal(...)`, whose message may hold `{where}`: the location of the checked value in
the request (`messages[0].content[1].input_audio`), filled in from pydantic's error location when the
error becomes an `APIError`. The `param` of the refusal is that location (plus `suffix`), or `param`
when given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError, PydanticUseDefault

from mgrd.serving.errors import APIError

REFUSAL = "mgrd_refusal"
# Tags of the request's unions: pydantic puts them in error locations, the `param` paths leave them out.
UNION_TAGS = frozenset({"a string", "a list of parts", "a text part", "an audio part"})


def refusal(message: str, *, suffix: str = "", param: str | None = None, status: int = 400) -> PydanticCustomError:
    """A validation error that becomes `APIError(status, message)`; `{where}` in `message` is the checked value's
    path, and `param` is that path + `suffix` unless `param` is given."""
    context: dict[str, Any] = {"message": message, "suffix": suffix, "status": status}
    if param is not None:
        context["param"] = param
    return PydanticCustomError(REFUSAL, "{message}", context)


def param_path(loc: tuple[str | int, ...]) -> str:
    """A pydantic error location as the API writes it: ("messages", 0, "content") -> "messages[0].content"."""
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif item not in UNION_TAGS:
            path += f".{item}" if path else str(item)
    return path


def api_error(error: ValidationError) -> APIError:
    """The first error of a request's validation (in field order) as the refusal a client sees."""
    first = error.errors(include_url=False)[0]
    where = param_path(first["loc"])
    context = first.get("ctx") or {}
    if first["type"] != REFUSAL:   # a check the schema's own types made: pydantic's words, our path
        return APIError(400, f"{where or 'the request'}: {first['msg']}", param=where or None)
    param = context["param"] if "param" in context else (where + context["suffix"]) or None
    return APIError(context["status"], context["message"].replace("{where}", where), param=param)


# -- scalar field types -----------------------------------------------------------------------------
def Number(low: float, high: float, *, low_open: bool = False) -> Any:
    """A float field in [low, high] (or (low, high]); null means the default; bools and strings are refused."""
    span = f"{'(' if low_open else '['}{low:g}, {high:g}]"

    def check(value: Any) -> float:
        if value is None:
            raise PydanticUseDefault()
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e300 \
            and math.isfinite(value)
        if not finite or value > high or value < low or (low_open and value == low):
            raise refusal(f"{{where}}={short(value)} is out of range; accepted: a number in {span}")
        return float(value)

    bounds = Field(gt=low, le=high) if low_open else Field(ge=low, le=high)
    return Annotated[float, bounds, BeforeValidator(check)]


def Integer(low: int, high: int | None = None, *, high_from: str | None = None, optional: bool = False) -> Any:
    """An integer field in [low, high]; `high_from` names the validation context's entry that holds `high`
    (a limit of the server, such as `max_n`). Integral floats (3.0) count as integers; null means the default."""

    def check(value: Any, info: ValidationInfo) -> int:
        if value is None:
            raise PydanticUseDefault()
        top = info.context[high_from] if high_from is not None else high
        return checked_integer(value, low, top)

    bounds = Field(ge=low, le=high) if high is not None else Field(ge=low)
    return Annotated[int | None if optional else int, bounds, BeforeValidator(check)]


def checked_integer(value: Any, low: int, high: int | None) -> int:
    """`value` as an integer in [low, high] (high None: no upper bound), or a refusal at `{where}`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value) or value < low or (high is not None and value > high):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise refusal(f"{{where}}={short(value)} is out of range; accepted: an integer {span}")
    return value


def checked_flag(value: Any) -> bool:
    """`value` if it is a JSON boolean, else a refusal at `{where}` (no "yes", 1 or "true")."""
    if not isinstance(value, bool):
        raise refusal(f"{{where}} must be true or false, got {short(value)}")
    return value


def _flag(value: Any) -> bool:
    if value is None:
        raise PydanticUseDefault()
    return checked_flag(value)


Flag = Annotated[bool, BeforeValidator(_flag)]


def checked(check: Callable[[Any], Any]) -> BeforeValidator:
    """A before-validator running `check(value)` on everything but null (for fields whose default is null)."""

    def run(value: Any) -> Any:
        return None if value is None else check(value)

    return BeforeValidator(run)


# -- how values are named in messages ---------------------------------------------------------------
def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else json_type(value)
    return text if len(text) <= 40 else text[:37] + "..."
