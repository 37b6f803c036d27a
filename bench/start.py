"""Scenarios 1 and 6: how long ``/sev1 start`` takes to put the whole checklist up, against its floor.

The clock runs from the moment a person sends the slash command until their websocket shows the last
checklist post (status board, one root per stage, one reply per item: 49 posts for the shipped playbook).
The floor is the same posts, created by a bare client that makes only the calls the result needs (create
the channel, add the members in one call, each post, the pin) one after the other, timed the same way in
the same run. Like the bot, it runs in its own process (``floor.py``). Two more figures for reference:
the same calls through the bot's REST adapter (HTTP-client cost apart from bot logic), and a bare client
inside the sandbox's own process, where no request crosses a process boundary.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench.stats import median
from bench.world import ROOT, World
from sev1bot.core import effects as fx
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import start
from sev1bot.core.events import Started

RATE_PER_SEC = 10.0  # the server's defaults when rate limiting is on
RATE_BURST = 100
CHECKLIST_WITHIN = 60.0  # seconds a start may take before the bench gives up


def checklist_size(world: World) -> int:
    return 1 + len(world.playbook.stages) + len(world.playbook.keys())


def checklists_done(world: World, count: int = 1) -> asyncio.Future[float]:
    """The time at which ``count`` channels created from now on hold a whole checklist by the bot."""
    size, bot_id = checklist_size(world), world.sandbox.bot.id
    known = set(world.sandbox.state.channels)
    posts: Counter[str] = Counter()
    complete: set[str] = set()

    def seen(name: str, data: dict[str, Any]) -> bool:
        if name != "posted":
            return False
        post = data["post"]
        channel = post["channel_id"]
        if post["user_id"] != bot_id or post.get("type") or channel in known:
            return False
        posts[channel] += 1
        if posts[channel] >= size:
            complete.add(channel)
        return len(complete) >= count

    return world.listener.when(seen)


async def bot_start(world: World, label: str) -> dict[str, Any]:
    town = world.sandbox.channel("town-square").id
    done = checklists_done(world)
    calls_before = world.sandbox.calls_snapshot("sev1bot")
    began = time.perf_counter()
    answer = await world.people.slash("alice", town, f'start "{label}" benchmark run')
    answered = time.perf_counter()
    if "Started Sev 1" not in str(answer.get("text", "")):
        raise RuntimeError(f"/sev1 start was not accepted: {answer!r}")
    finished = await asyncio.wait_for(done, CHECKLIST_WITHIN)
    await asyncio.sleep(0.3)  # count any call that trails the last post
    calls = world.sandbox.calls_snapshot("sev1bot") - calls_before
    return {
        "seconds": finished - began,
        "command_answered_s": answered - began,
        "calls": sum(calls.values()),
        "calls_by_route": dict(sorted(calls.items())),
    }


def _planned(world: World, name: str) -> tuple[fx.CreateChannel, list[str], list[fx.Post]]:
    """What a start of ``name`` must produce: the channel, the member ids and the posts, in order."""
    event = Started(secrets.token_hex(6), "alice", name, name, "benchmark run")
    decision = start(event, world.playbook, datetime.now(UTC), BusinessCalendar())
    create = next(e for e in decision.effects if isinstance(e, fx.CreateChannel))
    invite = next(e for e in decision.effects if isinstance(e, fx.Invite))
    members = [world.sandbox.users[u].id for u in invite.usernames if u in world.sandbox.users]
    return create, members, [e for e in decision.effects if isinstance(e, fx.Post)]


async def inprocess_floor(world: World, label: str) -> dict[str, Any]:
    """The minimum calls from a plain aiohttp client in this process, beside the sandbox: no process
    boundary at all, so a lower bound that no separate client can reach (reported for reference)."""
    create, members, posts = _planned(world, f"inproc-{label}")
    api = world.sandbox.url + "/api/v4"
    headers = {"Authorization": f"Bearer {world.sandbox.tokens['sev1bot']}"}
    calls = 0
    async with aiohttp.ClientSession(headers=headers) as http:

        async def send(path: str, body: Any = None) -> Any:
            nonlocal calls
            calls += 1
            async with http.post(api + path, json=body) as resp:
                if resp.status >= 400:
                    raise RuntimeError(f"floor: POST {path}: HTTP {resp.status}: {await resp.text()}")
                return await resp.json()

        done = checklists_done(world)
        began = time.perf_counter()
        channel_id = (await send("/channels", _channel_body(world, create)))["id"]
        await send(f"/channels/{channel_id}/members", {"user_ids": members})
        ids: dict[fx.PostRef, str] = {}
        for post in posts:
            root = ids[post.thread] if post.thread is not None else ""
            made = await send("/posts", {"channel_id": channel_id, "message": post.message, "root_id": root})
            if post.ref is not None:
                ids[post.ref] = made["id"]
            if post.pin:
                await send(f"/posts/{made['id']}/pin")
        finished = await asyncio.wait_for(done, CHECKLIST_WITHIN)
    return {"seconds": finished - began, "calls": calls}


async def process_floor(
    world: World, label: str, adapter: bool = False, side_by_side: bool = False
) -> dict[str, Any]:
    """The minimum calls from a client in its own process, as the bot is (``bench/floor.py``): a bare
    aiohttp client, or with ``adapter`` the bot's REST adapter. Timed from its go signal, its start-up
    and warm-up excluded, to the last post on the listener's websocket."""
    kind = "adapter" if adapter else "sbs" if side_by_side else "floor"
    create, members, posts = _planned(world, f"{kind}-{label}")
    positions: dict[fx.PostRef, int] = {}
    planned = []
    for n, post in enumerate(posts):
        thread = positions[post.thread] if post.thread is not None else None
        planned.append({"message": post.message, "thread": thread, "pin": post.pin})
        if post.ref is not None:
            positions[post.ref] = n
    plan = {
        "url": world.sandbox.url,
        "token": world.sandbox.tokens["sev1bot"],
        "channel": _channel_body(world, create),
        "members": members,
        "posts": planned,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        *(["--adapter"] if adapter else []),
        *(["--side-by-side"] if side_by_side else []),
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(plan).encode() + b"\n")
        await proc.stdin.drain()
        if (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() != b"ready":
            raise RuntimeError("the floor client did not get ready")
        done = checklists_done(world)
        began = time.perf_counter()
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        finished = await asyncio.wait_for(done, CHECKLIST_WITHIN)
        report = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
    finally:
        if proc.returncode is None:
            await asyncio.wait_for(proc.wait(), 30)
    if report[:1] != ["done"]:
        raise RuntimeError(f"the floor client failed (exit {proc.returncode})")
    return {"seconds": finished - began, "calls": int(report[1])}


def _channel_body(world: World, create: fx.CreateChannel) -> dict[str, Any]:
    return {
        "team_id": world.sandbox.team.id,
        "name": create.name,
        "display_name": create.display_name,
        "header": create.header[:1024],
        "purpose": create.purpose[:250],
        "type": "P",
    }


async def incident_start(world: World, runs: int = 5) -> dict[str, Any]:
    """Scenario 1: ``runs`` bot starts interleaved with as many floor runs of each kind."""
    bot_runs: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    adapters: list[dict[str, Any]] = []
    side_by_side: list[dict[str, Any]] = []
    inprocess: list[dict[str, Any]] = []
    for n in range(runs):
        label = f"Start {n} {secrets.token_hex(2)}"
        slug = label.lower().replace(" ", "-")
        bot_runs.append(await bot_start(world, label))
        floors.append(await process_floor(world, slug))
        adapters.append(await process_floor(world, slug, adapter=True))
        side_by_side.append(await process_floor(world, slug, side_by_side=True))
        inprocess.append(await inprocess_floor(world, slug))
    bot_s = median([r["seconds"] for r in bot_runs])
    floor_s = median([r["seconds"] for r in floors])
    return {
        "runs": runs,
        "posts": checklist_size(world),
        "bot_s": round(bot_s, 3),
        "bot_s_runs": [round(r["seconds"], 3) for r in bot_runs],
        "command_answered_s": round(median([r["command_answered_s"] for r in bot_runs]), 3),
        "bot_calls": int(median([r["calls"] for r in bot_runs])),
        "bot_calls_runs": [r["calls"] for r in bot_runs],
        "bot_calls_by_route": bot_runs[-1]["calls_by_route"],
        "floor_s": round(floor_s, 3),
        "floor_s_runs": [round(r["seconds"], 3) for r in floors],
        "floor_calls": floors[0]["calls"],
        "adapter_floor_s": round(median([r["seconds"] for r in adapters]), 3),
        "side_by_side_floor_s": round(median([r["seconds"] for r in side_by_side]), 3),
        # (older sandboxes, in a sweep of earlier trees, have no such setting: threads in the channel)
        "threads_collapsed": getattr(world.sandbox.config, "collapsed_threads", "") == "always_on",
        "inprocess_floor_s": round(median([r["seconds"] for r in inprocess]), 3),
        "ratio": round(bot_s / floor_s, 2),
    }


async def rate_limited_start(world: World, concurrent: int) -> dict[str, Any]:
    """Scenario 6: ``concurrent`` starts at once with the server's default rate limit, fresh bucket."""
    town = world.sandbox.channel("town-square").id
    await world.sandbox.quiet("sev1bot", 1.0, within=120)  # a backlog would drain the bucket first
    world.sandbox.set_rate_limit(True, RATE_PER_SEC, RATE_BURST)
    try:
        done = checklists_done(world, concurrent)
        calls_before = world.sandbox.calls_by("sev1bot")
        limited_before = world.sandbox.status_count("sev1bot", 429)
        began = time.perf_counter()
        labels = [f"Limited {concurrent}x{n} {secrets.token_hex(2)}" for n in range(concurrent)]
        await asyncio.gather(*(world.people.slash("alice", town, f'start "{x}" limited') for x in labels))
        finished = await asyncio.wait_for(done, 180)
        await asyncio.sleep(0.3)
    finally:
        world.sandbox.set_rate_limit(False)
    calls = world.sandbox.calls_by("sev1bot") - calls_before
    minimum = concurrent * (checklist_size(world) + 3)  # channel, members, pin, posts
    # GCRA lets burst + 1 requests through at once, then one every 1/rate seconds.
    floor = max(0.0, (minimum - RATE_BURST - 1) / RATE_PER_SEC)
    return {
        "incidents": concurrent,
        "seconds": round(finished - began, 3),
        "bot_calls": calls,
        "bot_429s": world.sandbox.status_count("sev1bot", 429) - limited_before,
        "minimum_calls": minimum,
        "rate_floor_s": round(floor, 2),
    }


async def rate_limits(world: World, concurrent: tuple[int, ...] = (1, 3)) -> dict[str, Any]:
    return {f"starts_{n}": await rate_limited_start(world, n) for n in concurrent}
