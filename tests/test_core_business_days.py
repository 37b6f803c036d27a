"""Business-day arithmetic: weekends, holiday runs, year end, DST in both directions, gaps and overlaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sev1bot.core.business_days import BusinessCalendar, _holidays

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CAIRO = ZoneInfo("Africa/Cairo")
US = BusinessCalendar("America/New_York", "US")
BAVARIA = BusinessCalendar("Europe/Berlin", "DE", "BY")
PLAIN = BusinessCalendar()


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("calendar", "moment", "n", "expected"),
    [
        # A Friday resolution: Monday, Tuesday, Wednesday at the same time.
        (US, ny(2026, 11, 20, 15), 1, ny(2026, 11, 23, 15)),
        (US, ny(2026, 11, 20, 15), 2, ny(2026, 11, 24, 15)),
        (US, ny(2026, 11, 20, 15), 3, ny(2026, 11, 25, 15)),
        # Thanksgiving (Thu 26 Nov 2026) and the weekend after it.
        (US, ny(2026, 11, 25, 15), 1, ny(2026, 11, 27, 15)),
        (US, ny(2026, 11, 25, 15), 2, ny(2026, 11, 30, 15)),
        (US, ny(2026, 11, 27, 15), 1, ny(2026, 11, 30, 15)),
        # Resolved ON the holiday: the clock starts Friday 00:00, one business day later is Monday 00:00.
        (US, ny(2026, 11, 26, 10), 0, ny(2026, 11, 27, 0)),
        (US, ny(2026, 11, 26, 10), 1, ny(2026, 11, 30, 0)),
        # Resolved on a Saturday: due at the end of Monday (Tuesday 00:00).
        (US, ny(2026, 11, 28, 15), 1, ny(2026, 12, 1, 0)),
        (US, ny(2026, 11, 28, 15), 3, ny(2026, 12, 3, 0)),
        # Christmas to New Year: Fri 25 Dec and Fri 1 Jan 2027 are holidays.
        (US, ny(2026, 12, 24, 9, 30), 1, ny(2026, 12, 28, 9, 30)),
        (US, ny(2026, 12, 24, 9, 30), 5, ny(2027, 1, 4, 9, 30)),
        (US, ny(2026, 12, 31, 12), 1, ny(2027, 1, 4, 12)),
        # Bavaria: 25/26 Dec, 1 Jan and Epiphany (6 Jan) are off; 24 Dec is a working day.
        (BAVARIA, berlin(2026, 12, 23, 10), 1, berlin(2026, 12, 24, 10)),
        (BAVARIA, berlin(2026, 12, 23, 10), 2, berlin(2026, 12, 28, 10)),
        (BAVARIA, berlin(2026, 12, 23, 10), 6, berlin(2027, 1, 4, 10)),
        (BAVARIA, berlin(2027, 1, 5, 10), 1, berlin(2027, 1, 7, 10)),
        (BusinessCalendar("Europe/Berlin", "DE"), berlin(2027, 1, 5, 10), 1, berlin(2027, 1, 6, 10)),
        # DST: the wall-clock time is kept across the change, so the UTC offset moves.
        (US, ny(2026, 3, 6, 10), 1, ny(2026, 3, 9, 10)),  # EST -> EDT
        (US, ny(2026, 10, 30, 10), 1, ny(2026, 11, 2, 10)),  # EDT -> EST
        (BAVARIA, berlin(2026, 3, 27, 10), 1, berlin(2026, 3, 30, 10)),  # CET -> CEST
        (BAVARIA, berlin(2026, 10, 23, 10), 1, berlin(2026, 10, 26, 10)),  # CEST -> CET
        # No country: weekends only (Thanksgiving is an ordinary Thursday); year end is nothing special.
        (PLAIN, datetime(2026, 11, 25, 15, tzinfo=UTC), 1, datetime(2026, 11, 26, 15, tzinfo=UTC)),
        (PLAIN, datetime(2026, 12, 31, 12, tzinfo=UTC), 1, datetime(2027, 1, 1, 12, tzinfo=UTC)),
        (PLAIN, datetime(2026, 11, 27, 15, tzinfo=UTC), 0, datetime(2026, 11, 27, 15, tzinfo=UTC)),
        # Company days off come on top.
        (
            BusinessCalendar(extra_holidays=frozenset({date(2026, 11, 30)})),
            datetime(2026, 11, 27, 15, tzinfo=UTC), 1, datetime(2026, 12, 1, 15, tzinfo=UTC),
        ),
        # A country's own weekend: Friday and Saturday in Egypt.
        (
            BusinessCalendar("Africa/Cairo", "EG"),
            datetime(2026, 2, 12, 10, tzinfo=CAIRO), 1, datetime(2026, 2, 15, 10, tzinfo=CAIRO),
        ),
    ],
)  # fmt: skip
def test_add_business_days(calendar: BusinessCalendar, moment: datetime, n: int, expected: datetime) -> None:
    result = calendar.add_business_days(moment, n)
    assert result == expected
    assert result.tzinfo is UTC


def test_dst_change_moves_the_utc_offset() -> None:
    assert US.add_business_days(ny(2026, 3, 6, 10), 1) == datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert BAVARIA.add_business_days(berlin(2026, 10, 23, 10), 1) == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_nonexistent_wall_time_moves_forward_by_the_gap() -> None:
    # Cairo springs forward at Friday 24 April 2026 00:00 -> 01:00 (Friday works without a country).
    cairo = BusinessCalendar("Africa/Cairo")
    resolved = datetime(2026, 4, 23, 0, 30, tzinfo=CAIRO)  # Thursday 00:30 EET
    due = cairo.add_business_days(resolved, 1)
    assert due.astimezone(CAIRO).replace(tzinfo=None) == datetime(2026, 4, 24, 1, 30)
    assert due - resolved == timedelta(hours=24)


def test_repeated_wall_time_takes_the_first_occurrence() -> None:
    # Cairo falls back at the end of Thursday 29 October 2026: 23:00-24:00 happens twice.
    cairo = BusinessCalendar("Africa/Cairo")
    resolved = datetime(2026, 10, 28, 23, 30, tzinfo=CAIRO)
    due = cairo.add_business_days(resolved, 1)
    assert due == datetime(2026, 10, 29, 20, 30, tzinfo=UTC)  # 23:30 EEST, the earlier one
    assert due.astimezone(CAIRO).utcoffset() == timedelta(hours=3)


def test_is_business_day() -> None:
    assert US.is_business_day(date(2026, 11, 25))
    assert not US.is_business_day(date(2026, 11, 26))  # Thanksgiving
    assert not US.is_business_day(date(2026, 7, 3))  # Independence Day observed (4 July is a Saturday)
    assert not US.is_business_day(date(2026, 11, 28))  # Saturday
    assert PLAIN.is_business_day(date(2026, 11, 26))
    assert BusinessCalendar("Africa/Cairo", "EG").weekend == frozenset({4, 5})
    with pytest.raises(ValueError, match="takes a date"):
        US.is_business_day(datetime(2026, 11, 25, tzinfo=UTC))


def test_holidays_are_cached_per_year() -> None:
    US.is_business_day(date(2031, 3, 3))
    before = _holidays.cache_info()
    for day in range(1, 28):
        US.is_business_day(date(2031, 2, day))
    after = _holidays.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 19  # weekends are decided before the holiday lookup


def test_same_time_business_days_later_keeps_a_weekend_time() -> None:
    saturday = ny(2026, 11, 28, 15)
    assert US.same_time_business_days_later(saturday, 1) == ny(2026, 11, 30, 15)
    assert US.same_time_business_days_later(saturday, 2) == ny(2026, 12, 1, 15)
    assert US.at(date(2026, 11, 30), time(15)) == datetime(2026, 11, 30, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"timezone": "../etc"}, "unknown timezone"),
        ({"country": "XX"}, "unknown holiday calendar: Country XX not available"),
        ({"country": "US", "subdivision": "ZZ"}, "does not have subdivision ZZ"),
        ({"subdivision": "BY"}, "subdivision 'BY' needs a country"),
        ({"extra_holidays": frozenset({datetime(2026, 1, 2, tzinfo=UTC)})}, "must hold dates"),
    ],
)
def test_bad_calendar_settings_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        US.add_business_days(datetime(2026, 11, 27, 10), 1)
    with pytest.raises(ValueError, match="n must be 0 or more"):
        US.add_business_days(ny(2026, 11, 27, 10), -1)


@settings(max_examples=150, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    n=st.integers(min_value=0, max_value=12),
)
def test_due_lands_on_a_business_day_in_order(moment: datetime, n: int) -> None:
    due = US.add_business_days(moment, n)
    later = US.add_business_days(moment, n + 1)
    local = due.astimezone(NY)
    assert due >= moment
    assert later > due
    assert US.is_business_day(local.date())
    assert US.is_business_day(later.astimezone(NY).date())
    if US.is_business_day(moment.astimezone(NY).date()):
        assert local.time() == moment.astimezone(NY).time()  # New York changes clocks on Sundays only
    else:
        assert local.time() == time(0)
