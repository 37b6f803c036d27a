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
from functools import partial
from pathlib import Path

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, react, slash
from procs import BotProcess
from scenario import (
    assert_checklist_once,
    assert_ping_schedule,
    catch_up_slot,
    checklist_posted,
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
        recovery = time.monotonic() - back
        # The first ping back is the catch-up; then watch two regular slots and stop half way to the next.
        catch_up = await catch_up_slot(db_url, incident.id)
        end = slot(started, catch_up + 2) + timedelta(seconds=REPEAT / 2)
        await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
        first = min(p.create_at for p in pings(sandbox, channel_id))
        assert first < ms(killed), "the first ping went before the kill"
        assert catch_up >= 3, "slots 1 to 3 passed while the bot was down"
        assert_ping_schedule(
            sandbox, channel_id, db_url, incident.id, partial(slot, started), catch_up, catch_up + 2
        )

        with Store(db_url) as store:
            after = store.load(incident.id)
        assert after is not None
        assert after.owner == "jason.blais"
        assert after.items["1.1"].status is ItemStatus.DONE and after.items["1.1"].by == "alice"
        assert after.items["1.2"].status is ItemStatus.DONE and after.items["1.2"].by == "stu.doherty"
        assert after.items["1.3"].status is ItemStatus.DONE and after.items["1.3"].by == "brent.fox"
        assert after.timeline[: len(before.timeline)] == before.timeline, "the timeline is intact"
        assert after.escalations_sent == catch_up + 3
        assert is_checked(sandbox, channel_id, "1.3", "brent.fox"), "the reaction made while down is shown"

        shape = assert_checklist_once(sandbox, channel_id)
        assert sum("DBA joined" in m for m in shape.other) == 1, "the update is posted exactly once"
        print(f"restart to leading again: {recovery:.1f}s")
    finally:
        await bot.stop()
