"""Incident channel names: readable, valid for Mattermost, and made unique by a numeric suffix."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from sev1bot.core.times import require_utc

MAX_NAME = 64  # Mattermost's limit for a channel name (the URL part)
NAME_TRIES = 99  # a name, then name-2 ... name-99
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PREFIX = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str) -> str:
    """Lowercase ASCII letters and digits joined by single hyphens ("Acme Corp." -> "acme-corp")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")


def channel_name(started_at: datetime, customer: str, tz: str | tzinfo = "UTC", prefix: str = "sev1") -> str:
    """``sev1-2026-11-27-acme-corp``: prefix, local start date in ``tz``, customer slug; at most 64 chars.

    A customer name with no ASCII letters or digits gives ``sev1-2026-11-27-incident``.
    """
    require_utc(started_at, "started_at")
    if not _PREFIX.match(prefix):
        raise ValueError(f"channel name prefix {prefix!r} must be lowercase letters and digits joined by '-'")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    head = f"{prefix}-{started_at.astimezone(zone).date().isoformat()}"
    slug = slugify(customer) or "incident"
    return _fit(f"{head}-{slug}", MAX_NAME)


def with_suffix(name: str, n: int) -> str:
    """``name`` made unique by attempt number ``n``: 1 gives ``name`` itself, 2 gives ``name-2``, and so on.

    The name is shortened so that the result still fits Mattermost's 64 characters.
    """
    if n < 1:
        raise ValueError(f"suffix number must be 1 or more, not {n}")
    if n == 1:
        return name
    suffix = f"-{n}"
    return _fit(name, MAX_NAME - len(suffix)) + suffix


def _fit(name: str, limit: int) -> str:
    return name[:limit].rstrip("-")
