"""Store.run: SQLite calls run on the event loop's own thread, PostgreSQL calls in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from sev1bot.store import IncidentNotFound, Store
from store_samples import incident, playbook
from testkit import eventually


def where(*args: Any, **kwargs: Any) -> tuple[int, tuple[Any, ...], dict[str, Any]]:
    return threading.get_ident(), args, kwargs


async def test_run_is_inline_on_sqlite_and_in_a_thread_on_postgresql(store: Store) -> None:
    loop_thread = threading.get_ident()
    ran_on, args, kwargs = await store.run(where, 1, "two", three=3)
    assert (args, kwargs) == ((1, "two"), {"three": 3})
    if store.backend == "sqlite":
        assert store.inline
        assert ran_on == loop_thread, "SQLite calls run right on the loop"
    else:
        assert store.backend == "postgresql"
        assert not store.inline
        assert ran_on != loop_thread, "PostgreSQL calls run in a worker thread"


async def test_run_passes_results_and_errors_through(store: Store) -> None:
    state = incident()
    await store.run(store.create_incident, state, playbook())
    assert await store.run(store.load, state.id) == state
    assert await store.run(store.load, "nope") is None
    with pytest.raises(IncidentNotFound, match="nope"):
        await store.run(store.load_playbook, "nope")


@pytest.mark.postgres
async def test_the_loop_keeps_serving_while_a_postgresql_call_waits(pg_store_url: str) -> None:
    started, released = threading.Event(), threading.Event()

    def slow() -> str:
        # Finishes only once the loop has run something else: it would hang if run on the loop.
        started.set()
        assert released.wait(5), "the loop did not run while the call waited"
        return "done"

    with Store(pg_store_url) as store:
        call = asyncio.ensure_future(store.run(slow))
        await eventually(started.is_set, what="the call to start")  # polled by the loop, while it waits
        assert not call.done()
        released.set()
        assert await asyncio.wait_for(call, 5) == "done"
