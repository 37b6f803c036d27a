"""Durations as playbook authors write them: ``90s``, ``30m``, ``1h``, ``1d`` or ISO 8601 ``PT1H``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_SHORT = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> timedelta:
    """Parse a duration; raise ValueError with a plain sentence on anything else."""
    short = _SHORT.match(value)
    if short:
        return timedelta(seconds=int(short.group(1)) * _UNIT[short.group(2)])
    iso = _ISO.match(value.strip().upper())
    if iso and value.strip().upper() not in {"P", "PT"} and any(iso.groups()):
        days, hours, minutes, seconds = (int(g) if g else 0 for g in iso.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 30m, 1h, 1d or PT1H")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, timedelta | int):
        raise ValueError("a duration must be text such as 90s, 30m, 1h, 1d or PT1H")
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration, return_type=str)]
