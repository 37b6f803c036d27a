"""Websocket event parsing: Mattermost envelopes (JSON strings inside) -> typed models, or a clear error."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sev1bot.mattermost.events import (
    EVENT_NAMES,
    ChannelCreated,
    EventParseError,
    Hello,
    Post,
    PostDeleted,
    Posted,
    PostEdited,
    Reaction,
    ReactionAdded,
    ReactionRemoved,
    UserAdded,
    parse_event,
    parse_or_skip,
)
from testkit import unavailable

SHARED = Path(__file__).parents[1] / "../shared"

POST = {
    "id": "p1",
    "create_at": 1_700_000_000_000,
    "update_at": 1_700_000_000_000,
    "edit_at": 0,
    "delete_at": 0,
    "is_pinned": False,
    "user_id": "u1",
    "channel_id": "c1",
    "root_id": "",
    "original_id": "",
    "message": "/sev1 start acme",
    "type": "",
    "props": {"from_bot": "true"},
    "hashtags": "",
    "pending_post_id": "",
    "metadata": {},
}
REACTION = {
    "user_id": "u2",
    "post_id": "p1",
    "emoji_name": "white_check_mark",
    "create_at": 1_700_000_000_001,
    "update_at": 1_700_000_000_001,
    "delete_at": 0,
    "remote_id": "",
    "channel_id": "c1",
}
BROADCAST = {
    "omit_users": None,
    "user_id": "",
    "channel_id": "c1",
    "team_id": "",
    "connection_id": "",
    "omit_connection_id": "",
}


def envelope(event: str, data: Any, seq: int = 5, broadcast: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event": event, "data": data, "broadcast": broadcast or BROADCAST, "seq": seq}


def posted_data(**post: Any) -> dict[str, Any]:
    return {
        "channel_type": "O",
        "channel_display_name": "Incidents",
        "channel_name": "incidents",
        "sender_name": "@alice",
        "team_id": "t1",
        "set_online": True,
        "post": json.dumps({**POST, **post}),
    }


def test_hello() -> None:
    event = parse_event(envelope("hello", {"server_version": "11.1.0", "connection_id": "conn1"}, seq=0))
    assert event == Hello(seq=0, connection_id="conn1", server_version="11.1.0", broadcast=BROADCAST)


def test_posted_decodes_the_post_string_and_mentions() -> None:
    data = {**posted_data(), "mentions": json.dumps(["u7", "u8"])}
    event = parse_event(envelope("posted", data))
    assert isinstance(event, Posted)
    assert event.seq == 5
    assert event.post == Post(
        id="p1",
        channel_id="c1",
        user_id="u1",
        message="/sev1 start acme",
        props={"from_bot": "true"},
        create_at=1_700_000_000_000,
        update_at=1_700_000_000_000,
    )
    assert (event.channel_name, event.sender_name, event.team_id) == ("incidents", "@alice", "t1")
    assert event.mentions == ("u7", "u8")
    assert event.broadcast.channel_id == "c1"


def test_posted_reply_keeps_root_id_and_tolerates_null_props() -> None:
    event = parse_event(envelope("posted", posted_data(root_id="r1", props=None, file_ids=None)))
    assert isinstance(event, Posted)
    assert event.post.root_id == "r1"
    assert event.post.props == {}
    assert event.post.file_ids == []
    assert event.mentions == ()


@pytest.mark.parametrize(("name", "cls"), [("post_edited", PostEdited), ("post_deleted", PostDeleted)])
def test_post_edited_and_deleted(name: str, cls: type[PostEdited | PostDeleted]) -> None:
    event = parse_event(envelope(name, {"post": json.dumps({**POST, "message": "changed"})}))
    assert isinstance(event, cls)
    assert event.post.message == "changed"


@pytest.mark.parametrize(
    ("name", "cls"), [("reaction_added", ReactionAdded), ("reaction_removed", ReactionRemoved)]
)
def test_reactions(name: str, cls: type[ReactionAdded | ReactionRemoved]) -> None:
    event = parse_event(envelope(name, {"reaction": json.dumps(REACTION)}))
    assert isinstance(event, cls)
    assert event.reaction == Reaction(**REACTION)


def test_reaction_without_channel_id_takes_it_from_the_broadcast() -> None:
    reaction = {key: value for key, value in REACTION.items() if key != "channel_id"}
    event = parse_event(envelope("reaction_added", {"reaction": json.dumps(reaction)}))
    assert isinstance(event, ReactionAdded)
    assert event.reaction.channel_id == "c1"


def test_user_added_takes_the_channel_from_the_broadcast() -> None:
    event = parse_event(envelope("user_added", {"user_id": "u3", "team_id": "t1"}))
    assert event == UserAdded(seq=5, broadcast=BROADCAST, user_id="u3", channel_id="c1", team_id="t1")


@pytest.mark.parametrize("user", ["u3", {"id": "u3", "username": "carol"}])
def test_user_added_with_a_user_field(user: Any) -> None:
    event = parse_event(envelope("user_added", {"user": user, "team_id": "t1"}))
    assert isinstance(event, UserAdded)
    assert event.user_id == "u3"


def test_channel_created() -> None:
    event = parse_event(envelope("channel_created", {"channel_id": "c9", "team_id": "t1"}))
    assert event == ChannelCreated(seq=5, broadcast=BROADCAST, channel_id="c9", team_id="t1")


def test_unknown_events_are_dropped_at_debug_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sev1bot.mattermost.events")
    assert parse_event(envelope("typing", {"parent_id": ""})) is None
    assert parse_event({"event": "status_change"}) is None  # not even data is checked
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert "typing" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["not", "an", "object"], "a websocket event must be a JSON object, got list"),
        ({"status": "OK", "seq_reply": 1}, "websocket envelope has no 'event' name"),
        ({"event": 7, "data": {}}, "no 'event' name"),
        ({"event": "posted"}, "posted: 'data' must be a JSON object, got missing"),
        ({"event": "posted", "data": "{}"}, "posted: 'data' must be a JSON object, got a str"),
        (envelope("posted", {}), "posted: data.post is missing (Mattermost sends it as a JSON string)"),
        (envelope("posted", {"post": dict(POST)}), "posted: data.post must be a JSON string, got a dict"),
        (envelope("posted", {"post": "{oops"}), "posted: data.post is not valid JSON"),
        (envelope("posted", {"post": "[1, 2]"}), "posted: data.post must encode a JSON object, got list"),
        (
            envelope("posted", {"post": "[" * 50_000}),
            "posted: data.post is not valid JSON (nested too deeply)",
        ),
        (
            envelope("posted", posted_data(user_id=None)),
            "posted: data.post.user_id: Input should be a valid string",
        ),
        (
            envelope("posted", posted_data(id="")),
            "posted: data.post.id: String should have at least 1 character",
        ),
        (
            envelope("posted", posted_data(create_at="soon")),
            "posted: data.post.create_at: Input should be a valid",
        ),
        (
            envelope("posted", {**posted_data(), "mentions": '{"a": 1}'}),
            "posted: data.mentions must encode a JSON",
        ),
        (
            envelope("posted", {**posted_data(), "mentions": "[1]"}),
            "posted: data.mentions.0: Input should be a",
        ),
        (
            envelope("posted", {**posted_data(), "set_online": "maybe"}),
            "posted: data.set_online: Input should be",
        ),
        (envelope("hello", {"server_version": "11"}), "hello: data.connection_id: Field required"),
        (
            {**envelope("hello", {"connection_id": "x"}), "seq": "0"},
            "hello: seq: Input should be a valid integer",
        ),
        (
            {**envelope("hello", {"connection_id": "x"}), "seq": True},
            "hello: seq: Input should be a valid integer",
        ),
        ({**envelope("hello", {"connection_id": "x"}), "broadcast": []}, "hello: broadcast: Input should be"),
        (
            envelope("reaction_added", {"reaction": json.dumps({"post_id": "p"})}),
            "data.reaction.user_id: Field req",
        ),
        (
            envelope("reaction_removed", {"reaction": 3}),
            "reaction_removed: data.reaction must be a JSON string",
        ),
        (envelope("user_added", {"team_id": "t1"}), "user_added: data.user_id: Field required"),
        (
            envelope("user_added", {"user_id": "u"}, broadcast={"channel_id": ""}),
            "user_added: broadcast.channel_id: String should have at least 1 character",
        ),
        (envelope("channel_created", {"team_id": "t"}), "channel_created: data.channel_id: Field required"),
    ],
)
def test_malformed_payloads_say_which_event_and_field(raw: Any, message: str) -> None:
    with pytest.raises(EventParseError) as caught:
        parse_event(raw)
    assert message in str(caught.value)
    assert len(str(caught.value)) <= 300


def test_parse_or_skip_turns_a_malformed_event_into_one_warning_and_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = envelope("reaction_added", {"reaction": json.dumps(REACTION)})
    assert parse_or_skip(good) == parse_event(good)
    with caplog.at_level(logging.DEBUG, logger="sev1bot.mattermost.events"):
        assert parse_or_skip(envelope("reaction_added", {"reaction": "{garbage"}, seq=7)) is None
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and not record.exc_info
    assert record.getMessage() == (
        "skipping a malformed websocket event (seq 7): reaction_added: data.reaction is not valid JSON "
        "(Expecting property name enclosed in double quotes)"
    )


def test_errors_do_not_echo_the_payload() -> None:
    secret = "do-not-echo-" + "z" * 40
    with pytest.raises(EventParseError) as caught:
        parse_event(envelope("posted", posted_data(create_at=secret, channel_id=12)))
    assert secret not in str(caught.value)
    assert "(and 1 more problem)" in str(caught.value)


def test_models_cover_the_fields_protocol_md_lists() -> None:
    """The reaction and hello fields named in PROTOCOL.md all exist on our models."""
    protocol = SHARED / "mattermost" / "PROTOCOL.md"
    if not protocol.exists():
        unavailable(
            f"reference text not available: {protocol} (the shared folder beside the checkout)",
            check="PROTOCOL.md checks",
        )
    text = protocol.read_text()
    reaction_fields = re.search(r"JSON string of \{([^}]*)\}", text)
    assert reaction_fields, "PROTOCOL.md no longer describes the reaction JSON string"
    names = {name.strip() for name in reaction_fields.group(1).replace("\n", " ").split(",")}
    assert names == set(Reaction.model_fields)
    hello = re.search(r"`hello`: `data = \{([^}]*)\}`", text)
    assert hello, "PROTOCOL.md no longer describes hello"
    assert set(re.findall(r'"(\w+)"', hello.group(1))) == {"server_version", "connection_id"}
    assert {"hello", "posted", "post_edited", "post_deleted", "reaction_added", "user_added"} <= set(
        re.findall(r"`(\w+)`", text)
    )


# --- properties: whatever arrives, the parser answers with an event, None, or EventParseError ---------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(sorted({*POST, *REACTION, "connection_id", "user", "team_id", "mentions"}))


def json_string_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return values.map(json.dumps) | st.text(max_size=30)


payload_values = (
    json_values | json_string_of(json_values) | json_string_of(st.dictionaries(field_names, json_values))
)
data_strategy = st.dictionaries(
    st.sampled_from(
        ["post", "reaction", "mentions", "user_id", "user", "channel_id", "connection_id", "team_id"]
    )
    | st.text(max_size=8),
    payload_values,
    max_size=5,
)


def parses_or_rejects(raw: Any) -> None:
    try:
        event = parse_event(raw)
    except EventParseError as exc:
        assert 0 < len(str(exc)) <= 300
    else:
        assert event is None or event.name == raw["event"]


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_parsed_or_rejected(raw: Any) -> None:
    parses_or_rejects(raw)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(EVENT_NAMES)) | st.text(max_size=10),
    data_strategy | json_values,
    st.dictionaries(st.sampled_from(sorted(BROADCAST)) | st.text(max_size=5), json_values, max_size=3)
    | json_values,
    json_values,
)
def test_any_envelope_of_a_known_event_is_parsed_or_rejected(
    name: str, data: Any, broadcast: Any, seq: Any
) -> None:
    parses_or_rejects({"event": name, "data": data, "broadcast": broadcast, "seq": seq})


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"id": st.text(min_size=1), "channel_id": st.text(min_size=1), "user_id": st.text(min_size=1)},
        optional={"message": st.text(), "root_id": st.text(), "create_at": st.integers(0, 2**53)},
    ),
    st.integers(0, 2**31),
)
def test_well_formed_posts_round_trip(post: dict[str, Any], seq: int) -> None:
    event = parse_event({"event": "posted", "seq": seq, "data": {"post": json.dumps(post)}})
    assert isinstance(event, Posted)
    assert event.seq == seq
    assert event.post.model_dump(include=set(post)) == post
