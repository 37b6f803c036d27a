"""The /sev1 parser: every command, every error, and totality over arbitrary text."""

from __future__ import annotations

from datetime import time, timedelta
from typing import get_args

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sev1bot.commands import (
    COMMAND_NAMES,
    GENERAL_USAGE,
    MAX_CUSTOMER,
    MAX_INPUT,
    MAX_TEXT,
    Command,
    Help,
    List,
    Start,
    Status,
    Timeline,
    UsageError,
    help_text,
    is_incident_only,
    parse_command,
    usage,
)
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
from sev1bot.core.moments import Relative, WallClock
from sev1bot.playbook.schema import Reactions

ACTOR = "carol"  # who types the commands below


def parse(text: str) -> Command:
    return parse_command(text, ACTOR)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   \n\t ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("help check", Help()),
        ("start acme", Start("acme", "")),
        ("start Acme database is down", Start("Acme", "database is down")),
        ('start "Acme Corp" database is down', Start("Acme Corp", "database is down")),
        ('start "Acme   Corp"', Start("Acme Corp", "")),
        ("start 'Acme Corp' slow", Start("Acme Corp", "slow")),
        ("start \u201cAcme Corp\u201d slow", Start("Acme Corp", "slow")),  # curly quotes from phones and Macs
        ('start \u201cAcme Corp" slow', Start("Acme Corp", "slow")),
        ("start \u00abAcme Corp\u00bb", Start("Acme Corp", "")),
        ("start O'Brien Ltd outage", Start("O'Brien", "Ltd outage")),
        ('start "Joe\'s Diner" ok', Start("Joe's Diner", "ok")),
        ("start Acme\nline one\nline two", Start("Acme", "line one\nline two")),
        ("start Acme  MME \x00down\r\nnow", Start("Acme", "MME down\nnow")),
        ("start شركة تعطل", Start("شركة", "تعطل")),
        ("Start ACME", Start("ACME", "")),
        ("status", Status()),
        ("  status  ", Status()),
        ("check 2.3", ItemChecked(ACTOR, "2.3")),
        ("check 02.03", ItemChecked(ACTOR, "2.3")),
        ("check 12.10", ItemChecked(ACTOR, "12.10")),
        ("CHECK 1.1", ItemChecked(ACTOR, "1.1")),
        ("uncheck 2.3", ItemUnchecked(ACTOR, "2.3")),
        ("skip 4.6", ItemSkipped(ACTOR, "4.6")),
        ("assign 2.3 @alice", Assigned(ACTOR, "2.3", "alice")),
        ("assign 2.3 Alice.Smith", Assigned(ACTOR, "2.3", "alice.smith")),
        ("assign 1.1 @a_b-c.d9", Assigned(ACTOR, "1.1", "a_b-c.d9")),
        ("owner @Bob", OwnerChanged(ACTOR, "bob")),
        ("owner bob", OwnerChanged(ACTOR, "bob")),
        ("owner @" + "x" * 64, OwnerChanged(ACTOR, "x" * 64)),
        (
            "update Failover done, watching error rates",
            StatusUpdate(ACTOR, "Failover done, watching error rates"),
        ),
        ("update  line 1\n  line 2  ", StatusUpdate(ACTOR, "line 1\n  line 2")),
        ("update tab\tstays, bell\x07 goes", StatusUpdate(ACTOR, "tab\tstays, bell goes")),
        ("resolve", Resolved(ACTOR, "")),
        ("resolve fixed in 9.11.2", Resolved(ACTOR, "fixed in 9.11.2")),
        ("reopen", Reopened(ACTOR)),
        ("eta 17:30", EtaSet(ACTOR, WallClock(time(17, 30)))),
        ("ETA  tomorrow 09:00", EtaSet(ACTOR, WallClock(time(9, 0), 1))),
        ("eta 2h", EtaSet(ACTOR, Relative(timedelta(hours=2)))),
        ("eta in 1h 30m", EtaSet(ACTOR, Relative(timedelta(minutes=90), ago=False))),
        ("since 13:40", OutageSince(ACTOR, WallClock(time(13, 40)))),
        ("since 45m", OutageSince(ACTOR, Relative(timedelta(minutes=45)))),
        ("since yesterday 22:10", OutageSince(ACTOR, WallClock(time(22, 10), -1))),
        ("timeline", Timeline()),
        ("list", List()),
    ],
)
def test_commands(text: str, expected: Command) -> None:
    assert parse(text) == expected


CHECK_USAGE = "/sev1 check <stage.item>"
ASSIGN_USAGE = "/sev1 assign <stage.item> @<username>"
START_USAGE = "/sev1 start <customer> [summary]"


@pytest.mark.parametrize(
    ("text", "message", "usage_line"),
    [
        ("chek 2.3", "unknown command 'chek'; did you mean 'check'?", GENERAL_USAGE),
        ("stat", "unknown command 'stat'; did you mean 'status'?", GENERAL_USAGE),
        ("resolv", "unknown command 'resolv'; did you mean 'resolve'?", GENERAL_USAGE),
        ("st", "unknown command 'st'; did you mean 'start' or 'status'?", GENERAL_USAGE),
        ("Upd", "unknown command 'Upd'; did you mean 'update'?", GENERAL_USAGE),
        ("asign", "unknown command 'asign'; did you mean 'assign'?", GENERAL_USAGE),
        ("frobnicate", "unknown command 'frobnicate'; /sev1 help lists the commands", GENERAL_USAGE),
        ("2.3", "unknown command '2.3'; to check that item write /sev1 check 2.3", GENERAL_USAGE),
        ("/status", "unknown command '/status'; did you mean 'status'?", GENERAL_USAGE),
        ("start", "start needs the customer's name", START_USAGE),
        ('start "Acme Corp', "the customer name has no closing quote", START_USAGE),
        ('start "" summary', "the customer name is empty", START_USAGE),
        ('start "   " summary', "the customer name is empty", START_USAGE),
        ("start Ac\x00me", "the customer name contains control characters", START_USAGE),
        ("start Acme\u202eCorp", "the customer name contains control characters", START_USAGE),
        (
            "start " + "A" * (MAX_CUSTOMER + 1),
            "the customer name is too long (81 characters; the limit is 80)",
            START_USAGE,
        ),
        (
            "start Acme " + "x" * (MAX_TEXT + 1),
            "the summary is too long (4001 characters; the limit is 4000)",
            START_USAGE,
        ),
        ("check", "check needs an item id, e.g. 2.3", CHECK_USAGE),
        ("check 2.x", "'2.x' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check 2", "'2' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check 2.3.1", "'2.3.1' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check -1.2", "'-1.2' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check 12345.1", "'12345.1' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check \u0662.\u0663", "'\u0662.\u0663' is not an item id; write stage.item, e.g. 2.3", CHECK_USAGE),
        ("check 0.1", "'0.1' is not an item id; stages and items count from 1, e.g. 1.1", CHECK_USAGE),
        ("check 2.0", "'2.0' is not an item id; stages and items count from 1, e.g. 1.1", CHECK_USAGE),
        ("check 2.3 2.4", "check takes one item id, not 2 words", CHECK_USAGE),
        ("uncheck", "uncheck needs an item id, e.g. 2.3", "/sev1 uncheck <stage.item>"),
        ("skip x", "'x' is not an item id; write stage.item, e.g. 2.3", "/sev1 skip <stage.item>"),
        ("assign", "assign takes an item id and a username, not 0 word(s)", ASSIGN_USAGE),
        ("assign 2.3", "assign takes an item id and a username, not 1 word(s)", ASSIGN_USAGE),
        ("assign 2.3 @a @b", "assign takes an item id and a username, not 3 word(s)", ASSIGN_USAGE),
        ("assign @alice 2.3", "write the item id first, then the username", ASSIGN_USAGE),
        (
            "assign 2.3 @al!ce",
            "'@al!ce' is not a username: use 1-64 letters, digits, '.', '_' or '-'",
            ASSIGN_USAGE,
        ),
        ("assign 2.3 @", "'@' is not a username: use 1-64 letters, digits, '.', '_' or '-'", ASSIGN_USAGE),
        ("assign 2.3 @@bob", "'@@bob' is not a username", ASSIGN_USAGE),
        ("assign 2.3 \u212aim", "'\u212aim' is not a username", ASSIGN_USAGE),  # Kelvin sign, lowercases to k
        ("assign x.y @bob", "'x.y' is not an item id", ASSIGN_USAGE),
        ("owner", "owner takes one username, not 0 words", "/sev1 owner @<username>"),
        ("owner @a @b", "owner takes one username, not 2 words", "/sev1 owner @<username>"),
        ("owner @" + "x" * 65, "is not a username", "/sev1 owner @<username>"),
        ("update", "update needs the text of the update", "/sev1 update <text>"),
        ("update \x00\x01", "update needs the text of the update", "/sev1 update <text>"),
        (
            "update " + "u" * (MAX_TEXT + 1),
            "the update is too long (4001 characters; the limit is 4000)",
            "/sev1 update <text>",
        ),
        (
            "resolve " + "n" * (MAX_TEXT + 1),
            "the note is too long (4001 characters; the limit is 4000)",
            "/sev1 resolve [note]",
        ),
        ("eta", "eta needs a time, e.g. 17:30, 2h, 45m or tomorrow 09:00", "/sev1 eta <time>"),
        ("eta soon", "'soon' is not a time; write e.g. 17:30", "/sev1 eta <time>"),
        ("eta 17:30 CET", "leave out any time zone", "/sev1 eta <time>"),
        ("eta 17:\u200b30", "'17:?30' contains invisible characters", "/sev1 eta <time>"),
        ("eta \u0661\u0667:\u0663\u0660", "with the digits 0-9", "/sev1 eta <time>"),
        ("eta " + "9" * 100, "is too long for a time", "/sev1 eta <time>"),
        ("since", "since needs a time", "/sev1 since <time>"),
        ("since 25:00", "hours go from 0 to 23", "/sev1 since <time>"),
        ("since 1h1h", "is not a time", "/sev1 since <time>"),
        ("status now", "status takes no arguments", "/sev1 status"),
        ("reopen please", "reopen takes no arguments", "/sev1 reopen"),
        ("timeline 5", "timeline takes no arguments", "/sev1 timeline"),
        ("list all", "list takes no arguments", "/sev1 list"),
        (
            "update " + "u" * MAX_INPUT,
            "that is too long for a command (16390 characters; the limit is 16383)",
            GENERAL_USAGE,
        ),
    ],
)
def test_errors_are_specific_and_carry_the_usage_line(text: str, message: str, usage_line: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.usage_line == usage_line
    assert str(caught.value) == caught.value.message
    assert_safe(caught.value, text)


def test_echoed_input_is_cut_short_and_made_printable() -> None:
    with pytest.raises(UsageError) as caught:
        parse("check " + "\u200f\u202e\x1b[31m" + "9" * 100)
    assert caught.value.message == "'???[31m" + "9" * 23 + "…' is not an item id; write stage.item, e.g. 2.3"


@pytest.mark.parametrize(
    ("command", "incident_only"),
    [
        (Start("acme"), False),
        (List(), False),
        (Help(), False),
        (Status(), True),
        (ItemChecked(ACTOR, "1.1"), True),
        (ItemUnchecked(ACTOR, "1.1"), True),
        (ItemSkipped(ACTOR, "1.1"), True),
        (Assigned(ACTOR, "1.1", "a"), True),
        (OwnerChanged(ACTOR, "a"), True),
        (StatusUpdate(ACTOR, "x"), True),
        (Resolved(ACTOR), True),
        (Reopened(ACTOR), True),
        (EtaSet(ACTOR, Relative(timedelta(hours=1))), True),
        (OutageSince(ACTOR, Relative(timedelta(hours=1))), True),
        (Timeline(), True),
    ],
)
def test_is_incident_only(command: Command, incident_only: bool) -> None:
    assert is_incident_only(command) is incident_only


def test_help_text_lists_every_command_with_its_usage_and_where_it_works() -> None:
    text = help_text()
    for name in COMMAND_NAMES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{usage(name)}` |"))
        example_command = parse(EXAMPLES[name])
        where = "incident channel" if is_incident_only(example_command) else "any channel"
        assert row.endswith(f"| {where} |"), row
    assert ":white_check_mark:" in text
    assert ":fast_forward:" in text
    custom = help_text(Reactions(check=["done"], skip=["next_track_button"]))
    assert ":done: checks it" in custom
    assert ":next_track_button: skips it" in custom
    assert ":white_check_mark:" not in custom


EXAMPLES = {
    "start": 'start "Acme Corp" login fails',
    "status": "status",
    "check": "check 2.3",
    "uncheck": "uncheck 2.3",
    "skip": "skip 2.3",
    "assign": "assign 2.3 @alice",
    "owner": "owner @alice",
    "update": "update failover done",
    "follow": "follow @dana",
    "unfollow": "unfollow",
    "resolve": "resolve fixed",
    "reopen": "reopen",
    "eta": "eta 17:30",
    "since": "since 45m",
    "timeline": "timeline",
    "list": "list",
    "help": "help",
}


TYPES: dict[str, type] = {
    "start": Start,
    "status": Status,
    "check": ItemChecked,
    "uncheck": ItemUnchecked,
    "skip": ItemSkipped,
    "assign": Assigned,
    "owner": OwnerChanged,
    "update": StatusUpdate,
    "follow": FollowChanged,
    "unfollow": FollowChanged,
    "resolve": Resolved,
    "reopen": Reopened,
    "eta": EtaSet,
    "since": OutageSince,
    "timeline": Timeline,
    "list": List,
    "help": Help,
}


def test_every_command_has_an_example_that_parses_to_its_own_type_typed_by_its_actor() -> None:
    assert set(EXAMPLES) == set(COMMAND_NAMES) == set(TYPES)
    for name, text in EXAMPLES.items():
        command = parse(text)
        assert type(command) is TYPES[name]
        assert getattr(command, "actor", ACTOR) == ACTOR


# --- totality ----------------------------------------------------------------------------------------------


def assert_safe(error: UsageError, text: str) -> None:
    """Short, and never more than 40 characters of the input echoed back."""
    assert 0 < len(error.message) < 300
    assert len(error.usage_line) < 300
    for start in range(max(len(text) - 40, 0)):
        assert text[start : start + 41] not in error.message


def parses_or_explains(text: str) -> None:
    try:
        command = parse(text)
    except UsageError as error:
        assert_safe(error, text)
    else:
        assert isinstance(command, get_args(Command))


@settings(max_examples=400, deadline=None)
@given(st.text())
@example("\u202e\u200f" * 50_000)
@example("start " + "\u202e" * 100_000)
@example("update " + "x" * 100_000)
@example("\x00" * 100_000)
@example('start "' + "a" * 100_000)
def test_any_text_is_a_command_or_a_usage_error(text: str) -> None:
    parses_or_explains(text)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(COMMAND_NAMES).map(lambda name: name.upper() if len(name) % 2 else name),
    st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u2028"]),
    st.text(st.characters(codec="utf-8"), max_size=120)
    | st.lists(
        st.sampled_from(["2.3", "0.1", "@bob", "Acme", '"', "\u201c", "x" * 41, "\x00", "\u202e"]), max_size=5
    ).map(" ".join),
)
def test_any_arguments_to_a_real_command_are_parsed_or_explained(name: str, space: str, tail: str) -> None:
    parses_or_explains(name + space + tail)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9999), st.integers(1, 9999), st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True))
def test_valid_keys_and_usernames_round_trip(stage: int, item: int, username: str) -> None:
    assert parse(f"assign {stage}.{item} @{username}") == Assigned(ACTOR, f"{stage}.{item}", username.lower())
    assert parse(f"check {stage}.{item}") == ItemChecked(ACTOR, f"{stage}.{item}")


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "start " + "A" * 100_000,
        "update " + "\u202e" * 16_000,
        "assign 2.3 @" + "b" * 100_000,
        "check " + "1" * 100_000 + ".1",
        "\n".join(["check 2.3"] * 10_000),
    ],
)
def test_huge_inputs_are_refused_quickly(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert_safe(caught.value, text)
