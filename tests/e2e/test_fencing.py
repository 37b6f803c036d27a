"""Fencing: a leader deposed without noticing it yet must not act (issue 12, item 10).

The case fencing exists for: two ``sev1bot run`` replicas on PostgreSQL; the leader is paused (SIGSTOP) in
the middle of posting a checklist, past the end of its lease; the other replica takes over and finishes the
checklist; then the old leader runs again, with the rest of its batch in hand. It must step down without
delivering any of it: it checks that it still holds its lease before each effect (in memory, so the normal
path costs nothing), and the store hands out outbox batches only against the current fence.

Both replicas use the same bot account, so the sandbox cannot tell them apart: the old leader reaches it
through a proxy (``mmproxy.TamperingProxy``, clean) that lists its requests. The sandbox answers each post
0.4 s late (after creating it), so that the pass is long enough to pause half way.

A deposed leader's own clock may not tell it either (a replica whose clock runs ahead takes the lease
early, or a frozen VM whose monotonic clock stopped too): before acting on a timer the leader asks the
database whether its fence is still the newest.

What the pause can still cost: the posts the old leader had sent when it stopped (created, answer not yet
read). The new leader posts them again with the same ``pending_post_id``, which the server answers with the
post it already made: the checklist shows each item once (see docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Humans, bot_env, eventually, fast_playbook, free_port, running_bot, slash
from mmproxy import TamperingProxy
from procs import BotProcess, _get_json
from scenario import (
    ITEMS,
    assert_checklist_in_order,
    assert_checklist_once,
    incident_channel,
    item_posts,
    pings,
    start_incident,
)

from sev1bot.core.escalation import ESCALATION
from sev1bot.core.times import utcnow
from sev1bot.sandbox.app import Sandbox
from sev1bot.service.leader import LEASE
from sev1bot.store.store import Store

pytestmark = pytest.mark.e2e

POST_ANSWER_DELAY = 0.4  # seconds: how late the sandbox answers each new post
PAUSE_AFTER_ITEMS = 8  # the leader is stopped once this many of the 40 item posts are made
DELIVERIES = ("POST", "PUT", "PATCH", "DELETE")


async def readyz(bot: BotProcess) -> dict[str, Any] | None:
    return await asyncio.to_thread(_get_json, f"{bot.url}/readyz")


def outbox_empty(db_url: str) -> bool:
    with Store(db_url) as store:
        return not store.outbox_incidents()


async def test_a_leader_paused_past_its_lease_mid_delivery_steps_down_without_delivering(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, pg_url: str
) -> None:
    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h")  # no pings during the test
    async with TamperingProxy.running(sandbox.url) as proxy:
        port_a, port_b = free_port(), free_port()
        env_a = {**bot_env(sandbox, pg_url, playbooks, port_a), "MATTERMOST_URL": proxy.url}
        env_b = {
            **bot_env(sandbox, pg_url, playbooks, port_b),
            "SEV1BOT_PUBLIC_URL": env_a["SEV1BOT_PUBLIC_URL"],  # as behind a load balancer: see test_ha.py
        }
        a = BotProcess("replica-a", env_a, tmp_path / "a.log")
        b = BotProcess("replica-b", env_b, tmp_path / "b.log")
        a.start()
        try:
            await a.wait_healthy(30, role="leader")
            b.start()
            await b.wait_healthy(30, role="follower")

            sandbox.faults.delay("POST", "/api/v4/posts", POST_ANSWER_DELAY, after=True)
            answer = await slash(
                humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" outage'
            )
            assert "Started" in answer["text"], answer

            def items_posted() -> int:
                channel = incident_channel(sandbox)
                return 0 if channel is None else len(item_posts(sandbox, channel.id))

            await eventually(lambda: items_posted() >= PAUSE_AFTER_ITEMS, 30, "the leader to post some items")
            a.pause()
            paused, paused_at = time.monotonic(), items_posted()
            assert paused_at < ITEMS, "the leader had posted the whole checklist before the pause"
            sandbox.faults.clear()

            async def b_leads() -> bool:
                body = await readyz(b)
                return body is not None and body.get("role") == "leader" and body.get("status") == "ok"

            await eventually(b_leads, 40, "replica B to take over (/readyz: ready, leader)")
            took_over = time.monotonic() - paused
            await eventually(lambda: items_posted() == ITEMS, 30, "the new leader to finish the checklist")
            await eventually(lambda: asyncio.to_thread(outbox_empty, pg_url), 30, "an empty outbox")

            mark = len(proxy.requests)
            a.resume()

            def deliveries_since_resume() -> list[tuple[str, str]]:
                return [(m, path) for m, path in proxy.requests[mark:] if m in DELIVERIES]

            def old_leader_done() -> bool:
                out = a.output()
                stopped = (
                    "stopped delivering the effects of incident" in out and "no longer the leader" in out
                )
                return stopped or bool(deliveries_since_resume())

            await eventually(old_leader_done, 30, "the old leader to stop its pass and step down")
            assert not deliveries_since_resume(), (
                f"the deposed leader delivered after it woke up: {deliveries_since_resume()}"
            )

            async def a_follows() -> bool:
                health = await a.health()
                return health is not None and health.get("role") == "follower"

            await eventually(a_follows, 15, "the old leader to report itself a follower")

            channel = incident_channel(sandbox)
            assert channel is not None
            assert_checklist_once(sandbox, channel.id)
            assert_checklist_in_order(sandbox, channel.id)
            print(f"leader paused after {paused_at} of {ITEMS} item posts; takeover after {took_over:.1f}s")
        finally:
            await b.stop()
            await a.stop()


async def test_a_leader_deposed_without_noticing_does_not_act_on_a_timer(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    ahead = [timedelta(0)]  # how far the bot's clock is moved on

    def clock() -> datetime:
        return utcnow() + ahead[0]

    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h")
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbooks, free_port())
    async with running_bot(env, clock=clock) as running:
        channel_id = await start_incident(sandbox, humans)
        bot, parts = running.bot, running.bot.parts
        assert parts is not None
        (incident,) = bot.store.active_incidents()
        ahead[0] = timedelta(hours=1, minutes=1)  # the first escalation is due, for the bot
        # Another replica, whose clock runs an hour ahead of this one, takes the lease. Nothing below
        # awaits anything that yields (SQLite runs inline), so the bot cannot notice in between.
        with Store(bot.store.url) as other:
            fence = other.acquire_lease(LEASE, "other", timedelta(seconds=6), clock() + timedelta(hours=1))
        assert fence is not None and bot.leadership.is_leader, "it has not noticed"
        await parts.duties.on_timer(incident.id, ESCALATION)

        state = bot.store.load(incident.id)
        assert state is not None
        assert state.escalations_sent == 0, "the deposed leader acted on the timer"
        assert not any(entry.kind == "escalated" for entry in state.timeline)
        assert not pings(sandbox, channel_id)
