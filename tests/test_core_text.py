"""neutralize(): no channel-wide pings, no live links or images, no control or bidi characters, bounded."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sev1bot.core.text import (
    BIDI_CONTROLS,
    RESERVED_USERNAMES,
    ZWJ,
    is_invisible,
    mention,
    neutralize,
    normalize_username,
    one_line,
    quiet,
)

LIVE_MENTION = re.compile(r"@(?:all|channel|here)(?![^\W_])", re.IGNORECASE)
LINK_JOIN = re.compile(r"\][(\[:]")


def is_safe(text: str) -> bool:
    return (
        not LIVE_MENTION.search(text)
        and not LINK_JOIN.search(text)
        and not any(ch in BIDI_CONTROLS for ch in text)
        and not any((ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F for ch in text)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello @all", f"hello @{ZWJ}all"),
        ("@HERE and @Channel!", f"@{ZWJ}HERE and @{ZWJ}Channel!"),
        ("@all-hands", f"@{ZWJ}all-hands"),  # Mattermost trims trailing punctuation: still @all
        ("ask @allison or @hereford", "ask @allison or @hereford"),  # real usernames stay mentions
        ("@@all", f"@@{ZWJ}all"),
        ("@\u202eall", f"@{ZWJ}all"),  # removing the override must not revive the mention
        ("[click](https://evil.example)", "[click]\u200b(https://evil.example)"),
        ("![img](https://evil.example/x.png)", "![img]\u200b(https://evil.example/x.png)"),
        ("[a][ref]\n[ref]: https://evil.example", "[a]\u200b[ref]\n[ref]\u200b: https://evil.example"),
        ("a\x00b\x1bc\r\nd\te\x7f", "abc\nd\te"),
        ("abc\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069def", "abcdef"),
        ("plain text [brackets] stay", "plain text [brackets] stay"),
    ],
)
def test_neutralize_examples(text: str, expected: str) -> None:
    assert neutralize(text) == expected


def test_neutralize_truncates_with_an_ellipsis() -> None:
    assert neutralize("abcdefgh", 5) == "abcd…"
    assert neutralize("hi @allison", 8) == "hi …"  # not "hi @all…", which would ping everyone
    assert neutralize("abcde", 5) == "abcde"
    assert neutralize("x" * 5000) == "x" * 3999 + "…"
    with pytest.raises(ValueError, match="limit must be at least 1"):
        neutralize("x", 0)


def test_one_line_folds_whitespace() -> None:
    assert one_line("  Acme\n\tCorp   @here ") == f"Acme Corp @{ZWJ}here"
    assert one_line("x" * 100, 10) == "x" * 9 + "…"


def test_usernames() -> None:
    assert normalize_username(" @Bob ") == "bob"
    assert normalize_username("jane.doe-2_x") == "jane.doe-2_x"
    with pytest.raises(ValueError, match='"@all" is a channel-wide mention'):
        normalize_username("@all")
    with pytest.raises(ValueError, match='"bob smith" is not a username'):
        normalize_username("bob smith")
    assert mention("bob") == "@bob"
    assert mention("here") == f"@{ZWJ}here"
    assert quiet("bob") == f"@{ZWJ}bob"


TRAPS = [
    "@all",
    "@ALL",
    "@here",
    "@Channel",
    "@",
    "all",
    "here",
    "[x]",
    "](y)",
    "]",
    "(",
    "[",
    ":",
    "!",
    "\\",
]
TRAPS += [
    "@allison",
    "@here9",
    "@channels",
    "\u202e",
    "\u2066",
    "\u200f",
    "\x00",
    "\x1b",
    "\n",
    "\t",
    "\r",
    " ",
    "…",
]
text_with_traps = st.lists(
    st.one_of(
        st.sampled_from(TRAPS),
        st.text(max_size=5),
    ),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(text=text_with_traps, limit=st.integers(min_value=1, max_value=60))
def test_neutralize_is_safe_bounded_and_idempotent(text: str, limit: int) -> None:
    out = neutralize(text, limit)
    assert len(out) <= limit
    assert is_safe(out), repr(out)
    assert neutralize(out, limit) == out


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_neutralize_arbitrary_text(text: str) -> None:
    out = neutralize(text, 100)
    assert len(out) <= 100
    assert is_safe(out), repr(out)
    if (
        is_safe(text)
        and "\r" not in text
        and len(text) <= 100
        and all(ord(c) >= 32 or c in "\n\t" for c in text)
    ):
        assert out == text  # harmless text passes through untouched


@pytest.mark.parametrize(
    "ch", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u3164"]
)
def test_invisible_characters_are_recognised(ch: str) -> None:
    assert is_invisible(ch)


@pytest.mark.parametrize("ch", ["a", " ", "é", "ß", "字", "😀", "-", "."])
def test_visible_characters_are_not_invisible(ch: str) -> None:
    assert not is_invisible(ch)


@given(st.from_regex(r"[a-z0-9._-]{1,64}", fullmatch=True).filter(lambda n: n not in RESERVED_USERNAMES))
def test_a_quiet_name_pasted_back_is_the_username(name: str) -> None:
    assert normalize_username(quiet(name)) == name
