"""Time: escalation pings with catch-up after downtime, deadline timers and reminders, mirrored timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core_fixtures import (
    PLAYBOOK,
    STARTED,
    T0,
    US_CAL,
    Run,
    cancels,
    dms,
    edits,
    hours,
    mme_playbook,
    posts,
    schedules,
)
from sev1bot.core.effects import EditPost, ItemPost, StatusBoard
from sev1bot.core.escalation import latest_slot, next_slot_after, parse_deadline_key
from sev1bot.core.events import ItemChecked, ItemSkipped, ItemUnchecked, Reopened, Resolved, Started
from sev1bot.core.state import IncidentStatus

NY = ZoneInfo("America/New_York")
CUSTOMER_ITEMS = ["1.4", "3.6", "4.6", "5.6", "6.6", "7.3", "8.4"]


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


# -- escalation ------------------------------------------------------------------------------------


def test_first_ping_after_one_hour() -> None:
    run = Run()
    run.start()
    decision = run.fire("escalation", T0 + hours(1))
    fx = decision.effects
    (ping,) = posts(fx)
    assert ping.dedupe_key == "escalation:0"
    assert ping.message.startswith(
        "@ian @alice :rotating_light: **The Sev 1 for Acme Corp has been open for 1h.**"
    )
    assert "The CEO must be looped into customer replies." in ping.message
    assert "Current stage: **1 · Escalation**, 40 items open." in ping.message
    assert "Next: 1.1 Create Incident Channel, run MME Sev1 Playbook; 1.2 Add CSM" in ping.message
    (dm,) = dms(fx)
    assert (dm.username, dm.dedupe_key) == ("ian", "escalation:0:dm:ian")
    assert "~sev1-2026-11-27-acme-corp" in dm.message
    item_edits = {ref.key: text for ref, text in edits(fx).items() if isinstance(ref, ItemPost)}
    assert sorted(item_edits) == sorted(CUSTOMER_ITEMS)
    assert all("CEO must be looped in (open > 1h)" in text for text in item_edits.values())
    assert "the CEO (@\u200dian) pinged 1 time; next ping at 12:00 UTC" in edits(fx)[StatusBoard()]
    assert schedules(fx) == {"escalation": T0 + hours(2)}
    assert decision.state.escalations_sent == 1
    assert (decision.state.timeline[-1].actor, decision.state.timeline[-1].kind) == ("sev1bot", "escalated")


def test_later_pings_repeat_every_hour_without_touching_the_items_again() -> None:
    run = Run()
    run.start()
    run.fire("escalation", T0 + hours(1))
    fx = run.fire("escalation", T0 + hours(2)).effects
    assert [p.dedupe_key for p in posts(fx)] == ["escalation:1"]
    assert [d.dedupe_key for d in dms(fx)] == ["escalation:1:dm:ian"]
    assert list(edits(fx)) == [StatusBoard()]
    assert "open for 2h." in posts(fx)[0].message
    assert run.s.escalations_sent == 2 and run.s.timers["escalation"] == T0 + hours(3)


def test_a_ping_sees_progress() -> None:
    run = Run()
    run.start()
    for key in ["1.1", "1.2", "1.3", "1.4", "2.1"]:
        run.do(ItemChecked("bob", key), T0 + hours(0.5))
    message = posts(run.fire("escalation", T0 + hours(1)).effects)[0].message
    assert (
        "Current stage: **2 · Data Gathering**, 35 items open. Next: 2.2 Share Grafana screenshots;"
        in message
    )


@pytest.mark.parametrize(
    ("first_ping_sent", "down_from", "back_at", "slot", "next_due"),
    [
        # Pinged at 11:00, then down 11:40-15:00 (3h20m): one catch-up ping for the 15:00 slot.
        (True, hours(1.67), hours(5), 4, hours(6)),
        # Down 10:40-14:00 before any ping: one ping for the 14:00 slot, and it is the first one.
        (False, hours(0.67), hours(4), 3, hours(5)),
        # Back at 14:20: the latest missed slot is 14:00, the next one 15:00.
        (False, hours(0.67), hours(4.33), 3, hours(5)),
    ],
)
def test_catch_up_after_downtime_sends_exactly_one_ping(
    first_ping_sent: bool, down_from: timedelta, back_at: timedelta, slot: int, next_due: timedelta
) -> None:
    run = Run()
    run.start()
    if first_ping_sent:
        run.fire("escalation", T0 + hours(1))
    assert T0 + down_from < run.s.timers["escalation"] <= T0 + back_at  # it fell due while the bot was down
    fx = run.fire("escalation", T0 + back_at).effects
    assert [p.dedupe_key for p in posts(fx)] == [f"escalation:{slot}"]
    assert len(dms(fx)) == 1
    assert run.s.escalations_sent == slot + 1
    assert run.s.timers["escalation"] == T0 + next_due
    customer_edits = [ref for ref in edits(fx) if isinstance(ref, ItemPost)]
    assert len(customer_edits) == (0 if first_ping_sent else len(CUSTOMER_ITEMS))
    # The same timer event delivered again changes nothing.
    before = run.s
    assert run.fire("escalation", T0 + back_at).effects == ()
    assert run.s == before


def test_no_ping_after_resolve() -> None:
    run = Run()
    run.start()
    run.fire("escalation", T0 + hours(1))
    fx = run.do(Resolved("alice"), T0 + hours(1.5)).effects
    assert "escalation" in cancels(fx) and "escalation" not in run.s.timers
    before = run.s
    assert run.fire("escalation", T0 + hours(2)).effects == ()
    assert run.s == before
    assert "pinged 1 time; stopped (resolved)" in edits(fx)[StatusBoard()]


def test_reopen_reschedules_at_the_next_slot_from_the_start() -> None:
    run = Run()
    run.start()
    run.fire("escalation", T0 + hours(1))
    run.do(Resolved("alice"), T0 + hours(1.5))
    fx = run.do(Reopened("alice"), T0 + hours(4) + timedelta(minutes=10))
    assert schedules(fx.effects) == {"escalation": T0 + hours(5)}
    fx = run.fire("escalation", T0 + hours(5))
    assert [p.dedupe_key for p in posts(fx.effects)] == ["escalation:4"]
    assert run.s.escalations_sent == 5
    assert [ref for ref in edits(fx.effects) if isinstance(ref, ItemPost)] == []  # not the first ping


def test_reopen_before_the_first_slot_keeps_it() -> None:
    run = Run()
    run.start()
    run.do(Resolved("alice"), T0 + hours(0.25))
    run.do(Reopened("alice"), T0 + hours(0.5))
    assert run.s.timers == {"escalation": T0 + hours(1)}


def test_slot_arithmetic() -> None:
    escalation = PLAYBOOK.escalation
    assert escalation is not None
    assert latest_slot(T0, escalation, T0 + hours(0.99)) is None
    assert latest_slot(T0, escalation, T0 + hours(1)) == 0
    assert latest_slot(T0, escalation, T0 + hours(5.33)) == 4
    assert next_slot_after(T0, escalation, T0 + hours(1)) == (1, T0 + hours(2))
    assert next_slot_after(T0, escalation, T0) == (0, T0 + hours(1))


# -- deadlines -------------------------------------------------------------------------------------

# Started Friday 20 Nov 2026 10:00 New York time, resolved the same Friday at 15:00 EST.
START_NY = ny(2026, 11, 20, 10)
RESOLVED_NY = ny(2026, 11, 20, 15)
DUE = {
    "monitor-fix": ny(2026, 11, 21, 15),  # 24h of calendar time: Saturday
    "retrospective": ny(2026, 11, 23, 15),  # Monday
    "draft-summary": ny(2026, 11, 24, 15),  # Tuesday
    "send-summary": ny(2026, 11, 25, 15),  # Wednesday
}


def resolved_on_friday() -> Run:
    run = Run(calendar=US_CAL)
    run.start(Started("inc2", "alice", "Acme", "sev1-2026-11-20-acme"), at=START_NY)
    run.do(Resolved("alice", "Fixed"), RESOLVED_NY)
    return run


def test_friday_resolution_schedules_monday_tuesday_wednesday() -> None:
    run = resolved_on_friday()
    fx = run.last.effects if run.last else ()
    expected = {f"deadline:{d}:due": due for d, due in DUE.items()}
    expected |= {f"deadline:{d}:soon": due - hours(2) for d, due in DUE.items()}
    assert schedules(fx) == expected
    assert run.s.timers == expected
    message = posts(fx)[0].message
    assert "- **Incident retrospective** (8.1): due Mon 23 Nov 2026 15:00 EST" in message
    assert "- **Send summary analysis** (8.3): due Wed 25 Nov 2026 15:00 EST" in message
    assert "- **Monitor the fix for 24 hours** (7.1): due Sat 21 Nov 2026 15:00 EST" in message
    board = edits(fx)[StatusBoard()]
    assert "**Deadlines:**" in board and "(8.2): due Tue 24 Nov 2026 15:00 EST — open" in board


def test_thanksgiving_resolution_skips_the_holiday() -> None:
    run = Run(calendar=US_CAL)
    run.start(Started("inc3", "alice", "Acme", "c"), at=ny(2026, 11, 25, 10))
    run.do(Resolved("alice"), ny(2026, 11, 25, 15))
    assert run.s.timers["deadline:retrospective:due"] == ny(2026, 11, 27, 15)
    assert run.s.timers["deadline:draft-summary:due"] == ny(2026, 11, 30, 15)
    assert run.s.timers["deadline:send-summary:due"] == ny(2026, 12, 1, 15)


def test_soon_then_due_then_one_reminder_per_business_day() -> None:
    run = resolved_on_friday()
    due = DUE["retrospective"]
    fx = run.fire("deadline:retrospective:soon", due - hours(2)).effects
    (post,) = posts(fx)
    assert post.dedupe_key == "deadline:retrospective:soon"
    assert post.message.startswith(
        "@alice :alarm_clock: **Incident retrospective** (8.1) is due Mon 23 Nov 2026"
    )
    assert "in 2h" in post.message
    assert schedules(fx) == {}
    fx = run.fire("deadline:retrospective:due", due).effects
    (post,) = posts(fx)
    assert post.dedupe_key == "deadline:retrospective:due"
    assert post.message.startswith("@alice :warning: **Incident retrospective** (8.1) is overdue")
    assert schedules(fx) == {"deadline:retrospective:due:1": ny(2026, 11, 24, 15)}
    assert "(8.1): due Mon 23 Nov 2026 15:00 EST — :warning: **overdue**" in edits(fx)[StatusBoard()]
    fx = run.fire("deadline:retrospective:due:1", ny(2026, 11, 24, 15)).effects
    assert [p.dedupe_key for p in posts(fx)] == ["deadline:retrospective:due:1"]
    # Wednesday, then Thanksgiving is skipped: Friday.
    assert schedules(fx) == {"deadline:retrospective:due:2": ny(2026, 11, 25, 15)}
    fx = run.fire("deadline:retrospective:due:2", ny(2026, 11, 25, 15)).effects
    assert schedules(fx) == {"deadline:retrospective:due:3": ny(2026, 11, 27, 15)}
    assert [e.kind for e in run.s.timeline[-4:]] == ["reminder"] * 4


def test_overdue_reminders_catch_up_with_one_message() -> None:
    run = resolved_on_friday()
    run.fire("deadline:retrospective:due", DUE["retrospective"])
    fx = run.fire("deadline:retrospective:due:1", ny(2026, 11, 30, 16)).effects  # down from Tuesday to Monday
    assert len(posts(fx)) == 1
    # Slots: Tue 24, Wed 25, Fri 27, Mon 30 15:00 (passed), so the next is Tue 1 Dec.
    assert schedules(fx) == {"deadline:retrospective:due:5": ny(2026, 12, 1, 15)}


def test_soon_reminder_that_fires_after_the_due_time_stays_quiet() -> None:
    run = resolved_on_friday()
    fx = run.fire("deadline:retrospective:soon", DUE["retrospective"] + hours(1)).effects
    assert fx == ()
    assert "deadline:retrospective:soon" not in run.s.timers


def test_monitoring_uses_calendar_time_and_repeats_on_business_days() -> None:
    run = resolved_on_friday()
    fx = run.fire("deadline:monitor-fix:due", DUE["monitor-fix"]).effects  # Saturday 15:00
    assert "**Monitor the fix for 24 hours** (7.1) is overdue" in posts(fx)[0].message
    assert schedules(fx) == {"deadline:monitor-fix:due:1": ny(2026, 11, 23, 15)}  # Monday, same time of day


def test_checking_the_item_cancels_its_timers_and_unchecking_restores_them() -> None:
    run = resolved_on_friday()
    fx = run.do(ItemChecked("bob", "8.1"), ny(2026, 11, 23, 9)).effects
    assert sorted(cancels(fx)) == ["deadline:retrospective:due", "deadline:retrospective:soon"]
    assert not any(k.startswith("deadline:retrospective") for k in run.s.timers)
    assert "(8.1): due Mon 23 Nov 2026 15:00 EST — :white_check_mark: done" in edits(fx)[StatusBoard()]
    fx = run.do(ItemUnchecked("bob", "8.1"), ny(2026, 11, 23, 12)).effects
    assert schedules(fx) == {
        "deadline:retrospective:soon": ny(2026, 11, 23, 13),
        "deadline:retrospective:due": DUE["retrospective"],
    }
    fx = run.do(ItemSkipped("bob", "8.1"), ny(2026, 11, 23, 14)).effects
    assert sorted(cancels(fx)) == ["deadline:retrospective:due", "deadline:retrospective:soon"]


def test_unchecking_after_the_due_time_resumes_the_daily_reminders() -> None:
    run = resolved_on_friday()
    run.do(ItemChecked("bob", "8.1"), ny(2026, 11, 23, 9))
    fx = run.do(ItemUnchecked("bob", "8.1"), ny(2026, 11, 23, 16)).effects
    assert schedules(fx) == {"deadline:retrospective:due:1": ny(2026, 11, 24, 15)}


def test_only_close_within_the_soon_window_schedules_just_the_due_timer() -> None:
    run = resolved_on_friday()
    run.do(ItemChecked("bob", "8.1"), ny(2026, 11, 23, 9))
    fx = run.do(ItemUnchecked("bob", "8.1"), ny(2026, 11, 23, 14)).effects
    assert schedules(fx) == {"deadline:retrospective:due": DUE["retrospective"]}


def test_a_timer_for_a_done_item_or_a_reopened_incident_does_nothing() -> None:
    run = resolved_on_friday()
    run.do(ItemChecked("bob", "8.2"), ny(2026, 11, 23, 9))
    before = run.s
    assert run.fire("deadline:draft-summary:due", DUE["draft-summary"]).effects == ()
    assert run.s == before
    fx = run.do(Reopened("alice"), ny(2026, 11, 23, 10)).effects
    assert sorted(cancels(fx)) == sorted(k for k in before.timers if k.startswith("deadline:"))
    assert run.s.status is IncidentStatus.ACTIVE
    assert run.fire("deadline:retrospective:due", DUE["retrospective"]).effects == ()


def test_items_done_before_resolution_get_no_timers() -> None:
    run = Run(calendar=US_CAL)
    run.start(Started("inc4", "alice", "Acme", "c"), at=START_NY)
    run.do(ItemChecked("bob", "8.1"), START_NY + hours(1))
    fx = run.do(Resolved("alice"), RESOLVED_NY).effects
    assert not any(k.startswith("deadline:retrospective") for k in schedules(fx))
    assert "(8.1): due Mon 23 Nov 2026 15:00 EST — already done" in posts(fx)[0].message


def test_a_whole_incident_leaves_no_timer_behind() -> None:
    run = resolved_on_friday()
    for key in ["7.1", "8.1", "8.2", "8.3"]:
        run.do(ItemChecked("bob", key), ny(2026, 11, 23, 9))
    assert run.s.timers == {}
    assert isinstance(run.last.effects[0] if run.last else None, EditPost)


def test_timer_keys() -> None:
    assert parse_deadline_key("deadline:retro:soon") == ("retro", "soon", 0)
    assert parse_deadline_key("deadline:retro:due") == ("retro", "due", 0)
    assert parse_deadline_key("deadline:retro:due:12") == ("retro", "due", 12)
    for bad in [
        "deadline:retro",
        "deadline:retro:due:0",
        "deadline:retro:soon:1",
        "escalation",
        "x:retro:due",
    ]:
        assert parse_deadline_key(bad) is None


def test_a_playbook_without_escalation_or_deadlines_has_no_timers() -> None:
    run = Run(playbook=mme_playbook(escalation=None, deadlines=[]))
    run.start(STARTED)
    assert run.s.timers == {}
    run.do(Resolved("alice"), T0 + hours(1))
    run.do(Reopened("alice"), T0 + hours(2))
    assert run.s.timers == {}
    assert "**Escalation:**" not in posts(run.start(STARTED).effects)[0].message
