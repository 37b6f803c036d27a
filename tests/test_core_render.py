"""Rendering: exact shapes of the posts, times in the calendar timezone, limits, and user text defused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core_fixtures import PLAYBOOK, STARTED, T0, US_CAL, UTC_CAL, Run, hours, mme_playbook
from sev1bot.core import render
from sev1bot.core.escalation import deadline_dues
from sev1bot.core.events import (
    Assigned,
    Event,
    ItemChecked,
    ItemSkipped,
    OwnerChanged,
    Resolved,
    StatusUpdate,
)
from sev1bot.core.text import ZWJ


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=60), "1m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=3, minutes=20, seconds=59), "3h 20m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=2, hours=4, minutes=5), "2d 4h"),
        (timedelta(minutes=-5), "0s"),
    ],
)
def test_fmt_elapsed(delta: timedelta, text: str) -> None:
    assert render.fmt_elapsed(delta) == text


def test_times_are_shown_in_the_calendar_timezone_with_english_names() -> None:
    moment = datetime(2026, 3, 9, 14, 5, tzinfo=UTC)
    assert render.fmt_time(moment, US_CAL) == "10:05 EDT"
    assert render.fmt_when(moment, US_CAL) == "Mon 9 Mar 2026 10:05 EDT"
    assert render.fmt_when(moment - timedelta(days=3), US_CAL) == "Fri 6 Mar 2026 09:05 EST"
    assert render.fmt_time(moment, UTC_CAL) == "14:05 UTC"


def test_stage_root() -> None:
    run = Run()
    run.start()
    steps: list[tuple[str, type[ItemChecked | ItemSkipped]]] = [
        ("2.1", ItemChecked),
        ("2.2", ItemChecked),
        ("2.3", ItemSkipped),
    ]
    for key, event in steps:
        run.do(event("bob", key), T0 + hours(0.5))
    assert (
        render.stage_root(run.s, PLAYBOOK, 2).split("\n")[0]
        == "### 2 · Data Gathering — 3/5 done (1 skipped)"
    )
    assert render.stage_root(run.s, PLAYBOOK, 3).split("\n")[0] == "### 3 · Data Review — 0/6 done"


def test_item_post_lines() -> None:
    run = Run()
    run.start()
    key = "2.3"
    assert render.item_post(run.s, PLAYBOOK, key, UTC_CAL).split("\n") == [
        "**2.3** Share output from support bundle",
        "Link to relevant docs",
        "_React with :white_check_mark: to check or :fast_forward: to skip._",
    ]
    run.do(Assigned("alice", key, "bob"), T0 + hours(0.5))
    assert render.item_post(run.s, PLAYBOOK, key, UTC_CAL).split("\n")[2] == "assigned to @bob"
    run.do(ItemChecked("carol", key), T0 + hours(4) + timedelta(minutes=5))
    assert render.item_post(run.s, PLAYBOOK, key, UTC_CAL).split("\n") == [
        "**2.3** Share output from support bundle",
        "Link to relevant docs",
        ":white_check_mark: done by @carol at 14:05 UTC · assigned to @bob",
    ]
    assert render.item_post(run.s, PLAYBOOK, "4.2", UTC_CAL).split("\n")[1] == "_Details to be written._"


def test_customer_items_carry_the_ceo_rule_once_escalated() -> None:
    run = Run()
    run.start()
    assert "must be looped in" not in render.item_post(run.s, PLAYBOOK, "3.6", UTC_CAL)
    run.fire("escalation", T0 + hours(1))
    assert ":rotating_light: **CEO must be looped in (open > 1h)**" in render.item_post(
        run.s, PLAYBOOK, "3.6", UTC_CAL
    )
    assert "must be looped in" not in render.item_post(run.s, PLAYBOOK, "3.5", UTC_CAL)


def test_status_board_while_active() -> None:
    run = Run()
    run.start()
    run.do(ItemChecked("bob", "1.1"), T0 + hours(0.5))
    run.do(StatusUpdate("alice", "Collecting the support bundle"), T0 + hours(0.75))
    run.fire("escalation", T0 + hours(1))
    board = render.status_board(run.s, PLAYBOOK, T0 + hours(2.25), UTC_CAL, [])
    lines = board.split("\n")
    assert lines[0] == "### :rotating_light: Sev 1 · Acme Corp"
    assert lines[1] == "**Status:** :red_circle: Active, open 2h 15m (since Fri 27 Nov 2026 10:00 UTC)"
    assert lines[2] == f"**Owner:** @{ZWJ}alice · **Reporter:** @{ZWJ}alice"
    assert lines[3] == "**Summary:** Login latency above 30s"
    assert lines[4] == "**Progress:** 1/40 items · current stage: 1 · Escalation"
    assert "| 1 · Escalation | 1/4 |" in lines and "| 8 · Retrospective | 0/4 |" in lines
    assert f"**Last update** 1h 30m ago by @{ZWJ}alice (10:45 UTC): Collecting the support bundle" in lines
    assert (
        f"**Escalation:** the CEO (@{ZWJ}ian) pinged 1 time; next ping at 12:00 UTC if still open." in lines
    )
    assert "**Deadlines:**" not in board
    assert lines[-1] == "_Updated Fri 27 Nov 2026 12:15 UTC._"
    assert "@alice" not in board and "@ian" not in board  # the board names people without notifying them


def test_status_board_once_resolved_lists_deadlines() -> None:
    run = Run(calendar=US_CAL)
    run.start(at=T0)
    run.do(ItemChecked("bob", "8.1"), T0 + hours(1))
    run.do(Resolved("alice"), T0 + hours(10))  # Friday 27 Nov 15:00 EST
    now = datetime(2026, 11, 30, 21, tzinfo=UTC)  # Monday 16:00 EST
    board = render.status_board(run.s, PLAYBOOK, now, US_CAL, deadline_dues(run.s, PLAYBOOK, US_CAL))
    assert "**Status:** :white_check_mark: Resolved Fri 27 Nov 2026 15:00 EST after 10h" in board
    assert "pinged 0 time" not in board and "not pinged yet; stopped (resolved)." in board
    assert (
        "- **Monitor the fix for 24 hours** (7.1): due Sat 28 Nov 2026 15:00 EST — :warning: **overdue**"
        in board
    )
    assert (
        "- **Incident retrospective** (8.1): due Mon 30 Nov 2026 15:00 EST — :white_check_mark: done" in board
    )
    assert "- **Draft summary analysis** (8.2): due Tue 1 Dec 2026 15:00 EST — open" in board


def test_user_text_is_defused_everywhere() -> None:
    evil = "@all [x](http://evil.example)\u202e"
    run = Run()
    run.start(STARTED.__class__("i", "alice", evil, "c", summary=evil))
    run.do(StatusUpdate("alice", evil), T0 + hours(0.1))
    texts = [
        render.header(run.s, PLAYBOOK),
        render.purpose(run.s, PLAYBOOK),
        render.display_name(run.s.customer, T0, UTC_CAL),
        render.status_board(run.s, PLAYBOOK, T0, UTC_CAL, []),
        render.update_post("alice", evil),
        render.resolution_post(run.s, "alice", evil, []),
        render.escalation_ping(run.s, PLAYBOOK, T0 + hours(1)),
        render.escalation_dm(run.s, PLAYBOOK, T0 + hours(1)),
    ]
    for text in texts:
        assert "@all" not in text and "](" not in text and "\u202e" not in text, text


def test_limits() -> None:
    run = Run()
    run.start(STARTED.__class__("i", "alice", "A" * 500, "c", summary="S" * 5000))
    assert len(render.display_name(run.s.customer, T0, UTC_CAL)) == 64
    assert render.display_name(run.s.customer, T0, UTC_CAL).endswith("… (2026-11-27)")
    assert len(render.header(run.s, PLAYBOOK)) <= 1024
    assert len(render.purpose(run.s, PLAYBOOK)) <= 250
    assert len(render.update_post("alice", "U" * 20000)) < 4000


def test_escalation_note_names_every_notified_role() -> None:
    playbook = mme_playbook(escalation={"after": "30m", "repeat_every": "2h", "notify": ["ceo", "de_lead"]})
    assert render.escalation_note(playbook) == "CEO and DE lead must be looped in (open > 30m)"
    assert render.escalation_note(mme_playbook(escalation=None)) is None
    run = Run(playbook=playbook)
    run.start()
    fx = run.fire("escalation", T0 + hours(0.5)).effects
    assert fx and run.s.timers["escalation"] == T0 + hours(2.5)
    ping = next(e for e in fx if getattr(e, "dedupe_key", None) == "escalation:0")
    assert ping.message.startswith("@ian @jason @alice :rotating_light:")  # type: ignore[union-attr]


def test_timeline_lists_entries_newest_last_with_user_text_defused() -> None:
    run = Run()
    run.start()
    run.do(ItemChecked("bob", "2.3"), T0 + hours(0.5))
    run.do(StatusUpdate("alice", "@all see\n[x](http://evil.example)"), T0 + hours(0.75))
    lines = render.timeline(run.s, UTC_CAL).split("\n")
    assert lines[0] == "#### Timeline · Acme Corp"
    assert (
        lines[1] == f"- Fri 27 Nov 2026 10:00 UTC · @{ZWJ}alice · started: started the incident for Acme Corp"
    )
    assert lines[2] == (
        f"- Fri 27 Nov 2026 10:30 UTC · @{ZWJ}bob · checked: checked 2.3 Share output from support bundle"
    )
    assert (
        lines[3]
        == f"- Fri 27 Nov 2026 10:45 UTC · @{ZWJ}alice · update: @{ZWJ}all see [x]\u200b(http://evil.example)"
    )
    for n in range(70):
        run.do(StatusUpdate("alice", f"update {n}"), T0 + hours(1))
    long = render.timeline(run.s, UTC_CAL).split("\n")
    assert long[1] == "_13 earlier entries not shown._" and long[-1].endswith("update: update 69")
    assert len(long) == 2 + render.TIMELINE_ENTRIES


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (ItemChecked("bob", "2.3"), "checked 2.3"),
        (ItemSkipped("bob", "retrospective"), "skipped retrospective"),
        (Assigned("bob", "2.3", "@carol"), f"assigned 2.3 to @{ZWJ}carol"),
        (OwnerChanged("bob", "carol"), f"made @{ZWJ}carol the owner"),
        (StatusUpdate("bob", "x"), "posted the update"),
        (Resolved("bob"), "resolved the incident"),
        (STARTED, "started the incident for Acme Corp"),
    ],
)
def test_describe_event(event: Event, text: str) -> None:
    assert render.describe_event(event) == text


def test_inline_is_one_safe_line_for_tables() -> None:
    assert render.inline("Acme | Co\n@here") == f"Acme \\| Co @{ZWJ}here"
