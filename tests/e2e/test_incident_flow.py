"""A responder runs a Sev 1 in chat: start, checklist, reactions, commands, escalation, resolution."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from harness import Humans, RunningBot, eventually, react, slash, unreact

from sev1bot.core.escalation import next_slot_after
from sev1bot.playbook.loader import load_playbook
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from store_peek import incidents_stored

pytestmark = pytest.mark.e2e


def incident_posts(sandbox: Sandbox, channel_id: str) -> list[Post]:
    return [p for p in sandbox.posts_in(channel_id) if p.user_id == sandbox.bot.id and not p.type]


async def start_incident(sandbox: Sandbox, humans: Humans, text: str = '"Acme Corp" checkout is down') -> str:
    town = sandbox.channel("town-square")
    answer = await slash(humans, "alice", town.id, f"start {text}")
    assert "Started Sev 1 incident" in answer.get("text", "") or answer.get("goto_location"), answer
    return town.id


def the_incident_channel(sandbox: Sandbox) -> str:
    names = [c.name for c in sandbox.state.channels.values() if c.name.startswith("sev1-")]
    assert len(names) == 1, names
    return sandbox.channel(names[0]).id


async def test_start_opens_a_channel_with_the_leads_and_the_whole_checklist(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    await start_incident(sandbox, humans)
    playbook = load_playbook("playbooks/mme-sev1.yaml")
    expected_posts = 1 + len(playbook.stages) + len(playbook.keys())

    async def checklist_posted() -> list[Post]:
        names = [c for c in sandbox.state.channels.values() if c.name.startswith("sev1-")]
        if not names:
            return []
        posts = incident_posts(sandbox, names[0].id)
        return posts if len(posts) >= expected_posts else []

    posts = await eventually(checklist_posted, 15, "the status board, 8 stage roots and 40 items")
    channel = sandbox.state.channel(posts[0].channel_id)
    assert channel.name.startswith("sev1-") and channel.name.endswith("-acme-corp")
    assert channel.type == "P"
    assert "Acme Corp" in channel.header
    members = {sandbox.state.user(uid).username for uid in sandbox.state.member_ids(channel.id)}
    assert {"alice", "brent.fox", "stu.doherty", "jason.blais", "ian.tien", "sev1bot"} <= members

    board, rest = posts[0], posts[1:]
    assert board.is_pinned and "Acme Corp" in board.message
    # One root per stage, in playbook order, each with its items as replies in its thread, in playbook order
    # (the sandbox shows threads collapsed, as the server does by default: stages may be posted side by side).
    roots = [p for p in rest if not p.root_id]
    assert len(roots) == len(playbook.stages)
    for s, (stage, root) in enumerate(zip(playbook.stages, roots, strict=True), 1):
        assert stage.title in root.message, (s, root.message)
        replies = [p for p in rest if p.root_id == root.id]
        assert len(replies) == len(stage.items), (s, len(replies))
        for i, (item, post) in enumerate(zip(stage.items, replies, strict=True), 1):
            assert f"{s}.{i}" in post.message and item.title in post.message
            if item.description:
                assert item.description in post.message
            else:
                assert "to be written" in post.message.lower()
    assert len(rest) == len(roots) + len(playbook.keys())  # nothing posted twice


async def test_reactions_check_and_uncheck_items_and_update_the_board(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    await start_incident(sandbox, humans)
    playbook = load_playbook("playbooks/mme-sev1.yaml")
    channel_id = await eventually(lambda: _channel_ready(sandbox, len(playbook.keys())), 15, "the checklist")
    item = _item_post(sandbox, channel_id, "2.3")
    await react(humans, "stu.doherty", item.id, "white_check_mark")

    async def checked() -> bool:
        post = sandbox.state.post(item.id)
        return "@stu.doherty" in post.message and ":white_check_mark:" in post.message

    await eventually(checked, 10, "item 2.3 to show it was checked by stu.doherty")
    await eventually(lambda: _contains(sandbox, item.root_id, "1/5"), 5, "stage 2 to count 1 of 5 done")
    board = incident_posts(sandbox, channel_id)[0]
    await eventually(lambda: _contains(sandbox, board.id, "1/40"), 5, "the board to count 1 of 40 done")

    await unreact(humans, "stu.doherty", item.id, "white_check_mark")
    await eventually(lambda: _lacks(sandbox, item.id, "@stu.doherty"), 10, "item 2.3 to be open again")
    await eventually(lambda: _contains(sandbox, item.root_id, "0/5"), 5, "stage 2 to count 0 of 5 done")

    # A reaction on a post that is not an item, and an unrelated emoji, change nothing. The barrier: a check
    # of 2.4 made after them, which the bot takes in the order the server sent them; once that is applied,
    # the two before it have been handled too.
    before = sandbox.state.post(item.id).message
    await react(humans, "stu.doherty", item.root_id, "white_check_mark")
    await react(humans, "stu.doherty", item.id, "tada")
    barrier = _item_post(sandbox, channel_id, "2.4")
    await react(humans, "stu.doherty", barrier.id, "white_check_mark")
    await eventually(lambda: _contains(sandbox, barrier.id, "@stu.doherty"), 10, "the later check of 2.4")
    status = await slash(humans, "alice", channel_id, "status")
    assert "1/40" in status["text"], status["text"][:400]  # 2.4 alone
    assert sandbox.state.post(item.id).message == before
    await eventually(lambda: _contains(sandbox, board.id, "1/40"), 5, "the board to count 2.4 alone")


async def test_commands_in_the_incident_channel(sandbox: Sandbox, humans: Humans, bot: RunningBot) -> None:
    await start_incident(sandbox, humans)
    channel_id = await eventually(lambda: _channel_ready(sandbox, 40), 15, "the checklist")
    answer = await slash(humans, "alice", channel_id, "check 1.1")
    assert answer.get("text", "").startswith("Done"), answer
    await eventually(
        lambda: _contains(sandbox, _item_post(sandbox, channel_id, "1.1").id, "@alice"), 5, "1.1 checked"
    )

    usage = await slash(humans, "alice", channel_id, "check 9.9")
    assert "9.9" in usage["text"]
    usage = await slash(humans, "alice", channel_id, "chek 1.2")
    assert "check" in usage["text"]

    await slash(humans, "alice", channel_id, "assign 2.1 @bob")
    await eventually(
        lambda: _contains(sandbox, _item_post(sandbox, channel_id, "2.1").id, "bob"), 5, "2.1 assigned"
    )
    await slash(humans, "alice", channel_id, "update DBA on the call, reading slow query log")
    await eventually(
        lambda: _any_post_contains(sandbox, channel_id, "DBA on the call"),
        5,
        "the status update to be posted",
    )
    timeline = await slash(humans, "alice", channel_id, "timeline")
    assert "checked 1.1" in timeline["text"] and "DBA on the call" in timeline["text"]

    listing = await slash(humans, "carol", sandbox.channel("town-square").id, "list")
    assert "Acme Corp" in listing["text"]
    outside = await slash(humans, "carol", sandbox.channel("town-square").id, "status")
    assert "not an incident channel" in outside["text"]


async def test_the_ceo_is_pinged_after_the_threshold_and_every_interval_until_resolved(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    await start_incident(sandbox, humans)
    channel_id = await eventually(lambda: _channel_ready(sandbox, 40), 15, "the checklist")

    def pings() -> list[Post]:
        return [
            p
            for p in incident_posts(sandbox, channel_id)
            if "@ian.tien" in p.message and "@alice" in p.message
        ]

    async def two_pings() -> bool:
        return len(pings()) >= 2

    await eventually(two_pings, 12, "two escalation pings (after 3 s and 6 s)")
    ceo = sandbox.users["ian.tien"]
    dms = [
        p
        for c in sandbox.state.channels.values()
        if c.type == "D" and ceo.id in c.name
        for p in sandbox.posts_in(c.id)
    ]
    assert dms and all("~sev1-" in p.message for p in dms)
    customer_item = _item_post(sandbox, channel_id, "1.4")
    assert "CEO" in sandbox.state.post(customer_item.id).message

    answer = await slash(humans, "jason.blais", channel_id, "resolve fixed by 10.11.2")
    assert answer.get("text", "").startswith("Done"), answer
    # The decision: no escalation timer is left to fire; the pings decided before it are all there will be.
    (resolved,) = incidents_stored(bot.bot.store)
    assert resolved.resolved_at is not None and "escalation" not in resolved.timers, sorted(resolved.timers)
    count = sum(1 for entry in resolved.timeline if entry.kind == "escalated")
    escalation = bot.bot.playbooks[resolved.playbook_id].escalation
    assert escalation is not None
    _, next_ping = next_slot_after(resolved.started_at, escalation, resolved.resolved_at)
    # What people see: the time of the next ping passes, then an update, posted after anything decided
    # before it (one incident's posts go out in order); still no ping.
    await eventually(lambda: datetime.now(UTC) > next_ping, 10, "the time the next ping was due")
    await slash(humans, "alice", channel_id, "update all quiet after the fix")
    await eventually(lambda: _any_post_contains(sandbox, channel_id, "all quiet after the fix"), 10, "update")
    assert len(pings()) == count, "no pings after resolve"
    assert any("resolved" in p.message.lower() for p in incident_posts(sandbox, channel_id))


async def _channel_ready(sandbox: Sandbox, items: int) -> str | None:
    for channel in sandbox.state.channels.values():
        if channel.name.startswith("sev1-") and len(incident_posts(sandbox, channel.id)) >= items + 9:
            return channel.id
    return None


def _item_post(sandbox: Sandbox, channel_id: str, key: str) -> Post:
    for post in incident_posts(sandbox, channel_id):
        if post.root_id and f"**{key}**" in post.message:
            return post
    raise AssertionError(f"no post for item {key}")


async def _contains(sandbox: Sandbox, post_id: str, text: str) -> bool:
    return text in sandbox.state.post(post_id).message


async def _lacks(sandbox: Sandbox, post_id: str, text: str) -> bool:
    return text not in sandbox.state.post(post_id).message


async def _any_post_contains(sandbox: Sandbox, channel_id: str, text: str) -> bool:
    return any(text in p.message for p in sandbox.posts_in(channel_id))
