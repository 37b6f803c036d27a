"""The ``/sev1`` command language: the text after the trigger -> a :data:`Command`, or a :class:`UsageError`.

A command that changes an incident comes out as the core's own event (``check 2.3`` typed by alice is
``ItemChecked("alice", "2.3")``); the others (start, status, timeline, list, help) have types of their own.
Times (``eta 17:30``, ``since 45m``) are parsed by :mod:`sev1bot.core.moments` into plain data; the core
reads them at its own now, in the bot's time zone.

Pure and total: any text yields a command or a ``UsageError`` whose message is short, says what is wrong and
never echoes more than a 30-character, printable-only snippet of the input (it is shown back in chat).

Free text (summary, update, note) keeps its line breaks; other control characters are dropped (PostgreSQL
rejects NUL, and they only confuse rendering). Item ids are ``<stage>.<item>`` counted from 1 (``2.3``);
usernames follow Mattermost's charset, with or without ``@``, and are lowercased.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sev1bot.core.events import (
    Assigned,
    EtaSet,
    FollowChanged,
    ItemChecked,
    ItemSkipped,
    ItemUnchecked,
    OutageSince,
    OwnerChanged,
    Reopened,
    Resolved,
    StatusUpdate,
)
from sev1bot.core.moments import EXAMPLES, Moment, MomentError, parse_moment
from sev1bot.core.text import ZWJ, is_invisible
from sev1bot.playbook.schema import Reactions

TRIGGER = "sev1"
MAX_INPUT = 16_383  # Mattermost's limit for a post, and so for what a slash command can carry
MAX_CUSTOMER = 80
MAX_TEXT = 4_000
_ECHO = 30


@dataclass(frozen=True)
class Start:
    customer: str
    summary: str = ""


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Timeline:
    pass


@dataclass(frozen=True)
class List:
    pass


@dataclass(frozen=True)
class Help:
    pass


# Commands that change an incident are the core's own events, with the person who typed them as the actor.
Change = (
    ItemChecked
    | ItemUnchecked
    | ItemSkipped
    | Assigned
    | OwnerChanged
    | StatusUpdate
    | FollowChanged
    | Resolved
    | Reopened
    | EtaSet
    | OutageSince
)


@dataclass(frozen=True)
class Elsewhere:
    """A follow or unfollow naming its incident by channel (``~sev1-...``), so it may be typed anywhere."""

    channel: str
    event: FollowChanged


Command = Start | Status | Timeline | List | Help | Change | Elsewhere


class UsageError(ValueError):
    """The text is not a valid command. ``message`` says why; ``usage_line`` shows the right form."""

    def __init__(self, message: str, usage_line: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage_line = usage_line


_ANYWHERE = (Start, List, Help, Elsewhere)


def is_incident_only(command: Command) -> bool:
    """Whether the command must run in an incident channel (all but start, list and help)."""
    return not isinstance(command, _ANYWHERE)


# --- pieces -------------------------------------------------------------------------------------------------

_KEY = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})")
_USERNAME = re.compile(r"[a-z0-9._-]{1,64}", re.ASCII | re.IGNORECASE)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# opening quote -> the closing quotes accepted for it (phones and Macs turn " into curly quotes)
_QUOTES = {'"': '"', "'": "'", "\u201c": '\u201d"', "\u2018": "\u2019'", "\u00ab": "\u00bb"}


def _echo(text: str) -> str:
    """A short, printable, quoted snippet of user input for an error message."""
    snippet = "".join(ch if ch.isprintable() else "?" for ch in text[:_ECHO])
    return f"'{snippet}…'" if len(text) > _ECHO else f"'{snippet}'"


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0


def _key(token: str, usage: str) -> str:
    match = _KEY.fullmatch(token)
    if match is None:
        raise UsageError(f"{_echo(token)} is not an item id; write stage.item, e.g. 2.3", usage)
    stage, item = int(match.group(1)), int(match.group(2))
    if stage < 1 or item < 1:
        raise UsageError(f"{_echo(token)} is not an item id; stages and items count from 1, e.g. 1.1", usage)
    return f"{stage}.{item}"


def _username(token: str, usage: str) -> str:
    # The bot writes names that must not ping as "@" + ZWJ + name (core.text.quiet); accept them pasted back.
    name = token.removeprefix("@").removeprefix(ZWJ)
    if not _USERNAME.fullmatch(name):
        raise UsageError(
            f"{_echo(token)} is not a username: use 1-64 letters, digits, '.', '_' or '-'", usage
        )
    return name.lower()


def _free_text(text: str, what: str, usage: str) -> str:
    """Keep line breaks and tabs, drop other control characters, trim; enforce the length limit."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(ch for ch in text if ch in "\n\t" or not _is_control(ch)).strip()
    if len(cleaned) > MAX_TEXT:
        raise UsageError(
            f"the {what} is too long ({len(cleaned)} characters; the limit is {MAX_TEXT})", usage
        )
    return cleaned


def _customer(rest: str, usage: str) -> tuple[str, str]:
    """Split ``"Acme Corp" summary...`` or ``Acme summary...`` into (customer, what follows)."""
    closers = _QUOTES.get(rest[:1])
    if closers is None:
        name, *after = rest.split(maxsplit=1)
        remainder = after[0] if after else ""
    else:
        end = next((i for i, ch in enumerate(rest) if i and ch in closers), None)
        if end is None:
            raise UsageError("the customer name has no closing quote", usage)
        name, remainder = rest[1:end], rest[end + 1 :]
    name = " ".join(name.split())
    if not name:
        raise UsageError("the customer name is empty", usage)
    if any(_is_control(ch) or ch in _BIDI_CONTROLS for ch in name):
        raise UsageError("the customer name contains control characters", usage)
    if any(is_invisible(ch) for ch in name):
        raise UsageError(
            "the customer name contains invisible characters (zero-width or formatting); type it again", usage
        )
    if len(name) > MAX_CUSTOMER:
        raise UsageError(
            f"the customer name is too long ({len(name)} characters; the limit is {MAX_CUSTOMER})", usage
        )
    return name, remainder


def _words(rest: str) -> list[str]:
    return rest.split()


# --- one parser per command -----------------------------------------------------------------------------

Parser = Callable[[str, str, str], Command]  # (what follows the command's name, its usage line, actor)


def _start(rest: str, usage: str, actor: str) -> Command:
    if not rest:
        raise UsageError("start needs the customer's name", usage)
    customer, summary = _customer(rest, usage)
    return Start(customer, _free_text(summary, "summary", usage))


def _one_key(event: type[ItemChecked | ItemUnchecked | ItemSkipped], name: str) -> Parser:
    def parse(rest: str, usage: str, actor: str) -> Command:
        words = _words(rest)
        if not words:
            raise UsageError(f"{name} needs an item id, e.g. 2.3", usage)
        if len(words) > 1:
            raise UsageError(f"{name} takes one item id, not {len(words)} words", usage)
        return event(actor, _key(words[0], usage))

    return parse


def _assign(rest: str, usage: str, actor: str) -> Command:
    words = _words(rest)
    if len(words) != 2:
        raise UsageError(f"assign takes an item id and a username, not {len(words)} word(s)", usage)
    first, second = words
    if not _KEY.fullmatch(first) and _KEY.fullmatch(second):
        raise UsageError("write the item id first, then the username", usage)
    return Assigned(actor, _key(first, usage), _username(second, usage))


def _owner(rest: str, usage: str, actor: str) -> Command:
    words = _words(rest)
    if len(words) != 1:
        raise UsageError(f"owner takes one username, not {len(words)} words", usage)
    return OwnerChanged(actor, _username(words[0], usage))


def _update(rest: str, usage: str, actor: str) -> Command:
    text = _free_text(rest, "update", usage)
    if not text:
        raise UsageError("update needs the text of the update", usage)
    return StatusUpdate(actor, text)


_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _following(following: bool) -> Parser:
    def parse(rest: str, usage: str, actor: str) -> Command:
        words = _words(rest)
        channels = [w.removeprefix("~").lower() for w in words if w.startswith("~")]
        names = [w for w in words if not w.startswith("~")]
        if len(channels) > 1 or len(names) > 1:
            raise UsageError("name at most one person and one ~incident-channel", usage)
        event = FollowChanged(actor, _username(names[0], usage).lower() if names else actor, following)
        if not channels:
            return event
        if not _CHANNEL.fullmatch(channels[0]):
            raise UsageError(f"{_echo(channels[0])} is not a channel name, e.g. ~sev1-2026-03-10-acme", usage)
        return Elsewhere(channels[0], event)

    return parse


def _resolve(rest: str, usage: str, actor: str) -> Command:
    return Resolved(actor, _free_text(rest, "note", usage))


def _reopen(rest: str, usage: str, actor: str) -> Command:
    if rest:
        raise UsageError("reopen takes no arguments", usage)
    return Reopened(actor)


def _moment(rest: str, usage: str, name: str) -> Moment:
    if not rest:
        raise UsageError(f"{name} needs a time, {EXAMPLES}", usage)
    try:
        return parse_moment(rest)
    except MomentError as exc:
        raise UsageError(str(exc), usage) from None


def _eta(rest: str, usage: str, actor: str) -> Command:
    return EtaSet(actor, _moment(rest, usage, "eta"))


def _since(rest: str, usage: str, actor: str) -> Command:
    return OutageSince(actor, _moment(rest, usage, "since"))


def _no_arguments(command: Command, name: str) -> Parser:
    def parse(rest: str, usage: str, actor: str) -> Command:
        if rest:
            raise UsageError(f"{name} takes no arguments", usage)
        return command

    return parse


def _help(rest: str, usage: str, actor: str) -> Command:
    return Help()  # "/sev1 help start" and the like still deserve the reference


@dataclass(frozen=True)
class _Spec:
    usage: str
    what: str
    parse: Parser


_SPECS: dict[str, _Spec] = {
    "start": _Spec(
        "/sev1 start <customer> [summary]",
        "Open a Sev 1: creates the incident channel, invites the leads and posts the checklist. "
        'Quote a customer name with spaces: `/sev1 start "Acme Corp" login fails`.',
        _start,
    ),
    "status": _Spec(
        "/sev1 status",
        "Show the status board: progress, open items, owner, elapsed time.",
        _no_arguments(Status(), "status"),
    ),
    "check": _Spec(
        "/sev1 check <stage.item>",
        "Mark an item done, e.g. `/sev1 check 2.3`.",
        _one_key(ItemChecked, "check"),
    ),
    "uncheck": _Spec(
        "/sev1 uncheck <stage.item>",
        "Reopen an item that was checked or skipped.",
        _one_key(ItemUnchecked, "uncheck"),
    ),
    "skip": _Spec(
        "/sev1 skip <stage.item>",
        "Mark an item as not needed for this incident.",
        _one_key(ItemSkipped, "skip"),
    ),
    "assign": _Spec(
        "/sev1 assign <stage.item> @<username>",
        "Give an item to someone (an active person, not a bot), who gets a DM with the item and its link.",
        _assign,
    ),
    "owner": _Spec(
        "/sev1 owner @<username>",
        "Hand the incident to a new owner (an active person, not a bot); the new and the former owner get a "
        "DM with the status board's link.",
        _owner,
    ),
    "update": _Spec("/sev1 update <text>", "Post a status update and add it to the timeline.", _update),
    "follow": _Spec(
        "/sev1 follow [@user] [~incident-channel]",
        "Get each status update by direct message (the owner or a lead may add someone else); name the "
        "incident's channel to run it from anywhere.",
        _following(True),
    ),
    "unfollow": _Spec(
        "/sev1 unfollow [@user] [~incident-channel]", "Stop getting the status updates.", _following(False)
    ),
    "eta": _Spec(
        "/sev1 eta <time>",
        "Record the anticipated resolution the customer is told: `17:30` (the next one), `2h`, "
        "`tomorrow 09:00`, in the bot's time zone. Shown on the board and flagged once passed.",
        _eta,
    ),
    "since": _Spec(
        "/sev1 since <time>",
        "Say when the outage really began: `13:40` (the latest one) or `45m` (45 minutes ago), at most 7 "
        "days back. Escalation to the CEO counts from then.",
        _since,
    ),
    "resolve": _Spec(
        "/sev1 resolve [note]", "Resolve the incident; starts the post-incident deadlines.", _resolve
    ),
    "reopen": _Spec("/sev1 reopen", "Reopen a resolved incident.", _reopen),
    "timeline": _Spec(
        "/sev1 timeline", "Show everything that happened, with times.", _no_arguments(Timeline(), "timeline")
    ),
    "list": _Spec("/sev1 list", "List the active incidents.", _no_arguments(List(), "list")),
    "help": _Spec("/sev1 help", "Show this reference.", _help),
}
COMMAND_NAMES = tuple(_SPECS)
GENERAL_USAGE = "/sev1 <command>; commands: " + ", ".join(COMMAND_NAMES)
AUTOCOMPLETE_HINT = "[" + " | ".join(COMMAND_NAMES) + "]"
AUTOCOMPLETE_DESCRIPTION = "Run the Sev 1 playbook: /sev1 help lists the commands"


def usage(name: str) -> str:
    """The usage line of one command, e.g. ``usage("check") == "/sev1 check <stage.item>"``."""
    return _SPECS[name].usage


def parse_command(text: str, actor: str) -> Command:
    """Parse what follows ``/sev1``, typed by ``actor`` (a username). Empty text asks for help."""
    if len(text) > MAX_INPUT:
        raise UsageError(
            f"that is too long for a command ({len(text)} characters; the limit is {MAX_INPUT})",
            GENERAL_USAGE,
        )
    text = text.strip()
    if not text:
        return Help()
    word, *after = text.split(maxsplit=1)
    rest = after[0].strip() if after else ""
    spec = _SPECS.get(word.lower())
    if spec is None:
        raise UsageError(_unknown(word), GENERAL_USAGE)
    return spec.parse(rest, spec.usage, actor)


def _unknown(word: str) -> str:
    if _KEY.fullmatch(word):
        return f"unknown command {_echo(word)}; to check that item write /sev1 check {word}"
    lowered = word.lower()
    guesses = [name for name in COMMAND_NAMES if len(lowered) >= 2 and name.startswith(lowered)]
    if not guesses and len(word) <= 20:
        guesses = difflib.get_close_matches(lowered, COMMAND_NAMES, n=1, cutoff=0.6)
    if guesses:
        return f"unknown command {_echo(word)}; did you mean " + " or ".join(f"'{g}'" for g in guesses) + "?"
    return f"unknown command {_echo(word)}; /sev1 help lists the commands"


def help_text(reactions: Reactions | None = None) -> str:
    """The full reference (markdown), used by ``/sev1 help`` and the README."""
    reactions = reactions or Reactions()
    anywhere = {cls.__name__.lower() for cls in _ANYWHERE}
    rows = "\n".join(
        f"| `{spec.usage}` | {spec.what} | {'any channel' if name in anywhere else 'incident channel'} |"
        for name, spec in _SPECS.items()
    )
    check = " or ".join(f":{emoji}:" for emoji in reactions.check)
    skip = " or ".join(f":{emoji}:" for emoji in reactions.skip)
    return (
        "#### /sev1: run the Sev 1 playbook in chat\n\n"
        "| Command | What it does | Where |\n|---|---|---|\n"
        f"{rows}\n\n"
        "Items are numbered `stage.item` as on the checklist, e.g. `2.3` is the third item of stage 2. "
        f"Reacting to an item's post also works: {check} checks it, {skip} skips it. "
        "Usernames may be written with or without `@`. Checking an item marked as a reply to the customer "
        "records the reply; the owner is reminded when the customer has waited too long."
    )
