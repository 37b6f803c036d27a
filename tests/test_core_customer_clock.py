"""The customer clock in the core: replies recorded by checking a reply item, the reminder while the customer
waits (once per interval, one catch-up, stopped and resumed), the CEO kept in the loop of every reply, the ETA
and its flag, and the outage's real start moving the escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core_fixtures import (
    PLAYBOOK,
    T0,
    US_CAL,
    UTC_CAL,
    Run,
    cancels,
    dms,
    edits,
    hours,
    mme_playbook,
    posts,
    schedules,
)
from sev1bot.core import CoreError, render
from sev1bot.core.decide import decide_in_turn
from sev1bot.core.effects import StatusBoard
from sev1bot.core.escalation import board_edit
from sev1bot.core.events import (
    EtaSet,
    ItemChecked,
    ItemSkipped,
    ItemUnchecked,
    OutageSince,
    OwnerChanged,
    Reopened,
    Resolved,
)
from sev1bot.core.moments import Relative, parse_moment
from sev1bot.core.state import CustomerReply, Eta

CLOCK = mme_playbook(updates={"every": "30m"})  # the fixture playbook with the shipped interval


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def board(run: Run, at: object) -> str:
    return board_edit(run.s, run.playbook, at, run.calendar).message  # type: ignore[arg-type]


def started(playbook: object = CLOCK) -> Run:
    run = Run(playbook=playbook)  # type: ignore[arg-type]
    run.start()
    return run


def eta(text: str) -> EtaSet:
    return EtaSet("bob", parse_moment(text))


# -- replies and the reminder ----------------------------------------------------------------------


def test_the_start_arms_the_reminder_and_the_board_says_nobody_replied_yet() -> None:
    run = started()
    assert run.s.timers["customer"] == T0 + minutes(30)
    text = edits(run.last.effects if run.last else ())
    assert not text  # the start posts the board, it edits nothing
    shown = board(run, T0)
    assert "**Last reply to the customer:** none yet · the owner is reminded at 10:30 UTC" in shown
    assert "**ETA:** none given yet" in shown


def test_checking_a_reply_item_records_the_reply_and_re_arms_the_reminder() -> None:
    run = started()
    decision = run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    assert run.s.customer_replies == (CustomerReply(at=T0 + minutes(10), by="bob", item="1.4"),)
    assert run.s.timeline[-1].kind == "reply" and run.s.timeline[-1].actor == "bob"
    assert schedules(decision.effects) == {"customer": T0 + minutes(40)}
    assert not dms(decision.effects), "the CEO rule does not apply before an hour"
    later = board(run, T0 + minutes(50))
    assert "**Last reply to the customer:** 40m ago by @\u200dbob (1.4, 10:10 UTC)" in later
    assert "the owner is reminded at 10:40 UTC" in later


def test_other_items_and_skips_are_no_reply() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.3"), T0 + minutes(5))
    run.do(ItemSkipped("bob", "3.6"), T0 + minutes(6))
    assert run.s.customer_replies == () and run.s.timers["customer"] == T0 + minutes(30)


def test_an_unchecked_reply_stays_recorded_and_checking_again_is_another_reply() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    unchecked = run.do(ItemUnchecked("bob", "1.4"), T0 + minutes(11))
    assert "customer" not in schedules(unchecked.effects) and len(run.s.customer_replies) == 1
    run.do(ItemChecked("carol", "1.4"), T0 + minutes(12))
    assert [r.by for r in run.s.customer_replies] == ["bob", "carol"]
    assert run.s.timers["customer"] == T0 + minutes(42)


def test_a_reply_by_reaction_counts_too_and_the_board_is_edited_once() -> None:
    run = started()
    steps = [
        lambda s: ItemChecked("bob", "1.3", via="reaction"),
        lambda s: ItemChecked("bob", "1.4", "reaction"),
    ]
    decision, refused = decide_in_turn(run.s, steps, CLOCK, T0 + minutes(10), UTC_CAL)
    assert refused == [] and len(decision.state.customer_replies) == 1
    assert decision.state.timers["customer"] == T0 + minutes(40)
    assert sum(1 for e in decision.effects if getattr(e, "ref", None) == StatusBoard()) == 1


def test_the_owner_is_reminded_once_per_interval_without_a_reply() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    first = run.fire("customer", T0 + minutes(40))
    (post,) = posts(first.effects)
    assert post.dedupe_key == "customer:1:1"
    assert post.message.startswith(
        "@alice :hourglass_flowing_sand: **Acme Corp is waiting**: no reply to the customer for 30m "
        "(the last by @\u200dbob)."
    )
    assert "Reply with an ETA (`/sev1 eta <time>`) and check 3.6 once it is sent." in post.message
    assert schedules(first.effects) == {"customer": T0 + minutes(70)}
    assert run.s.timeline[-1].kind == "reminder"
    assert run.fire("customer", T0 + minutes(40)).effects == (), "a duplicate firing does nothing"
    second = run.fire("customer", T0 + minutes(70))
    assert [p.dedupe_key for p in posts(second.effects)] == ["customer:1:2"]


def test_before_any_reply_the_wait_counts_from_the_start() -> None:
    run = started()
    (post,) = posts(run.fire("customer", T0 + minutes(30)).effects)
    assert post.dedupe_key == "customer:0:1"
    assert "no reply to the customer since the incident began 30m ago" in post.message


def test_after_downtime_one_catch_up_reminder_for_the_latest_slot() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    late = run.fire("customer", T0 + minutes(135))  # slots at 40, 70, 100 and 130 passed unseen
    assert [p.dedupe_key for p in posts(late.effects)] == ["customer:1:4"]
    assert schedules(late.effects) == {"customer": T0 + minutes(160)}


def test_the_reminder_names_the_eta_once_there_is_one() -> None:
    run = started()
    run.do(eta("17:30"), T0 + minutes(1))
    (post,) = posts(run.fire("customer", T0 + minutes(30)).effects)
    assert "Reply with the ETA (17:30 UTC) and check 1.4 once it is sent." in post.message


def test_resolving_stops_the_reminder_and_reopening_resumes_it_at_the_next_slot() -> None:
    run = started()
    run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    run.do(eta("17:30"), T0 + minutes(11))
    resolved = run.do(Resolved("jason"), T0 + minutes(20))
    assert sorted(k for k in cancels(resolved.effects) if k in {"customer", "eta"}) == ["customer", "eta"]
    assert "customer" not in run.s.timers and "eta" not in run.s.timers
    assert "reminded" not in board(run, T0 + minutes(21))
    reopened = run.do(Reopened("jason"), T0 + minutes(95))
    assert schedules(reopened.effects)["customer"] == T0 + minutes(100)
    assert schedules(reopened.effects)["eta"] == T0 + hours(7.5)


def test_a_playbook_without_an_interval_records_replies_but_never_reminds() -> None:
    run = started(PLAYBOOK)
    assert "customer" not in run.s.timers
    decision = run.do(ItemChecked("bob", "1.4"), T0 + minutes(10))
    assert len(run.s.customer_replies) == 1 and "customer" not in schedules(decision.effects)
    assert "**Last reply to the customer:** 0s ago by @\u200dbob" in edits(decision.effects)[StatusBoard()]


# -- the CEO in the loop ---------------------------------------------------------------------------


def test_once_the_outage_passes_an_hour_each_reply_goes_to_the_ceo() -> None:
    run = started()
    run.do(eta("17:30"), T0 + minutes(30))
    decision = run.do(ItemChecked("bob", "1.4"), T0 + minutes(61))
    (dm,) = dms(decision.effects)
    assert (dm.username, dm.dedupe_key) == ("ian", "customer-reply:0:ian")
    assert dm.message == (
        ":speech_balloon: **Reply to Acme Corp**: @\u200dbob checked 1.4 Reply to customer "
        "(CEO if MME Sev 1 > 1 hour) at 11:01 UTC; the ETA is 17:30 UTC. The outage has lasted 1h 1m "
        "(owner @\u200dalice, ~sev1-2026-11-27-acme-corp)."
    )
    second = run.do(ItemChecked("carol", "3.6"), T0 + minutes(90))
    assert [d.dedupe_key for d in dms(second.effects)] == ["customer-reply:1:ian"]


def test_a_reply_without_an_eta_says_so_and_the_ceo_is_not_told_of_his_own() -> None:
    run = started()
    decision = run.do(ItemChecked("bob", "1.4"), T0 + hours(2))
    assert "no ETA has been given yet" in dms(decision.effects)[0].message
    assert dms(run.do(ItemChecked("ian", "3.6"), T0 + hours(3)).effects) == []


def test_the_hour_counts_from_the_outage_start_given_with_since() -> None:
    run = started()
    run.do(OutageSince("bob", Relative(minutes(50))), T0 + minutes(15))  # the outage began at 09:25
    decision = run.do(ItemChecked("bob", "1.4"), T0 + minutes(36))
    assert [d.username for d in dms(decision.effects)] == ["ian"]


# -- the outage's start ----------------------------------------------------------------------------


def test_since_past_the_hour_makes_the_due_ping_go_at_once() -> None:
    run = started()
    decision = run.do(OutageSince("bob", parse_moment("08:40")), T0 + minutes(10))
    assert run.s.outage_started_at == T0 - minutes(80)
    assert schedules(decision.effects) == {"escalation": T0 + minutes(10)}
    (note,) = posts(decision.effects)
    assert note.message.startswith(":clock1: **The outage began 08:40 UTC**, 1h 30m ago (said @\u200dbob)")
    assert "**Outage began:** 08:40 UTC, 1h 30m ago" in edits(decision.effects)[StatusBoard()]
    ping = run.fire("escalation", T0 + minutes(10))
    (post,) = posts(ping.effects)
    assert post.dedupe_key == "escalation:0" and "has been open for 1h 30m" in post.message
    assert "as given with `/sev1 since`" in post.message
    assert schedules(ping.effects) == {"escalation": T0 + minutes(40)}  # slot 1: 08:40 + 1h + 1h


def test_since_within_the_hour_moves_the_first_ping_earlier() -> None:
    run = started()
    decision = run.do(OutageSince("bob", Relative(minutes(20))), T0 + minutes(10))  # began 09:50
    assert schedules(decision.effects) == {"escalation": T0 + minutes(50)}
    assert posts(run.fire("escalation", T0 + minutes(50)).effects)[0].dedupe_key == "escalation:0"


def test_since_later_than_the_start_never_pings_a_slot_twice() -> None:
    run = started()
    run.fire("escalation", T0 + hours(1))  # slot 0 pinged at 11:00
    decision = run.do(OutageSince("bob", Relative(minutes(30))), T0 + minutes(70))  # began 10:40
    assert schedules(decision.effects) == {"escalation": T0 + minutes(160)}  # slot 1 of the new start
    assert run.s.escalations_sent == 1


def test_since_the_same_start_again_changes_nothing() -> None:
    run = started()
    run.do(OutageSince("bob", Relative(minutes(20))), T0 + minutes(10))
    assert run.do(OutageSince("bob", Relative(minutes(20))), T0 + minutes(10)).effects == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [("in 5m", "in the future"), ("8d", "more than 7 days ago"), ("tomorrow 09:00", "in the future")],
)
def test_since_refuses_what_cannot_be(text: str, says: str) -> None:
    run = started()
    before = run.s
    with pytest.raises(CoreError, match=f"The outage start is unchanged: that is .*{says}"):
        run.do(OutageSince("bob", parse_moment(text)), T0 + minutes(10))
    assert run.s == before


def test_since_after_resolution_is_recorded_without_a_ping() -> None:
    run = started()
    run.do(Resolved("jason"), T0 + minutes(10))
    decision = run.do(OutageSince("bob", Relative(hours(3))), T0 + minutes(20))
    assert run.s.outage_started_at == T0 - minutes(160) and "escalation" not in schedules(decision.effects)


# -- the ETA ---------------------------------------------------------------------------------------


def test_an_eta_is_recorded_shown_and_armed() -> None:
    run = started()
    decision = run.do(eta("17:30"), T0 + minutes(5))
    assert run.s.etas == (Eta(given_at=T0 + minutes(5), by="bob", eta=T0 + hours(7.5)),)
    assert schedules(decision.effects) == {"eta": T0 + hours(7.5)}
    (note,) = posts(decision.effects)
    assert note.message == ":dart: **ETA** 17:30 UTC, in 7h 25m (set by @\u200dbob)."
    assert "**ETA:** 17:30 UTC, in 7h 25m (given by @\u200dbob)" in edits(decision.effects)[StatusBoard()]
    assert run.s.timeline[-1].text == "set the ETA to Fri 27 Nov 2026 17:30 UTC"


def test_a_passed_eta_is_flagged_and_the_owner_told_once() -> None:
    run = started()
    run.do(eta("17:30"), T0 + minutes(5))
    passed = run.fire("eta", T0 + hours(7.5))
    (post,) = posts(passed.effects)
    assert post.dedupe_key == "eta:0"
    assert post.message.startswith("@alice :hourglass: **The ETA 17:30 UTC has passed.**")
    assert "passed 0s ago" in edits(passed.effects)[StatusBoard()]
    assert "**ETA:** 17:30 UTC :warning: **passed 20m ago**" in board(run, T0 + hours(7.5) + minutes(20))
    assert run.fire("eta", T0 + hours(8)).effects == ()


def test_a_late_eta_timer_says_how_late() -> None:
    run = started()
    run.do(eta("in 1h"), T0)
    (post,) = posts(run.fire("eta", T0 + hours(3)).effects)
    assert "**The ETA 11:00 UTC has passed 2h ago.**" in post.message


def test_the_eta_history_is_kept_and_the_timer_follows_the_latest() -> None:
    run = started()
    run.do(eta("17:30"), T0 + minutes(5))
    assert run.do(eta("17:30"), T0 + minutes(6)).effects == (), "the same ETA again changes nothing"
    decision = run.do(EtaSet("carol", parse_moment("tomorrow 09:00")), T0 + minutes(7))
    assert [(e.by, e.eta) for e in run.s.etas] == [("bob", T0 + hours(7.5)), ("carol", T0 + hours(23))]
    assert schedules(decision.effects) == {"eta": T0 + hours(23)}
    assert "**ETA:** Sat 28 Nov 2026 09:00 UTC, in 22h 53m (given by @\u200dcarol; 1 earlier)" in board(
        run, T0 + minutes(7)
    )
    assert run.fire("eta", T0 + hours(7.5)).effects == (), "the first ETA's timer was replaced"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("45m ago", "not in the future"),
        ("31d", "more than 30 days ahead"),
        ("yesterday 10:00", "not in the future"),
    ],
)
def test_an_eta_must_lie_ahead(text: str, says: str) -> None:
    run = started()
    with pytest.raises(CoreError, match=f"No ETA set: that is .*{says}"):
        run.do(eta(text), T0)


def test_a_resolved_incident_takes_no_eta_and_its_board_shows_the_last_one_unflagged() -> None:
    run = started()
    run.do(eta("11:00"), T0)
    run.do(Resolved("jason"), T0 + minutes(10))
    with pytest.raises(CoreError, match="resolved"):
        run.do(eta("17:30"), T0 + minutes(20))
    shown = board(run, T0 + hours(5))
    assert "**ETA:** 11:00 UTC (given by @\u200dbob)" in shown and "passed" not in shown


def test_an_eta_is_read_in_the_time_zone() -> None:
    run = Run(playbook=CLOCK, calendar=US_CAL)
    run.start()  # 05:00 in New York
    run.do(eta("17:30"), T0)
    assert run.s.etas[-1].eta == T0 + hours(12.5)  # 17:30 EST is 22:30 UTC
    assert "**ETA:** 17:30 EST" in board(run, T0)


def test_the_owner_named_in_reminders_is_the_current_one() -> None:
    run = started()
    run.do(OwnerChanged("alice", "jason"), T0 + minutes(1))
    (post,) = posts(run.fire("customer", T0 + minutes(30)).effects)
    assert post.message.startswith("@jason ")


def test_describe_the_clock_commands() -> None:
    assert render.describe_event(eta("17:30")) == "set the ETA"
    assert render.describe_event(OutageSince("bob", Relative(minutes(5)))) == "set when the outage began"
