"""The state machine: starting an incident, every command and reaction event, idempotency and refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core_fixtures import (
    PLAYBOOK,
    STARTED,
    T0,
    US_CAL,
    UTC_CAL,
    Run,
    dms,
    edits,
    hours,
    mme_data,
    mme_playbook,
    of_type,
    posts,
    schedules,
    seed_playbook_text,
)
from sev1bot.core import CoreError, decide, render, start
from sev1bot.core.effects import (
    Cancel,
    CreateChannel,
    DirectMessage,
    EditPost,
    Invite,
    ItemPost,
    Post,
    Schedule,
    SetHeader,
    StageRoot,
    StatusBoard,
)
from sev1bot.core.events import (
    Assigned,
    ChannelNamed,
    Event,
    ItemChecked,
    ItemSkipped,
    ItemUnchecked,
    OwnerChanged,
    Reopened,
    Resolved,
    Started,
    StatusUpdate,
    TimerDue,
)
from sev1bot.core.state import IncidentStatus, ItemStatus
from sev1bot.core.text import ZWJ

LATER = T0 + hours(0.5)
STARTED_CHANNEL = start(STARTED, PLAYBOOK, T0, UTC_CAL).effects[0]


def started_run(**playbook_overrides: Any) -> Run:
    run = Run(playbook=mme_playbook(**playbook_overrides)) if playbook_overrides else Run()
    run.start()
    return run


def test_the_fixture_playbook_follows_the_seed() -> None:
    seed = seed_playbook_text()
    stages = re.findall(r"^## (\d+) - (.+)$", seed, re.MULTILINE)
    assert [(int(n), title.strip()) for n, title in stages] == [
        (n, stage.title) for n, stage in enumerate(PLAYBOOK.stages, 1)
    ]
    per_stage = [part.count("[ ]") for part in re.split(r"^## \d+ - .+$", seed, flags=re.MULTILINE)[1:]]
    assert per_stage == [len(stage.items) for stage in PLAYBOOK.stages]
    keys: list[str] = PLAYBOOK.keys()
    ceo_items = [key for key in keys if PLAYBOOK.item(key).customer_update]
    assert len(ceo_items) == seed.count("(CEO if MME Sev 1 > 1 hour)") == 7


# -- start -----------------------------------------------------------------------------------------


def test_start_creates_the_channel_then_the_board_then_each_stage_before_its_items() -> None:
    decision = start(STARTED, PLAYBOOK, T0, UTC_CAL)
    fx = decision.effects
    assert fx[0] == CreateChannel(
        name="sev1-2026-11-27-acme-corp",
        display_name="Sev 1: Acme Corp (2026-11-27)",
        header="**Sev 1 · Acme Corp** · owner @alice · active · Login latency above 30s",
        purpose="MME Sev 1 Outages: Acme Corp",
    )
    assert fx[1] == Invite(("alice", "brent", "stu", "jason", "ian"))
    board = fx[2]
    assert isinstance(board, Post) and board.ref == StatusBoard() and board.pin
    refs = [(e.ref, e.thread) for e in fx[3:-1] if isinstance(e, Post)]
    expected: list[tuple[Any, Any]] = []
    for s, stage in enumerate(PLAYBOOK.stages, 1):
        expected.append((StageRoot(s), None))
        expected += [(ItemPost(f"{s}.{i}"), StageRoot(s)) for i in range(1, len(stage.items) + 1)]
    assert refs == expected
    assert len(fx) == 3 + 8 + 40 + 1
    assert fx[-1] == Schedule("escalation", T0 + hours(1))


def test_start_state() -> None:
    state = start(STARTED, PLAYBOOK, T0, UTC_CAL).state
    assert (state.id, state.playbook_id, state.channel_name) == (
        "inc1",
        "mme-sev1",
        "sev1-2026-11-27-acme-corp",
    )
    assert (state.customer, state.summary, state.owner, state.reporter) == (
        "Acme Corp", "Login latency above 30s", "alice", "alice",
    )  # fmt: skip
    assert state.status is IncidentStatus.ACTIVE and state.started_at == T0 and state.resolved_at is None
    assert list(state.items) == PLAYBOOK.keys() and len(state.items) == 40
    assert all(item.status is ItemStatus.OPEN for item in state.items.values())
    assert [(e.actor, e.kind, e.at) for e in state.timeline] == [("alice", "started", T0)]
    assert state.timers == {"escalation": T0 + hours(1)}
    assert state.escalations_sent == 0


def test_start_item_posts_carry_descriptions_or_say_they_are_pending() -> None:
    messages = {e.ref: e.message for e in posts(start(STARTED, PLAYBOOK, T0, UTC_CAL).effects)}
    assert messages[ItemPost("2.3")].startswith(
        "**2.3** Share output from support bundle\nLink to relevant docs"
    )
    assert "_Details to be written._" in messages[ItemPost("3.2")]
    assert "React with :white_check_mark: to check" in messages[ItemPost("3.2")]
    assert messages[StageRoot(2)].startswith("### 2 · Data Gathering — 0/5 done")


def test_start_dedupes_invites_and_skips_escalation_when_the_playbook_has_none() -> None:
    data = mme_data(escalation=None)
    decision = start(Started("i", "ian", "Acme", "c"), mme_playbook(**data), T0, UTC_CAL)
    assert of_type(decision.effects, Invite) == [Invite(("ian", "brent", "stu", "jason"))]
    assert schedules(decision.effects) == {} and decision.state.timers == {}


def test_start_neutralizes_the_customer_and_summary() -> None:
    event = Started("i", "alice", "  @all [Acme](https://evil.example)\u202e ", "c", summary="@here\x00 down")
    fx = start(event, PLAYBOOK, T0, UTC_CAL).effects
    channel = fx[0]
    assert isinstance(channel, CreateChannel)
    for text in (channel.display_name, channel.header, channel.purpose, posts(fx)[0].message):
        assert "@all" not in text and "@here" not in text and "](" not in text and "\u202e" not in text
    assert channel.display_name == f"Sev 1: @{ZWJ}all [Acme]\u200b(https://evil.example) (2026-11-27)"[:64]
    assert len(channel.display_name) <= 64


def test_start_refuses_an_empty_customer_and_a_naive_clock() -> None:
    with pytest.raises(CoreError, match="Name the customer"):
        start(Started("i", "alice", "   ", "c"), PLAYBOOK, T0, UTC_CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        start(STARTED, PLAYBOOK, datetime(2026, 11, 27, 10), UTC_CAL)


# -- every event kind: state changes and effects ---------------------------------------------------


def test_item_checked() -> None:
    run = started_run()
    fx = run.do(ItemChecked("bob", "2.3"), LATER).effects
    assert run.s.items["2.3"].model_dump() == {
        "key": "2.3", "status": "done", "by": "bob", "at": LATER, "assignee": None, "via": "command",
    }  # fmt: skip
    assert [type(e).__name__ for e in fx] == ["EditPost", "EditPost", "EditPost"]
    messages = edits(fx)
    assert messages[ItemPost("2.3")].endswith(":white_check_mark: done by @bob at 10:30 UTC")
    assert "React with" not in messages[ItemPost("2.3")]
    assert messages[StageRoot(2)].startswith("### 2 · Data Gathering — 1/5 done\n")
    assert "**Progress:** 1/40 items" in messages[StatusBoard()]
    assert (run.s.timeline[-1].actor, run.s.timeline[-1].kind) == ("bob", "checked")


def test_item_skipped_then_unchecked() -> None:
    run = started_run()
    fx = run.do(ItemSkipped("bob", "2.1"), LATER).effects
    assert run.s.items["2.1"].status is ItemStatus.SKIPPED
    assert ":fast_forward: skipped by @bob at 10:30 UTC" in edits(fx)[ItemPost("2.1")]
    assert edits(fx)[StageRoot(2)].startswith("### 2 · Data Gathering — 1/5 done (1 skipped)")
    fx = run.do(ItemUnchecked("carol", "2.1"), LATER + hours(0.1)).effects
    item = run.s.items["2.1"]
    assert (item.status, item.by, item.at) == (ItemStatus.OPEN, None, None)
    assert "React with :white_check_mark: to check" in edits(fx)[ItemPost("2.1")]
    assert [e.kind for e in run.s.timeline] == ["started", "skipped", "unchecked"]


def test_item_by_slug_and_a_completed_stage() -> None:
    run = started_run()
    for n in range(1, 5):
        fx = run.do(ItemChecked("bob", f"1.{n}"), LATER).effects
    assert edits(fx)[StageRoot(1)].startswith("### 1 · Escalation — 4/4 done :white_check_mark:")
    run.do(ItemChecked("bob", "retrospective"), LATER)
    assert run.s.items["8.1"].status is ItemStatus.DONE


def test_assigned() -> None:
    run = started_run()
    fx = run.do(Assigned("alice", "2.3", " @Bob "), LATER).effects
    assert run.s.items["2.3"].assignee == "bob"
    assert fx[0] == Invite(("bob",))
    assert edits(fx)[ItemPost("2.3")].split("\n")[-2] == "assigned to @bob"
    assert run.s.timeline[-1].kind == "assigned"


def test_owner_changed() -> None:
    run = started_run()
    fx = run.do(OwnerChanged("alice", "bob"), LATER).effects
    assert run.s.owner == "bob" and run.s.reporter == "alice"
    assert fx[0] == Invite(("bob",))
    header = of_type(fx, SetHeader)[0].header
    assert "owner @bob" in header
    assert f"**Owner:** @{ZWJ}bob" in edits(fx)[StatusBoard()]
    assert run.s.timeline[-1].kind == "owner"


def test_status_update() -> None:
    run = started_run()
    fx = run.do(
        StatusUpdate("alice", "Patch deployed to staging.\n@channel see [log](http://x)"), LATER
    ).effects
    post = posts(fx)[0]
    assert post.message.startswith(":loudspeaker: **Update** from @alice:\n> Patch deployed to staging.\n> @")
    assert "@channel" not in post.message and "](" not in post.message
    assert "**Last update** 0s ago by @\u200dalice (10:30 UTC): Patch deployed" in edits(fx)[StatusBoard()]
    assert (run.s.timeline[-1].kind, run.s.timeline[-1].text) == (
        "update", "Patch deployed to staging.\n@channel see [log](http://x)",
    )  # fmt: skip


def test_resolved_by_command() -> None:
    run = started_run()
    at = T0 + hours(2)
    fx = run.do(Resolved("alice", "Fixed in 10.11.3"), at).effects
    assert run.s.status is IncidentStatus.RESOLVED and run.s.resolved_at == at
    assert [type(e).__name__ for e in fx] == ["SetHeader", "EditPost", "Post", "Cancel"] + ["Schedule"] * 8
    assert fx[3] == Cancel("escalation")
    assert "resolved" in of_type(fx, SetHeader)[0].header
    message = posts(fx)[0].message
    assert message.startswith(":white_check_mark: **Resolved** by @alice.")
    assert "> Fixed in 10.11.3" in message
    assert "- **Incident retrospective** (8.1): due Mon 30 Nov 2026 12:00 UTC" in message
    assert (run.s.timeline[-1].kind, run.s.timeline[-1].text) == ("resolved", "Fixed in 10.11.3")


def test_resolved_by_checking_the_resolution_item() -> None:
    run = started_run()
    fx = run.do(ItemChecked("bob", "customer-confirmation"), LATER).effects
    assert run.s.status is IncidentStatus.RESOLVED and run.s.items["7.2"].status is ItemStatus.DONE
    assert [type(e).__name__ for e in fx[:2]] == ["EditPost", "EditPost"]  # the item, its stage
    assert Cancel("escalation") in fx
    assert posts(fx)[0].message.startswith(":white_check_mark: **Resolved** by checking 7.2 by @bob.")
    assert [e.kind for e in run.s.timeline[-2:]] == ["checked", "resolved"]
    # Unchecking it later does not reopen; checking it again does not resolve twice.
    run.do(ItemUnchecked("bob", "7.2"), LATER + hours(1))
    fx = run.do(ItemChecked("bob", "7.2"), LATER + hours(2)).effects
    assert run.s.status is IncidentStatus.RESOLVED and run.s.resolved_at == LATER
    assert posts(fx) == []


def test_reopened() -> None:
    run = started_run()
    run.do(Resolved("alice"), T0 + hours(1.5))
    fx = run.do(Reopened("alice"), T0 + hours(3.25)).effects
    assert run.s.status is IncidentStatus.ACTIVE and run.s.resolved_at is None
    assert not any(key.startswith("deadline:") for key in run.s.timers)
    assert run.s.timers == {"escalation": T0 + hours(4)}
    assert "Reopened** by @alice" in posts(fx)[0].message and "14:00 UTC" in posts(fx)[0].message
    assert "active" in of_type(fx, SetHeader)[0].header
    assert run.s.timeline[-1].kind == "reopened"


LINK = "https://mm.example.com/mme/channels/sev1-2026-11-27-acme-corp-2"


def test_channel_named_keeps_the_real_name_and_tells_the_reporter_with_a_link() -> None:
    run = started_run()
    run.do(OwnerChanged("alice", "bob"), T0 + hours(0.1))
    fx = run.do(ChannelNamed("sev1-2026-11-27-acme-corp-2", LINK), LATER).effects
    assert run.s.channel_name == "sev1-2026-11-27-acme-corp-2"
    assert (run.s.timeline[-1].actor, run.s.timeline[-1].kind) == ("sev1bot", "channel")
    assert "sev1-2026-11-27-acme-corp-2" in run.s.timeline[-1].text
    (dm,) = fx  # nothing else: no post, no edit, no timer
    assert isinstance(dm, DirectMessage) and dm.username == "alice"  # the reporter, who got the first link
    assert dm.dedupe_key == "channel:sev1-2026-11-27-acme-corp-2:dm:alice"
    assert f"[~sev1-2026-11-27-acme-corp-2]({LINK})" in dm.message
    assert "`sev1-2026-11-27-acme-corp`" in dm.message and "~sev1-2026-11-27-acme-corp " not in dm.message
    assert "Acme Corp" in dm.message
    # Pings and DMs that name the channel from now on name the real one.
    pings = dms(run.fire("escalation", T0 + hours(1)).effects)
    assert pings and all("~sev1-2026-11-27-acme-corp-2." in d.message for d in pings)


def test_channel_named_as_it_already_is_changes_nothing() -> None:
    run = started_run()
    before = run.s
    assert run.do(ChannelNamed("sev1-2026-11-27-acme-corp", LINK), LATER).effects == ()
    assert run.s == before


def test_the_stuck_message_says_what_failed_and_what_to_do() -> None:
    state = started_run().s
    error = "create_channel: @all [x](http://e.example) (HTTP 403, api.context.permissions.app_error)"
    text = render.delivery_stuck_dm(state, STARTED_CHANNEL, error, 5, timedelta(minutes=1))
    assert "could not create the incident channel for the Sev 1 for Acme Corp" in text
    assert "5 attempts failed" in text and "at most 1m apart" in text
    assert "api.context.permissions.app_error" in text and "@all" not in text and "](http" not in text
    assert "run it by hand" in text and "create private channels" in text and "`inc1`" in text
    post = render.delivery_stuck_dm(state, Post("x"), "boom", 7, timedelta(minutes=1))
    assert "could not post in the incident channel" in post and "~sev1-2026-11-27-acme-corp" in post


# -- idempotency -----------------------------------------------------------------------------------

REPEATABLE: list[Event] = [
    ItemChecked("bob", "2.3"),
    ItemSkipped("bob", "2.3"),
    Assigned("alice", "2.3", "bob"),
    OwnerChanged("alice", "bob"),
    StatusUpdate("alice", "Still looking"),
    ItemChecked("bob", "7.2"),  # resolves
    ChannelNamed("sev1-2026-11-27-acme-corp-2", LINK),
]


@pytest.mark.parametrize("event", REPEATABLE, ids=lambda e: type(e).__name__)
def test_repeating_an_event_changes_nothing(event: Event) -> None:
    run = started_run()
    first = run.do(event, LATER)
    assert first.effects
    again = run.do(event, LATER + hours(0.1))
    assert again.state == first.state
    assert again.effects == ()


def test_unchecking_an_open_item_and_a_duplicate_timer_change_nothing() -> None:
    run = started_run()
    before = run.s
    assert run.do(ItemUnchecked("bob", "2.3"), LATER).effects == ()
    assert run.s == before
    assert run.fire("escalation", T0 + hours(0.5)).effects == ()  # not due yet: a stale duplicate
    assert run.fire("no-such-timer", T0 + hours(0.5)).effects == ()
    assert run.s == before


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (ItemChecked("bob", "9.9"), 'Unknown item "9.9" (the checklist has 8 stages).'),
        (ItemChecked("bob", "0.1"), 'Unknown item "0.1" (the checklist has 8 stages).'),
        (ItemSkipped("bob", "2.9"), 'Unknown item "2.9" (stage 2 has 5 items).'),
        (ItemUnchecked("bob", "retro"), 'Unknown item "retro": name it as stage.item, e.g. "2.3".'),
        (Assigned("bob", "2.3", "@all"), 'The assignee "@all" is a channel-wide mention, not a person.'),
        (Assigned("bob", "2.3", "bob smith"), 'The assignee "bob smith" is not a username'),
        (OwnerChanged("bob", "@here"), 'The new owner "@here" is a channel-wide mention, not a person.'),
        (StatusUpdate("bob", " \n "), "The update is empty"),
        (Reopened("alice"), "This incident is not resolved, so there is nothing to reopen."),
        (STARTED, "This incident has already started."),
    ],
)
def test_refusals_say_what_is_wrong(event: Event, message: str) -> None:
    run = started_run()
    before = run.s
    with pytest.raises(CoreError) as caught:
        run.do(event, LATER)
    assert str(caught.value).startswith(message)
    assert run.s == before


def test_resolving_twice_is_refused() -> None:
    run = started_run()
    run.do(Resolved("alice"), LATER)
    with pytest.raises(CoreError, match=r"This incident is already resolved\."):
        run.do(Resolved("alice"), LATER)


def test_resolution_by_command_can_be_switched_off() -> None:
    run = started_run(resolution={"command": False, "items": ["customer-confirmation"]})
    with pytest.raises(CoreError, match=r"This playbook is resolved by checking item 7\.2, not by command\."):
        run.do(Resolved("alice"), LATER)


def test_permissions_limit_resolve_reopen_and_owner_to_the_owner_and_named_roles() -> None:
    run = started_run(permissions={"resolve": ["de_lead"], "owner": ["de_lead", "ceo"]})
    with pytest.raises(
        CoreError, match=r"Only the owner \(@alice\) or the DE lead can resolve this incident."
    ):
        run.do(Resolved("mallory"), LATER)
    with pytest.raises(CoreError, match=r"or the DE lead or the CEO can hand over ownership"):
        run.do(OwnerChanged("mallory", "mallory"), LATER)
    run.do(Resolved("jason"), LATER)
    with pytest.raises(CoreError, match="can reopen this incident"):
        run.do(Reopened("mallory"), LATER)
    run.do(Reopened("alice"), LATER)
    run.do(OwnerChanged("ian", "bob"), LATER)
    assert run.s.owner == "bob"
    # Items stay open to everyone, including the resolution item.
    run.do(ItemChecked("mallory", "7.2"), LATER)
    assert run.s.status is IncidentStatus.RESOLVED


def test_decide_checks_its_inputs() -> None:
    state = start(STARTED, PLAYBOOK, T0, UTC_CAL).state
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(state, TimerDue("escalation"), PLAYBOOK, datetime(2026, 11, 27, 12), UTC_CAL)
    other = mme_playbook(id="other")
    with pytest.raises(ValueError, match="runs playbook 'mme-sev1', not 'other'"):
        decide(state, ItemChecked("bob", "1.1"), other, LATER, UTC_CAL)


def test_times_are_stored_in_utc_and_shown_in_the_calendar_timezone() -> None:
    run = Run(calendar=US_CAL)
    run.start(at=T0)
    fx = run.do(ItemChecked("bob", "1.1"), LATER.astimezone(US_CAL.zone)).effects
    assert run.s.items["1.1"].at == LATER and run.s.items["1.1"].at.tzinfo is UTC
    assert edits(fx)[ItemPost("1.1")].endswith("done by @bob at 05:30 EST")
    assert isinstance(fx[0], EditPost)


def test_the_shipped_playbook_runs_end_to_end() -> None:
    from sev1bot.playbook.loader import load_playbook

    playbook = load_playbook(Path(__file__).parents[1] / "playbooks" / "mme-sev1.yaml")
    run = Run(playbook=playbook, calendar=US_CAL)
    fx = run.start(Started("inc9", "alice", "Acme", "sev1-2026-11-27-acme")).effects
    assert len(posts(fx)) == 1 + len(playbook.stages) + len(playbook.keys())
    assert of_type(fx, Invite)[0].usernames[0] == "alice"
    run.fire("escalation", T0 + hours(1))
    assert run.s.escalations_sent == 1
    with pytest.raises(CoreError, match="can resolve this incident"):
        run.do(Resolved("mallory"), T0 + hours(2))
    run.do(ItemChecked("bob", "7.2"), T0 + hours(2))
    assert run.s.status is IncidentStatus.RESOLVED
    assert sorted(run.s.timers) == sorted(
        f"deadline:{d.id}:{part}" for d in playbook.deadlines for part in ("soon", "due")
    )
    for deadline in playbook.deadlines:
        run.do(ItemChecked("bob", deadline.item), T0 + hours(3))
    assert run.s.timers == {}


def test_items_remember_whether_a_reaction_or_a_command_closed_them() -> None:
    run = started_run()
    run.do(ItemChecked("bob", "2.3", via="reaction"), LATER)
    assert [run.s.items["2.3"].via] == ["reaction"]
    run.do(ItemUnchecked("bob", "2.3", via="reaction"), LATER)
    assert [run.s.items["2.3"].via] == [None]
    run.do(ItemSkipped("bob", "2.4"), LATER)
    assert run.s.items["2.4"].via == "command"
