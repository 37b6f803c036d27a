"""Concurrent writers on one database: threads with their own engines, and two OS processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

from sev1bot.core import effects as fx
from sev1bot.core.state import IncidentState
from sev1bot.playbook.schema import Playbook
from sev1bot.store import Store
from store_peek import version
from store_samples import T0, entry, incident, playbook

R = TypeVar("R")
WORKERS = 6


def race(url: str, n: int, work: Callable[[Store, int], R]) -> list[R]:
    """Run ``work(store, i)`` in ``n`` threads, each with its own Store (engine), released together."""
    stores = [Store(url, busy_timeout=20) for _ in range(n)]
    barrier = threading.Barrier(n)

    def run(i: int) -> R:
        barrier.wait()
        return work(stores[i], i)

    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(run, range(n)))
    finally:
        for store in stores:
            store.close()


def bump(state: IncidentState) -> IncidentState:
    n = state.escalations_sent + 1
    return state.model_copy(update={"escalations_sent": n, "timeline": (*state.timeline, entry(f"bump {n}"))})


def test_racing_claims_have_exactly_one_winner(store: Store, store_url: str) -> None:
    store.create_incident(incident(), playbook())
    for key in ("escalation:1", "escalation:2", "reminder:2.1"):

        def claim(store: Store, _: int, key: str = key) -> bool:
            return store.claim("inc-1", key)

        wins = race(store_url, WORKERS, claim)
        assert wins.count(True) == 1, wins


def test_racing_updates_lose_nothing(store: Store, store_url: str) -> None:
    store.create_incident(incident(), playbook())
    per_worker = 8

    def work(s: Store, _: int) -> None:
        for _ in range(per_worker):
            s.update("inc-1", bump)

    race(store_url, WORKERS, work)
    state = store.load("inc-1")
    assert state is not None
    total = WORKERS * per_worker
    assert state.escalations_sent == total
    assert version(store, "inc-1") == 1 + total
    # Every update saw the one before it: the counter in each appended entry runs 1..total in order.
    assert [e.text for e in state.timeline[2:]] == [f"bump {n}" for n in range(1, total + 1)]


@dataclass(frozen=True)
class Decision:
    state: IncidentState
    effects: tuple[fx.Effect, ...]


def test_racing_applies_decide_on_the_latest_state_and_queue_in_that_order(
    store: Store, store_url: str
) -> None:
    """Each worker takes the incident from whoever owns it: every handover must see the one before it, and
    the effects must queue in the order the states were saved (they commit together)."""
    store.create_incident(incident(), playbook())

    def take(me: str, state: IncidentState, _: Playbook) -> Decision:
        handover = f"{state.owner} -> {me}"
        new = state.model_copy(update={"owner": me, "timeline": (*state.timeline, entry(handover))})
        return Decision(new, (fx.Post(message=handover),))

    race(store_url, WORKERS, lambda s, i: s.apply("inc-1", lambda st, pb: take(f"user{i}", st, pb)))
    state = store.load("inc-1")
    assert state is not None
    handovers = [e.text for e in state.timeline[2:]]
    owners = ["alice"] + [h.split(" -> ")[1] for h in handovers]
    assert handovers == [f"{a} -> {b}" for a, b in pairwise(owners)]  # none lost
    assert sorted(owners[1:]) == sorted(f"user{i}" for i in range(WORKERS)) and state.owner == owners[-1]
    assert version(store, "inc-1") == 1 + WORKERS
    queued = store.outbox_batch("inc-1", limit=100).entries
    assert [e.effect for e in queued] == [fx.Post(message=h) for h in handovers]


def test_racing_lease_and_request_have_one_winner(store: Store, store_url: str) -> None:
    fences = race(
        store_url, WORKERS, lambda s, i: s.acquire_lease("leader", f"node{i}", timedelta(seconds=30), T0)
    )
    assert sorted(fences, key=str) == [1] + [None] * (WORKERS - 1)
    seen = race(store_url, WORKERS, lambda s, _: s.seen_request("req-1"))
    assert seen.count(False) == 1


_PROCESS_SCRIPT = """
import sys, time
from pathlib import Path
from test_store_concurrency import bump
from sev1bot.store import Store

url, incident_id, count, rendezvous, me = sys.argv[1:6]
count, rendezvous = int(count), Path(rendezvous)
with Store(url, busy_timeout=20) as store:
    (rendezvous / me).touch()
    deadline = time.monotonic() + 30
    while len(list(rendezvous.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(count):
        store.update(incident_id, bump)
"""


def test_two_processes_on_one_sqlite_file_lose_no_update(tmp_path: Path) -> None:
    """What BEGIN IMMEDIATE is for. (On PostgreSQL, the threads above already use separate connections.)"""
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"
    with Store(store_url) as store:
        store.migrate()
        store.create_incident(incident(), playbook())
    rendezvous = tmp_path / "ready"
    rendezvous.mkdir()
    count = 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_SCRIPT, store_url, "inc-1", str(count), str(rendezvous), f"p{i}"],
            cwd=Path(__file__).parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    with Store(store_url) as store:
        state = store.load("inc-1")
    assert state is not None
    assert state.escalations_sent == 2 * count
    assert [e.text for e in state.timeline[2:]] == [f"bump {n}" for n in range(1, 2 * count + 1)]
