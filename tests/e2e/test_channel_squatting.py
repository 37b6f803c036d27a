"""The incident channel's name is predictable; someone else may hold it, and a step may keep failing.

Anyone on the team can create a private channel called what the next incident's channel will be
(``sev1-<date>-<customer>``), with or without the bot in it. The incident must never run there: it gets the
next free name in a channel the bot created, the reporter (whose start answer linked the first name) gets a
DM with the right link, and the state and ``/sev1 list`` show the real name. A step that keeps failing is
tried ever less often and the reporter is told once; and a channel the bot itself created before a crash is
still the one it uses. docs/reliability.md summarises what each test shows.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, slash
from procs import BotProcess
from scenario import (
    ITEMS,
    assert_checklist_once,
    bot_posts,
    checklist_posted,
    dms_to,
    incident_channel,
    item_posts,
    until,
)

from sev1bot.core.naming import channel_name
from sev1bot.sandbox.app import Sandbox
from sev1bot.store.store import Store

pytestmark = pytest.mark.e2e

CHANNELS = "/api/v4/channels"
PERMISSION_DENIED = "api.context.permissions.app_error"


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    return fast_playbook(tmp_path / "playbooks", escalate_after="1h", repeat_every="1h")


def predicted() -> str:
    """The name the next incident for Acme Corp will announce (the bot runs in UTC here)."""
    return channel_name(datetime.now(UTC), "Acme Corp", "UTC")


async def squat(humans: Humans, sandbox: Sandbox, name: str) -> str:
    """carol creates a private channel of that name, as any team member may; its id."""
    carol = await humans("carol")
    body = {"team_id": sandbox.team.id, "name": name, "display_name": "Totally the incident", "type": "P"}
    created = await carol.channels.create_channel(**body)
    return str(created["id"])


async def add_bot(humans: Humans, sandbox: Sandbox, channel_id: str) -> None:
    carol = await humans("carol")
    await carol.client.post(f"/api/v4/channels/{channel_id}/members", {"user_id": sandbox.bot.id})


def checklist_in(sandbox: Sandbox, name: str) -> str | None:
    found = sandbox.state.find_channel_by_name(sandbox.team.id, name)
    if found is None or len(item_posts(sandbox, found.id)) < ITEMS:
        return None
    return found.id


def is_member(sandbox: Sandbox, channel_id: str, username: str) -> bool:
    return sandbox.state.channel_member(channel_id, sandbox.users[username].id) is not None


@pytest.mark.parametrize("bot_added", [True, False], ids=["squatter-adds-the-bot", "bot-cannot-see-it"])
async def test_a_channel_someone_else_made_under_the_incidents_name_is_never_used(
    sandbox: Sandbox, humans: Humans, bot: RunningBot, bot_added: bool
) -> None:
    name = predicted()
    theirs = await squat(humans, sandbox, name)
    if bot_added:
        # Hold the bot's channel creation until carol has added the bot to her channel: it then sees a
        # channel of that name that it is a member of (the hijack), not just a name it cannot have.
        sandbox.faults.fail_next("POST", CHANNELS, 503, count=10_000)
    town = sandbox.channel("town-square").id
    answer = await slash(humans, "alice", town, 'start "Acme Corp" checkout is down')
    assert f"[~{name}](" in answer["text"], answer  # the announced name: the squatted one
    began = time.monotonic()
    if bot_added:
        before = sandbox.count_requests("POST", CHANNELS)
        await add_bot(humans, sandbox, theirs)
        await until(lambda: sandbox.count_requests("POST", CHANNELS) > before + 1, 20, "a try after the add")
        sandbox.faults.clear()
        began = time.monotonic()

    real = f"{name}-2"
    channel_id = await until(lambda: checklist_in(sandbox, real), 30, f"the checklist in {real}")
    ours = sandbox.state.channel(channel_id)
    assert ours.creator_id == sandbox.bot.id and ours.type == "P"
    assert is_member(sandbox, channel_id, "alice") and not is_member(sandbox, channel_id, "carol")
    assert bot_posts(sandbox, theirs) == [], "nothing of the incident in the squatter's channel"
    assert_checklist_once(sandbox, channel_id)

    link = f"[~{real}]({sandbox.url}/{sandbox.team.name}/channels/{real})"
    told = await until(lambda: [p for p in dms_to(sandbox, "alice") if link in p.message], 20, "the DM")
    took = time.monotonic() - began
    print(
        f"squatted name ({'bot added' if bot_added else 'unseen'}): checklist in {real} and DM in {took:.1f}s"
    )
    assert len(told) == 1 and f"`{name}`" in told[0].message
    (state,) = await asyncio.to_thread(bot.bot.store.active_incidents)
    assert state.channel_name == real
    listing = (await slash(humans, "alice", town, "list"))["text"]
    assert f"~{real} " in listing and f"~{name} " not in listing and "no channel yet" not in listing


async def test_a_second_incident_for_the_customer_that_day_skips_the_name_the_first_one_took(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    # The squatted name is free again in the bot's database once the first incident moved to -2, so the
    # second is announced under it too; it must not take -2 (the first incident's) but -3.
    name = predicted()
    await squat(humans, sandbox, name)
    town = sandbox.channel("town-square").id
    await slash(humans, "alice", town, 'start "Acme Corp" checkout is down')
    await until(lambda: checklist_in(sandbox, f"{name}-2"), 30, f"the first checklist in {name}-2")
    answer = await slash(humans, "bob", town, 'start "Acme Corp" billing is down too')
    assert f"[~{name}](" in answer["text"], answer
    channel_id = await until(
        lambda: checklist_in(sandbox, f"{name}-3"), 30, f"the second checklist in {name}-3"
    )
    assert is_member(sandbox, channel_id, "bob") and not is_member(sandbox, channel_id, "carol")
    link = f"[~{name}-3]({sandbox.url}/{sandbox.team.name}/channels/{name}-3)"
    await until(lambda: [p for p in dms_to(sandbox, "bob") if link in p.message], 20, "bob's DM")
    states = await asyncio.to_thread(bot.bot.store.active_incidents)
    assert sorted(s.channel_name for s in states) == [f"{name}-2", f"{name}-3"]


async def test_a_step_that_keeps_failing_is_tried_ever_less_often_and_the_reporter_is_told_once(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    # The bot may not create private channels (a permission taken away): every attempt gets a 403.
    sandbox.faults.fail_next(
        "POST",
        CHANNELS,
        403,
        count=10_000,
        error_id=PERMISSION_DENIED,
        message="You do not have the appropriate permissions.",
    )
    town = sandbox.channel("town-square").id
    began = time.monotonic()
    answer = await slash(humans, "alice", town, 'start "Acme Corp" checkout is down')
    assert "Started" in answer["text"], answer

    def stuck() -> list[str]:
        return [
            p.message
            for p in dms_to(sandbox, "alice")
            if "could not create the incident channel" in p.message
        ]

    (told,) = await until(stuck, 30, "the DM saying the channel cannot be created")
    told_after = time.monotonic() - began
    at_dm = sandbox.count_requests("POST", CHANNELS)
    listing = (await slash(humans, "alice", town, "list"))["text"]
    # It keeps trying after telling, and does not tell again.
    await until(lambda: sandbox.count_requests("POST", CHANNELS) > at_dm, 30, "a try after the DM")
    window = time.monotonic() - began
    attempts = sandbox.count_requests("POST", CHANNELS)
    print(f"failing channel creation: {attempts} attempts in {window:.1f}s; told after {told_after:.1f}s")
    assert at_dm == 5, "told after the fifth failure"
    assert attempts < window / 2, f"{attempts} attempts in {window:.1f}s: the old pace was 2 a second"
    assert stuck() == [told]
    assert PERMISSION_DENIED in told and "run it by hand" in told
    assert incident_channel(sandbox) is None
    assert f"`{predicted()}` (no channel yet)" in listing and "~sev1-" not in listing


async def test_a_channel_the_bot_made_before_it_was_killed_is_used_after_the_restart(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
    proc = BotProcess("bot", bot_env(sandbox, db_url, playbook_dir, free_port()), tmp_path / "bot.log")
    proc.start()
    try:
        await proc.wait_healthy(role="leader")
        # The server creates the channel but holds the answer: the bot is killed before it hears of it.
        sandbox.faults.delay("POST", CHANNELS, 5.0, after=True)
        answer = await slash(humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" x')
        assert "Started" in answer["text"], answer
        made = await until(lambda: incident_channel(sandbox), 10, "the channel to be created")
        proc.kill()
        sandbox.faults.clear()
        with Store(db_url) as store:
            (state,) = store.active_incidents()
            assert store.channel_id_of(state.id) is None, "killed before it recorded the channel"

        proc.start()
        restarted = time.monotonic()
        await proc.wait_healthy(within=30, role="leader")
        channel_id = await checklist_posted(sandbox, within=30)
        took = time.monotonic() - restarted
        print(f"killed after creating its channel: its checklist complete {took:.1f}s after the restart")
        assert channel_id == made.id and made.creator_id == sandbox.bot.id
        assert [c.name for c in sandbox.state.channels.values() if c.name.startswith("sev1-")] == [made.name]
        assert_checklist_once(sandbox, channel_id)
        with Store(db_url) as store:
            assert store.channel_id_of(state.id) == made.id
            after = store.load(state.id)
        assert after is not None and after.channel_name == made.name == state.channel_name
        assert not [p for p in dms_to(sandbox, "alice") if "runs in" in p.message], "no rename, no DM"
    finally:
        await proc.stop()
