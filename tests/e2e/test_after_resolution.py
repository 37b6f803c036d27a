"""After resolution the bot chases the deadlines; after an absence it catches up on what it missed."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Humans, bot_env, eventually, fast_playbook, free_port, react, running_bot, slash
from test_incident_flow import _channel_ready, _item_post, incident_posts, start_incident

from sev1bot.core.state import ItemStatus
from sev1bot.sandbox.app import Sandbox
from sev1bot.store import Store
from store_peek import incidents_stored

pytestmark = pytest.mark.e2e


async def test_deadline_reminders_mention_the_owner_and_stop_once_the_item_is_checked(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    # Escalation far away; every deadline 4 s after resolution, "due soon" 1 s before.
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h", deadlines="4s")
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())
    async with running_bot(env) as running:
        await start_incident(sandbox, humans)
        channel_id = await eventually(lambda: _channel_ready(sandbox, 40), 15, "the checklist")
        answer = await slash(humans, "alice", channel_id, "check 8.1")  # the retrospective is already done
        assert answer["text"].startswith("Done"), answer
        await slash(humans, "jason.blais", channel_id, "resolve")

        def reminders(title: str) -> list[str]:
            return [
                p.message
                for p in incident_posts(sandbox, channel_id)
                if title in p.message and "@alice" in p.message and not p.root_id  # not the item post itself
            ]

        async def soon_and_overdue() -> bool:
            texts = reminders("Draft incident summary analysis")
            return any("is due" in t for t in texts) and any("overdue" in t for t in texts)

        await eventually(soon_and_overdue, 12, "a due-soon and an overdue reminder for the draft summary")
        assert not reminders("Complete incident retrospective"), "8.1 was checked before resolution"

        def deadline_timers() -> set[str]:
            (state,) = incidents_stored(running.bot.store)
            return {key for key in state.timers if key.startswith("deadline:")}

        # After an overdue reminder the next one is a business day away: what stops it is that checking the
        # item takes its timers away (the others stay), decided with the check itself.
        await eventually(lambda: "deadline:draft-summary:due:1" in deadline_timers(), 5, "the next reminder")
        others = {key for key in deadline_timers() if not key.startswith("deadline:draft-summary:")}
        assert others, deadline_timers()
        assert (await slash(humans, "alice", channel_id, "check 8.2"))["text"].startswith("Done")
        assert deadline_timers() == others
        timeline = await slash(humans, "alice", channel_id, "timeline")
        assert "resolved" in timeline["text"]


async def test_reactions_made_while_the_bot_was_down_are_applied_at_start_up(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", playbooks, free_port())
    async with running_bot(env):
        await start_incident(sandbox, humans)
        channel_id = await eventually(lambda: _channel_ready(sandbox, 40), 15, "the checklist")
    item = _item_post(sandbox, channel_id, "3.2")
    await react(humans, "brent.fox", item.id, "white_check_mark")
    # What the bot comes back to: the check is on the server, and the bot's record still has 3.2 open (it
    # can only learn of the check by catching up).
    on_server = [(r.user_id, r.emoji_name) for r in sandbox.state.reactions_for(item.id)]
    assert on_server == [(sandbox.users["brent.fox"].id, "white_check_mark")]
    with Store(env["SEV1BOT_DATABASE_URL"]) as store:
        (state,) = incidents_stored(store)
    assert state.items["3.2"].status is ItemStatus.OPEN

    async with running_bot(env):

        async def caught_up() -> bool:
            return "@brent.fox" in sandbox.state.post(item.id).message

        await eventually(caught_up, 10, "the missed check of 3.2 to be applied")
        status = await slash(humans, "alice", channel_id, "status")
        assert "1/40" in status["text"]
