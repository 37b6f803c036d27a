"""Durations as playbook authors write them, and as the schema accepts them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sev1bot.durations import Duration, PositiveDuration, format_duration, parse_duration


class Timing(BaseModel):
    every: Duration
    repeat: PositiveDuration = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("24h", timedelta(days=1)),
        (" 2 h ", timedelta(hours=2)),
        ("0s", timedelta(0)),
        ("PT1H", timedelta(hours=1)),
        ("PT90S", timedelta(seconds=90)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("pt15m", timedelta(minutes=15)),
    ],
)
def test_parses_short_and_iso_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a duration; write e.g. 90s, 30m, 1h, 1d or PT1H"),
        ("1 hour", "'1 hour' is not a duration"),
        ("1.5h", "'1.5h' is not a duration"),
        ("1H", "'1H' is not a duration"),  # upper-case units are not allowed: 1M would be ambiguous
        ("-1h", "'-1h' is not a duration"),
        ("h", "'h' is not a duration"),
        ("P", "'P' is not a duration"),
        ("PT", "'PT' is not a duration"),
        ("P1DT", "'P1DT' is not a duration"),  # a T must be followed by a time
        ("PT1.5H", "'PT1.5H' is not a duration"),
        ("P1M", "'P1M': years, months and weeks have no fixed length"),
        ("P2W", "'P2W': years, months and weeks have no fixed length"),
        ("P1Y", "'P1Y': years, months and weeks have no fixed length"),
        ("99999999999999d", "'99999999999999d' is too long a duration"),
        ("\u0661h", "is not a duration"),  # an Arabic-Indic digit is not an ASCII digit
    ],
)
def test_rejects_bad_durations_with_a_plain_sentence(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (60, "60 has no unit; write e.g. 60s, 60m or 60h"),
        (1.5, "1.5 has no unit"),
        (True, "a duration must be text such as 90s, 30m, 1h, 1d or PT1H, not bool"),
        (None, "not NoneType"),
        ([1], "not list"),
        (timedelta(seconds=-1), "a duration cannot be negative"),
    ],
)
def test_schema_field_rejects_numbers_and_negatives(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Timing.model_validate({"every": value})
    (error,) = info.value.errors()
    assert error["loc"] == ("every",)
    assert message in error["msg"]


def test_positive_duration_rejects_zero() -> None:
    with pytest.raises(ValidationError, match="must be longer than 0s"):
        Timing.model_validate({"every": "1h", "repeat": "0s"})


def test_schema_field_accepts_text_and_timedelta_and_serialises_short() -> None:
    timing = Timing.model_validate({"every": "PT90M", "repeat": timedelta(days=2)})
    assert timing.every == timedelta(minutes=90)
    assert timing.model_dump() == {"every": "90m", "repeat": "2d"}
    assert Timing.model_validate(timing.model_dump()) == timing


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=3), "3d"),
    ],
)
def test_format_duration_picks_the_largest_exact_unit(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
