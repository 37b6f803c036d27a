"""The status-update cadence in the core: the start counts as the first update, the owner is reminded once per
interval without one (one catch-up after downtime, each reminder under its own dedupe key), the leads join
after two unanswered reminders, an update re-arms it, resolving stops it and reopening resumes it."""

from __future__ import annotations

from datetime import timedelta

from core_fixtures import T0, Run, cancels, mme_playbook, posts, schedules
from sev1bot.core import render
from sev1bot.core.escalation import board_edit
from sev1bot.core.events import Reopened, Resolved, StatusUpdate

CADENCE = mme_playbook(updates={"every": "30m"})


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def started() -> Run:
    run = Run(playbook=CADENCE)
    run.start()
    return run


def reminders(run: Run) -> list[str]:
    assert run.last is not None
    return [p.message for p in posts(run.last.effects) if "No status update" in p.message]


def test_the_start_counts_as_the_first_update_and_arms_the_reminder() -> None:
    run = started()
    assert run.s.timers["update"] == T0 + minutes(30)
    board = board_edit(run.s, run.playbook, T0 + minutes(12), run.calendar).message
    assert "**Last update:** none since the start 12m ago · next due 10:30 UTC" in board


def test_no_cadence_without_every() -> None:
    run = Run()
    run.start()
    assert "update" not in run.s.timers


def test_the_owner_is_reminded_once_per_interval_and_an_update_re_arms_it() -> None:
    run = started()
    run.fire("update", T0 + minutes(30))
    [text] = reminders(run)
    assert text.startswith("@alice :memo: **No status update for 30m** (since the incident began).")
    assert [p.dedupe_key for p in posts(run.last.effects if run.last else ())] == ["update:0:1"]
    assert run.s.timers["update"] == T0 + minutes(60)
    run.do(StatusUpdate("bob", "Patch on staging"), T0 + minutes(40))
    assert run.s.timers["update"] == T0 + minutes(70)
    board = board_edit(run.s, run.playbook, T0 + minutes(52), run.calendar).message
    assert "**Last update** 12m ago by @\u200dbob (10:40 UTC): Patch on staging · next due 11:10 UTC" in board
    run.fire("update", T0 + minutes(70))
    [text] = reminders(run)
    assert "**No status update for 30m** (since the last one)" in text
    assert [p.dedupe_key for p in posts(run.last.effects if run.last else ())] == ["update:1:1"]


def test_a_late_timer_sends_one_catch_up_and_a_repeat_sends_nothing() -> None:
    run = started()
    run.fire("update", T0 + minutes(100))  # the bot was down through three slots
    assert len(reminders(run)) == 1
    assert [p.dedupe_key for p in posts(run.last.effects if run.last else ())] == ["update:0:3"]
    assert run.s.timers["update"] == T0 + minutes(120)
    again = run.fire("update", T0 + minutes(101))  # the same timer again, before its next slot
    assert not posts(again.effects) and not schedules(again.effects)


def test_the_leads_are_mentioned_after_two_unanswered_reminders() -> None:
    run = started()
    run.fire("update", T0 + minutes(30))
    run.fire("update", T0 + minutes(60))
    [second] = reminders(run)
    assert "@brent" not in second
    run.fire("update", T0 + minutes(90))
    [third] = reminders(run)
    assert third.startswith("@alice @brent @stu @jason @ian :memo:")
    run.do(StatusUpdate("alice", "Still digging"), T0 + minutes(95))
    run.fire("update", T0 + minutes(125))
    [after] = reminders(run)
    assert after.startswith("@alice :memo:")  # an update starts the count again


def test_resolving_stops_it_and_reopening_resumes_it_at_the_next_slot() -> None:
    run = started()
    run.do(Resolved("alice", "fixed"), T0 + minutes(20))
    assert "update" in cancels(run.last.effects if run.last else ())
    assert "update" not in run.s.timers
    assert not posts(run.fire("update", T0 + minutes(30)).effects)
    run.do(Reopened("alice"), T0 + minutes(75))
    assert run.s.timers["update"] == T0 + minutes(90)
    assert render.UPDATE_KEY == "update"
