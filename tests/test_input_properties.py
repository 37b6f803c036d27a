"""Property tests for what the existing parser tests leave out: the path from typed text to posted text.

tests/test_commands.py shows that any text parses or gets a short usage error; tests/test_events.py and
tests/test_playbook_properties.py do the same for websocket events and playbook files. Here:

* any text, once parsed, is applied to a live incident by the core, which either changes it or refuses with
  a short sentence that quotes at most 80 characters of the input (the core's refusals reach chat as they
  are);
* whatever a user typed, no text the bot would post (posts, edits, DMs, channel name, header, purpose)
  carries a live @all/@channel/@here, a markdown link or image built from the input, a bidi control or a
  control character;
* a rejected websocket event names the event it was and never echoes its payload.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sev1bot import commands as cmd
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import CoreError, Decision, decide, start
from sev1bot.core.effects import CreateChannel, DirectMessage, EditPost, Effect, Post, SetHeader
from sev1bot.core.events import (
    Assigned,
    Event,
    MemberJoined,
    OwnerChanged,
    Resolved,
    Started,
    StatusUpdate,
    TimerDue,
)
from sev1bot.core.state import IncidentState
from sev1bot.core.text import BIDI_CONTROLS
from sev1bot.mattermost.events import EVENT_NAMES, EventParseError, parse_event
from sev1bot.playbook.loader import load_playbook

PLAYBOOK = load_playbook(Path(__file__).resolve().parents[1] / "playbooks" / "mme-sev1.yaml")
CALENDAR = BusinessCalendar("UTC")
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)

LIVE_MENTION = re.compile(r"(?<![\w\u200d])@(all|channel|here)(?![\w-])", re.IGNORECASE)
LINK = re.compile(r"\](?=[(\[:])")
# The core's own links in a DM (core.effects.post_link), whose targets delivery fills in: label, index.
OWN_LINK = re.compile(r"\[((?:[^\]\\]|\\.)*)\]\(sev1bot-post:(\d+)\)")

HOSTILE = st.sampled_from(
    [
        "@all",
        "@channel",
        "@HERE",
        "@here!",
        "[x](http://e.vil)",
        "![i](http://e.vil/p.png)",
        "[r]: http://e.vil",
        "]\n(",
        "\u202e",
        "\u2066",
        "\u200f",
        "\x00",
        "\x1b[2J",
        "\x07",
        "\r",
        '"',
        "“",
        "2.3",
        "@bob",
        " ",
        "\n",
        "<!channel>",
        "a" * 60,
    ]
)
USER_TEXT = st.text(max_size=80) | st.lists(HOSTILE | st.text(max_size=6), max_size=8).map("".join)


def started_incident() -> IncidentState:
    decision = start(
        Started("inc1", "alice", "Acme Corp", "sev1-2026-03-10-acme-corp"), PLAYBOOK, T0, CALENDAR
    )
    return decision.state


def texts_of(effect: Effect) -> list[str]:
    match effect:
        case DirectMessage(_, message, _, links):
            # Links to the incident's posts are the core's (labelled with playbook text): each names one of
            # ``links``; once they are taken out, no other link may be left.
            assert all(int(n) < len(links) for _, n in OWN_LINK.findall(message)), message
            return [OWN_LINK.sub(lambda found: found.group(1), message)]
        case Post(message) | EditPost(_, message):
            return [message]
        case SetHeader(header):
            return [header]
        case CreateChannel(name, display_name, header, purpose):
            return [name, display_name, header, purpose]
    return []


def assert_defused(text: str, *, mentions: bool = True) -> None:
    assert not (mentions and LIVE_MENTION.search(text)), text
    assert not LINK.search(text), text
    assert not set(text) & BIDI_CONTROLS, text
    assert not [ch for ch in text if unicodedata.category(ch) in {"Cc", "Cs"} and ch not in "\n\t"], text


ECHO = 80  # the core quotes at most this much of what was typed (one_line(..., 80))


def assert_short_and_no_long_echo(message: str, text: str) -> None:
    assert 0 < len(message) < 300, message
    for begin in range(max(len(text) - ECHO, 0)):
        assert text[begin : begin + ECHO + 1] not in message, message
    # A refusal is an ephemeral answer, which notifies nobody: it may quote "@all" as what was wrong.
    assert_defused(message, mentions=False)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["check", "uncheck", "skip", "assign", "owner", "update", "resolve", "eta", "since"]),
    USER_TEXT,
)
@example("assign", "2.3 @all")
@example("owner", "@channel")
@example("check", "9" * 500 + ".1")
@example("update", "[click](http://e.vil) @here \u202e")
@example("eta", "9999-12-31 23:59")
@example("since", "8d")
def test_any_command_is_applied_or_refused_with_a_short_safe_sentence(name: str, tail: str) -> None:
    text = f"{name} {tail}"
    try:
        event = cmd.parse_command(text, "alice")
    except cmd.UsageError:
        return  # tests/test_commands.py covers these
    if not isinstance(event, get_args(cmd.Change)):
        return
    state = started_incident()
    try:
        decision = decide(state, event, PLAYBOOK, T0 + timedelta(minutes=5), CALENDAR)
    except CoreError as refusal:
        assert_short_and_no_long_echo(str(refusal), text)
        return
    for effect in decision.effects:
        for posted in texts_of(effect):
            assert_defused(posted)


@settings(max_examples=200, deadline=None)
@given(customer=USER_TEXT, summary=USER_TEXT, update=USER_TEXT, note=USER_TEXT, assignee=USER_TEXT)
@example(
    customer="@all Acme](http://e.vil) @here",
    summary="<!channel> ![x](http://e.vil/t.png)\n[r]: http://e.vil",
    update="@channel \u202egnp.exe",
    note="@here done [ok](http://e.vil)",
    assignee="bob",
)
def test_nothing_the_bot_posts_carries_a_live_mention_link_or_control_character(
    customer: str, summary: str, update: str, note: str, assignee: str
) -> None:
    try:
        parsed = cmd.parse_command(f'start "{customer}" {summary}', "alice")
    except cmd.UsageError:
        return
    assert isinstance(parsed, cmd.Start)
    effects: list[Effect] = []
    try:
        first = start(Started("inc1", "alice", parsed.customer, "sev1-x"), PLAYBOOK, T0, CALENDAR)
    except CoreError as refusal:
        assert_short_and_no_long_echo(str(refusal), customer)
        return
    state = first.state
    effects += first.effects
    now = T0
    events: list[Event] = [
        StatusUpdate("alice", update),
        Assigned("alice", "2.1", assignee),
        MemberJoined("bob"),
        TimerDue("escalation"),
        Resolved("alice", note),
        TimerDue("deadline:retrospective:soon"),
        OwnerChanged("alice", "carol"),
    ]
    for event in events:
        now += timedelta(hours=1, minutes=1)
        try:
            decision: Decision = decide(state, event, PLAYBOOK, now, CALENDAR)
        except CoreError as refusal:
            assert_short_and_no_long_echo(str(refusal), update + assignee + note)
            continue
        state = decision.state
        effects += decision.effects
    for effect in effects:
        for posted in texts_of(effect):
            assert_defused(posted)


PAYLOAD = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings_in(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(EVENT_NAMES)),
    st.dictionaries(
        st.sampled_from(["post", "reaction", "channel_id", "user_id", "mentions", "team_id"])
        | st.text(max_size=8),
        PAYLOAD | PAYLOAD.map(json.dumps),
        max_size=4,
    )
    | PAYLOAD,
)
def test_a_rejected_event_names_the_event_and_does_not_echo_its_payload(name: str, data: Any) -> None:
    try:
        parse_event({"event": name, "data": data, "broadcast": {}, "seq": 1})
    except EventParseError as exc:
        message = str(exc)
        assert message.startswith(f"{name}: "), message
        assert 0 < len(message) <= 300
        for value in strings_in(data):
            decoded = strings_in(json.loads(value)) if _is_json(value) else []
            for echoed in [value, *decoded]:
                if len(echoed) > 40:
                    assert echoed not in message, message


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True
