"""The store's cache of committed incident states, and saves that write only what changed: faster, and
never storing or returning anything the full load and save would not.

Tests compare a cached load with a fresh Store's load of the same database (which cannot have a cache),
field by field and in iteration order, so a difference either shortcut introduced would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from sev1bot.core.state import IncidentState, ItemState, ItemStatus
from sev1bot.playbook.schema import Playbook
from sev1bot.store import Conflict, Store
from sev1bot.store.statecache import StateCache, as_loaded
from store_peek import incident_ids
from store_samples import CET, T0, entry, incident, playbook


def fresh_load(url: str, incident_id: str) -> IncidentState:
    with Store(url) as other:
        loaded = other.load(incident_id)
    assert loaded is not None
    return loaded


def same(a: IncidentState, b: IncidentState) -> None:
    """Equal, and alike in what ``==`` does not see: dict order, time zones, enum types."""
    assert a == b
    assert a.model_dump() == b.model_dump()
    assert list(a.items) == list(b.items) and list(a.timers) == list(b.timers)
    times = [(a.started_at, b.started_at), *zip(a.timers.values(), b.timers.values(), strict=True)]
    times += [(x.at, y.at) for x, y in zip(a.timeline, b.timeline, strict=True)]
    assert all(x.tzinfo is y.tzinfo for x, y in times)
    assert all(
        type(x.status) is type(y.status) for x, y in zip(a.items.values(), b.items.values(), strict=True)
    )


@pytest.fixture
def statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]).split()[0].upper())

    engine = store._engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_load_of_an_unchanged_incident_is_one_query(store: Store, statements: list[str]) -> None:
    store.create_incident(incident(), playbook())
    first = store.load("inc-1")
    statements.clear()
    again = store.load("inc-1")
    assert again is first
    assert [s for s in statements if s == "SELECT"] == ["SELECT"]  # the version, nothing else


def test_states_from_saves_look_exactly_like_loads(store: Store, store_url: str) -> None:
    state = incident()  # times in CET, timers not in due order
    state = state.model_copy(update={"timers": dict(reversed(list(state.timers.items())))})
    store.create_incident(state, playbook())
    same(store.load("inc-1"), fresh_load(store_url, "inc-1"))  # type: ignore[arg-type]

    def step(s: IncidentState) -> IncidentState:
        items = {
            **s.items,
            "1.2": ItemState(key="1.2", status=ItemStatus.DONE, by="bob", at=T0.astimezone(CET)),
        }
        items = dict(reversed(list(items.items())))  # out of checklist order
        return s.model_copy(update={"items": items, "timeline": (*s.timeline, entry("fixed", 9))})

    store.update("inc-1", step)
    same(store.load("inc-1"), fresh_load(store_url, "inc-1"))  # type: ignore[arg-type]


def test_a_save_by_someone_else_is_seen(store: Store, store_url: str) -> None:
    store.create_incident(incident(), playbook())
    assert store.load("inc-1") is not None
    with Store(store_url) as other:
        other.update("inc-1", lambda s: s.model_copy(update={"owner": "carol"}))
    loaded = store.load("inc-1")
    assert loaded is not None and loaded.owner == "carol"
    with Store(store_url) as other:
        other.update("inc-1", lambda s: s.model_copy(update={"summary": "Payments too"}))
    locked = store.update("inc-1", lambda s: s.model_copy(update={"owner": s.owner + "+dan"}))
    assert (locked.owner, locked.summary) == ("carol+dan", "Payments too")  # the locked load saw it too


def test_a_rolled_back_change_is_not_remembered(store: Store, store_url: str) -> None:
    store.create_incident(incident(), playbook())

    @dataclass
    class Outcome:
        state: IncidentState
        effects: tuple[Any, ...]

    def step(s: IncidentState, _: Playbook) -> Outcome:
        # The state is saved, then its effects cannot be queued (not JSON): the transaction rolls back.
        return Outcome(s.model_copy(update={"owner": "mallory"}), (object(),))

    with pytest.raises(TypeError):
        store.apply("inc-1", step)
    loaded = store.load("inc-1")
    assert loaded is not None and loaded.owner == "alice"
    with Store(store_url) as other:  # someone else commits the next version, with other content
        other.update("inc-1", lambda s: s.model_copy(update={"owner": "bob"}))
    loaded = store.load("inc-1")
    assert loaded is not None and loaded.owner == "bob"


def test_as_loaded_returns_a_normal_state_itself() -> None:
    state = as_loaded(incident())
    assert as_loaded(state) is state


def test_the_cache_is_bounded_and_keeps_the_newest_version() -> None:
    cache = StateCache(limit=2)
    one, two, three = incident(1), incident(2), incident(3)
    cache.remember(one, 5)
    cache.remember(one.model_copy(update={"owner": "old"}), 4)  # a slower thread's older commit
    assert cache.get("inc-1") == (as_loaded(one), 5)
    cache.remember(two, 1)
    cache.remember(three, 1)
    assert len(cache) == 1 and cache.get("inc-3") is not None
    later = three.model_copy(update={"started_at": T0 + timedelta(hours=1)})
    cache.remember(later, 2)
    cached = cache.get("inc-3")
    assert cached is not None and cached[1] == 2 and cached[0].started_at == later.started_at


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1.1", "1.2", "1.3", "2.1"]),
            st.sampled_from(list(ItemStatus)),
            st.sampled_from([None, "carol", "dan"]),
            st.sampled_from(["escalation", "reminder:2.1", "deadline:rca"]),
            st.integers(-1, 3),  # timer: -1 removes it, else due in that many hours
        ),
        min_size=1,
        max_size=4,
    )
)
def test_saving_only_what_changed_stores_what_a_full_save_would(
    store_url: str, changes: list[tuple[str, ItemStatus, str | None, str, int]]
) -> None:
    with Store(store_url) as store:
        suffix = str(len(incident_ids(store)) + 1)
        state = incident(int(suffix))
        store.create_incident(state, playbook())
        for n, change in enumerate(changes):
            saved = store.update(state.id, partial(changed, n, *change))
            same(fresh_load(store_url, state.id), as_loaded(saved))


def changed(
    n: int, key: str, status: ItemStatus, assignee: str | None, timer: str, hours: int, s: IncidentState
) -> IncidentState:
    item = s.items[key].model_copy(update={"status": status, "assignee": assignee})
    timers = {k: v for k, v in s.timers.items() if k != timer}
    if hours >= 0:
        timers[timer] = T0 + timedelta(hours=hours)
    update = {"items": {**s.items, key: item}, "timers": timers}
    return s.model_copy(update={**update, "timeline": (*s.timeline, entry(f"change {n}", n))})


def test_a_save_that_rewrites_the_timeline_is_refused(store: Store) -> None:
    store.create_incident(incident(), playbook())
    with pytest.raises(Conflict, match="rewrites the timeline"):
        store.update("inc-1", lambda s: s.model_copy(update={"timeline": (entry("instead"),)}))
    loaded = store.load("inc-1")
    assert loaded is not None and len(loaded.timeline) == 2
