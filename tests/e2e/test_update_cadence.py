"""The status-update cadence with the real bot: the start counts as the first update, the owner is reminded
once per interval without one, an update re-arms it and shows on the board with its next due time, and across
a restart one catch-up reminder goes out (the leads mentioned, two having gone unheeded), none twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, running_bot, slash
from scenario import bot_posts, start_incident, until

from sev1bot.core.state import IncidentState
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from sev1bot.store.store import Store
from store_peek import sent_of

pytestmark = pytest.mark.e2e

ZWJ = "\u200d"
LEADS = ("@brent.fox", "@stu.doherty", "@jason.blais", "@ian.tien")  # the shipped playbook's invited roles


def board(sandbox: Sandbox, channel_id: str) -> str:
    (pinned,) = [p for p in bot_posts(sandbox, channel_id) if p.is_pinned]
    return sandbox.state.post(pinned.id).message


def reminders(sandbox: Sandbox, channel_id: str) -> list[Post]:
    return [p for p in bot_posts(sandbox, channel_id) if "No status update" in p.message and not p.root_id]


def the_incident(db_url: str) -> IncidentState:
    with Store(db_url) as store:
        (incident,) = store.active_incidents()
    return incident


async def test_the_owner_is_reminded_once_per_interval_without_an_update_also_across_a_restart(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    every = 2.0  # seconds
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h", customer_every="2s")
    env = bot_env(sandbox, db_url, playbooks, free_port())

    def slots(incident_id: str, updates: int) -> dict[int, str]:
        """Reminder slot j after ``updates`` status updates (key update:<updates>:<j>) -> its post."""
        with Store(db_url) as store:
            found = sent_of(store, incident_id).items()
        prefix = f"update:{updates}:"
        return {int(k.rsplit(":", 1)[1]): v for k, v in found if k.startswith(prefix) and v}

    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        incident = the_incident(db_url)
        await until(lambda: 1 in slots(incident.id, 0), 15, "the first reminder, counted from the start")
        (first,) = reminders(sandbox, channel_id)
        expected = "@alice :memo: **No status update for 2s** (since the incident began)"
        assert first.message.startswith(expected), first.message
        answer = await slash(humans, "alice", channel_id, "update Rolled back the deploy")
        assert answer["text"].startswith("Done"), answer

        def update_on_board() -> bool:
            text = board(sandbox, channel_id)
            return f"ago by @{ZWJ}alice (" in text and "Rolled back the deploy · next due " in text

        await until(update_on_board, 10, "the update and its next due time on the board")
        updated_at = the_incident(db_url).timeline[-1].at
        await until(lambda: len(slots(incident.id, 1)) >= 2, 15, "two reminders after the update")
    # Down: the bot is gone for more than three intervals.
    before = slots(incident.id, 1)
    last_before = max(before)
    back_at = updated_at + timedelta(seconds=every * (last_before + 3.5))
    await asyncio.sleep(max(0.0, (back_at - datetime.now(UTC)).total_seconds()))
    assert slots(incident.id, 1) == before, "nobody reminds while the bot is down"

    def caught_up() -> int | None:
        return min((j for j in slots(incident.id, 1) if j > last_before), default=None)

    async with running_bot(env):
        catch_up = await until(caught_up, 15, "the catch-up reminder")
        await until(lambda: catch_up + 1 in slots(incident.id, 1), 15, "a reminder on time after it")
    found = slots(incident.id, 1)
    assert sorted(before) == list(range(1, last_before + 1)), "once per interval, in order"
    assert catch_up >= last_before + 3, "slots passed while the bot was down"
    assert sorted(found) == [*range(1, last_before + 1), *range(catch_up, max(found) + 1)], "one catch-up"
    posted = {p.id: p for p in reminders(sandbox, channel_id)}
    with Store(db_url) as store:
        recorded = {v for k, v in sent_of(store, incident.id).items() if k.startswith("update:") and v}
    assert set(posted) == recorded, "each reminder posted is one the store recorded, none twice"
    late = posted[found[catch_up]].message
    assert late.startswith("@alice ") and all(lead in late for lead in LEADS), late
    assert "(since the last one)" in late
    assert not any(lead in posted[found[1]].message for lead in LEADS), "the leads only after two unheeded"
