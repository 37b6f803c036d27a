"""Business days: weekends and public holidays of one country, in one timezone.

Deadlines such as "within 1 business day from resolution" are counted here. Think of it as a clock that stops
on non-business days: a business day is a whole local calendar day, and weekends and holidays do not count.

* Resolved on a business day at 15:00 -> due at 15:00 local on the n-th business day after that date
  (Friday 15:00 + 1 -> Monday 15:00; the day before a holiday skips the holiday too).
* Resolved on a weekend or holiday -> the clock starts at 00:00 local on the next business day, so the
  deadline is 00:00 on the n-th business day after that one, i.e. the END of the n-th business day counted
  from it (Saturday + 1 -> Tuesday 00:00, the end of Monday).
* The local wall-clock time is kept across DST changes and the result is returned in UTC. A wall-clock time
  that does not exist on the due day (the spring-forward gap) moves forward by the length of the gap
  (00:30 in a 00:00->01:00 gap becomes 01:30); one that occurs twice (fall back) takes the first occurrence.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from sev1bot.core.times import require_utc

_SATURDAY_SUNDAY = frozenset({5, 6})


@functools.lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


@functools.lru_cache(maxsize=64)
def _weekend(country: str, subdivision: str | None) -> frozenset[int]:
    try:
        entity = holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday calendar: {exc}") from None
    return frozenset(int(day) for day in entity.weekend)


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days count as business days, and the timezone people read times in.

    ``country`` and ``subdivision`` are codes understood by the ``holidays`` package ("US", "DE" + "BY");
    without a country only the weekend (Saturday and Sunday) is off. ``extra_holidays`` adds company days off.
    The country's own weekend is used (Friday and Saturday in Egypt, for instance).
    """

    timezone: str = "UTC"
    country: str | None = None
    subdivision: str | None = None
    extra_holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {self.timezone!r}; use an IANA name such as Europe/Berlin"
            ) from None
        if self.subdivision is not None and self.country is None:
            raise ValueError(f"subdivision {self.subdivision!r} needs a country")
        if self.country is not None:
            _weekend(self.country, self.subdivision)  # fails early on an unknown country or subdivision
        for day in self.extra_holidays:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise ValueError(f"extra_holidays must hold dates, not {day!r}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekend(self) -> frozenset[int]:
        """Weekday numbers (Monday is 0) that are never business days."""
        if self.country is None:
            return _SATURDAY_SUNDAY
        return _weekend(self.country, self.subdivision)

    def local(self, moment: datetime) -> datetime:
        return require_utc(moment, "moment").astimezone(self.zone)

    def is_business_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise ValueError("is_business_day takes a date; use calendar.local(moment).date() for a moment")
        if day.weekday() in self.weekend or day in self.extra_holidays:
            return False
        return self.country is None or day not in _holidays(self.country, self.subdivision, day.year)

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        return self.nth_business_day_after(day, 1)

    def nth_business_day_after(self, day: date, n: int) -> date:
        """The n-th business day strictly after ``day`` (``day`` itself for n == 0)."""
        if n < 0:
            raise ValueError(f"cannot count {n} business days: n must be 0 or more")
        found = 0
        while found < n:
            day += timedelta(days=1)
            if self.is_business_day(day):
                found += 1
        return day

    def at(self, day: date, wall: time) -> datetime:
        """The UTC moment of wall-clock ``wall`` on local ``day`` (gap: moved forward; overlap: first)."""
        return datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=self.zone).astimezone(UTC)

    def add_business_days(self, moment: datetime, n: int) -> datetime:
        """``moment`` plus ``n`` business days, following the rule in the module docstring; aware UTC."""
        local = self.local(moment)
        day, wall = local.date(), local.time()
        if not self.is_business_day(day):
            day, wall = self.next_business_day(day), time(0)
        return self.at(self.nth_business_day_after(day, n), wall)

    def same_time_business_days_later(self, moment: datetime, n: int) -> datetime:
        """The local wall-clock time of ``moment`` on the n-th business day after its local date.

        Unlike :meth:`add_business_days` a weekend ``moment`` keeps its time of day, which suits repeated
        reminders: an overdue reminder first sent on Saturday at 15:00 repeats on Monday at 15:00.
        """
        local = self.local(moment)
        return self.at(self.nth_business_day_after(local.date(), n), local.time())
