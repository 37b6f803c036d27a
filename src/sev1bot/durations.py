"""Durations as playbook authors write them: ``90s``, ``30m``, ``1h``, ``1d`` or ISO 8601 ``PT1H``.

Bare numbers are refused on purpose: ``after: 60`` could mean seconds or minutes, and YAML 1.1 reads ``1:30``
as the integer 90, so a unit must always be written.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_SHORT = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
_ISO = re.compile(r"^P(?:([0-9]+)D)?(?:T(?=[0-9])(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$")
_ISO_CALENDAR = re.compile(r"^P.*[YW]|^P[^T]*M")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HINT = "write e.g. 90s, 30m, 1h, 1d or PT1H"


def parse_duration(value: str) -> timedelta:
    """Parse a duration; raise ValueError with a plain sentence on anything else."""
    short = _SHORT.match(value)
    if short:
        return _make(value, seconds=int(short.group(1)) * _UNIT[short.group(2)])
    text = value.strip().upper()
    iso = _ISO.match(text)
    if iso and text != "P":
        days, hours, minutes, seconds = (int(g) if g else 0 for g in iso.groups())
        return _make(value, seconds=((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    if _ISO_CALENDAR.match(text):
        raise ValueError(f"{value!r}: years, months and weeks have no fixed length; {_HINT}")
    raise ValueError(f"{value!r} is not a duration; {_HINT}")


def _make(text: str, seconds: int) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(value: timedelta) -> str:
    """The shortest exact form in one unit, e.g. ``1d``, ``90m``, ``45s`` (parse_duration reads it back)."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit; write e.g. {value}s, {value}m or {value}h")
    if isinstance(value, float):
        raise ValueError(f"{value!r} has no unit; {_HINT}")
    raise ValueError(f"a duration must be text such as 90s, 30m, 1h, 1d or PT1H, not {type(value).__name__}")


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


_Serialize = PlainSerializer(format_duration, return_type=str)

Duration = Annotated[timedelta, BeforeValidator(_coerce), AfterValidator(_not_negative), _Serialize]
"""A non-negative duration; serialises back to the short form."""

PositiveDuration = Annotated[timedelta, BeforeValidator(_coerce), AfterValidator(_positive), _Serialize]
"""A duration that must be longer than zero, e.g. a repeat interval."""
