"""Two ``sev1bot run`` replicas on one PostgreSQL database; the leader is killed with SIGKILL mid-incident.

Only the leader listens on the websocket, fires timers and delivers the outbox; either replica accepts slash
commands. The sandbox can call one command URL, so both replicas advertise replica A's address (as they
would advertise a load balancer's): the server calls A, and the test also POSTs the server's form straight
to B with the command token, as the load balancer would route some requests there.

Takeover bound: the lease lasts 6 s (``Bot`` default) and is renewed every 1.5 s; a dead leader's lease
runs out at most 6 s after the kill, the follower tries every 1.5 s, then connects its websocket and
reconciles: under 10 s in all (TAKEOVER_BOUND), measured at about 7 s.
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
    command_form,
    command_token,
    is_checked,
    item_post,
    pings,
    post_command,
    until,
)

from sev1bot.core.state import ItemStatus
from sev1bot.sandbox.app import Sandbox
from sev1bot.store.store import Store

pytestmark = pytest.mark.e2e

AFTER, REPEAT = 3.0, 3.0
TAKEOVER_BOUND = 10.0


def slot(started: datetime, k: int) -> datetime:
    return started + timedelta(seconds=AFTER + k * REPEAT)


def live_bot_sockets(sandbox: Sandbox) -> int:
    """Websocket connections of the bot account that are currently open on the server."""
    bot = sandbox.bot.id
    return sum(1 for c in sandbox.hub.connections.values() if c.user_id == bot and c.inactive_since is None)


async def test_the_follower_takes_over_when_the_leader_is_killed(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, pg_url: str
) -> None:
    playbooks = fast_playbook(tmp_path / "playbooks", f"{AFTER:g}s", f"{REPEAT:g}s")
    port_a, port_b = free_port(), free_port()
    env_a = bot_env(sandbox, pg_url, playbooks, port_a)
    env_b = {**bot_env(sandbox, pg_url, playbooks, port_b), "SEV1BOT_PUBLIC_URL": env_a["SEV1BOT_PUBLIC_URL"]}
    a = BotProcess("replica-a", env_a, tmp_path / "a.log")
    b = BotProcess("replica-b", env_b, tmp_path / "b.log")
    a.start()
    try:
        await a.wait_healthy(30, role="leader")
        b.start()
        follower = await b.wait_healthy(30, role="follower")
        assert follower["websocket"] == "off", "a follower does not listen"
        assert live_bot_sockets(sandbox) == 1
        token = command_token(sandbox)

        async def via_b(user: str, channel_id: str, text: str) -> str:
            status, body = await post_command(b.url, command_form(sandbox, user, channel_id, text, token))
            assert status == 200, body
            return str(body["text"])

        answer = await slash(humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" outage')
        assert "Started" in answer["text"], answer
        channel_id = await checklist_posted(sandbox)
        with Store(pg_url) as store:
            (incident,) = store.active_incidents()
        started = incident.started_at

        assert (await slash(humans, "alice", channel_id, "check 1.1"))["text"].startswith("Done")  # on A
        assert (await via_b("alice", channel_id, "check 1.2")).startswith("Done")  # on B, delivered by A
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.3").id, "white_check_mark")
        await until(
            lambda: all(is_checked(sandbox, channel_id, k) for k in ("1.1", "1.2", "1.3")), 10, "checks"
        )
        await until(lambda: len(pings(sandbox, channel_id)) == 1, 10, "the first ping")

        # Mid-slot, well clear of the next ping: kill the leader.
        kill_at = started + timedelta(seconds=AFTER + REPEAT / 2)
        await asyncio.sleep(max(0.0, (kill_at - datetime.now(UTC)).total_seconds()))
        a.kill()
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        # While nobody leads: B accepts commands, and a reaction goes unheard.
        assert (await via_b("jason.blais", channel_id, "check 2.1")).startswith("Done")
        assert (await via_b("alice", channel_id, "update failing over")).startswith("Done")
        await react(humans, "brent.fox", item_post(sandbox, channel_id, "2.2").id, "white_check_mark")

        await b.wait_healthy(TAKEOVER_BOUND + 5, role="leader")
        took_over = time.monotonic() - killed
        print(f"takeover after SIGKILL of the leader: {took_over:.1f}s")
        assert took_over < TAKEOVER_BOUND
        assert live_bot_sockets(sandbox) == 1
        await until(
            lambda: all(is_checked(sandbox, channel_id, k) for k in ("2.1", "2.2")),
            10,
            "the checks made meanwhile",
        )

        # The first ping back is the catch-up (slots passed while nobody led); then two regular slots.
        catch_up = await catch_up_slot(pg_url, incident.id)
        end = slot(started, catch_up + 2) + timedelta(seconds=REPEAT / 2)
        await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
        assert (await via_b("alice", channel_id, "check 2.3")).startswith("Done")
        await until(lambda: is_checked(sandbox, channel_id, "2.3"), 10, "a check after the takeover")

        with Store(pg_url) as store:
            state = store.load(incident.id)
        assert state is not None
        history = "\n".join(f"{e.at:%H:%M:%S.%f} {e.actor}: {e.text}" for e in state.timeline)
        for key, by in [("1.1", "alice"), ("1.2", "alice"), ("1.3", "stu.doherty"), ("2.1", "jason.blais")]:
            assert state.items[key].status is ItemStatus.DONE and state.items[key].by == by, (key, history)
        assert state.items["2.2"].by == "brent.fox" and state.items["2.3"].status is ItemStatus.DONE

        first = min(p.create_at for p in pings(sandbox, channel_id))
        assert first < killed_at.timestamp() * 1000, "the first ping went before the kill"
        assert catch_up >= 1 and state.escalations_sent == catch_up + 3
        assert_ping_schedule(
            sandbox, channel_id, pg_url, incident.id, partial(slot, started), catch_up, catch_up + 2
        )
        shape = assert_checklist_once(sandbox, channel_id)
        assert sum("failing over" in m for m in shape.other) == 1
    finally:
        await b.stop()
        await a.stop()
