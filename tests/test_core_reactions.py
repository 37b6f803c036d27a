"""Checking items by emoji (core/reactions.py), and dropping superseded edits (core/effects.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core_fixtures import PLAYBOOK, mme_playbook
from sev1bot.core.effects import (
    Cancel,
    CreateChannel,
    DirectMessage,
    EditPost,
    Effect,
    Invite,
    ItemPost,
    Post,
    Schedule,
    SetHeader,
    StageRoot,
    StatusBoard,
    overwrites,
    without_superseded,
)
from sev1bot.core.events import Event, ItemChecked, ItemSkipped, ItemUnchecked
from sev1bot.core.reactions import Mark, Trigger, reaction_event
from sev1bot.core.state import BOT_ACTOR as NOBODY
from sev1bot.core.state import ItemState, ItemStatus

KEY = "2.3"
CHECK, CHECK2, SKIP, OTHER = "white_check_mark", "heavy_check_mark", "fast_forward", "tada"
OPEN, DONE, SKIPPED = ItemStatus.OPEN, ItemStatus.DONE, ItemStatus.SKIPPED


def item(status: ItemStatus = OPEN, via: str | None = None, by: str = "alice") -> ItemState:
    if status is OPEN:
        return ItemState(key=KEY)
    return ItemState(key=KEY, status=status, by=by, via=via, at=datetime(2026, 11, 27, 10, tzinfo=UTC))


def m(username: str, emoji: str = CHECK, at: int = 0) -> Mark:
    return Mark(username, emoji, at)


def added(username: str, emoji: str = CHECK, at: int = 0) -> Trigger:
    return Trigger(Mark(username, emoji, at), added=True)


def removed(username: str, emoji: str = CHECK, at: int = 0) -> Trigger:
    return Trigger(Mark(username, emoji, at), added=False)


def checked(actor: str) -> ItemChecked:
    return ItemChecked(actor, KEY, via="reaction")


def skipped(actor: str) -> ItemSkipped:
    return ItemSkipped(actor, KEY, via="reaction")


def unchecked(actor: str) -> ItemUnchecked:
    return ItemUnchecked(actor, KEY, via="reaction")


@dataclass(frozen=True)
class Case:
    item: ItemState
    marks: list[Mark]
    trigger: Trigger | None
    expected: Event | None


CASES: dict[str, Case] = {
    # -- a check mark arrives
    "check on open item checks it, by the trigger user": Case(
        item(), [m("bob")], added("bob"), checked("bob")
    ),
    "any check emoji of the playbook counts": Case(
        item(), [m("bob", "ballot_box_with_check")], added("bob", "ballot_box_with_check"), checked("bob")
    ),
    "check on item done by reaction changes nothing": Case(
        item(DONE, "reaction"), [m("alice"), m("bob")], added("bob"), None
    ),
    "check on item done by command changes nothing": Case(
        item(DONE, "command"), [m("bob")], added("bob"), None
    ),
    "check on skipped item checks it": Case(
        item(SKIPPED, "reaction"), [m("alice", SKIP, 1), m("bob", CHECK, 2)], added("bob"), checked("bob")
    ),
    # -- a skip mark arrives
    "skip on open item skips it": Case(item(), [m("bob", SKIP)], added("bob", SKIP), skipped("bob")),
    "skip on skipped item changes nothing": Case(
        item(SKIPPED, "reaction"), [m("alice", SKIP, 1), m("bob", SKIP, 2)], added("bob", SKIP), None
    ),
    "skip on item done by command does not undo the command": Case(
        item(DONE, "command"), [m("bob", SKIP)], added("bob", SKIP), None
    ),
    # -- check beats skip
    "check beats a skip that arrives after it": Case(
        item(), [m("alice", CHECK, 1), m("bob", SKIP, 2)], added("bob", SKIP), checked("alice")
    ),
    "check beats a skip that was there first": Case(
        item(), [m("alice", SKIP, 1), m("bob", CHECK, 2)], added("bob"), checked("bob")
    ),
    "a done item with a check and a skip stays done": Case(
        item(DONE, "reaction"), [m("alice", CHECK, 1), m("bob", SKIP, 2)], added("bob", SKIP), None
    ),
    # -- live removals
    "removing the last check reopens, by the remover": Case(
        item(DONE, "reaction", by="alice"), [], removed("carol"), unchecked("carol")
    ),
    "removing the last check reopens an item checked by command": Case(
        item(DONE, "command", by="alice"), [], removed("carol"), unchecked("carol")
    ),
    "removing the last skip reopens an item skipped by command": Case(
        item(SKIPPED, "command"), [], removed("carol", SKIP), unchecked("carol")
    ),
    "removing one of two checks leaves the item done": Case(
        item(DONE, "reaction"), [m("bob")], removed("carol"), None
    ),
    "removing a check leaves a skip: the done item is skipped": Case(
        item(DONE, "command"), [m("dave", SKIP, 5)], removed("carol"), skipped("dave")
    ),
    "removing a check with a skip left on a skipped item changes nothing": Case(
        item(SKIPPED, "reaction"), [m("dave", SKIP, 5)], removed("carol"), None
    ),
    "a removal seen on an open item with a check left checks it": Case(
        item(), [m("dave", CHECK, 3), m("erin", CHECK, 7)], removed("carol"), checked("dave")
    ),
    "removing from an open item with nothing left changes nothing": Case(item(), [], removed("carol"), None),
    # -- reconciliation: no trigger
    "reconcile: item checked by command with no marks stays": Case(item(DONE, "command"), [], None, None),
    "reconcile: item skipped by command with no marks stays": Case(item(SKIPPED, "command"), [], None, None),
    "reconcile: item checked by reaction with no marks reopens, by sev1bot": Case(
        item(DONE, "reaction"), [], None, unchecked(NOBODY)
    ),
    "reconcile: item skipped by reaction with no marks reopens, by sev1bot": Case(
        item(SKIPPED, "reaction"), [], None, unchecked(NOBODY)
    ),
    "reconcile: item done by reaction with only a skip left is skipped": Case(
        item(DONE, "reaction"), [m("bob", SKIP, 4), m("carol", SKIP, 2)], None, skipped("carol")
    ),
    "reconcile: item done by command with only a skip left stays": Case(
        item(DONE, "command"), [m("bob", SKIP)], None, None
    ),
    "reconcile: open item with checks is checked by the earliest": Case(
        item(), [m("bob", CHECK, 5), m("carol", CHECK2, 3), m("dave", SKIP, 1)], None, checked("carol")
    ),
    "reconcile: open item with nothing stays open": Case(item(), [], None, None),
    "reconcile: a done item with a check mark stays": Case(item(DONE, "reaction"), [m("bob")], None, None),
    # -- who did it
    "actor: the trigger user when among the marks, though not the earliest": Case(
        item(), [m("carol", CHECK, 1), m("dave", CHECK, 9)], added("dave", CHECK, 9), checked("dave")
    ),
    "actor: the trigger user among the checks though their trigger was a skip": Case(
        item(),
        [m("carol", CHECK, 1), m("dave", CHECK, 9), m("dave", SKIP, 10)],
        added("dave", SKIP),
        checked("dave"),
    ),
    "actor: the earliest when the trigger user is not among the marks": Case(
        item(), [m("erin", CHECK, 8), m("carol", CHECK, 4)], added("frank", CHECK, 9), checked("carol")
    ),
    "actor: the earliest when the trigger was a removal": Case(
        item(), [m("erin", SKIP, 8), m("carol", SKIP, 4)], removed("erin", CHECK, 9), skipped("carol")
    ),
    # -- other emoji are not marks
    "other emoji do nothing on an open item": Case(item(), [m("bob", OTHER)], added("bob", OTHER), None),
    "other emoji do not keep a reaction-checked item checked": Case(
        item(DONE, "reaction"), [m("bob", OTHER)], None, unchecked(NOBODY)
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_reaction_event(case: Case) -> None:
    assert reaction_event(case.item, PLAYBOOK, case.marks, case.trigger) == case.expected


def test_the_playbook_names_the_emoji() -> None:
    playbook = mme_playbook(reactions={"check": ["thumbsup"], "skip": ["x"]})
    assert reaction_event(item(), playbook, [m("bob", CHECK)], added("bob", CHECK)) is None
    assert reaction_event(item(), playbook, [m("bob", "thumbsup")], added("bob", "thumbsup")) == checked(
        "bob"
    )
    assert reaction_event(item(), playbook, [m("bob", "x")], added("bob", "x")) == skipped("bob")
    assert reaction_event(item(), playbook, [m("bob", SKIP)], added("bob", SKIP)) is None


def test_the_event_names_the_item() -> None:
    other = ItemState(key="7.1")
    assert reaction_event(other, PLAYBOOK, [m("bob")], added("bob")) == ItemChecked("bob", "7.1", "reaction")


# -- properties: events one at a time converge on what the post carries ---------------------------------

PEOPLE = ["alice", "bob", "carol"]
EMOJI = [CHECK, CHECK2, SKIP, OTHER]


def applied(state: ItemState, event: Event | None) -> ItemState:
    """What the core does with the event to the item (see decide._set_item)."""
    if event is None:
        return state
    assert isinstance(event, ItemChecked | ItemSkipped | ItemUnchecked), event
    status = {ItemChecked: DONE, ItemSkipped: SKIPPED, ItemUnchecked: OPEN}[type(event)]
    assert status is not state.status, f"{event} changes nothing: reaction_event should have said None"
    assert event.key == state.key and event.via == "reaction"
    if status is OPEN:
        return ItemState(key=state.key)
    return ItemState(key=state.key, status=status, by=event.actor, via=event.via)


def called_for(marks: dict[tuple[str, str], Mark]) -> ItemStatus:
    """What the marks on a post call for: any check mark beats any skip mark."""
    emoji = {emoji for _, emoji in marks}
    if emoji & {CHECK, CHECK2}:
        return DONE
    return SKIPPED if SKIP in emoji else OPEN


ops = st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(EMOJI), st.booleans()), max_size=25)
starts = st.sampled_from(
    [
        item(),
        item(DONE, "command"),
        item(DONE, "reaction"),
        item(SKIPPED, "command"),
        item(SKIPPED, "reaction"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(start=starts, steps=ops)
def test_live_events_one_at_a_time_end_in_the_state_the_marks_call_for(
    start: ItemState, steps: list[tuple[str, str, bool]]
) -> None:
    """Each reaction decided from what the post carries right after it, as the service does: the item ends
    as the marks call for, except that what a command did is only undone by a person's act on the post."""
    state = start
    marks: dict[tuple[str, str], Mark] = {}
    actors: set[str] = set()
    for at, (who, emoji, add) in enumerate(steps, 1):
        if add:
            if (who, emoji) in marks:
                continue  # the server sends no event for a reaction that is there already
            marks[(who, emoji)] = Mark(who, emoji, at)
        elif marks.pop((who, emoji), None) is None:
            continue  # nor for removing one that is not there
        if emoji == OTHER:
            continue  # the service never asks about emoji the playbook does not name
        actors.add(who)
        trigger = Trigger(Mark(who, emoji, at), add)
        state = applied(state, reaction_event(state, PLAYBOOK, list(marks.values()), trigger))
    called = called_for(marks)
    if not actors:
        assert state == start
    elif state.via == "command":
        # Untouched: adding a skip mark does not undo a command's check.
        assert state == start
        assert called is start.status or (start.status is DONE and called is SKIPPED)
    else:
        assert state.status is called
    if state != start and state.status is not OPEN:
        assert state.by in actors


@settings(max_examples=300, deadline=None)
@given(start=starts, steps=ops)
def test_reconciliation_gets_there_in_one_step(start: ItemState, steps: list[tuple[str, str, bool]]) -> None:
    marks: dict[tuple[str, str], Mark] = {}
    for at, (who, emoji, add) in enumerate(steps, 1):
        if add:
            marks.setdefault((who, emoji), Mark(who, emoji, at))
        else:
            marks.pop((who, emoji), None)
    once = applied(start, reaction_event(start, PLAYBOOK, list(marks.values()), None))
    assert reaction_event(once, PLAYBOOK, list(marks.values()), None) is None, "nothing left to do"
    if start.via == "command" and called_for(marks) is not DONE:
        assert once == start, "reconciliation only undoes what reactions did"
    else:
        assert once.status is called_for(marks)
    if once != start and once.status is not OPEN:
        relevant = [
            m for m in marks.values() if m.emoji != OTHER and (m.emoji == SKIP) == (once.status is SKIPPED)
        ]
        assert once.by == min(relevant, key=lambda m: m.at).username, "whoever reacted first"


# -- without_superseded --------------------------------------------------------------------------------

T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)


def test_without_superseded_keeps_the_last_edit_of_each_post_and_the_order() -> None:
    effects: list[Effect] = [
        Post("first", ref=ItemPost("1.1")),
        EditPost(StatusBoard(), "board 1"),
        EditPost(ItemPost("1.1"), "1.1 a"),
        Schedule("escalation", T0),
        EditPost(ItemPost("1.2"), "1.2 a"),
        SetHeader("header 1"),
        EditPost(StatusBoard(), "board 2"),
        EditPost(ItemPost("1.1"), "1.1 b"),
        Post("second"),
        EditPost(StageRoot(1), "stage 1"),
        EditPost(StageRoot(2), "stage 2"),
        SetHeader("header 2"),
        Cancel("escalation"),
        EditPost(StatusBoard(), "board 3"),
    ]
    assert without_superseded(effects) == [
        Post("first", ref=ItemPost("1.1")),
        Schedule("escalation", T0),
        EditPost(ItemPost("1.2"), "1.2 a"),
        EditPost(ItemPost("1.1"), "1.1 b"),
        Post("second"),
        EditPost(StageRoot(1), "stage 1"),
        EditPost(StageRoot(2), "stage 2"),
        SetHeader("header 2"),
        Cancel("escalation"),
        EditPost(StatusBoard(), "board 3"),
    ]


def test_without_superseded_keeps_everything_that_adds_or_schedules() -> None:
    effects: list[Effect] = [
        CreateChannel("sev1-x", "Sev 1 X", "header", "purpose"),
        Invite(("bob",)),
        Post("same", ref=StatusBoard(), pin=True),
        Post("same", ref=StatusBoard(), pin=True),
        Post("ping", dedupe_key="escalation:1"),
        Post("ping", dedupe_key="escalation:1"),
        DirectMessage("ian", "hello"),
        DirectMessage("ian", "hello"),
        Schedule("escalation", T0),
        Schedule("escalation", T0 + timedelta(hours=1)),
        Cancel("escalation"),
        Cancel("escalation"),
    ]
    assert without_superseded(effects) == effects
    assert without_superseded([]) == []


def test_a_post_is_not_superseded_by_an_edit_of_it() -> None:
    effects: list[Effect] = [Post("board", ref=StatusBoard(), pin=True), EditPost(StatusBoard(), "board 2")]
    assert without_superseded(effects) == effects


def test_the_same_edit_twice_is_sent_once() -> None:
    edit = EditPost(ItemPost("3.1"), "same text")
    assert without_superseded([edit, Post("x"), edit]) == [Post("x"), edit]


refs = st.one_of(
    st.just(StatusBoard()),
    st.builds(StageRoot, st.integers(1, 3)),
    st.builds(ItemPost, st.sampled_from(["1.1", "1.2", "2.1"])),
)
texts = st.sampled_from(["a", "b", "c"])
effects_strategy = st.lists(
    st.one_of(
        st.builds(EditPost, refs, texts),
        st.builds(SetHeader, texts),
        st.builds(Post, texts, ref=st.none() | refs),
        st.builds(Schedule, st.sampled_from(["escalation", "deadline:x"]), st.just(T0)),
        st.builds(Cancel, st.sampled_from(["escalation", "deadline:x"])),
        st.builds(DirectMessage, st.sampled_from(["ian", "bob"]), texts),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(effects=effects_strategy)
def test_without_superseded_keeps_the_last_per_target_and_every_other_effect_in_order(
    effects: list[Effect],
) -> None:
    kept = without_superseded(effects)
    last = {overwrites(e): n for n, e in enumerate(effects) if overwrites(e) is not None}
    expected_positions = [
        n for n, e in enumerate(effects) if overwrites(e) is None or last[overwrites(e)] == n
    ]
    assert kept == [effects[n] for n in expected_positions]
    targets = [overwrites(e) for e in kept if overwrites(e) is not None]
    assert len(targets) == len(set(targets)), "one effect per target"
    assert without_superseded(kept) == kept
