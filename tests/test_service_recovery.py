"""Exactly once, whatever the gap: the executor against the sandbox (real sockets) and a real store.

A create that may be on the server without the store knowing (made before this process's term as leader
began, or tried by this process without an answer) is looked up in its channel, by the delivery key every
post carries in its props, and adopted instead of sent again; the server's ``pending_post_id`` memory is
expired first, as it is 30 s later. Anything else goes straight out, with no lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import store_peek as peek
from sev1bot.core import effects as fx
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.times import utcnow
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.rest import DELIVERY_PROP, MattermostAPI
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from sev1bot.service.executor import Executor
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.recovery import delivery_key
from sev1bot.service.timers import Timers
from sev1bot.store import Store
from sev1bot.store.leases import Fence
from store_samples import incident, playbook

BOARD, STAGE, ITEM = fx.StatusBoard(), fx.StageRoot(1), fx.ItemPost("1.1")
LISTS = "/api/v4/channels/*/posts"


@dataclass
class Bot:
    api: MattermostAPI
    executor: Executor
    channel_id: str


async def bot_on(sandbox: Sandbox, store: Store, **api_options: Any) -> AsyncIterator[Bot]:
    async with MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"], **api_options) as api:
        team = Team(api, sandbox.team.id, sandbox.team.name, sandbox.bot.id)
        token = store.acquire_lease("leader", "this replica", timedelta(hours=1), datetime.now(UTC))
        assert token is not None
        fence = Fence("leader", token)
        channels = IncidentChannel(
            api=api, store=store, team=team, calendar=BusinessCalendar(), clock=utcnow, site_url=sandbox.url
        )
        users = UserDirectory(api)
        executor = Executor(
            api, store, Timers(), team, users, channels, threads_collapsed=True, leading=lambda: fence
        )
        channel = await api.create_channel(sandbox.team.id, "sev1-acme-1", "Sev 1 Acme")
        yield Bot(api, executor, channel.id)


@pytest.fixture
async def bot(sandbox: Sandbox, store: Store) -> AsyncIterator[Bot]:
    async for made in bot_on(sandbox, store, backoff=0.01):
        yield made


def bot_posts(sandbox: Sandbox, channel_id: str) -> list[Post]:
    return [p for p in sandbox.posts_in(channel_id) if p.user_id == sandbox.bot.id and not p.type]


def dms(sandbox: Sandbox, username: str) -> list[Post]:
    user_id = sandbox.users[username].id
    return [
        p
        for c in sandbox.state.channels.values()
        if c.type == "D" and user_id in c.name
        for p in sandbox.posts_in(c.id)
        if p.user_id == sandbox.bot.id
    ]


async def test_creates_older_than_the_term_are_adopted_when_the_server_has_them(
    sandbox: Sandbox, store: Store, bot: Bot
) -> None:
    effects = (
        fx.Post("board", ref=BOARD, pin=True),
        fx.Post("stage 1", ref=STAGE),
        fx.Post("item 1.1", ref=ITEM, thread=STAGE),
        fx.Post("an update"),
        fx.DirectMessage("ian.tien", "the incident is open", dedupe_key="escalation:0"),
        fx.Post("another update"),
    )
    store.create_incident(incident(), playbook(), effects)
    store.set_channel_id("inc-1", bot.channel_id)
    entries = store.outbox_batch("inc-1").entries
    # A process that died got the first five to the server and wrote none of it down (nor pinned the board).
    made: dict[str, str] = {}
    for entry in entries[:5]:
        effect, key = entry.effect, delivery_key(entry)
        sent_as: dict[str, Any] = {
            "delivery_key": key,
            "pending_post_id": f"{sandbox.bot.id}:{key}",
        }  # as delivery sends it
        if isinstance(effect, fx.DirectMessage):
            dm = await bot.api.direct_channel(sandbox.bot.id, sandbox.users["ian.tien"].id)
            made[effect.message] = (await bot.api.create_post(dm.id, effect.message, **sent_as)).id
            continue
        assert isinstance(effect, fx.Post)
        root = made["stage 1"] if effect.thread == STAGE else ""
        made[effect.message] = (await bot.api.create_post(bot.channel_id, effect.message, root, **sent_as)).id
    assert sandbox.expire_pending_posts() == 5  # and it restarts more than 30 s later

    bot.executor.forget()  # this process leads from now: every row is older than its term
    lists = sandbox.count_requests("GET", LISTS)
    await bot.executor.drain("inc-1")

    posted = bot_posts(sandbox, bot.channel_id)
    assert sorted(p.message for p in posted) == sorted(
        ["board", "stage 1", "item 1.1", "an update", "another update"]
    ), "each exactly once"
    assert {p.message: p.id for p in posted if p.message != "another update"} == {
        m: made[m] for m in ("board", "stage 1", "item 1.1", "an update")
    }
    assert sandbox.state.posts[made["board"]].is_pinned, "the adopted board is pinned, as it would have been"
    assert peek.active_posts(store, "inc-1") == {
        BOARD: made["board"],
        STAGE: made["stage 1"],
        ITEM: made["item 1.1"],
    }
    assert [p.id for p in dms(sandbox, "ian.tien")] == [made["the incident is open"]]
    assert peek.sent_of(store, "inc-1")["escalation:0"] == made["the incident is open"]
    assert store.outbox_batch("inc-1").entries == []
    # One read of the incident channel and one of the DM channel, for the whole pass.
    assert sandbox.count_requests("GET", LISTS) - lists == 2
    (sent,) = [p for p in posted if p.message == "another update"]
    assert sent.props[DELIVERY_PROP] == delivery_key(entries[5])


async def test_a_create_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(
    sandbox: Sandbox, store: Store
) -> None:
    async for bot in bot_on(sandbox, store, retries=0, request_timeout=0.3):
        bot.executor.forget()  # leading since before the rows were made: only the failure makes them suspect
        effects = (fx.DirectMessage("ian.tien", "still open", dedupe_key="escalation:1"), fx.Post("update"))
        store.create_incident(incident(), playbook(), effects)
        store.set_channel_id("inc-1", bot.channel_id)
        sandbox.faults.delay("POST", "/api/v4/posts", 1.0, after=True)  # made, but answered too late
        with pytest.raises(MattermostError):
            await bot.executor.drain("inc-1")
        assert [p.message for p in dms(sandbox, "ian.tien")] == ["still open"]
        sandbox.faults.clear()
        sandbox.expire_pending_posts()  # the next try comes more than 30 s later
        lists = sandbox.count_requests("GET", LISTS)

        await bot.executor.drain("inc-1")
        (dm,) = dms(sandbox, "ian.tien")
        assert peek.sent_of(store, "inc-1")["escalation:1"] == dm.id
        assert [p.message for p in bot_posts(sandbox, bot.channel_id)] == ["update"]
        assert sandbox.count_requests("GET", LISTS) - lists == 1, "only the DM channel, once"


async def test_the_normal_path_asks_the_server_nothing_more(sandbox: Sandbox, store: Store, bot: Bot) -> None:
    bot.executor.forget()
    effects = (
        fx.Post("board", ref=BOARD, pin=True),
        fx.Post("stage 1", ref=STAGE),
        fx.Post("item 1.1", ref=ITEM, thread=STAGE),
        fx.EditPost(BOARD, "board v2"),
        fx.DirectMessage("ian.tien", "open", dedupe_key="escalation:0"),
    )
    store.create_incident(incident(), playbook(), effects)
    store.set_channel_id("inc-1", bot.channel_id)
    keys = [delivery_key(entry) for entry in store.outbox_batch("inc-1").entries]
    await bot.executor.drain("inc-1")
    assert sandbox.count_requests("GET", LISTS) == 0
    posted = bot_posts(sandbox, bot.channel_id)
    assert [(p.message, p.props[DELIVERY_PROP]) for p in posted] == [
        ("board v2", keys[0]),  # edited, key kept
        ("stage 1", keys[1]),
        ("item 1.1", keys[2]),
    ]
    assert [p.props[DELIVERY_PROP] for p in dms(sandbox, "ian.tien")] == [keys[4]]
