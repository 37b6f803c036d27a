"""``decide_in_turn``: several events as one decision must be what deciding them one by one gives.

The same final state; the same effects once overwritten edits are left out; the status board rendered once,
at the end, as the last one-by-one decision rendered it. Refused events change nothing and are returned.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core_fixtures import PLAYBOOK, STARTED, T0, UTC_CAL, Run, hours
from sev1bot.core.decide import CoreError, decide, decide_in_turn
from sev1bot.core.effects import EditPost, Effect, StatusBoard, without_superseded
from sev1bot.core.events import Event, ItemChecked, ItemSkipped, ItemUnchecked, Resolved, StatusUpdate
from sev1bot.core.state import IncidentState

KEYS = ["1.1", "1.2", "2.1", "2.3", "3.5", "7.2"]  # 7.2 resolves the incident when checked
EVENTS = st.one_of(
    st.builds(ItemChecked, st.sampled_from(["alice", "bob"]), st.sampled_from(KEYS)),
    st.builds(ItemUnchecked, st.sampled_from(["alice", "bob"]), st.sampled_from(KEYS)),
    st.builds(ItemSkipped, st.just("bob"), st.sampled_from(KEYS)),
    st.builds(StatusUpdate, st.just("alice"), st.sampled_from(["db is back", ""])),
    st.builds(Resolved, st.just("alice"), st.just("fixed")),
)


def started() -> IncidentState:
    run = Run()
    run.start(STARTED, T0)
    return run.s


def one_by_one(
    state: IncidentState, events: list[Event], at: datetime
) -> tuple[IncidentState, list[Effect], int]:
    """The final state, every effect, and how many events were refused."""
    effects: list[Effect] = []
    refused = 0
    for event in events:
        try:
            decision = decide(state, event, PLAYBOOK, at, UTC_CAL)
        except CoreError:
            refused += 1
            continue
        state = decision.state
        effects.extend(decision.effects)
    return state, effects, refused


def is_board(effect: Effect) -> bool:
    return isinstance(effect, EditPost) and effect.ref == StatusBoard()


def steps(events: list[Event]) -> list[object]:
    return [lambda _state, e=event: e for event in events]


@settings(max_examples=80, deadline=None)
@given(st.lists(EVENTS, max_size=12))
def test_in_turn_is_one_by_one_with_the_board_rendered_once(events: list[Event]) -> None:
    state, at = started(), T0 + hours(0.5)
    expected_state, expected, expected_refused = one_by_one(state, events, at)
    decision, refused = decide_in_turn(state, steps(events), PLAYBOOK, at, UTC_CAL)  # type: ignore[arg-type]
    assert decision.state == expected_state
    assert len(refused) == expected_refused
    others = [e for e in without_superseded(expected) if not is_board(e)]
    assert [e for e in decision.effects if not is_board(e)] == others
    boards = [e for e in decision.effects if is_board(e)]
    assert boards == [e for e in expected if is_board(e)][-1:], "one board edit: the last one's, if any"


def test_steps_see_the_state_the_steps_before_them_left() -> None:
    seen: list[str] = []

    def check(state: IncidentState) -> Event | None:
        seen.append(state.items["1.1"].status.value)
        return ItemChecked("alice", "1.1") if state.items["1.1"].status.value == "open" else None

    decision, refused = decide_in_turn(started(), [check, check], PLAYBOOK, T0, UTC_CAL)
    assert seen == ["open", "done"] and not refused
    assert decision.state.items["1.1"].by == "alice"


def test_refused_events_are_returned_and_change_nothing() -> None:
    state = started()
    events: list[Event] = [
        ItemChecked("alice", "9.9"),
        ItemChecked("alice", "1.1"),
        ItemChecked("bob", "0.1"),
    ]
    decision, refused = decide_in_turn(state, steps(events), PLAYBOOK, T0, UTC_CAL)  # type: ignore[arg-type]
    assert len(refused) == 2 and all(isinstance(e, CoreError) for e in refused)
    assert decision.state == decide(state, events[1], PLAYBOOK, T0, UTC_CAL).state


def test_nothing_to_do_is_no_effect() -> None:
    state = started()
    decision, refused = decide_in_turn(state, [lambda s: None], PLAYBOOK, T0, UTC_CAL)
    assert decision.state is state and decision.effects == () and refused == []
