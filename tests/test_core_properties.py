"""Random event sequences against invariants the adapters rely on.

Whatever happens, in any order: refusals leave the state alone, repeating an accepted event changes nothing,
``state.timers`` mirrors Schedule/Cancel (checked by ``Run``), an active incident always has its escalation
timer armed, and a resolved one has a pending reminder for exactly the deadlines whose item is still open.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core_fixtures import PLAYBOOK, T0, US_CAL, Run
from sev1bot.core import CoreError
from sev1bot.core.escalation import deadline_item
from sev1bot.core.events import (
    Assigned,
    Event,
    ItemChecked,
    ItemSkipped,
    ItemUnchecked,
    OwnerChanged,
    Reopened,
    Resolved,
    StatusUpdate,
    TimerDue,
)
from sev1bot.core.state import IncidentStatus, ItemStatus

PEOPLE = st.sampled_from(["alice", "bob", "ian", "jason"])
KEYS = st.sampled_from([*PLAYBOOK.keys(), "7.2", "7.2", "8.1", "8.2", "9.9", "retrospective"])

events = st.one_of(
    st.builds(ItemChecked, PEOPLE, KEYS),
    st.builds(ItemUnchecked, PEOPLE, KEYS),
    st.builds(ItemSkipped, PEOPLE, KEYS),
    st.builds(Assigned, PEOPLE, KEYS, st.sampled_from(["bob", "@carol", "@all"])),
    st.builds(OwnerChanged, PEOPLE, st.sampled_from(["alice", "bob"])),
    st.builds(StatusUpdate, PEOPLE, st.sampled_from(["", "Still looking", "@here fixed?"])),
    st.builds(Resolved, PEOPLE),
    st.builds(Reopened, PEOPLE),
)


def check_invariants(run: Run) -> None:
    state = run.s
    assert (state.status is IncidentStatus.RESOLVED) == (state.resolved_at is not None)
    if state.status is IncidentStatus.ACTIVE:
        assert "escalation" in state.timers
        assert not any(key.startswith("deadline:") for key in state.timers)
        return
    assert "escalation" not in state.timers
    for deadline in PLAYBOOK.deadlines:
        is_open = state.items[deadline_item(PLAYBOOK, deadline)].status is ItemStatus.OPEN
        pending = any(key.startswith(f"deadline:{deadline.id}:") for key in state.timers)
        assert pending == is_open, (deadline.id, state.timers)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_incidents_keep_the_invariants(data: st.DataObject) -> None:
    run = Run(calendar=US_CAL)
    run.start()
    now = T0
    for _ in range(data.draw(st.integers(min_value=1, max_value=40), label="steps")):
        now += data.draw(
            st.sampled_from([timedelta(0), timedelta(minutes=7), timedelta(hours=1), timedelta(days=1)])
        )
        event: Event
        if run.s.timers and bool(data.draw(st.booleans(), label="fire a timer")):
            key = data.draw(st.sampled_from(sorted(run.s.timers)), label="timer")
            now = max(now, run.s.timers[key])
            event = TimerDue(key)
        else:
            event = data.draw(events, label="event")
        before = run.s
        sent, timeline = before.escalations_sent, len(before.timeline)
        try:
            first = run.do(event, now)
        except CoreError:
            assert run.s == before
            continue
        assert run.s.escalations_sent >= sent and len(run.s.timeline) >= timeline
        if not first.effects:  # at most a fired timer was dropped
            assert run.s.model_copy(update={"timers": before.timers}) == before
            assert set(before.timers) - set(run.s.timers) <= {getattr(event, "key", None)}
        check_invariants(run)
        if isinstance(event, Resolved | Reopened):
            continue  # refused when repeated: "already resolved" / "nothing to reopen"
        again = run.do(event, now)
        assert again.effects == () and again.state == first.state
