"""Make user-supplied text safe to render in a Mattermost post, header or display name.

Everything a user types (customer names, summaries, updates, notes) passes through :func:`neutralize` before
the core renders it, so that nobody can ping a whole channel through the bot, smuggle a link or image behind
innocent-looking text, or flip the reading order of what follows.
"""

from __future__ import annotations

import re
import unicodedata

ZWJ = "\u200d"  # zero-width joiner: Mattermost splits words on it, so "@\u200dall" mentions nobody
ZWSP = "\u200b"  # zero-width space: breaks the "](" / "][" / "]:" adjacency every markdown link form needs
ELLIPSIS = "…"

# Bidi embeddings, overrides, isolates and marks (plus the Arabic letter mark).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f" + "".join(map(chr, range(0x202A, 0x202F))) + "".join(map(chr, range(0x2066, 0x206A)))
)
_KEEP = frozenset("\n\t")

# Characters that show nothing, or nothing but blank space that is not a space, besides format (Cf) ones:
# Hangul fillers, the combining grapheme joiner, the braille blank and variation selectors.
_INVISIBLE_OTHER = frozenset("\u115f\u1160\u3164\uffa0\u034f\u2800") | frozenset(
    map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
)

# A channel-wide mention: @all / @channel / @here not followed by a letter or digit ("@allison" is a user).
_LIVE_MENTION = re.compile(r"@(?=(?:all|channel|here)(?![^\W_]))", re.IGNORECASE)
_MENTION_AT_END = re.compile(r"@(?:all|channel|here)$", re.IGNORECASE)
_LINK_JOIN = re.compile(r"\](?=[(\[:])")
_SPACES = re.compile(r"\s+")
_USERNAME = re.compile(r"^[a-z0-9.\-_]{1,64}$")
RESERVED_USERNAMES = frozenset({"all", "channel", "here"})


def _strip_controls(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch in _KEEP or (ch not in BIDI_CONTROLS and unicodedata.category(ch) not in {"Cc", "Cs"})
    )


def is_invisible(ch: str) -> bool:
    """Whether ``ch`` is a character one cannot see: zero-width spaces and joiners, bidi and other format
    characters (Unicode category Cf: soft hyphen, word joiner, BOM, tags...), fillers and selectors.

    Two names differing only by such characters look the same, so names must not contain them.
    """
    return unicodedata.category(ch) == "Cf" or ch in _INVISIBLE_OTHER


def neutralize(text: str, limit: int = 4000) -> str:
    """Return ``text`` defused for rendering and at most ``limit`` characters long.

    Control characters (except newline and tab) and bidi controls are removed, ``@all``/``@channel``/``@here``
    (any case) get a zero-width joiner after the ``@``, markdown links, images and link definitions are broken
    with a zero-width space after the ``]``, and overlong text is cut with "…".
    Applying it twice changes nothing.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    safe = _strip_controls(text)
    safe = _LIVE_MENTION.sub("@" + ZWJ, safe)
    safe = _LINK_JOIN.sub("]" + ZWSP, safe)
    if len(safe) > limit:
        head = safe[: limit - 1]
        cut = _MENTION_AT_END.search(head)  # "@allison" cut to "@all…" would be live again
        safe = (head[: cut.start()] if cut else head) + ELLIPSIS
    return safe


def one_line(text: str, limit: int = 4000) -> str:
    """:func:`neutralize`, with every run of whitespace (newlines included) folded into one space."""
    return neutralize(_SPACES.sub(" ", _strip_controls(text)).strip(), limit)


def normalize_username(name: str) -> str:
    """Turn what a user typed ("@Bob", " bob ", or "@\u200dbob" pasted from the bot's :func:`quiet`) into a
    Mattermost username, or raise ValueError saying why."""
    username = name.strip().removeprefix("@").removeprefix(ZWJ).lower()
    if not _USERNAME.match(username):
        raise ValueError(
            f'"{one_line(name, 80)}" is not a username (letters, digits, ".", "-" and "_", at most 64)'
        )
    if username in RESERVED_USERNAMES:
        raise ValueError(f'"@{username}" is a channel-wide mention, not a person')
    return username


def mention(username: str) -> str:
    """``@username`` for a trusted username; a channel-wide name is defused rather than pinging everyone."""
    return neutralize("@" + username, 80)


def quiet(username: str) -> str:
    """``@username`` as it looks, but notifying nobody: for names on the board and in other people's DMs.

    A command accepts the name pasted back as written here (:func:`sev1bot.commands` drops the joiner).
    """
    return "@" + ZWJ + neutralize(username, 80)
