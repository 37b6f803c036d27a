"""People are told, end to end: an assignee, the new and the former owner and whoever joins the incident
channel get a direct message with links to the right posts, and the bot checks the items it carries out
itself (1.1 and 1.2 of the shipped playbook) once they are done, even across a crash in between.

Every check reads what the sandbox holds: the DMs in the bot's direct channels, the posts in the incident
channel, and (where it says which is which) the store's timeline.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, running_bot, slash
from procs import BotProcess
from scenario import (
    assert_checklist_once,
    bot_posts,
    checklist_posted,
    dms_to,
    incident_channel,
    is_checked,
    item_post,
    start_incident,
    until,
)

from sev1bot.core.state import BOT_ACTOR, IncidentState, ItemStatus
from sev1bot.core.text import ZWJ
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from sev1bot.store.store import Store

pytestmark = pytest.mark.e2e

LINK = re.compile(r"\]\((\S+?)\)")
STARTERS = ("alice", "brent.fox", "stu.doherty", "jason.blais", "ian.tien")  # alice and whom she invites


def links_in(post: Post) -> list[str]:
    return LINK.findall(post.message)


def permalink(sandbox: Sandbox, post_id: str) -> str:
    return f"{sandbox.url}/{sandbox.team.name}/pl/{post_id}"


def readable(post: Post) -> str:
    """The message as it reads (names the bot wrote so as not to notify show as plain @names)."""
    return post.message.replace(ZWJ, "")


def dms_saying(sandbox: Sandbox, username: str, text: str) -> list[Post]:
    return [p for p in dms_to(sandbox, username) if text in readable(p)]


def welcomes(sandbox: Sandbox, username: str) -> list[Post]:
    return [p for p in dms_to(sandbox, username) if p.message.startswith(":wave: ")]


def every_welcome(sandbox: Sandbox) -> list[Post]:
    """Welcome DMs in all of the bot's direct channels (the bot's own included, were there one)."""
    direct = [c.id for c in sandbox.state.channels.values() if c.type == "D"]
    return [
        p
        for channel_id in direct
        for p in sandbox.posts_in(channel_id)
        if p.user_id == sandbox.bot.id and p.message.startswith(":wave: ")
    ]


def board(sandbox: Sandbox, channel_id: str) -> Post:
    first = bot_posts(sandbox, channel_id)[0]
    assert first.is_pinned, "the status board comes first"
    return first


async def add_member(humans: Humans, actor: str, channel_id: str, username: str) -> None:
    """Add someone to a channel as a person's app does (``POST /channels/{id}/members``)."""
    driver = await humans(actor)
    body = {"user_id": humans.sandbox.users[username].id, "channel_id": channel_id, "post_root_id": ""}
    await driver.client.post(f"/api/v4/channels/{channel_id}/members", body)


def caught_up(running: RunningBot) -> bool:
    """The bot says (in its readiness) that it caught up with what it missed while away."""
    parts = running.bot.parts
    return parts is not None and bool(parts.duties.readiness()["caught_up"])


def the_incident(store: Store) -> IncidentState:
    (state,) = store.active_incidents()
    return state


# -- assignment and ownership ------------------------------------------------------------------------------


async def test_an_assignee_gets_a_dm_with_the_items_title_and_a_link_to_its_post(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    answer = await slash(humans, "alice", channel_id, "assign 2.3 @bob")
    assert answer["text"].startswith("Done"), answer

    (dm,) = await until(lambda: dms_saying(sandbox, "bob", "assigned you"), 10, "bob's DM about 2.3")
    assert readable(dm).startswith(":point_right: @alice assigned you an item of the Sev 1")
    assert "the Sev 1 for **Acme Corp** (~sev1-" in dm.message
    assert "**2.3 Share output from support bundle**\nLink to relevant docs\n" in dm.message
    item = item_post(sandbox, channel_id, "2.3")
    assert links_in(dm) == [permalink(sandbox, item.id)], "the link opens the item's own post"
    assert "assigned to @bob" in item.message

    # Again to bob: nothing new, nobody told. To carol: carol is told, and bob is not told again.
    assert (await slash(humans, "alice", channel_id, "assign 2.3 @bob"))["text"].startswith("Nothing")
    assert (await slash(humans, "alice", channel_id, "assign 2.4 @carol"))["text"].startswith("Done")
    (to_carol,) = await until(lambda: dms_saying(sandbox, "carol", "assigned you"), 10, "carol's DM")
    assert links_in(to_carol) == [permalink(sandbox, item_post(sandbox, channel_id, "2.4").id)]
    await bot.bot.idle()
    assert len(dms_saying(sandbox, "bob", "assigned you")) == 1
    assert dms_saying(sandbox, "alice", "assigned you") == [], "the one who assigns is not told by DM"


async def test_the_new_and_the_former_owner_are_told_with_the_boards_link(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    answer = await slash(humans, "jason.blais", channel_id, "owner @carol")
    assert answer["text"].startswith("Done"), answer

    (new,) = await until(lambda: dms_saying(sandbox, "carol", "made you the owner"), 10, "carol's DM")
    (former,) = await until(lambda: dms_saying(sandbox, "alice", "no longer own it"), 10, "alice's DM")
    assert readable(new).startswith(":large_orange_diamond: @jason.blais made you the owner of the Sev 1 for")
    assert "made @carol the owner of the Sev 1 for **Acme Corp**" in readable(former)
    link = permalink(sandbox, board(sandbox, channel_id).id)
    assert links_in(new) == [link] and links_in(former) == [link]
    await bot.bot.idle()
    assert dms_saying(sandbox, "jason.blais", "owner") == [], "the one who hands over is not told by DM"


# -- welcomes ----------------------------------------------------------------------------------------------


async def test_whoever_joins_gets_one_welcome_even_across_a_gap_the_server_cannot_replay(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    for name in STARTERS:  # invited by the bot
        await until(partial(welcomes, sandbox, name), 10, f"@{name}'s welcome")

    await add_member(humans, "alice", channel_id, "carol")  # added by a person
    (dm,) = await until(lambda: welcomes(sandbox, "carol"), 10, "carol's welcome")
    channel = incident_channel(sandbox)
    assert channel is not None
    text = readable(dm)
    assert text.startswith(
        f":wave: You are in the incident channel of the Sev 1 for **Acme Corp** (~{channel.name})"
    )
    assert "**Owner:** @alice" in text
    assert links_in(dm) == [permalink(sandbox, board(sandbox, channel_id).id)], "where the board is"
    assert "react with :white_check_mark: on its post" in text and "`/sev1 check 1.1`" in text

    # The server restarts: the bot's catch-up compares the members with those welcomed. bob, added
    # after it, is welcomed (live or by the catch-up) after anything the catch-up would have sent.
    sandbox.restart()
    await add_member(humans, "alice", channel_id, "bob")
    await until(lambda: welcomes(sandbox, "bob"), 15, "bob's welcome after the gap")
    await bot.bot.idle()
    for name in (*STARTERS, "carol", "bob"):
        assert len(welcomes(sandbox, name)) == 1, name
    assert len(every_welcome(sandbox)) == len(STARTERS) + 2, "nobody else, and not the bot itself"


async def test_someone_added_while_the_bot_was_stopped_is_welcomed_when_it_is_back_once(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path
) -> None:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbook_dir, free_port())
    async with running_bot(env) as running:
        channel_id = await start_incident(sandbox, humans)
        for name in STARTERS:
            await until(partial(welcomes, sandbox, name), 10, f"@{name}'s welcome")
        await running.bot.idle()

    await add_member(humans, "alice", channel_id, "carol")
    assert welcomes(sandbox, "carol") == []

    async with running_bot(env) as running:
        (dm,) = await until(lambda: welcomes(sandbox, "carol"), 15, "carol's welcome after the restart")
        assert links_in(dm) == [permalink(sandbox, board(sandbox, channel_id).id)]
        await until(lambda: caught_up(running), 15, "the catch-up")
        await running.bot.idle()
    async with running_bot(env) as running:  # and back once more: everyone was welcomed already
        await until(lambda: caught_up(running), 15, "the catch-up")
        await running.bot.idle()

    for name in (*STARTERS, "carol"):
        assert len(welcomes(sandbox, name)) == 1, name
    assert len(every_welcome(sandbox)) == len(STARTERS) + 1


# -- what the bot does itself ------------------------------------------------------------------------------


async def test_the_bot_checks_1_1_and_1_2_once_the_channel_and_the_leads_are_there(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h", bot_tasks=True)
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbooks, free_port())
    async with running_bot(env) as running:
        channel_id = await start_incident(sandbox, humans)
        for key in ("1.1", "1.2"):
            await until(partial(is_checked, sandbox, channel_id, key, BOT_ACTOR), 10, f"{key} by the bot")
        root = sandbox.state.post(item_post(sandbox, channel_id, "1.1").root_id)
        await until(lambda: "— 2/4 done" in sandbox.state.post(root.id).message, 10, "stage 1 counting 2/4")
        board_id = board(sandbox, channel_id).id
        await until(
            lambda: "2/40 items" in sandbox.state.post(board_id).message, 10, "the board counting 2/40"
        )
        await running.bot.idle()
        state = the_incident(running.bot.store)

    for key in ("1.1", "1.2"):
        item = state.items[key]
        assert (item.status, item.by, item.via) == (ItemStatus.DONE, BOT_ACTOR, "bot")
        assert item_post(sandbox, channel_id, key).message.count("done by @sev1bot") == 1
    tasks = [e.text for e in state.timeline if e.kind == "task"]
    assert tasks == ["created the incident channel", "invited the leads"]
    assert state.items["1.3"].status is ItemStatus.OPEN
    assert_checklist_once(sandbox, channel_id)


async def test_a_lead_who_cannot_be_invited_leaves_1_2_open_for_a_person(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    sandbox.set_active("brent.fox", False)
    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h", bot_tasks=True)
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbooks, free_port())
    async with running_bot(env) as running:
        channel_id = await start_incident(sandbox, humans)

        def reported() -> list[str]:
            return [e.text for e in the_incident(running.bot.store).timeline if e.kind == "task"]

        await until(lambda: len(reported()) == 2, 10, "both tasks reported")
        await until(lambda: is_checked(sandbox, channel_id, "1.1", BOT_ACTOR), 10, "1.1 done by @sev1bot")
        await running.bot.idle()
        assert reported() == ["created the incident channel", "invited the leads except brent.fox"]
        assert the_incident(running.bot.store).items["1.2"].status is ItemStatus.OPEN
    assert not is_checked(sandbox, channel_id, "1.2")


async def test_a_crash_between_the_invite_and_its_check_checks_1_2_once_after_the_restart(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h", bot_tasks=True)
    db_url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
    bot = BotProcess("bot", bot_env(sandbox, db_url, playbooks, free_port()), tmp_path / "bot.log")
    # The invite takes effect on the server, but its answer is held: the bot dies before it hears it.
    sandbox.faults.delay("POST", "/api/v4/channels/*/members", 60, after=True)
    bot.start()
    try:
        await bot.wait_healthy(role="leader")
        answer = await slash(humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" down')
        assert "Started Sev 1 incident" in answer["text"], answer

        def leads_in() -> bool:
            channel = incident_channel(sandbox)
            return channel is not None and all(
                sandbox.state.channel_member(channel.id, sandbox.users[name].id) for name in STARTERS
            )

        await until(leads_in, 15, "the leads to be in the channel")
        bot.kill()
        sandbox.faults.clear()
        with Store(db_url) as store:
            before = the_incident(store)
        assert before.items["1.2"].status is ItemStatus.OPEN, "killed before the invite was reported"

        bot.start()
        await bot.wait_healthy(within=30, role="leader")
        channel_id = await checklist_posted(sandbox)
        await until(lambda: is_checked(sandbox, channel_id, "1.2", BOT_ACTOR), 15, "1.2 done by @sev1bot")
        await until(lambda: is_checked(sandbox, channel_id, "1.1", BOT_ACTOR), 15, "1.1 done by @sev1bot")
    finally:
        await bot.stop()
    with Store(db_url) as store:
        after = the_incident(store)
    assert [e.text for e in after.timeline if e.kind == "task"] == [
        "created the incident channel",
        "invited the leads",
    ]
    assert [e.text for e in after.timeline if e.kind == "checked"] == [
        "checked 1.1 Create Incident Channel, run MME Sev1 Playbook",
        "checked 1.2 Add CSM, TAM & DE to Incident Channel",
    ]
    assert_checklist_once(sandbox, channel_id)
