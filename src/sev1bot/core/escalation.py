"""What happens with time: escalation pings while an incident is open, deadline reminders once it is resolved.

Escalation pings are due at ``outage_start + after + k * repeat_every`` (k = 0, 1, ...), the outage's start
being the incident's unless someone said otherwise (``/sev1 since``). A timer that fires late (the bot was
down) sends ONE catch-up ping for the latest slot that has passed, never one per missed slot.

Deadlines are counted from ``resolved_at``: ``business_days`` with the :class:`BusinessCalendar`, ``duration``
in calendar time. Each open deadline has a "soon" timer (``due - remind_before``) and a "due" timer; after it
is overdue one more reminder goes each business day, at the due time of day, until its item is checked.

Timer keys: ``escalation``, ``deadline:<id>:soon``, ``deadline:<id>:due`` and ``deadline:<id>:due:<n>``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sev1bot.core import render
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.effects import (
    BroadcastStart,
    Cancel,
    DirectMessage,
    EditPost,
    Effect,
    ItemPost,
    Post,
    Schedule,
    StatusBoard,
)
from sev1bot.core.state import BOT_ACTOR, IncidentState, IncidentStatus, ItemStatus, TimelineEntry
from sev1bot.playbook.schema import Deadline, Escalation, Playbook

ESCALATION = render.ESCALATION_KEY
DEADLINE_PREFIX = "deadline:"


# -- escalation slots ------------------------------------------------------------------------------


def slot_due(started_at: datetime, escalation: Escalation, k: int) -> datetime:
    return started_at + escalation.after + k * escalation.repeat_every


def latest_slot(started_at: datetime, escalation: Escalation, now: datetime) -> int | None:
    """The last slot k whose due time is at or before ``now``; None before the first one."""
    passed = now - slot_due(started_at, escalation, 0)
    if passed < timedelta(0):
        return None
    return passed // escalation.repeat_every


def next_slot_after(started_at: datetime, escalation: Escalation, now: datetime) -> tuple[int, datetime]:
    """The first slot strictly after ``now`` and its due time."""
    latest = latest_slot(started_at, escalation, now)
    k = 0 if latest is None else latest + 1
    return k, slot_due(started_at, escalation, k)


# -- deadlines -------------------------------------------------------------------------------------


def deadline_due(deadline: Deadline, resolved_at: datetime, calendar: BusinessCalendar) -> datetime:
    if deadline.business_days is not None:
        return calendar.add_business_days(resolved_at, deadline.business_days)
    if deadline.duration is not None:
        return resolved_at + deadline.duration
    raise ValueError(f"deadline {deadline.id!r} has neither business_days nor duration")


def deadline_item(playbook: Playbook, deadline: Deadline) -> str:
    key = playbook.item_key(deadline.item)
    if key is None:
        raise ValueError(f"deadline {deadline.id!r} names unknown item {deadline.item!r}")
    return key


def deadline_dues(
    state: IncidentState, playbook: Playbook, calendar: BusinessCalendar
) -> list[tuple[Deadline, str, datetime]]:
    """Each deadline with its item key and due time; empty while the incident is not resolved."""
    if state.resolved_at is None:
        return []
    return [
        (d, deadline_item(playbook, d), deadline_due(d, state.resolved_at, calendar))
        for d in playbook.deadlines
    ]


def deadline_key(deadline_id: str, part: str, n: int = 0) -> str:
    return f"{DEADLINE_PREFIX}{deadline_id}:{part}" + (f":{n}" if n else "")


def parse_deadline_key(key: str) -> tuple[str, str, int] | None:
    """``deadline:retro:due:2`` -> ("retro", "due", 2); None for anything else."""
    parts = key.split(":")
    if len(parts) == 3 and parts[0] == "deadline" and parts[2] in {"soon", "due"}:
        return parts[1], parts[2], 0
    if (
        len(parts) == 4
        and parts[0] == "deadline"
        and parts[2] == "due"
        and parts[3].isdigit()
        and parts[3] != "0"
    ):
        return parts[1], "due", int(parts[3])
    return None


def overdue_slot(due: datetime, n: int, calendar: BusinessCalendar) -> datetime:
    """When the n-th repeated overdue reminder goes: the due time of day, n business days later."""
    return calendar.same_time_business_days_later(due, n)


def _next_overdue(
    due: datetime, after: int, now: datetime, calendar: BusinessCalendar
) -> tuple[int, datetime]:
    n = after + 1
    while (at := overdue_slot(due, n, calendar)) <= now:
        n += 1
    return n, at


def deadline_timers(
    deadline: Deadline, due: datetime, now: datetime, calendar: BusinessCalendar
) -> list[Schedule]:
    """The timers an open deadline needs from ``now`` on: soon + due, or the next overdue reminder if past."""
    if due < now:
        n, at = _next_overdue(due, 0, now, calendar)
        return [Schedule(deadline_key(deadline.id, "due", n), at)]
    soon = due - deadline.remind_before
    timers = (
        [Schedule(deadline_key(deadline.id, "soon"), soon)] if deadline.remind_before and soon > now else []
    )
    return [*timers, Schedule(deadline_key(deadline.id, "due"), due)]


# -- building a decision ---------------------------------------------------------------------------


class Plan:
    """One decision being built: the new state and its effects, with ``state.timers`` kept in step.

    Messages (channel, posts, DMs) keep the order they were emitted in; Schedule and Cancel come after them,
    also in order, so that anything rendered on the way already sees the timers it announces.
    """

    def __init__(
        self,
        state: IncidentState,
        playbook: Playbook,
        now: datetime,
        calendar: BusinessCalendar,
        *,
        defer_board: bool = False,
    ):
        self.state, self.playbook, self.now, self.calendar = state, playbook, now, calendar
        self.messages: list[Effect] = []
        self.timer_effects: list[Effect] = []
        self.defer_board = defer_board  # only note that the board is stale: the caller renders it once
        self.board_stale = False

    @property
    def effects(self) -> tuple[Effect, ...]:
        return (*self.messages, *self.timer_effects)

    def update(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def log(self, actor: str, kind: str, text: str) -> None:
        entry = TimelineEntry(at=self.now, actor=actor, kind=kind, text=text)
        self.update(timeline=(*self.state.timeline, entry))

    def emit(self, *effects: Effect) -> None:
        for effect in effects:
            if isinstance(effect, Schedule):
                self.update(timers={**self.state.timers, effect.key: effect.at.astimezone(UTC)})
                self.timer_effects.append(effect)
            elif isinstance(effect, Cancel):
                self.update(timers={k: v for k, v in self.state.timers.items() if k != effect.key})
                self.timer_effects.append(effect)
            else:
                self.messages.append(effect)

    def cancel_where(self, prefix: str) -> None:
        """Cancel every pending timer whose key starts with ``prefix``."""
        self.emit(*(Cancel(key) for key in self.state.timers if key.startswith(prefix)))

    def refresh_board(self) -> None:
        if self.defer_board:
            self.board_stale = True
        else:
            self.emit(*status_edits(self.state, self.playbook, self.now, self.calendar))

    def broadcast(self, key: str, message: str) -> None:
        """One post in each broadcast channel, at most once each (``broadcast:<channel>:<key>``)."""
        names = self.playbook.updates.broadcast
        self.emit(*(Post(message, channel=n, dedupe_key=f"broadcast:{n}:{key}") for n in names))


def status_edits(
    state: IncidentState, playbook: Playbook, now: datetime, calendar: BusinessCalendar
) -> list[EditPost]:
    """The status board and the start's post in each broadcast channel, as ``state`` has them."""
    live = render.broadcast_live(state, playbook, calendar)
    broadcasts = [EditPost(BroadcastStart(name), live) for name in playbook.updates.broadcast]
    return [board_edit(state, playbook, now, calendar), *broadcasts]


def board_edit(
    state: IncidentState, playbook: Playbook, now: datetime, calendar: BusinessCalendar
) -> EditPost:
    """The status board as ``state`` has it."""
    dues = deadline_dues(state, playbook, calendar)
    return EditPost(StatusBoard(), render.status_board(state, playbook, now, calendar, dues))


# -- timers firing ---------------------------------------------------------------------------------


def on_timer(plan: Plan, key: str) -> None:
    """A timer fired. One that is not pending, or whose due time is still ahead, is a duplicate: ignored."""
    due = plan.state.timers.get(key)
    if due is None or due > plan.now:
        return
    plan.update(timers={k: v for k, v in plan.state.timers.items() if k != key})
    if key == ESCALATION:
        _escalate(plan)
    elif (parsed := parse_deadline_key(key)) is not None:
        _remind(plan, key, *parsed)


def _escalate(plan: Plan) -> None:
    state, escalation, now = plan.state, plan.playbook.escalation, plan.now
    if escalation is None or state.status is IncidentStatus.RESOLVED:
        return
    k = latest_slot(state.outage_start, escalation, now)
    pinged = k is not None and k >= state.escalations_sent
    if k is not None and pinged:
        first = state.escalations_sent == 0
        plan.update(escalations_sent=k + 1)
        holders = render.role_holders(plan.playbook, escalation.notify)
        plan.log(BOT_ACTOR, "escalated", f"escalation ping {k + 1} to {', '.join(holders)}")
        plan.emit(
            Post(render.escalation_ping(plan.state, plan.playbook, now), dedupe_key=f"{ESCALATION}:{k}")
        )
        plan.broadcast(f"{ESCALATION}:{k}", render.broadcast_escalation(plan.state, plan.playbook, now))
        dm = render.escalation_dm(plan.state, plan.playbook, now)
        plan.emit(*(DirectMessage(u, dm, dedupe_key=f"{ESCALATION}:{k}:dm:{u}") for u in holders))
        if first:
            keys: list[str] = plan.playbook.keys()
            for key in keys:
                if plan.playbook.item(key).customer_update:
                    item_text = render.item_post(plan.state, plan.playbook, key, plan.calendar)
                    plan.emit(EditPost(ItemPost(key), item_text))
    plan.emit(Schedule(ESCALATION, next_slot_after(state.outage_start, escalation, now)[1]))
    if pinged:
        plan.refresh_board()


def _remind(plan: Plan, key: str, deadline_id: str, part: str, n: int) -> None:
    state, now = plan.state, plan.now
    deadline = next((d for d in plan.playbook.deadlines if d.id == deadline_id), None)
    if deadline is None or state.status is not IncidentStatus.RESOLVED or state.resolved_at is None:
        return
    item_key = deadline_item(plan.playbook, deadline)
    if state.items[item_key].status is not ItemStatus.OPEN:
        return
    due = deadline_due(deadline, state.resolved_at, plan.calendar)
    if part == "soon" and now >= due:
        return  # the bot was down past the due time: the overdue reminder says it all
    message = render.deadline_reminder(state, deadline, item_key, due, now, plan.calendar)
    plan.log(
        BOT_ACTOR, "reminder", f"{'overdue' if now >= due else 'due soon'}: {deadline.title} ({item_key})"
    )
    plan.emit(Post(message, dedupe_key=key))
    if part == "due":
        n_next, at = _next_overdue(due, n, now, plan.calendar)
        plan.emit(Schedule(deadline_key(deadline.id, "due", n_next), at))
        plan.refresh_board()
