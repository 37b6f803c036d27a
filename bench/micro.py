"""Micro-benchmarks of the two costs the profiles pointed at: ``python -m bench.micro``.

* a REST call through the bot's adapter (``MattermostAPI.create_post``) against an in-process sandbox;
* ``Store.load`` and ``Store.apply`` of one incident on SQLite while its timeline grows.

Prints milliseconds per call (wall and CPU of this process). Run it against another tree with
``PYTHONPATH=<tree>/src python -m bench.micro`` to compare.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.world import SHIPPED_PLAYBOOKS
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import decide, start
from sev1bot.core.events import Event, ItemChecked, ItemUnchecked, Started
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.playbook.loader import load_playbooks
from sev1bot.sandbox.app import Sandbox
from sev1bot.store.store import Store


def per_call(label: str, fn: Callable[[int], object], n: int) -> str:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"{label:44s} {wall / n * 1000:7.3f} ms wall {cpu / n * 1000:7.3f} ms cpu"


async def rest(n: int = 300) -> str:
    async with Sandbox.running() as sandbox, MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"]) as api:
        channel = await api.create_channel(sandbox.team.id, "micro", "Micro")
        me = await api.me()

        async def posts(count: int) -> None:
            for i in range(count):
                await api.create_post(
                    channel.id, "hello " * 50, pending_post_id=f"{me.id}:{time.time_ns()}-{i}"
                )

        await posts(30)  # warm
        wall, cpu = time.perf_counter(), time.process_time()
        await posts(n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        label = "create_post via MattermostAPI (+ sandbox)"
        return f"{label:44s} {wall / n * 1000:7.3f} ms wall {cpu / n * 1000:7.3f} ms cpu"


def store(n: int = 200) -> list[str]:
    playbook = load_playbooks(SHIPPED_PLAYBOOKS)["mme-sev1"]
    calendar = BusinessCalendar()
    lines = []
    with tempfile.TemporaryDirectory() as directory, Store(f"sqlite:///{directory}/micro.db") as db:
        db.migrate()
        incident_id = secrets.token_hex(6)
        event = Started(incident_id, "alice", "Acme", "sev1-micro", "")
        decision = start(event, playbook, datetime.now(UTC), calendar)
        db.create_incident(decision.state, playbook, decision.effects)

        def toggle(i: int) -> None:
            change: Event = ItemChecked("alice", "2.1") if i % 2 == 0 else ItemUnchecked("alice", "2.1")
            db.apply(incident_id, lambda s, p: decide(s, change, p, datetime.now(UTC), calendar))

        lines.append(per_call("Store.load (timeline: 1 entry)", lambda i: db.load(incident_id), n))
        lines.append(per_call(f"Store.apply (timeline growing to {n})", toggle, n))
        lines.append(per_call(f"Store.load (timeline: {n + 1} entries)", lambda i: db.load(incident_id), n))
    return lines


def main() -> None:
    print(asyncio.run(rest()))
    for line in store():
        print(line)


if __name__ == "__main__":
    main()
