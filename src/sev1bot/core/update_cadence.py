"""The status-update cadence: the owner is reminded when no status update has been posted for a while.

With ``updates.every`` set, the owner is mentioned in the channel at ``base + j * every`` (j = 1, 2, ...),
``base`` being the last status update (``/sev1 update``) or, before the first, the incident's start (the
start counts as the first update). From the third reminder on (two were missed) the leads the playbook
invites are mentioned too. A timer that fires late (the bot was down) sends ONE reminder, for the latest slot
passed. An update re-arms it, resolving stops it, reopening resumes it at the next slot. Each reminder post
has the dedupe key ``update:<updates so far>:<j>``, so a timer fired twice posts once.

Timer key: ``update``.
"""

from __future__ import annotations

from datetime import datetime

from sev1bot.core import render
from sev1bot.core.customer_clock import next_reminder, reminder_slot
from sev1bot.core.effects import Cancel, Post, Schedule
from sev1bot.core.escalation import Plan
from sev1bot.core.events import Event, TimerDue
from sev1bot.core.state import BOT_ACTOR, IncidentState, IncidentStatus, TimelineEntry

UPDATE = render.UPDATE_KEY
MISSED_BEFORE_LEADS = 2  # reminders nobody answered before the leads are mentioned too


def handles(event: Event) -> bool:
    """Whether ``event`` is the cadence's to decide: its timer."""
    return isinstance(event, TimerDue) and event.key == UPDATE


def updates(state: IncidentState) -> list[TimelineEntry]:
    """The status updates posted so far, oldest first."""
    return [entry for entry in state.timeline if entry.kind == "update"]


def update_base(state: IncidentState) -> datetime:
    """Since when no update has been posted: the last one, else the incident's start."""
    posted = updates(state)
    return posted[-1].at if posted else state.started_at


def on_start(plan: Plan) -> None:
    every = plan.playbook.updates.every
    if every is not None:
        plan.emit(Schedule(UPDATE, plan.now + every))


def on_update(plan: Plan) -> None:
    """A status update was just logged: the next reminder is one interval from now."""
    every = plan.playbook.updates.every
    if every is not None and plan.state.status is IncidentStatus.ACTIVE:
        plan.emit(Schedule(UPDATE, plan.now + every))


def on_resolve(plan: Plan) -> None:
    if UPDATE in plan.state.timers:
        plan.emit(Cancel(UPDATE))


def on_reopen(plan: Plan) -> None:
    every = plan.playbook.updates.every
    if every is not None:
        plan.emit(Schedule(UPDATE, next_reminder(update_base(plan.state), every, plan.now)))


def apply(plan: Plan, event: Event) -> None:
    """The cadence's timer fired; one not pending, or not yet due, is a duplicate and ignored."""
    if not handles(event):
        return
    due = plan.state.timers.get(UPDATE)
    if due is None or due > plan.now:
        return
    plan.update(timers={k: v for k, v in plan.state.timers.items() if k != UPDATE})
    _remind(plan)


def _remind(plan: Plan) -> None:
    every, state = plan.playbook.updates.every, plan.state
    if every is None or state.status is not IncidentStatus.ACTIVE:
        return
    base = update_base(state)
    j = reminder_slot(base, every, plan.now)
    if j is not None:
        leads = leads_to_mention(plan, j)
        plan.log(BOT_ACTOR, "reminder", f"no status update for {render.fmt_elapsed(plan.now - base)}")
        message = render.update_reminder(state, plan.now, base, leads)
        plan.emit(Post(message, dedupe_key=f"{UPDATE}:{len(updates(state))}:{j}"))
    plan.emit(Schedule(UPDATE, next_reminder(base, every, plan.now)))
    plan.refresh_board()


def leads_to_mention(plan: Plan, j: int) -> list[str]:
    """The leads the playbook invites (not the owner) once ``MISSED_BEFORE_LEADS`` reminders went unheeded."""
    if j <= MISSED_BEFORE_LEADS:
        return []
    invited = render.role_holders(plan.playbook, plan.playbook.invite)
    return [u for u in invited if u != plan.state.owner]
