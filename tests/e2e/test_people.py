"""Who can hold a job in an incident, end to end: the owner and assignees must be active people, and a
deactivated (or bot) role holder in the playbook does not stop an incident from starting.

The sandbox answers a deactivated user as the server does: still found by name, with ``delete_at`` set, and
403 ``app.channel.add_member.deleted_user.app_error`` when added to a channel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Humans, RunningBot, bot_env, free_port, running_bot, slash
from scenario import bot_posts, checklist_posted, incident_channel, start_incident

from sev1bot.core.state import IncidentState
from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e


def stored(running: RunningBot) -> list[IncidentState]:
    return running.bot.store.active_incidents()


async def test_a_deactivated_user_or_a_bot_cannot_be_made_owner_or_assignee(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    sandbox.set_active("bob", False)
    posts_before = len(sandbox.posts_in(channel_id))
    refusals = {
        "owner @bob": "@bob is deactivated on this server: choose someone active.",
        "assign 2.3 @bob": "@bob is deactivated on this server: choose someone active.",
        "owner @sev1bot": "@sev1bot is a bot: an incident's owner must be a person.",
        "assign 2.3 sev1bot": "@sev1bot is a bot: an item's assignee must be a person.",
    }
    for text, expected in refusals.items():
        answer = await slash(humans, "alice", channel_id, text)
        assert answer["text"] == expected, (text, answer)

    (state,) = stored(bot)
    assert state.owner == "alice" and state.items["2.3"].assignee is None
    assert len(state.timeline) == 1, state.timeline
    assert len(sandbox.posts_in(channel_id)) == posts_before
    assert sandbox.state.channel_member(channel_id, sandbox.users["bob"].id) is None
    # The refusals were about those accounts: an active person is accepted, and so is bob once reactivated.
    assert (await slash(humans, "alice", channel_id, "assign 2.3 @carol"))["text"].startswith("Done")
    sandbox.set_active("bob", True)
    assert (await slash(humans, "alice", channel_id, "owner @bob"))["text"].startswith("Done")
    (state,) = stored(bot)
    assert state.owner == "bob" and state.items["2.3"].assignee == "carol"


async def test_a_start_with_a_deactivated_and_a_bot_role_holder_invites_the_others_and_warns(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path
) -> None:
    sandbox.set_active("brent.fox", False)  # the CSM lead has left the company
    env = bot_env(
        sandbox,
        f"sqlite:///{tmp_path / 'sev1bot.db'}",
        playbook_dir,
        free_port(),
        SEV1BOT_ROLE_DE_LEAD="sev1bot",  # a misconfigured role: the bot's own account
    )
    async with running_bot(env) as running:
        answer = await slash(humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" down')
        assert "Started Sev 1 incident" in answer["text"], answer
        channel_id = await checklist_posted(sandbox)
        await running.bot.idle()

    members = {
        name for name, user in sandbox.users.items() if sandbox.state.channel_member(channel_id, user.id)
    }
    assert {"alice", "stu.doherty", "ian.tien"} <= members, members
    assert "brent.fox" not in members
    warnings = [p.message for p in bot_posts(sandbox, channel_id) if p.message.startswith(":warning:")]
    assert warnings == [
        ":warning: Could not invite `brent.fox`: deactivated on this server. "
        "Check the playbook's roles or the SEV1BOT_ROLE_* settings.",
        ":warning: Could not invite `sev1bot`: a bot, not a person. "
        "Check the playbook's roles or the SEV1BOT_ROLE_* settings.",
    ], warnings
    channel = incident_channel(sandbox)
    assert channel is not None and channel.id == channel_id
