"""Websocket frames no Mattermost server sends, aimed at the real bot through the sandbox (issue 13).

Malformed JSON, the wrong types in ``data``, a reaction whose JSON string is garbage, unknown events, huge
frames, reactions on posts that are not the bot's or by users nobody knows. For each: the bot does not
crash, says in one line what it skipped (no traceback), and the good events after it are still applied.
"""

from __future__ import annotations

import json
import logging
from logging import WARNING
from typing import Any

import pytest
from harness import Humans, RunningBot, eventually, react
from scenario import is_checked, item_post, start_incident

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.ids import new_id

pytestmark = pytest.mark.e2e
CHECK = "white_check_mark"


def envelope(event: str, data: Any, channel_id: str = "") -> dict[str, Any]:
    broadcast = {"omit_users": None, "user_id": "", "channel_id": channel_id, "team_id": ""}
    return {
        "event": event,
        "data": data,
        "broadcast": {**broadcast, "connection_id": "", "omit_connection_id": ""},
    }


def reaction(user_id: str, post_id: str, channel_id: str, emoji: str = CHECK) -> str:
    fields = {"user_id": user_id, "post_id": post_id, "emoji_name": emoji, "channel_id": channel_id}
    return json.dumps({**fields, "create_at": 1, "update_at": 1, "delete_at": 0, "remote_id": ""})


def hostile_frames(
    sandbox: Sandbox, channel_id: str, item_id: str, human_post: str
) -> list[tuple[str | dict[str, Any], str]]:
    """(frame, what the bot's log says about it, or "" when it is ignored without a word)."""
    stu = sandbox.users["stu.doherty"].id
    town = sandbox.channel("town-square").id
    return [
        ("this is not json {", "not JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        (envelope("reaction_added", "a string", channel_id), "'data' must be a JSON object"),
        (envelope("reaction_added", {"reaction": 42}, channel_id), "data.reaction must be a JSON string"),
        (envelope("reaction_added", {"reaction": "{garbage"}, channel_id), "data.reaction is not valid JSON"),
        (envelope("reaction_removed", {"reaction": "[1, 2]"}, channel_id), "must encode a JSON object"),
        (
            envelope("reaction_added", {"reaction": '"a string"'}, channel_id),
            "must encode a JSON object, got str",
        ),
        (envelope("reaction_added", {"reaction": "[" * 5000 + "]" * 5000}, channel_id), "nested too deeply"),
        (
            envelope(
                "reaction_added", {"reaction": json.dumps({"user_id": 5, "post_id": [], "emoji_name": None})}
            ),
            "reaction_added: data.reaction.user_id",
        ),
        (envelope("reaction_removed", {}, channel_id), "data.reaction is missing"),
        (envelope("sev1bot_never_heard_of_this", {"x": [1, 2]}), ""),
        (envelope("posted", {"post": json.dumps({"id": "p", "message": "A" * 3_000_000})}, channel_id), ""),
        (envelope("reaction_added", {"reaction": reaction(stu, human_post, town)}, town), ""),  # not ours
        (envelope("reaction_added", {"reaction": reaction(stu, new_id(), channel_id)}, channel_id), ""),
        (
            envelope("reaction_added", {"reaction": reaction(new_id(), item_id, channel_id)}, channel_id),
            "user",
        ),
    ]


async def test_hostile_events_are_skipped_with_a_line_each_and_the_good_ones_after_them_applied(
    sandbox: Sandbox, humans: Humans, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    channel_id = await start_incident(sandbox, humans)
    ws = bot.bot.ws
    assert ws is not None
    connects, events = ws.counters.connects, ws.counters.events
    async with sandbox.client("bob") as bob:
        town = sandbox.channel("town-square").id
        human_post = (await bob.post("/api/v4/posts", {"channel_id": town, "message": "hi"})).json(201)["id"]
    frames = hostile_frames(sandbox, channel_id, item_post(sandbox, channel_id, "2.2").id, human_post)
    caplog.clear()
    for frame, _ in frames:
        assert sandbox.send_off_contract("sev1bot", frame) == 1
    # The barrier: a real reaction after them all, which the bot takes in the order the server sent them.
    await react(humans, "stu.doherty", item_post(sandbox, channel_id, "2.1").id, CHECK)
    await eventually(
        lambda: is_checked(sandbox, channel_id, "2.1", "stu.doherty"), 15, "the check after them"
    )
    numbered = sum(isinstance(frame, dict) for frame, _ in frames)
    assert ws.counters.events >= events + numbered + 1
    assert ws.counters.connects == connects, "no reconnect: the stream was read on"
    assert not is_checked(sandbox, channel_id, "2.2"), "the reaction by nobody checked nothing"
    assert not bot.task.done()
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in said if r.exc_info], [r.getMessage() for r in said if r.exc_info]
    text = "\n".join(r.getMessage() for r in said)
    for frame, words in frames:
        if words:
            assert words in text, (words, str(frame)[:100], text)
    assert all(len(r.getMessage()) < 400 for r in said), "one brief line each"


async def test_a_frame_too_big_to_read_costs_a_catch_up_not_the_stream(
    sandbox: Sandbox, humans: Humans, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    channel_id = await start_incident(sandbox, humans)
    ws = bot.bot.ws
    assert ws is not None
    huge = envelope("posted", {"post": json.dumps({"id": "p", "message": "A" * 6_000_000})}, channel_id)
    assert sandbox.send_off_contract("sev1bot", huge) == 1
    await react(humans, "stu.doherty", item_post(sandbox, channel_id, "2.1").id, CHECK)
    await eventually(lambda: is_checked(sandbox, channel_id, "2.1", "stu.doherty"), 30, "the check after it")
    # Resuming would replay it: the bot starts a new connection and catches up over REST instead.
    assert (ws.counters.connects, ws.counters.gaps, ws.counters.resumes) == (2, 1, 0)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("sev1bot") and r.levelno >= WARNING]
    assert len(said) == 2, said
    assert "a frame too big to read (Message size 6000223 exceeds limit 4194304); starting a new" in said[0]
    assert said[1].startswith("websocket: the server started a new connection"), said
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
