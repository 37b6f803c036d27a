"""Moments people type (``17:30``, ``2h``, ``tomorrow 09:00``, ``45m ago``), read in the bot's time zone.

Parsing is kept apart from resolving. :func:`parse_moment` turns text into a :data:`Moment`, plain data with
no clock in it, which travels inside a core event; :func:`resolve` turns a moment into a UTC time given
``now``, the time zone and the direction the command looks: an ETA looks ahead, the outage's start looks back.
:func:`eta_time` and :func:`outage_start_time` add the bounds of those two commands.

Forms (any case, words separated by spaces):

- a duration: ``2h``, ``45m``, ``1h30m``, ``90 min``, ``2 hours``, ``30s``; ``in 2h`` always looks ahead and
  ``45m ago`` always back, a bare duration looks the command's way;
- a time of day: ``17:30``, ``9:05``, ``5pm``, ``5:30 pm``: its next occurrence looking ahead, its latest
  looking back (never more than a day away);
- a day and a time of day, either order, with an optional ``at``: ``today 09:00``, ``tomorrow at 9am``,
  ``yesterday 22:10``, ``2026-03-10 17:30``.

A time of day that does not exist on that day (the spring-forward gap) moves forward by the gap; one that
occurs twice (falling back) is the first. Only ASCII letters and digits are read: other digits, invisible
characters and time zone names are refused with a sentence saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sev1bot.core.text import is_invisible
from sev1bot.core.times import require_utc

ETA_AHEAD_MAX = timedelta(days=30)
SINCE_BACK_MAX = timedelta(days=7)
DURATION_MAX = timedelta(days=366)
MAX_TEXT = 40  # longer text is no time anybody types
EXAMPLES = "e.g. 17:30, 2h, 45m or tomorrow 09:00"
_ECHO = 30
_YEARS = range(1970, 3000)  # far enough from datetime's limits that no time zone can overflow them


class MomentError(ValueError):
    """Text that is no moment, or a moment out of bounds; ``str()`` is a short sentence for the user."""


@dataclass(frozen=True)
class Relative:
    """``2h``: a duration from now; ``ago`` True for ``45m ago``, False for ``in 2h``, None for neither."""

    delta: timedelta
    ago: bool | None = None


@dataclass(frozen=True)
class WallClock:
    """``17:30`` (``day`` None: the nearest one the command's way), ``tomorrow 17:30`` (``day`` a number of
    days from today) or ``2026-03-10 17:30`` (``day`` a date)."""

    at: time
    day: int | date | None = None


Moment = Relative | WallClock

_UNITS = (
    ("days", r"d|days?", 3),
    ("hours", r"h|hrs?|hours?", 4),
    ("minutes", r"m|mins?|minutes?", 5),
    ("seconds", r"s|secs?|seconds?", 6),
)
_DURATION = re.compile(
    "".join(rf"(?:(?P<{name}>[0-9]{{1,{digits}}}) ?(?:{unit}) ?)?" for name, unit, digits in _UNITS),
    re.ASCII,
)
_CLOCK = re.compile(r"(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))? ?(?P<half>am|pm|a\.m\.|p\.m\.)?", re.ASCII)
_DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})", re.ASCII)
_DAY_WORDS = {"yesterday": -1, "today": 0, "tomorrow": 1}
_ALLOWED = re.compile(r"[a-z0-9:.\- ]*", re.ASCII)


def echo(text: str) -> str:
    """A short, printable, quoted snippet of user input for an error message."""
    snippet = "".join(ch if ch.isprintable() and not is_invisible(ch) else "?" for ch in text[:_ECHO])
    return f"'{snippet}…'" if len(text) > _ECHO else f"'{snippet}'"


def parse_moment(text: str) -> Moment:
    """Read a moment as people type it; MomentError, saying what is wrong, for anything else."""
    if len(text) > MAX_TEXT:
        raise MomentError(f"{echo(text)} is too long for a time; write {EXAMPLES}")
    words = " ".join(text.split()).lower()
    if not words:
        raise MomentError(f"give a time, {EXAMPLES}")
    if any(is_invisible(ch) or not ch.isprintable() for ch in words):
        raise MomentError(f"{echo(text)} contains invisible characters; type the time again")
    if not _ALLOWED.fullmatch(words):
        raise MomentError(
            f"{echo(text)} is not a time: write it with the digits 0-9 and no time zone "
            f"(times are read in the bot's time zone), {EXAMPLES}"
        )
    relative = _relative(words)
    if relative is not None:
        return relative
    return _wall_clock(words, text)


def _relative(words: str) -> Relative | None:
    ago: bool | None = None
    if words.startswith("in "):
        words, ago = words[3:], False
    elif words.endswith(" ago"):
        words, ago = words[:-4], True
    found = _DURATION.fullmatch(words)
    if found is None or not any(found.groups()):
        if ago is not None:
            raise MomentError(f"{echo(words)} is not a duration; write e.g. 45m, 2h or 1h30m")
        return None
    parts = {name: int(value) for name, value in found.groupdict().items() if value is not None}
    delta = timedelta(**parts)
    if delta > DURATION_MAX:
        raise MomentError(f"{echo(words)} is too long a time from now")
    return Relative(delta, ago)


def _wall_clock(words: str, text: str) -> WallClock:
    tokens = [t for t in words.split(" ") if t != "at"]
    day: int | date | None = None
    rest: list[str] = []
    for token in tokens:
        found = _day(token)
        if found is None:
            rest.append(token)
        elif day is not None:
            raise MomentError(f"{echo(text)} names two days; name one, e.g. tomorrow 09:00")
        else:
            day = found
    if not rest:
        raise MomentError(f"{echo(text)} has no time of day; add one, e.g. tomorrow 09:00")
    return WallClock(_clock(" ".join(rest), text), day)


def _day(token: str) -> int | date | None:
    if token in _DAY_WORDS:
        return _DAY_WORDS[token]
    found = _DATE.fullmatch(token)
    if found is None:
        return None
    year, month, day = (int(found.group(g)) for g in ("y", "mo", "d"))
    if year not in _YEARS:
        raise MomentError(f"{echo(token)}: the year must be between {_YEARS[0]} and {_YEARS[-1]}")
    try:
        return date(year, month, day)
    except ValueError:
        raise MomentError(f"{echo(token)} is not a date; write year-month-day, e.g. 2026-03-10") from None


def _clock(words: str, text: str) -> time:
    found = _CLOCK.fullmatch(words)
    if found is None:
        tokens = words.split(" ")
        if any(_CLOCK.fullmatch(t) for t in tokens) and any(t.isalpha() for t in tokens):
            raise MomentError(
                f"{echo(text)} is not a time: leave out any time zone (times are read in the bot's time "
                f"zone) and write {EXAMPLES}"
            )
        raise MomentError(f"{echo(text)} is not a time; write {EXAMPLES}")
    hour, minute, half = int(found.group("h")), int(found.group("m") or 0), found.group("half")
    if found.group("m") is None and half is None:
        raise MomentError(f"{echo(text)} is not a time: write {hour}:00 for a time of day, {hour}h for hours")
    if half is not None:
        if not 1 <= hour <= 12:
            raise MomentError(f"{echo(text)} is not a time: with am or pm the hour goes from 1 to 12")
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise MomentError(f"{echo(text)} is not a time of day: hours go from 0 to 23, minutes from 0 to 59")
    return time(hour, minute)


# -- resolving -------------------------------------------------------------------------------------


def local_day(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC moment of wall-clock ``at`` on ``day`` in ``zone`` (gap: moved forward; overlap: the first)."""
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone).astimezone(UTC)


def resolve(moment: Moment, now: datetime, zone: tzinfo, *, ahead: bool) -> datetime:
    """The UTC time ``moment`` names at ``now``, looking ahead (an ETA) or back (a start)."""
    now = require_utc(now, "now")
    if isinstance(moment, Relative):
        forward = ahead if moment.ago is None else not moment.ago
        return now + moment.delta if forward else now - moment.delta
    today = now.astimezone(zone).date()
    if isinstance(moment.day, date):
        return local_day(moment.day, moment.at, zone)
    if moment.day is not None:
        return local_day(today + timedelta(days=moment.day), moment.at, zone)
    step = 1 if ahead else -1  # ahead: today's once it is still to come, else tomorrow's; back: the mirror
    days = (local_day(today + timedelta(days=n * step), moment.at, zone) for n in range(3))
    return next(at for at in days if (at > now if ahead else at <= now))


def shown(moment: datetime, zone: tzinfo) -> str:
    """``2026-03-10 17:30 EST``: a resolved moment in a refusal (no locale-dependent names)."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def eta_time(moment: Moment, now: datetime, zone: tzinfo) -> datetime:
    """When an ETA of ``moment`` is, at ``now``: after now and at most :data:`ETA_AHEAD_MAX` ahead."""
    at = resolve(moment, now, zone, ahead=True)
    if at <= now:
        raise MomentError(f"that is {shown(at, zone)}, not in the future: an ETA is a time still to come")
    if at - now > ETA_AHEAD_MAX:
        raise MomentError(
            f"that is {shown(at, zone)}, more than {ETA_AHEAD_MAX.days} days ahead; give a nearer ETA"
        )
    return at


def outage_start_time(moment: Moment, now: datetime, zone: tzinfo) -> datetime:
    """When an outage said to have begun at ``moment`` began: not after now, at most 7 days before it."""
    at = resolve(moment, now, zone, ahead=False)
    if at > now:
        raise MomentError(f"that is {shown(at, zone)}, in the future: the outage must have begun already")
    if now - at > SINCE_BACK_MAX:
        raise MomentError(f"that is {shown(at, zone)}, more than {SINCE_BACK_MAX.days} days ago")
    return at
