"""What the fault, HA and security tests look at: the incident as the sandbox stored it.

Every check reads the sandbox's own records (what a person in the channel would see), never the bot's
memory, so a test can tell "nothing was lost, nothing was posted twice" the same way for an in-process
bot and for bot subprocesses.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from harness import Humans, eventually, slash

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Channel, Post
from sev1bot.store.store import Store
from store_peek import sent_of

STAGES = 8
ITEMS = 40
CHECKLIST_POSTS = 1 + STAGES + ITEMS  # board, stage roots, items
T = TypeVar("T")
_ITEM_KEY = re.compile(r"^\*\*(\d+\.\d+)\*\* ")
_ROOT = re.compile(r"^### (\d+) · ")


until = eventually  # the one polling helper, under the name these tests read best: until(check, 10, "what")


def bot_posts(sandbox: Sandbox, channel_id: str) -> list[Post]:
    """The bot's own posts in a channel (no system messages), oldest first."""
    return [p for p in sandbox.posts_in(channel_id) if p.user_id == sandbox.bot.id and not p.type]


def incident_channel(sandbox: Sandbox) -> Channel | None:
    found = [c for c in sandbox.state.channels.values() if c.name.startswith("sev1-")]
    assert len(found) <= 1, [c.name for c in found]
    return found[0] if found else None


async def start_incident(sandbox: Sandbox, humans: Humans, text: str = '"Acme Corp" checkout is down') -> str:
    """Start an incident as alice and wait for the whole checklist; return the incident channel's id."""
    answer = await slash(humans, "alice", sandbox.channel("town-square").id, f"start {text}")
    assert "Started Sev 1 incident" in answer.get("text", ""), answer
    return await checklist_posted(sandbox)


async def checklist_posted(sandbox: Sandbox, within: float = 20.0) -> str:
    async def ready() -> str | None:
        channel = incident_channel(sandbox)
        if channel is None or len(item_posts(sandbox, channel.id)) < ITEMS:
            return None
        return channel.id

    channel_id: str = await eventually(ready, within, "the whole checklist to be posted")
    return channel_id


def item_key(post: Post) -> str | None:
    """The stage.item key of an item post, None for any other post."""
    if not post.root_id:
        return None
    found = _ITEM_KEY.match(post.message)
    return found.group(1) if found else None


def item_posts(sandbox: Sandbox, channel_id: str) -> dict[str, Post]:
    """Item key -> its post (the first one, should there be several)."""
    out: dict[str, Post] = {}
    for post in bot_posts(sandbox, channel_id):
        key = item_key(post)
        if key is not None:
            out.setdefault(key, post)
    return out


def item_post(sandbox: Sandbox, channel_id: str, key: str) -> Post:
    posts = item_posts(sandbox, channel_id)
    if key not in posts:
        raise AssertionError(f"no post for item {key}")
    return sandbox.state.post(posts[key].id)


def is_checked(sandbox: Sandbox, channel_id: str, key: str, by: str | None = None) -> bool:
    message = item_post(sandbox, channel_id, key).message
    return "done by" in message and (by is None or f"@{by}" in message)


def is_skipped(sandbox: Sandbox, channel_id: str, key: str) -> bool:
    return "skipped by" in item_post(sandbox, channel_id, key).message


def pings(sandbox: Sandbox, channel_id: str, ceo: str = "ian.tien") -> list[Post]:
    """Escalation pings in the incident channel, oldest first."""
    return [
        p for p in bot_posts(sandbox, channel_id) if f"@{ceo}" in p.message and "has been open" in p.message
    ]


def dms_to(sandbox: Sandbox, username: str) -> list[Post]:
    user_id = sandbox.users[username].id
    return [
        p
        for c in sandbox.state.channels.values()
        if c.type == "D" and user_id in c.name
        for p in sandbox.posts_in(c.id)
        if p.user_id == sandbox.bot.id
    ]


def dms_but_welcomes(sandbox: Sandbox, username: str) -> list[Post]:
    """The bot's direct messages to ``username`` other than the welcome everyone who joins a channel gets."""
    return [p for p in dms_to(sandbox, username) if not p.message.startswith(":wave: ")]


@dataclass
class Layout:
    """How the bot's posts in an incident channel break down."""

    boards: int
    stage_roots: int
    items: Counter[str]
    other: list[str]


def layout(sandbox: Sandbox, channel_id: str) -> Layout:
    boards = roots = 0
    items: Counter[str] = Counter()
    other: list[str] = []
    for post in bot_posts(sandbox, channel_id):
        key = item_key(post)
        if key is not None:
            items[key] += 1
        elif post.is_pinned:
            boards += 1
        elif not post.root_id and _ROOT.match(post.message):
            roots += 1
        else:
            other.append(post.message)
    return Layout(boards, roots, items, other)


def assert_checklist_once(sandbox: Sandbox, channel_id: str) -> Layout:
    """One board, one root per stage, one post per item, and no other post twice.

    Escalation pings are left out of the last check: two pings can read the same (elapsed time is shown in
    whole minutes); tests count them against the schedule instead.
    """
    shape = layout(sandbox, channel_id)
    assert shape.boards == 1, shape.boards
    assert shape.stage_roots == STAGES, shape.stage_roots
    assert len(shape.items) == ITEMS and set(shape.items.values()) == {1}, shape.items
    others = Counter(m for m in shape.other if "has been open" not in m)
    repeated = {m[:80]: n for m, n in others.items() if n > 1}
    assert not repeated, f"posted more than once: {repeated}"
    return shape


def assert_checklist_in_order(sandbox: Sandbox, channel_id: str) -> None:
    """The checklist reads in playbook order (board first) however the server shows threads.

    With threads always collapsed (the server's default) readers see the roots in the channel and each
    stage's items in its thread, so that is what must be in order; otherwise replies show in the channel
    too, and every post must have been created in order."""
    posts = bot_posts(sandbox, channel_id)
    keys = [key for p in posts if (key := item_key(p)) is not None]
    if sandbox.config.collapsed_threads == "always_on":
        by_stage: dict[str, list[str]] = {}
        for key in keys:
            by_stage.setdefault(key.split(".")[0], []).append(key)
        for stage, items in by_stage.items():
            assert items == [f"{stage}.{n}" for n in range(1, len(items) + 1)], items
    else:
        expected = sorted(keys, key=lambda k: tuple(int(x) for x in k.split(".")))
        assert keys == expected, keys
    assert posts[0].is_pinned, "the status board comes first"
    roots = [p for p in posts if not p.root_id and _ROOT.match(p.message)]
    assert [int(m.group(1)) for p in roots if (m := _ROOT.match(p.message))] == list(range(1, STAGES + 1))
    for post in posts:
        key = item_key(post)
        if key is not None:
            root = sandbox.state.post(post.root_id)
            assert root.message.startswith(f"### {key.split('.')[0]} · "), (key, root.message[:40])


def command_token(sandbox: Sandbox, trigger: str = "sev1") -> str:
    """The token of the registered slash command, as the server knows it."""
    found = [c for c in sandbox.state.team_commands(sandbox.team.id) if c.trigger == trigger]
    assert len(found) == 1, found
    return found[0].token


def command_form(sandbox: Sandbox, username: str, channel_id: str, text: str, token: str) -> dict[str, str]:
    """The form the server POSTs to the bot for ``/sev1 <text>``, as sandbox/commands.py builds it."""
    channel = sandbox.state.channel(channel_id)
    user = sandbox.users[username]
    return {
        "channel_id": channel.id,
        "channel_name": channel.name,
        "command": "/sev1",
        "response_url": f"{sandbox.url}/hooks/commands/none",
        "root_id": "",
        "team_domain": sandbox.team.name,
        "team_id": sandbox.team.id,
        "text": text,
        "token": token,
        "trigger_id": "",
        "user_id": user.id,
        "user_name": user.username,
    }


async def post_command(
    base_url: str, form: dict[str, str], header_token: str | None = None
) -> tuple[int, Any]:
    """POST a slash-command form straight to a bot replica, as the server would; (status, JSON body)."""
    token = form.get("token", "") if header_token is None else header_token
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base_url}/mattermost/command", data=form, headers={"Authorization": f"Token {token}"}
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


def pinged_slots(db_url: str, incident_id: str, upto: int = 100) -> dict[int, str]:
    """Escalation slot k -> the post that pinged for it, from the store's sent-once log.

    A catch-up ping is recorded under the latest slot that had passed when it fired; the slots it stands
    in for have no entry.
    """
    with Store(db_url) as store:
        found = sent_of(store, incident_id)
    slots = {k: found.get(f"escalation:{k}") for k in range(upto)}
    return {k: post_id for k, post_id in slots.items() if post_id is not None}


async def catch_up_slot(db_url: str, incident_id: str, within: float = 15.0) -> int:
    """The slot of the first ping after slot 0 (the catch-up ping, when slots were missed)."""

    async def after_zero() -> int | None:
        slots = await asyncio.to_thread(pinged_slots, db_url, incident_id)
        return min((k for k in slots if k > 0), default=None)

    slot: int = await eventually(after_zero, within, "a ping after the first")
    return slot


def assert_ping_schedule(
    sandbox: Sandbox,
    channel_id: str,
    db_url: str,
    incident_id: str,
    due: Callable[[int], datetime],
    catch_up: int,
    last: int,
) -> None:
    """Slot 0, one (late) catch-up ping for ``catch_up`` and none for the slots between, then each slot up
    to ``last`` on time; every ping post is the one the store recorded, none twice, one DM per ping."""
    slots = pinged_slots(db_url, incident_id)
    assert sorted(slots) == [0, *range(catch_up, last + 1)], (sorted(slots), catch_up, last)
    posted = {p.id: p for p in pings(sandbox, channel_id)}
    assert set(posted) == set(slots.values()), "every ping in the channel is one the store recorded, once"
    for k in range(catch_up + 1, last + 1):
        sent = datetime.fromtimestamp(posted[slots[k]].create_at / 1000, UTC)
        late = (sent - due(k)).total_seconds()
        assert -0.1 <= late <= 1.5, f"slot {k} pinged {late:+.2f}s from its due time"
    catch_up_at = datetime.fromtimestamp(posted[slots[catch_up]].create_at / 1000, UTC)
    assert catch_up_at >= due(catch_up), "the catch-up ping is for a slot that had passed"
    ping_dms = [p for p in dms_to(sandbox, "ian.tien") if "has been open" in p.message]  # not the welcome
    assert len(ping_dms) == len(posted), "one DM to the CEO per ping"
