"""Channel names: readable, lowercase a-z0-9 and '-', at most 64 characters, unique by suffix."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sev1bot.core.naming import channel_name, slugify, with_suffix

VALID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LATE_FRIDAY = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # still Friday 27 Nov in New York


@pytest.mark.parametrize(
    ("customer", "tz", "expected"),
    [
        ("Acme Corp", "UTC", "sev1-2026-11-28-acme-corp"),
        ("Acme Corp", "America/New_York", "sev1-2026-11-27-acme-corp"),
        ("  Café Zürich & Söhne GmbH ", "UTC", "sev1-2026-11-28-cafe-zurich-sohne-gmbh"),
        ("@all [x](y) <script>", "UTC", "sev1-2026-11-28-all-x-y-script"),
        ("日本電気", "UTC", "sev1-2026-11-28-incident"),
        ("", "UTC", "sev1-2026-11-28-incident"),
    ],
)
def test_channel_name(customer: str, tz: str, expected: str) -> None:
    assert channel_name(LATE_FRIDAY, customer, tz) == expected


def test_long_names_fit_64_characters_without_a_trailing_hyphen() -> None:
    name = channel_name(LATE_FRIDAY, "The Very Long Customer Name Incorporated Of Somewhere Far Away")
    assert len(name) <= 64
    assert VALID.match(name)
    assert name.startswith("sev1-2026-11-28-the-very-long-customer-name")


def test_with_suffix() -> None:
    assert with_suffix("sev1-2026-11-28-acme", 1) == "sev1-2026-11-28-acme"
    assert with_suffix("sev1-2026-11-28-acme", 2) == "sev1-2026-11-28-acme-2"
    long = "sev1-2026-11-28-" + "a" * 40 + "-bcdefgh"
    assert len(long) == 64
    assert with_suffix(long, 12) == "sev1-2026-11-28-" + "a" * 40 + "-bcde-12"
    assert with_suffix("sev1-2026-11-28-" + "a" * 45 + "-b", 100) == "sev1-2026-11-28-" + "a" * 44 + "-100"
    with pytest.raises(ValueError, match="suffix number must be 1 or more"):
        with_suffix("x", 0)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        channel_name(datetime(2026, 11, 27), "Acme")
    with pytest.raises(ValueError, match="prefix 'Sev 1'"):
        channel_name(LATE_FRIDAY, "Acme", prefix="Sev 1")
    assert channel_name(LATE_FRIDAY, "Acme", ZoneInfo("Europe/Berlin"), prefix="inc") == "inc-2026-11-28-acme"


@given(customer=st.text(max_size=200), n=st.integers(min_value=1, max_value=10_000))
def test_names_are_always_valid(customer: str, n: int) -> None:
    name = with_suffix(channel_name(LATE_FRIDAY, customer), n)
    assert len(name) <= 64
    assert VALID.match(name), name
    assert slugify(customer) == slugify(slugify(customer))
