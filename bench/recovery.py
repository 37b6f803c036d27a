"""Scenarios 4 and 5: a restart with 200 active incidents in the database, and the bot's memory then.

The incidents beyond those the earlier scenarios started are seeded (see ``seed``); while the bot is down,
a person checks one item by reaction in ``missed`` of them, which the restarted bot must catch up on.
Start-up is timed from spawning the process to: HTTP answering, /readyz saying ready, and the bot going
quiet on the API (its start-up reconciliation over). The missed reactions must all show up as edits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.reactions import ACTOR, CHECK, ItemPool, drive, item_pool
from bench.seed import seed_incidents
from bench.world import World
from sev1bot.core.effects import ItemPost
from sev1bot.store.store import Store


async def recovery(world: World, total: int = 200, missed: int = 20) -> dict[str, Any]:
    """Scenario 4. Leaves the restarted bot running."""
    await world.stop_bot()
    with Store(world.database_url) as store:
        active = len(store.active_incidents())
    seeded = await seed_incidents(world.sandbox, world.database_url, world.playbook, max(0, total - active))
    with Store(world.database_url) as store:
        posts = {state.id: refs for state, _, _, refs in store.active_with_posts()}
    targets = [posts[incident_id][ItemPost("2.1")] for incident_id in seeded[:missed]]
    active = len(posts)
    for post_id in targets:
        await world.people.react(ACTOR, post_id, CHECK)
    edits = [world.listener.next_edit(post_id) for post_id in targets]
    calls_before = world.sandbox.calls_snapshot("sev1bot")
    timings = await world.start_bot()
    bot = world.require_bot()
    applied = await asyncio.wait_for(asyncio.gather(*edits), 60) if edits else []
    last_call = await world.sandbox.quiet("sev1bot", for_s=1.0)
    calls = world.sandbox.calls_snapshot("sev1bot") - calls_before
    return {
        "active_incidents": active,
        "seeded": len(seeded),
        "missed_reactions": len(targets),
        "http_up_s": round(timings["http_up_s"], 3),
        "ready_s": round(timings["ready_s"], 3),
        "missed_applied_s": round(max(applied) - bot.spawned_at, 3) if applied else None,
        "caught_up_s": round(max(last_call - bot.spawned_at, timings["ready_s"]), 3),
        "calls": sum(calls.values()),
        "calls_by_route": dict(sorted(calls.items())),
        "checked_posts": targets,
        **bot.memory_mb(),
    }


async def footprint(world: World, pool: ItemPool, rate: float = 50, seconds: float = 10) -> dict[str, Any]:
    """Scenario 5: peak RSS of the bot holding every active incident, after reactions across all of them."""
    bot = world.require_bot()
    before = bot.memory_mb()
    load = await drive(world, pool, rate, seconds)
    after = bot.memory_mb()
    return {
        "items": len(pool.posts),
        "rss_after_recovery_mb": before["rss_mb"],
        "load": load.summary(),
        "rss_mb": after["rss_mb"],
        "peak_rss_mb": after["peak_rss_mb"],
        "measured_at": time.strftime("%H:%M:%S"),
    }


def pool_after_recovery(world: World, previous: ItemPool | None, checked_posts: list[str]) -> ItemPool:
    """Items of every active incident, remembering which already carry our check mark."""
    pool = item_pool(world)
    if previous is not None:
        pool.checked.update(previous.checked)
    pool.checked.update({post_id: True for post_id in checked_posts})
    return pool
