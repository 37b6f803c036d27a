"""Reactions in a burst, and reactions made while the bot was away, end exactly where the posts say.

The real bot against the sandbox: people add and remove check and skip marks concurrently through their
own clients. Once the bot has read every websocket event and delivered everything, the stored items, the
item posts, the stage roots and the status board must be what the reactions on each item post call for
(core/reactions.py). A second test has people react while the bot cannot see it (a websocket gap the
server cannot replay, or the bot stopped) and checks that reconciliation converges on the same rule,
including a check mark added and removed while the bot was away.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    Humans,
    RunningBot,
    bot_env,
    fast_playbook,
    free_port,
    react,
    running_bot,
    slash,
    unreact,
)
from scenario import ITEMS, assert_checklist_once, bot_posts, item_post, start_incident, until

from sev1bot.core import render
from sev1bot.core.state import IncidentState, ItemStatus
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.ids import now_ms
from testkit import SandboxStarter

pytestmark = pytest.mark.e2e

CHECK, CHECK2, SKIP = "white_check_mark", "heavy_check_mark", "fast_forward"
PEOPLE = ("stu.doherty", "jason.blais", "brent.fox")
WS_PATH = "/api/v4/websocket"
OPEN, DONE, SKIPPED = ItemStatus.OPEN, ItemStatus.DONE, ItemStatus.SKIPPED
STAGE_ROOT = re.compile(r"^### (\d+) · ")


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    return fast_playbook(tmp_path / "playbooks", escalate_after="1h", repeat_every="1h")  # no pings


# -- waiting for the bot, and what it shows ---------------------------------------------------------------


async def settle(sandbox: Sandbox, running: RunningBot) -> IncidentState:
    """Wait until the bot has read every websocket event the server wrote to it, decided every reaction
    and delivered every effect; the incident as stored then."""
    bot = running.bot
    ws, parts = bot.ws, bot.parts
    assert ws is not None and parts is not None

    def caught_up() -> bool:
        live = [
            c
            for c in sandbox.hub.connections.values()
            if c.user_id == sandbox.bot.id and c.inactive_since is None
        ]
        return len(live) == 1 and not live[0].pending and ws.last_seq == live[0].sequence - 1

    await until(caught_up, 10, "the bot to have read every websocket event")
    await bot.idle()
    (state,) = await asyncio.to_thread(bot.store.active_incidents)
    await parts.executor.drain(state.id)
    assert await asyncio.to_thread(bot.store.outbox_incidents) == [], "everything delivered"
    return state


def assert_shown(sandbox: Sandbox, running: RunningBot, channel_id: str, state: IncidentState) -> None:
    """Every item post and stage root reads exactly as the stored state renders; the board counts match."""
    playbook = running.bot.store.load_playbook(state.id)
    calendar = running.bot.calendar
    for key in state.items:
        shown = item_post(sandbox, channel_id, key).message
        assert shown == render.item_post(state, playbook, key, calendar), key
    roots = {
        int(found.group(1)): p
        for p in bot_posts(sandbox, channel_id)
        if not p.root_id and not p.is_pinned and (found := STAGE_ROOT.match(p.message))
    }
    for stage in range(1, len(playbook.stages) + 1):
        assert roots[stage].message == render.stage_root(state, playbook, stage), stage
    board = next(p for p in bot_posts(sandbox, channel_id) if p.is_pinned).message
    finished = sum(item.status is not OPEN for item in state.items.values())
    assert f"**Progress:** {finished}/{ITEMS} items" in board, board
    for stage, items in enumerate(playbook.stages, 1):
        keys = [f"{stage}.{i}" for i in range(1, len(items.items) + 1)]
        done = sum(state.items[k].status is not OPEN for k in keys)
        assert f"| {render.stage_label(playbook, stage)} | {done}/{len(keys)}" in board, (stage, board)
    assert_checklist_once(sandbox, channel_id)


def marks_on(sandbox: Sandbox, post_id: str) -> set[tuple[str, str]]:
    names = {u.id: name for name, u in sandbox.users.items()}
    return {(names[r.user_id], r.emoji_name) for r in sandbox.state.reactions_for(post_id)}


# -- 1. a burst of reactions from three people at once ------------------------------------------------------

Op = tuple[str, str]  # ("add" | "remove", emoji)


@dataclass(frozen=True)
class Plan:
    """What each person does on one item post, in order; what the post then carries; the outcome."""

    scripts: dict[str, list[Op]]
    marks: set[tuple[str, str]]
    status: ItemStatus
    by: frozenset[str]  # who may have done it: one person where the order of events cannot matter


def plan(n: int) -> Plan:
    x, y, z = (PEOPLE[(n + k) % 3] for k in range(3))
    add_remove = [("add", CHECK), ("remove", CHECK)]
    match n % 5:
        case 0:  # a check and a skip: the check wins, whoever came first
            return Plan(
                {x: [("add", CHECK)], y: [("add", SKIP)]}, {(x, CHECK), (y, SKIP)}, DONE, frozenset({x})
            )
        case 1:  # two checks come and go; the skip left decides, by the only skipper
            scripts = {x: add_remove, y: add_remove, z: [("add", SKIP)]}
            return Plan(scripts, {(z, SKIP)}, SKIPPED, frozenset({z}))
        case 2:  # two checks come and go: open again
            return Plan({x: add_remove, y: add_remove}, set(), OPEN, frozenset())
        case 3:  # one person swaps check marks; a skip comes and goes: still done, by the only checker
            scripts = {
                x: [("add", CHECK), ("add", CHECK2), ("remove", CHECK)],
                y: [("add", SKIP), ("remove", SKIP)],
            }
            return Plan(scripts, {(x, CHECK2)}, DONE, frozenset({x}))
        case _:  # everybody checks at once: done by whoever's check the bot saw first
            scripts = {x: [("add", CHECK)], y: [("add", CHECK2)], z: [("add", SKIP), ("remove", SKIP)]}
            return Plan(scripts, {(x, CHECK), (y, CHECK2)}, DONE, frozenset({x, y}))


BURST_KEYS = [f"{stage}.{i}" for stage in (2, 3, 4) for i in range(1, 6)]  # 15 items


async def test_a_burst_of_concurrent_reactions_ends_as_the_posts_say(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    plans = {key: plan(n) for n, key in enumerate(BURST_KEYS)}
    posts = {key: item_post(sandbox, channel_id, key).id for key in BURST_KEYS}
    for person in PEOPLE:
        await humans(person)  # log in first: the burst is reactions only

    async def act(person: str, key: str, script: list[Op]) -> None:
        for action, emoji in script:
            await (react if action == "add" else unreact)(humans, person, posts[key], emoji)

    await asyncio.gather(
        *(act(person, key, script) for key, p in plans.items() for person, script in p.scripts.items())
    )
    for key, p in plans.items():
        assert marks_on(sandbox, posts[key]) == p.marks, key  # the server has what the plan says

    state = await settle(sandbox, bot)
    for key, p in plans.items():
        item = state.items[key]
        assert item.status is p.status, (key, item, p)
        if p.status is OPEN:
            assert (item.by, item.via) == (None, None), (key, item)
        else:
            assert item.via == "reaction" and item.by in p.by, (key, item, p)
    untouched = set(state.items) - set(BURST_KEYS)
    assert all(state.items[k].status is OPEN for k in untouched)
    assert_shown(sandbox, bot, channel_id, state)
    expected = [DONE] * 9 + [SKIPPED] * 3 + [OPEN] * 3
    assert sorted(item.status for item in state.items.values() if item.key in plans) == sorted(expected)


# -- 2. reactions the bot missed -----------------------------------------------------------------------


async def check(humans: Humans, channel_id: str, key: str) -> None:
    answer = await slash(humans, "alice", channel_id, f"check {key}")
    assert answer["text"].startswith("Done"), answer


async def react_while_away(sandbox: Sandbox, humans: Humans, channel_id: str) -> None:
    """What people do while the bot cannot see it; per post in order, posts side by side."""

    def post(key: str) -> str:
        return item_post(sandbox, channel_id, key).id

    async def on(key: str, *steps: tuple[str, str, str]) -> None:
        for action, person, emoji in steps:
            await (react if action == "add" else unreact)(humans, person, post(key), emoji)

    await asyncio.gather(
        on("1.1", ("add", "brent.fox", SKIP)),  # checked by command: a skip does not undo that
        on("1.2", ("add", "stu.doherty", CHECK), ("remove", "stu.doherty", CHECK)),  # command: stays
        on("2.1", ("remove", "stu.doherty", CHECK)),  # checked by reaction: reopened
        on("2.2", ("remove", "jason.blais", CHECK), ("add", "brent.fox", SKIP)),  # now skipped
        on("2.3", ("remove", "brent.fox", SKIP)),  # skipped by reaction: reopened
        on("3.1", ("add", "stu.doherty", CHECK), ("remove", "stu.doherty", CHECK)),  # never seen: open
        on("3.2", ("add", "stu.doherty", CHECK)),
        on("3.3", ("add", "jason.blais", SKIP)),
        on("3.4", ("add", "brent.fox", SKIP), ("add", "jason.blais", CHECK)),  # check beats skip
    )
    # Two checks: done by whoever reacted first (create_at in ms, so apart by more than a millisecond).
    await react(humans, "brent.fox", post("3.5"), CHECK)
    first = max(r.create_at for r in sandbox.state.reactions_for(post("3.5")))
    await until(lambda: now_ms() > first, 5, "the server's clock to pass the first check")
    await react(humans, "stu.doherty", post("3.5"), CHECK2)


AWAY = {  # key -> (status, by, via) after reconciliation
    "1.1": (DONE, "alice", "command"),
    "1.2": (DONE, "alice", "command"),
    "2.1": (OPEN, None, None),
    "2.2": (SKIPPED, "brent.fox", "reaction"),
    "2.3": (OPEN, None, None),
    "3.1": (OPEN, None, None),
    "3.2": (DONE, "stu.doherty", "reaction"),
    "3.3": (SKIPPED, "jason.blais", "reaction"),
    "3.4": (DONE, "jason.blais", "reaction"),
    "3.5": (DONE, "brent.fox", "reaction"),
}


def outcome(state: IncidentState, key: str) -> tuple[ItemStatus, str | None, str | None]:
    item = state.items[key]
    return item.status, item.by, item.via


@pytest.mark.parametrize("away", ["websocket-gap", "bot-stopped"])
async def test_reactions_missed_while_away_are_reconciled(
    start_sandbox: SandboxStarter, tmp_path: Path, playbook_dir: Path, away: str
) -> None:
    # a server that forgets a dropped connection after 0.2 s (no resume)
    async with start_sandbox(inactive_connection_ttl=0.2) as sandbox:
        humans = Humans(sandbox)
        try:
            env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbook_dir, free_port())
            async with running_bot(env) as first:
                channel_id = await start_incident(sandbox, humans)
                await check(humans, channel_id, "1.1")
                await check(humans, channel_id, "1.2")
                await react(humans, "stu.doherty", item_post(sandbox, channel_id, "2.1").id, CHECK)
                await react(humans, "jason.blais", item_post(sandbox, channel_id, "2.2").id, CHECK)
                await react(humans, "brent.fox", item_post(sandbox, channel_id, "2.3").id, SKIP)
                before = await settle(sandbox, first)
                assert outcome(before, "2.1") == (DONE, "stu.doherty", "reaction")
                assert outcome(before, "2.2") == (DONE, "jason.blais", "reaction")
                assert outcome(before, "2.3") == (SKIPPED, "brent.fox", "reaction")
                if away == "websocket-gap":
                    ws = first.bot.ws
                    assert ws is not None
                    gaps = ws.counters.gaps
                    sandbox.faults.delay("GET", WS_PATH, 1.5)  # hold the reconnect until the id is forgotten
                    assert sandbox.drop_websockets() == 1
                    dropped = time.monotonic()
                    await react_while_away(sandbox, humans, channel_id)
                    assert not ws.connected.is_set(), "the reactions were made while the bot was disconnected"
                    await asyncio.sleep(max(0.0, dropped + 0.4 - time.monotonic()))  # past the 0.2 s TTL
                    sandbox.faults.clear()
                    state = await converged(sandbox, first)
                    assert ws.counters.gaps > gaps, "not replayed: the server had forgotten the connection"
                    await after_reconciliation(sandbox, humans, first, channel_id, before, state)
            if away == "bot-stopped":
                await react_while_away(sandbox, humans, channel_id)
                env["SEV1BOT_LISTEN"] = f"127.0.0.1:{free_port()}"
                async with running_bot(env) as second:
                    state = await converged(sandbox, second)
                    await after_reconciliation(sandbox, humans, second, channel_id, before, state)
        finally:
            await humans.close()


async def converged(sandbox: Sandbox, running: RunningBot) -> IncidentState:
    """Reconciliation decides an incident's posts in one transaction: once one missed reaction shows, all
    of them have been decided."""

    def reconciled() -> bool:
        (state,) = running.bot.store.active_incidents()
        return state.items["3.2"].status is DONE

    await until(reconciled, 10, "the missed check of 3.2 to be applied")
    return await settle(sandbox, running)


async def after_reconciliation(
    sandbox: Sandbox,
    humans: Humans,
    running: RunningBot,
    channel_id: str,
    before: IncidentState,
    state: IncidentState,
) -> None:
    assert {key: outcome(state, key) for key in AWAY} == AWAY
    assert all(state.items[k].status is OPEN for k in set(state.items) - set(AWAY))
    new = state.timeline[len(before.timeline) :]
    assert state.timeline[: len(before.timeline)] == before.timeline
    reopened = [e for e in new if e.kind == "unchecked"]
    assert sorted(e.text.split()[1] for e in reopened) == ["2.1", "2.3"], new
    assert {e.actor for e in reopened} == {"sev1bot"}, "nobody was watching: the bot reopened them"
    assert not [e for e in new if " 3.1 " in e.text or " 1.2 " in e.text], "3.1 and 1.2 never changed"
    assert_shown(sandbox, running, channel_id, state)

    # The reactions reconciliation read are tracked: live events on top of them decide right.
    await unreact(humans, "brent.fox", item_post(sandbox, channel_id, "3.5").id, CHECK)  # stu's is left
    await unreact(humans, "stu.doherty", item_post(sandbox, channel_id, "3.2").id, CHECK)  # none left
    await react(humans, "jason.blais", item_post(sandbox, channel_id, "3.1").id, SKIP)
    after = await settle(sandbox, running)
    assert outcome(after, "3.5") == (DONE, "brent.fox", "reaction")
    assert outcome(after, "3.2") == (OPEN, None, None)
    assert outcome(after, "3.1") == (SKIPPED, "jason.blais", "reaction")
    assert outcome(after, "1.1") == (DONE, "alice", "command")
    changes = [(e.kind, e.actor, e.text.split()[1]) for e in after.timeline[len(state.timeline) :]]
    assert sorted(changes) == [("skipped", "jason.blais", "3.1"), ("unchecked", "stu.doherty", "3.2")]
    assert_shown(sandbox, running, channel_id, after)
