"""Times people type for ``/sev1 eta`` and ``/sev1 since``: the parser, the resolution in a time zone and the
bounds of each command, by example and by property."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sev1bot.core.moments import (
    ETA_AHEAD_MAX,
    SINCE_BACK_MAX,
    MomentError,
    Relative,
    WallClock,
    eta_time,
    local_day,
    outage_start_time,
    parse_moment,
    resolve,
)

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 10 March 2026, 14:00 UTC = 10:00 in New York (EDT since Sunday 8 March).
NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
ZONES = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Australia/Lord_Howe",  # a 30-minute daylight saving shift
        "Pacific/Chatham",  # +12:45 / +13:45
        "America/Santiago",  # changes at midnight: some days have no 00:00
    ]
).map(ZoneInfo)
NOWS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2h", Relative(timedelta(hours=2))),
        ("1h30m", Relative(timedelta(minutes=90))),
        ("1h 30m", Relative(timedelta(minutes=90))),
        ("90 min", Relative(timedelta(minutes=90))),
        ("2 Hours", Relative(timedelta(hours=2))),
        ("1d 2h", Relative(timedelta(hours=26))),
        ("30s", Relative(timedelta(seconds=30))),
        ("in 2h", Relative(timedelta(hours=2), ago=False)),
        ("45m ago", Relative(timedelta(minutes=45), ago=True)),
        ("  45m\u00a0ago ", Relative(timedelta(minutes=45), ago=True)),
        ("17:30", WallClock(time(17, 30))),
        ("9:05", WallClock(time(9, 5))),
        ("0:00", WallClock(time(0, 0))),
        ("5pm", WallClock(time(17, 0))),
        ("5:30 PM", WallClock(time(17, 30))),
        ("12am", WallClock(time(0, 0))),
        ("12 p.m.", WallClock(time(12, 0))),
        ("tomorrow 09:00", WallClock(time(9, 0), 1)),
        ("Tomorrow at 9am", WallClock(time(9, 0), 1)),
        ("09:00 tomorrow", WallClock(time(9, 0), 1)),
        ("today 17:30", WallClock(time(17, 30), 0)),
        ("yesterday 22:10", WallClock(time(22, 10), -1)),
        ("2026-03-09 22:10", WallClock(time(22, 10), date(2026, 3, 9))),
    ],
)
def test_the_forms_people_type(text: str, moment: object) -> None:
    assert parse_moment(text) == moment


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "give a time"),
        ("   ", "give a time"),
        ("17", "write 17:00 for a time of day, 17h for hours"),
        ("25:00", "hours go from 0 to 23"),
        ("17:60", "minutes from 0 to 59"),
        ("13pm", "with am or pm the hour goes from 1 to 12"),
        ("0am", "with am or pm the hour goes from 1 to 12"),
        ("garbage", "is not a time; write e.g. 17:30"),
        ("soon", "is not a time"),
        ("17:30 UTC", "leave out any time zone"),
        ("5pm CET", "leave out any time zone"),
        ("tomorrow", "has no time of day"),
        ("tomorrow yesterday 10:00", "names two days"),
        ("2026-02-30 10:00", "is not a date"),
        ("0001-01-01 00:00", "the year must be between 1970 and 2999"),
        ("9999-12-31 23:59", "the year must be between 1970 and 2999"),
        ("999d", "too long a time from now"),
        ("99999999h", "is not a time"),
        ("in soon", "is not a duration"),
        ("in -2h", "is not a duration"),
        ("2h30", "is not a time"),
        ("17:\u200b30", "contains invisible characters"),  # zero-width space
        ("\u202e03:71", "contains invisible characters"),  # right-to-left override
        ("17:30\u2060", "contains invisible characters"),  # word joiner
        ("17:30\x00", "contains invisible characters"),
        ("\uff11\uff17:\uff13\uff10", "with the digits 0-9"),  # fullwidth digits
        ("\u0661\u0667:\u0663\u0660", "with the digits 0-9"),  # Arabic-Indic digits
        ("17\uff1a30", "with the digits 0-9"),  # a fullwidth colon
        ("x" * 41, "too long for a time"),
    ],
)
def test_what_is_refused_says_why(text: str, says: str) -> None:
    with pytest.raises(MomentError, match=says.replace("(", r"\(").replace(".", r"\.")) as refused:
        parse_moment(text)
    message = str(refused.value)
    assert len(message) < 200 and all(ch.isprintable() for ch in message), message
    assert "\u200b" not in message and "\u202e" not in message


def test_a_bare_time_is_the_next_one_ahead_and_the_latest_one_back() -> None:
    ten_thirty = WallClock(time(10, 30))  # New York: 10:30 today is still ahead at 10:00
    assert resolve(ten_thirty, NOW, NEW_YORK, ahead=True) == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert resolve(ten_thirty, NOW, NEW_YORK, ahead=False) == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
    nine = WallClock(time(9, 0))
    assert resolve(nine, NOW, NEW_YORK, ahead=True) == datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
    assert resolve(nine, NOW, NEW_YORK, ahead=False) == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert resolve(WallClock(time(10, 0)), NOW, NEW_YORK, ahead=False) == NOW  # now itself is not ahead


def test_days_are_counted_in_the_time_zone() -> None:
    late = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 22:00 on the 10th in New York, already the 11th in UTC
    assert resolve(WallClock(time(9, 0), 1), late, NEW_YORK, ahead=True) == datetime(
        2026, 3, 11, 13, 0, tzinfo=UTC
    )
    assert resolve(WallClock(time(9, 0), 1), late, UTC_ZONE, ahead=True) == datetime(
        2026, 3, 12, 9, 0, tzinfo=UTC
    )


def test_a_time_in_the_spring_forward_gap_moves_forward_and_a_repeated_one_is_the_first() -> None:
    before_gap = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST on the day clocks skip 02:00-03:00
    assert resolve(WallClock(time(2, 30)), before_gap, NEW_YORK, ahead=True) == datetime(
        2026,
        3,
        8,
        7,
        30,
        tzinfo=UTC,  # 03:30 EDT
    )
    before_fold = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT on the day 01:00-02:00 happens twice
    assert resolve(WallClock(time(1, 30)), before_fold, NEW_YORK, ahead=True) == datetime(
        2026,
        11,
        1,
        5,
        30,
        tzinfo=UTC,  # 01:30 EDT, the first
    )


def test_durations_look_the_commands_way_unless_told() -> None:
    two = timedelta(hours=2)
    assert resolve(Relative(two), NOW, NEW_YORK, ahead=True) == NOW + two
    assert resolve(Relative(two), NOW, NEW_YORK, ahead=False) == NOW - two
    assert resolve(Relative(two, ago=True), NOW, NEW_YORK, ahead=True) == NOW - two
    assert resolve(Relative(two, ago=False), NOW, NEW_YORK, ahead=False) == NOW + two


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("45m ago", "not in the future"),
        ("0m", "not in the future"),
        ("yesterday 10:00", "not in the future"),
        ("today 09:00", "not in the future"),
        ("31d", "more than 30 days ahead"),
        ("2999-01-01 00:00", "more than 30 days ahead"),
        ("1970-01-01 00:00", "not in the future"),
    ],
)
def test_an_eta_is_ahead_and_not_far(text: str, says: str) -> None:
    with pytest.raises(MomentError, match=says):
        eta_time(parse_moment(text), NOW, NEW_YORK)


def test_an_eta() -> None:
    assert eta_time(parse_moment("17:30"), NOW, NEW_YORK) == datetime(2026, 3, 10, 21, 30, tzinfo=UTC)
    assert eta_time(parse_moment("2h"), NOW, NEW_YORK) == NOW + timedelta(hours=2)
    assert eta_time(parse_moment("tomorrow 09:00"), NOW, NEW_YORK) == datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
    assert eta_time(parse_moment("30d"), NOW, NEW_YORK) == NOW + ETA_AHEAD_MAX


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("in 5m", "in the future"),
        ("tomorrow 09:00", "in the future"),
        ("today 11:00", "in the future"),
        ("8d", "more than 7 days ago"),
        ("2026-03-03 08:59", "more than 7 days ago"),
        ("2999-01-01 00:00", "in the future"),
        ("1970-01-01 00:00", "more than 7 days ago"),
    ],
)
def test_an_outage_began_in_the_last_seven_days(text: str, says: str) -> None:
    with pytest.raises(MomentError, match=says):
        outage_start_time(parse_moment(text), NOW, NEW_YORK)


def test_an_outage_start() -> None:
    eight_forty = datetime(2026, 3, 10, 12, 40, tzinfo=UTC)
    assert outage_start_time(parse_moment("08:40"), NOW, NEW_YORK) == eight_forty
    assert outage_start_time(parse_moment("45m"), NOW, NEW_YORK) == NOW - timedelta(minutes=45)
    assert outage_start_time(parse_moment("0m"), NOW, NEW_YORK) == NOW
    assert outage_start_time(parse_moment("7d"), NOW, NEW_YORK) == NOW - SINCE_BACK_MAX


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        resolve(Relative(timedelta(hours=1)), datetime(2026, 3, 10, 14, 0), NEW_YORK, ahead=True)


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_any_text_is_a_moment_or_a_plain_refusal(text: str) -> None:
    try:
        parse_moment(text)
    except MomentError as exc:
        assert all(ch.isprintable() for ch in str(exc)) and len(str(exc)) < 200


def _typed(draw: st.DrawFn) -> str:
    """Text of the kinds people type, valid or nearly so."""
    hour, minute = draw(st.integers(0, 30)), draw(st.integers(0, 70))
    forms = [f"{hour}:{minute:02d}", f"{hour:02d}:{minute:02d}", f"{hour}pm", f"{hour}:{minute:02d}am"]
    clock = draw(st.sampled_from(forms))
    day = draw(st.sampled_from(["", "today ", "tomorrow ", "yesterday ", "2026-03-09 ", "2026-04-30 "]))
    amount = draw(st.integers(0, 20_000))
    unit = draw(st.sampled_from(["m", "h", "d", "s", " min", " hours"]))
    duration = draw(st.sampled_from([f"{amount}{unit}", f"in {amount}{unit}", f"{amount}{unit} ago"]))
    return draw(st.sampled_from([day + clock, duration]))


@settings(max_examples=400)
@given(st.composite(_typed)(), NOWS, ZONES)
def test_whatever_an_eta_or_a_start_resolves_to_is_within_its_bounds(
    text: str, now: datetime, zone: ZoneInfo
) -> None:
    try:
        moment = parse_moment(text)
    except MomentError:
        return
    try:
        eta = eta_time(moment, now, zone)
    except MomentError:
        pass
    else:
        assert now < eta <= now + ETA_AHEAD_MAX and eta.tzinfo is UTC
    try:
        began = outage_start_time(moment, now, zone)
    except MomentError:
        pass
    else:
        assert now - SINCE_BACK_MAX <= began <= now and began.tzinfo is UTC


def _exists(day: date, at: time, zone: ZoneInfo) -> bool:
    """Whether wall-clock ``at`` happens on ``day`` in ``zone`` (not skipped by a spring-forward gap)."""
    wall = datetime.combine(day, at)
    return local_day(day, at, zone).astimezone(zone).replace(tzinfo=None) == wall


@settings(max_examples=400)
@given(TIMES, NOWS, ZONES)
def test_a_bare_time_is_the_nearest_occurrence_each_way(at: time, now: datetime, zone: ZoneInfo) -> None:
    ahead = resolve(WallClock(at), now, zone, ahead=True)
    back = resolve(WallClock(at), now, zone, ahead=False)
    assert back <= now < ahead
    assert ahead - now <= timedelta(hours=26) and now - back <= timedelta(hours=26)
    for found in (ahead, back):
        local = found.astimezone(zone)
        if _exists(local.date(), at, zone):
            assert local.time() == at
        else:  # skipped that day: moved forward by the gap, never more than a few hours
            moved = local.replace(tzinfo=None) - datetime.combine(local.date(), at)
            assert timedelta(0) < moved <= timedelta(hours=3)
    # the nearest: the occurrence a day nearer to now is on the other side of now
    day_before = local_day(ahead.astimezone(zone).date() - timedelta(days=1), at, zone)
    assert day_before <= now
    day_after = local_day(back.astimezone(zone).date() + timedelta(days=1), at, zone)
    assert day_after > now


@settings(max_examples=200)
@given(st.integers(1, 30 * 24 * 60), NOWS, ZONES)
def test_minutes_from_now_round_trip(minutes: int, now: datetime, zone: ZoneInfo) -> None:
    assert eta_time(parse_moment(f"{minutes}m"), now, zone) == now + timedelta(minutes=minutes)
    if minutes <= 7 * 24 * 60:
        assert outage_start_time(parse_moment(f"{minutes}m"), now, zone) == now - timedelta(minutes=minutes)
    else:
        with pytest.raises(MomentError, match="more than 7 days ago"):
            outage_start_time(parse_moment(f"{minutes}m ago"), now, zone)


@settings(max_examples=200)
@given(st.integers(0, 23), st.integers(0, 59))
def test_every_time_of_day_reads_back(hour: int, minute: int) -> None:
    assert parse_moment(f"{hour}:{minute:02d}") == WallClock(time(hour, minute))
    assert parse_moment(f"{hour:02d}:{minute:02d}") == WallClock(time(hour, minute))
