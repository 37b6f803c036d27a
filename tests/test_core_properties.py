"""Random event sequences against invariants the adapters rely on.

Whatever happens, in any order: refusals leave the state alone, repeating an accepted event changes nothing,
``state.timers`` mirrors Schedule/Cancel (checked by ``Run``), an active incident always has its escalation
timer (and with ``updates.every`` its customer reminder) armed, a resolved one has a pending reminder for
exactly the deadlines whose item is still open and no customer clock timer, and the customer clock's lists
only grow.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core_fixtures import PLAYBOOK, T0, US_CAL, Run, mme_playbook
from sev1bot.core import CoreError
from sev1bot.core.escalation import deadline_item
from sev1bot.core.events import (
    Assigned,
    EtaSet,
    Event,
    ItemChecked,
    ItemSkipped,
    ItemUnchecked,
    OutageSince,
    OwnerChanged,
    Reopened,
    Resolved,
    StatusUpdate,
    TimerDue,
)
from sev1bot.core.moments import parse_moment
from sev1bot.core.state import IncidentStatus, ItemStatus
from sev1bot.playbook.schema import Playbook

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
    st.builds(EtaSet, PEOPLE, st.sampled_from(["17:30", "2h", "tomorrow 9am", "45m ago"]).map(parse_moment)),
    st.builds(OutageSince, PEOPLE, st.sampled_from(["13:40", "45m", "3h", "8d", "in 5m"]).map(parse_moment)),
)
CLOCK = mme_playbook(updates={"every": "30m"})


def check_invariants(run: Run) -> None:
    state = run.s
    assert (state.status is IncidentStatus.RESOLVED) == (state.resolved_at is not None)
    if state.status is IncidentStatus.ACTIVE:
        assert "escalation" in state.timers
        assert ("customer" in state.timers) == (run.playbook.updates.every is not None)
        assert not any(key.startswith("deadline:") for key in state.timers)
        return
    assert not {"escalation", "customer", "eta"} & set(state.timers)
    for deadline in PLAYBOOK.deadlines:
        is_open = state.items[deadline_item(PLAYBOOK, deadline)].status is ItemStatus.OPEN
        pending = any(key.startswith(f"deadline:{deadline.id}:") for key in state.timers)
        assert pending == is_open, (deadline.id, state.timers)


@pytest.mark.parametrize("playbook", [PLAYBOOK, CLOCK], ids=["no-interval", "every-30m"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_incidents_keep_the_invariants(playbook: Playbook, data: st.DataObject) -> None:
    run = Run(playbook=playbook, calendar=US_CAL)
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
        assert run.s.customer_replies[: len(before.customer_replies)] == before.customer_replies
        assert run.s.etas[: len(before.etas)] == before.etas
        if not first.effects:  # at most a fired timer was dropped
            assert run.s.model_copy(update={"timers": before.timers}) == before
            assert set(before.timers) - set(run.s.timers) <= {getattr(event, "key", None)}
        check_invariants(run)
        if isinstance(event, Resolved | Reopened):
            continue  # refused when repeated: "already resolved" / "nothing to reopen"
        again = run.do(event, now)
        assert again.effects == () and again.state == first.state
