"""Scenarios 2 and 3: from a person's reaction to the bot's edit of that item post, under load.

A person toggles ✅ on item posts (add, then remove on the next visit), spread round robin over every item
of the given incidents; each toggle makes the bot check or uncheck the item and edit its post. Latency runs
from just before the reaction request is sent until the person's websocket shows ``post_edited`` for that
post. An item waits for its edit before it is touched again; a toggle with no edit within ``answer_within``
seconds counts as unanswered (infinitely slow). Items that resolve the incident when checked are left alone.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bench.stats import CpuMeter, latency_summary, percentile
from bench.world import World
from sev1bot.core.effects import ItemPost
from sev1bot.store.store import Store

CHECK = "white_check_mark"
ACTOR = "alice"


@dataclass
class ItemPool:
    """Item posts to toggle, in round-robin order; each knows whether our check mark is on it."""

    posts: deque[str]
    checked: dict[str, bool] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)

    def take(self) -> str | None:
        for _ in range(len(self.posts)):
            post_id = self.posts[0]
            self.posts.rotate(-1)
            if post_id not in self.busy:
                self.busy.add(post_id)
                return post_id
        return None


def item_pool(world: World) -> ItemPool:
    """Every item post of the active incidents that a reaction toggles, interleaved across incidents."""
    resolving = {world.playbook.item_key(ref) for ref in world.playbook.resolution.items}
    with Store(world.database_url) as store:
        active = store.active_with_posts()
    per_incident = [
        [
            post_id
            for ref, post_id in sorted(refs.items(), key=lambda kv: str(kv[0]))
            if isinstance(ref, ItemPost)
            and ref.key not in resolving
            and not world.playbook.item(ref.key).done_by_bot  # the bot checked those: no edit would come
        ]
        for _, _, _, refs in active
    ]
    interleaved = [post for row in zip(*per_incident, strict=False) for post in row]
    return ItemPool(deque(interleaved))


@dataclass
class LoadResult:
    rate: float
    seconds: float
    latencies: list[float]
    sent_rate: float
    skipped: int  # no free item when one was due
    errors: int
    cpu: dict[str, float]

    def p99(self) -> float:
        return percentile(self.latencies, 99)

    def summary(self) -> dict[str, Any]:
        return {
            "target_rate": self.rate,
            "sent_rate": round(self.sent_rate, 1),
            "seconds": round(self.seconds, 1),
            **latency_summary(self.latencies),
            "skipped": self.skipped,
            "errors": self.errors,
            **self.cpu,
        }


async def drive(
    world: World, pool: ItemPool, rate: float, seconds: float, answer_within: float = 5.0
) -> LoadResult:
    """Toggle reactions at ``rate`` per second for ``seconds``; wait for every answer (or its timeout)."""
    await world.sandbox.quiet("sev1bot", 0.5, within=120)  # start from an idle bot
    meter = CpuMeter(world.require_bot().cpu_seconds)
    latencies: list[float] = []
    errors = skipped = 0
    tasks: set[asyncio.Task[None]] = set()

    async def toggle(post_id: str) -> None:
        nonlocal errors
        edited = world.listener.next_edit(post_id)
        began = time.perf_counter()
        try:
            if pool.checked.get(post_id):
                await world.people.unreact(ACTOR, post_id, CHECK)
            else:
                await world.people.react(ACTOR, post_id, CHECK)
            pool.checked[post_id] = not pool.checked.get(post_id)
            latencies.append(await asyncio.wait_for(edited, answer_within) - began)
        except TimeoutError:
            latencies.append(math.inf)
        except RuntimeError:
            errors += 1
            edited.cancel()
        finally:
            pool.busy.discard(post_id)

    started = time.perf_counter()
    sent = 0
    last_send = started
    total = int(rate * seconds)
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        post_id = pool.take()
        if post_id is None:
            skipped += 1
            continue
        task = asyncio.create_task(toggle(post_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
        last_send = time.perf_counter()
    if tasks:
        await asyncio.gather(*tasks)
    span = max(last_send - started, 1e-9)
    return LoadResult(
        rate, seconds, latencies, sent / span if sent > 1 else 0.0, skipped, errors, meter.read()
    )


async def reaction_latency(
    world: World, pool: ItemPool, rates: tuple[float, ...] = (1, 10, 50), seconds: float = 10.0
) -> dict[str, Any]:
    """Scenario 2: latency percentiles at each rate (a rate of 1/s runs 20 s for at least 20 samples)."""
    out: dict[str, Any] = {"items": len(pool.posts)}
    for rate in rates:
        duration = max(seconds, 20.0) if rate <= 1 else seconds
        result = await drive(world, pool, rate, duration)
        out[f"rate_{rate:g}"] = result.summary()
    return out


async def throughput(
    world: World,
    pool: ItemPool,
    probes: tuple[float, ...] = (25, 50, 75, 100, 150, 200, 300, 400, 600),
    probe_seconds: float = 5.0,
    confirm_seconds: float = 30.0,
    limit_s: float = 1.0,
) -> dict[str, Any]:
    """Scenario 3: short probes find the knee, then a rate must hold for ``confirm_seconds``.

    A rate holds when p99 < ``limit_s``, nothing went unanswered and the load generator really sent at
    (>= 95% of) that rate. Just above capacity a backlog grows slowly, so a short probe passes only with
    p99 under half the limit; the confirmations then try the passing probe rates from the highest down
    (at most three).
    """

    def passed(result: LoadResult, limit: float) -> bool:
        return (
            result.p99() < limit
            and result.errors == 0
            and result.skipped == 0
            and result.sent_rate >= 0.95 * result.rate
        )

    probe_results = []
    passing: list[float] = []
    for rate in probes:
        result = await drive(world, pool, rate, probe_seconds)
        probe_results.append(result.summary())
        if not passed(result, limit_s / 2):
            break
        passing.append(rate)
    confirmations = []
    sustained = 0.0
    for rate in sorted(passing, reverse=True)[:3]:
        result = await drive(world, pool, rate, confirm_seconds)
        confirmations.append(result.summary())
        if passed(result, limit_s):
            sustained = rate
            break
    return {
        "sustained_per_s": sustained,
        "limit_p99_s": limit_s,
        "confirm_seconds": confirm_seconds,
        "probes": probe_results,
        "confirmations": confirmations,
    }


async def sandbox_capacity(world: World, seconds: float = 3.0, concurrency: int = 32) -> dict[str, Any]:
    """How fast the sandbox itself (this process, listener included) serves what a reaction costs it:
    reaction toggles and post edits by a person, in a channel the bot is not in, as fast as they go."""
    channel = await world.people.call(
        ACTOR,
        "POST",
        "/api/v4/channels",
        {
            "team_id": world.sandbox.team.id,
            "name": f"capacity-{time.time_ns()}",
            "display_name": "Cap",
            "type": "P",
        },
    )
    posts = [
        (
            await world.people.call(
                ACTOR, "POST", "/api/v4/posts", {"channel_id": channel["id"], "message": "x"}
            )
        )["id"]
        for _ in range(concurrency)
    ]

    async def flat_out(work: Any) -> float:
        done = 0
        stop = time.perf_counter() + seconds

        async def worker(post_id: str) -> None:
            nonlocal done
            n = 0
            while time.perf_counter() < stop:
                await work(post_id, n)
                n += 1
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(p) for p in posts))
        return done / (time.perf_counter() - began)

    async def toggle(post_id: str, n: int) -> None:
        if n % 2:
            await world.people.unreact(ACTOR, post_id, CHECK)
        else:
            await world.people.react(ACTOR, post_id, CHECK)

    async def edit(post_id: str, n: int) -> None:
        await world.people.call(ACTOR, "PUT", f"/api/v4/posts/{post_id}/patch", {"message": f"edit {n}"})

    return {
        "reaction_toggles_per_s": round(await flat_out(toggle)),
        "post_edits_per_s": round(await flat_out(edit)),
        "concurrency": concurrency,
    }
