"""Following with the real bot: a member follows from another channel by naming the incident, someone outside
the channel cannot, the owner adds an outsider, and each status update reaches every follower by DM until
they unfollow."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, running_bot, slash
from scenario import dms_but_welcomes, incident_channel, start_incident, until

from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e

LEAD = "stu.doherty"  # a lead the shipped playbook invites
OUTSIDER = "bob"


def updates_to(sandbox: Sandbox, username: str) -> list[str]:
    return [p.message for p in dms_but_welcomes(sandbox, username) if "**Update** on" in p.message]


async def test_followers_get_each_update_by_dm_until_they_unfollow(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())
    town = sandbox.channel("town-square").id
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        channel = incident_channel(sandbox)
        assert channel is not None
        refused = await slash(humans, OUTSIDER, town, f"follow ~{channel.name}")
        assert refused["text"].startswith(f"Only members of ~{channel.name}"), refused
        followed = await slash(humans, LEAD, town, f"follow ~{channel.name}")
        assert followed["text"].startswith("Done"), followed
        added = await slash(humans, "alice", channel_id, f"follow @{OUTSIDER}")
        assert added["text"].startswith("Done"), added

        answer = await slash(humans, "alice", channel_id, "update Rolled back the deploy")
        assert answer["text"].startswith("Done"), answer
        await until(lambda: updates_to(sandbox, OUTSIDER) and updates_to(sandbox, LEAD), 10, "both told")
        (told,) = updates_to(sandbox, OUTSIDER)
        assert "> Rolled back the deploy" in told and f"~{channel.name}" in told
        assert not updates_to(sandbox, "alice"), "the author is not told what she wrote"

        gone = await slash(humans, LEAD, channel_id, "unfollow")
        assert gone["text"].startswith("Done"), gone
        answer = await slash(humans, "alice", channel_id, "update Customer confirms")
        assert answer["text"].startswith("Done"), answer
        await until(lambda: len(updates_to(sandbox, OUTSIDER)) == 2, 10, "the second update to the outsider")
    assert len(updates_to(sandbox, LEAD)) == 1, "no update after unfollowing"
