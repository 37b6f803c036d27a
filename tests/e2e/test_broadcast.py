"""Broadcasts with the real bot: a public stakeholders' channel the bot joins by itself gets the start (one
post edited as the incident moves), each status update and the resolution; a channel it cannot find, whether
it does not exist or is private without the bot, is reported in the incident channel at the start."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, running_bot, slash
from scenario import bot_posts, incident_channel, start_incident, until

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post

pytestmark = pytest.mark.e2e

ZWJ = "\u200d"


async def create_channel(humans: Humans, sandbox: Sandbox, name: str, kind: str) -> str:
    carol = await humans("carol")
    body = {"team_id": sandbox.team.id, "name": name, "display_name": name.title(), "type": kind}
    created = await carol.channels.create_channel(**body)
    return str(created["id"])


def current(sandbox: Sandbox, posts: list[Post]) -> list[str]:
    return [sandbox.state.post(p.id).message for p in posts]


async def test_a_stakeholders_channel_reads_as_a_live_list_and_a_missing_one_is_reported(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    stakeholders = await create_channel(humans, sandbox, "stakeholders", "O")
    hidden = await create_channel(humans, sandbox, "exec-room", "P")  # private, without the bot
    playbooks = fast_playbook(
        tmp_path / "pb",
        escalate_after="1h",
        repeat_every="1h",
        broadcast=["stakeholders", "nowhere", "exec-room"],
    )
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        channel = incident_channel(sandbox)
        assert channel is not None
        (start,) = await until(lambda: bot_posts(sandbox, stakeholders), 10, "the start's broadcast")
        assert sandbox.state.channel_member(stakeholders, sandbox.bot.id) is not None, "the bot joined"
        assert start.message.startswith(
            f":rotating_light: **Sev 1 · Acme Corp** (~{channel.name}) · **active**"
        )
        assert f"owner @{ZWJ}alice · progress 0/" in start.message

        def reported() -> list[str]:
            return [
                p.message
                for p in bot_posts(sandbox, channel_id)
                if "Could not post to the broadcast" in p.message
            ]

        await until(lambda: len(reported()) == 2, 10, "both missing channels reported")
        warnings = reported()
        assert "`~nowhere`" in warnings[0] and "`~exec-room`" in warnings[1]
        for text in warnings:
            assert "does not exist on this team" in text and "private and the bot is not a member" in text

        answer = await slash(humans, "alice", channel_id, "update Rolled back the deploy")
        assert answer["text"].startswith("Done"), answer
        await until(lambda: len(bot_posts(sandbox, stakeholders)) == 2, 10, "the update broadcast")
        update = bot_posts(sandbox, stakeholders)[1].message
        assert f"(~{channel.name}) update from @{ZWJ}alice: Rolled back the deploy" in update

        answer = await slash(humans, "alice", channel_id, "resolve Fixed by the rollback")
        assert answer["text"].startswith("Done"), answer

        def resolved() -> bool:
            return "**resolved** after" in sandbox.state.post(start.id).message

        await until(resolved, 10, "the start's broadcast edited to resolved")
        await until(lambda: len(bot_posts(sandbox, stakeholders)) == 3, 10, "the resolution broadcast")
    posts = bot_posts(sandbox, stakeholders)
    assert posts[0].id == start.id, "the start's post is edited, not posted again"
    [live, _, done] = current(sandbox, posts)
    assert live.startswith(":white_check_mark: **Sev 1 · Acme Corp**"), live
    assert f"resolved by @{ZWJ}alice after" in done
    assert not bot_posts(sandbox, hidden), "nothing reaches a private channel the bot is not in"


async def test_a_broadcast_channel_the_bot_was_removed_from_holds_nothing_up_and_is_joined_again(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    stakeholders = await create_channel(humans, sandbox, "stakeholders", "O")
    playbooks = fast_playbook(
        tmp_path / "pb", escalate_after="1h", repeat_every="1h", broadcast=["stakeholders"]
    )
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        await until(lambda: bot_posts(sandbox, stakeholders), 10, "the start's broadcast")
        # Someone removes the bot (the sandbox has no route for it: its record goes, as the server's would).
        del sandbox.state.channel_members[stakeholders][sandbox.bot.id]
        answer = await slash(humans, "alice", channel_id, "update Rolled back the deploy")
        assert answer["text"].startswith("Done"), answer
        answer = await slash(humans, "alice", channel_id, "resolve Fixed")
        assert answer["text"].startswith("Done"), answer

        def resolution_posted() -> bool:
            return any("**Resolved**" in p.message for p in bot_posts(sandbox, channel_id))

        await until(resolution_posted, 10, "the resolution, after the broadcasts that failed")
        await until(lambda: len(bot_posts(sandbox, stakeholders)) == 2, 10, "the resolution broadcast")
    # The update's broadcast was refused and skipped; the next one found the channel afresh and joined again.
    [start, done] = current(sandbox, bot_posts(sandbox, stakeholders))
    assert "resolved by" in done and "update from" not in start + done
    assert sandbox.state.channel_member(stakeholders, sandbox.bot.id) is not None


async def test_each_ceo_escalation_is_broadcast_once(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    stakeholders = await create_channel(humans, sandbox, "stakeholders", "O")
    playbooks = fast_playbook(
        tmp_path / "pb", escalate_after="2s", repeat_every="1h", broadcast=["stakeholders"]
    )
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())

    def escalations() -> list[str]:
        return [p.message for p in bot_posts(sandbox, stakeholders) if "escalated to" in p.message]

    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        await until(escalations, 10, "the CEO escalation broadcast")
        # A later update, broadcast after the escalation, shows no second escalation came with the first.
        answer = await slash(humans, "alice", channel_id, "update Still digging")
        assert answer["text"].startswith("Done"), answer
        await until(lambda: "update from" in bot_posts(sandbox, stakeholders)[-1].message, 10, "the update")
    (escalation,) = escalations()
    assert "has been out for " in escalation and f"s: escalated to @{ZWJ}ian.tien." in escalation, escalation
