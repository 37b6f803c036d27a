"""The bot is killed with SIGKILL mid-incident and started again on the same database (fault 3).

``sev1bot run`` is a real subprocess here; the sandbox is in the test process. Nothing of the first process
survives but the SQLite file: the checklist, owner and timeline must be intact, escalation pings continue on
their schedule with exactly one catch-up ping for the slots missed while it was down, a reaction made while
it was down is applied, and nothing is posted twice.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, react, slash
from procs import BotProcess
from scenario import (
    assert_checklist_once,
    checklist_posted,
    dms_to,
    is_checked,
    item_post,
    pings,
    until,
)

from sev1bot.core.state import ItemStatus
from sev1bot.sandbox.app import Sandbox
from sev1bot.store.store import Store

pytestmark = pytest.mark.e2e

AFTER, REPEAT = 3.0, 2.0  # escalation: first ping 3 s after the start, then every 2 s


def slot(started: datetime, k: int) -> datetime:
    return started + timedelta(seconds=AFTER + k * REPEAT)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def test_sigkill_mid_incident_then_restart_on_the_same_database(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    playbooks = fast_playbook(tmp_path / "playbooks", f"{AFTER:g}s", f"{REPEAT:g}s")
    db_url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
    bot = BotProcess("bot", bot_env(sandbox, db_url, playbooks, free_port()), tmp_path / "bot.log")
    bot.start()
    try:
        await bot.wait_healthy(role="leader")
        town = sandbox.channel("town-square")
        answer = await slash(humans, "alice", town.id, 'start "Acme Corp" checkout is down')
        assert "Started Sev 1 incident" in answer["text"], answer
        channel_id = await checklist_posted(sandbox)
        with Store(db_url) as store:
            (incident,) = store.active_incidents()
        started = incident.started_at

        assert (await slash(humans, "alice", channel_id, "check 1.1"))["text"].startswith("Done")
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.2").id, "white_check_mark")
        await until(lambda: is_checked(sandbox, channel_id, "1.2", "stu.doherty"), 10, "1.2 done")
        assert (await slash(humans, "alice", channel_id, "owner @jason.blais"))["text"].startswith("Done")
        await until(lambda: len(pings(sandbox, channel_id)) == 1, 10, "the first ping")
        # Killed right after a command was accepted: its post may still be in the outbox.
        assert (await slash(humans, "jason.blais", channel_id, "update DBA joined"))["text"].startswith(
            "Done"
        )
        bot.kill()
        killed = datetime.now(UTC)
        with Store(db_url) as store:
            before = store.load(incident.id)
        assert before is not None

        # While it is down: a reaction, and escalation slots pass with nobody to ping.
        await react(humans, "brent.fox", item_post(sandbox, channel_id, "1.3").id, "white_check_mark")
        down_until = slot(started, 3) + timedelta(seconds=0.3)
        await asyncio.sleep(max(0.0, (down_until - datetime.now(UTC)).total_seconds()))
        assert len(pings(sandbox, channel_id)) == 1, "nobody pings while the bot is down"

        bot.start()
        back = time.monotonic()
        await bot.wait_healthy(within=30, role="leader")
        elected = datetime.now(UTC)
        recovery = time.monotonic() - back
        await until(lambda: len(pings(sandbox, channel_id)) == 2, 10, "the catch-up ping")
        # Watch two more regular slots, and stop half way to the next one.
        k_next = int((elected - started).total_seconds() - AFTER) // int(REPEAT) + 1
        end = slot(started, k_next + 1) + timedelta(seconds=REPEAT / 2)
        await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))

        posted = pings(sandbox, channel_id)
        at = [p.create_at for p in posted]
        assert at[0] < ms(killed), "the first ping went before the kill"
        assert ms(killed) <= at[1] <= ms(elected) + 2000, "one catch-up ping as soon as it is back"
        # After the catch-up, one ping per slot, on schedule; nothing for the slots missed while down.
        regular = [ms(slot(started, k)) for k in (k_next, k_next + 1)]
        assert len(at) == 4, [datetime.fromtimestamp(a / 1000, UTC).isoformat() for a in at]
        for sent, due in zip(at[2:], regular, strict=True):
            assert due - 100 <= sent <= due + 1500, (sent - due, "ms late")
        assert len(dms_to(sandbox, "ian.tien")) == 4, "one DM to the CEO per ping"

        with Store(db_url) as store:
            after = store.load(incident.id)
        assert after is not None
        assert after.owner == "jason.blais"
        assert after.items["1.1"].status is ItemStatus.DONE and after.items["1.1"].by == "alice"
        assert after.items["1.2"].status is ItemStatus.DONE and after.items["1.2"].by == "stu.doherty"
        assert after.items["1.3"].status is ItemStatus.DONE and after.items["1.3"].by == "brent.fox"
        assert after.timeline[: len(before.timeline)] == before.timeline, "the timeline is intact"
        assert after.escalations_sent == k_next + 2
        assert is_checked(sandbox, channel_id, "1.3", "brent.fox"), "the reaction made while down is shown"

        shape = assert_checklist_once(sandbox, channel_id)
        assert sum("DBA joined" in m for m in shape.other) == 1, "the update is posted exactly once"
        print(f"restart to leading again: {recovery:.1f}s")
    finally:
        await bot.stop()
