"""Time in the core: every moment is timezone-aware UTC, and a naive one is refused where it enters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; everything else takes a ``Clock`` so that tests and the demo can set the time."""
    return datetime.now(UTC)


def require_utc(value: datetime, where: str) -> datetime:
    """``value`` in UTC; ValueError naming ``where`` if it has no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{where}: naive datetime {value.isoformat()}; a timezone-aware datetime is needed")
    return value.astimezone(UTC)
