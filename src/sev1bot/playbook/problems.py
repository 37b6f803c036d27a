"""What is wrong with a playbook file, where, in plain words.

:class:`PlaybookError` carries every :class:`Problem` found, not only the first, so that an author can fix a
file in one pass. :func:`explain` turns one pydantic error into a sentence; the loader says where it points.
"""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from sev1bot.playbook.schema import SLUG_PATTERN, USERNAME_PATTERN, Loc

_NEEDS_ONE = {
    "stages": "a playbook needs at least one stage",
    "items": "a stage needs at least one item",
    "notify": "name at least one role to notify",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong, at a 1-based ``line`` and ``column``; both are 0 when it concerns a whole file."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PlaybookError(ValueError):
    """One or more playbook files are unusable; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("PlaybookError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def format_loc(loc: Loc) -> str:
    """``("stages", 1, "items", 0)`` -> ``stages[1].items[0]``; keys that are not plain words are quoted."""
    text = ""
    for part in loc:
        if not isinstance(part, str):
            text += f"[{part!r}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def describe(value: Any) -> str:
    """A short plain description of a YAML value, for "expected X, got Y"."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, datetime.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, str):
        return f"text {short(value)!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote_hint(value: Any) -> str:
    scalar = isinstance(value, bool | int | float | datetime.date) or value is None
    return "; put it in quotes to make it text" if scalar else ""


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at ``loc`` inside ``model``, following fields, list items and dict values."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = _strip_optional(field.annotation) if field else None
        else:
            args = typing.get_args(current)
            current = _strip_optional(args[-1]) if args else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def explain(error: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error as a sentence (without its location)."""
    kind, loc, value, ctx = error["type"], error["loc"], error.get("input"), error.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind in _BOUND:
        return f"must be {_BOUND[kind]} {next(iter(ctx.values()), '?')}, not {value!r}"
    if kind in {"missing", "extra_forbidden", "invalid_key"}:
        return _explain_key(kind, loc, value, model)
    if kind.startswith("string_"):
        return _explain_text(kind, value, ctx) or _default(error)
    if kind == "too_short":
        field = next((part for part in reversed(loc) if isinstance(part, str)), "")
        return _NEEDS_ONE.get(field, f"must list at least {ctx.get('min_length')} entries")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "enum":
        return f"{describe(value)} is not allowed here: use {ctx.get('expected')}"
    if kind == "recursion_loop":
        return "refers back to itself through a YAML alias"
    return _default(error)


_EXPECTED = {  # error kinds that mean "expected this type, got that value"
    "list_type": "a list",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "dict_type": "a mapping of keys to values",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
}
_BOUND = {
    "greater_than_equal": "at least",
    "less_than_equal": "at most",
    "greater_than": "more than",
    "less_than": "less than",
}


def _explain_key(kind: str, loc: Loc, value: Any, model: type[BaseModel]) -> str:
    """A mapping key that is missing, not allowed here, or not text."""
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if kind == "invalid_key":
        return f"keys must be text, not {describe(value)}"
    allowed = allowed_keys(model, loc[:-1])
    text = f"unknown key {loc[-1]!r} (allowed: {', '.join(allowed)})"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    return text + (f"; did you mean {close[0]!r}?" if close else "")


def _explain_text(kind: str, value: Any, ctx: dict[str, Any]) -> str | None:
    """A text value of the wrong type, length or pattern; None for a ``string_*`` kind not covered here."""
    if kind == "string_type":
        return f"expected text, got {describe(value)}{_quote_hint(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind != "string_pattern_mismatch":
        return None
    if ctx.get("pattern") == SLUG_PATTERN:
        return f"{value!r} is not a valid id: use lower-case letters, digits, '-' and '_' (e.g. 'fix-1')"
    if ctx.get("pattern") == USERNAME_PATTERN:
        return (
            f"{value!r} is not a valid Mattermost username: "
            "use 1-64 lower-case letters, digits, '.', '-' and '_'"
        )
    return f"{value!r} does not match the pattern {ctx.get('pattern')}"


def _default(error: ErrorDetails) -> str:
    """pydantic's own message, as the end of a sentence."""
    return error["msg"][:1].lower() + error["msg"][1:]
