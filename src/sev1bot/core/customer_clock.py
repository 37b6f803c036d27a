"""The customer clock: replies to the customer, reminders while the customer waits, the ETA, the outage start.

- Checking an item marked ``customer_update`` records a reply (who, when). With ``updates.every`` set, the
  owner is reminded in the channel while no reply goes out: at ``base + j * every`` (j = 1, 2, ...), ``base``
  being the last reply or, before the first, the incident's start. A timer that fires late (the bot was down)
  sends ONE reminder, for the latest slot passed. A reply re-arms it, resolving stops it, reopening resumes
  it at the next slot. Each reminder post has the dedupe key ``customer:<replies so far>:<j>``.
- Once the CEO rule applies (the outage has lasted ``escalation.after``), each reply is also sent by direct
  message to the escalation contacts, with who replied, when and the current ETA (dedupe key
  ``customer-reply:<n>:<user>``).
- ``/sev1 eta`` adds an anticipated resolution to the ETA history. A timer at the ETA flags it on the board
  once passed and tells the owner (``eta:<n>``, n counting the ETAs given).
- ``/sev1 since`` says when the outage really began; escalation pings count from then, so a ping already due
  is re-armed for now.

Timer keys: ``customer`` and ``eta``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sev1bot.core import render
from sev1bot.core.effects import Cancel, DirectMessage, Post, Schedule
from sev1bot.core.escalation import ESCALATION, Plan, latest_slot, slot_due
from sev1bot.core.events import EtaSet, Event, OutageSince, TimerDue
from sev1bot.core.moments import Moment, MomentError, eta_time, outage_start_time
from sev1bot.core.state import BOT_ACTOR, CustomerReply, Eta, IncidentState, IncidentStatus
from sev1bot.playbook.schema import Escalation

CUSTOMER = render.CUSTOMER_KEY
ETA = "eta"
CLOCK_TIMERS = frozenset({CUSTOMER, ETA})


class ClockRefusal(Exception):
    """A clock command the core refuses; the decide module turns it into its CoreError."""


def handles(event: Event) -> bool:
    """Whether ``event`` is the clock's to decide: its commands and its timers."""
    return isinstance(event, EtaSet | OutageSince) or (
        isinstance(event, TimerDue) and event.key in CLOCK_TIMERS
    )


def apply(plan: Plan, event: Event) -> None:
    if isinstance(event, EtaSet):
        _set_eta(plan, event.actor, event.when)
    elif isinstance(event, OutageSince):
        _set_outage_start(plan, event.actor, event.when)
    elif isinstance(event, TimerDue):
        _on_timer(plan, event.key)


# -- the reminder while the customer waits ---------------------------------------------------------


def reply_base(state: IncidentState) -> datetime:
    """Since when the customer has been waiting: the last reply, else the incident's start."""
    return state.customer_replies[-1].at if state.customer_replies else state.started_at


def reminder_slot(base: datetime, every: timedelta, now: datetime) -> int | None:
    """The latest j >= 1 with ``base + j * every`` at or before ``now``; None before the first."""
    j = (now - base) // every
    return j if j >= 1 else None


def next_reminder(base: datetime, every: timedelta, now: datetime) -> datetime:
    """The first ``base + j * every`` (j >= 1) strictly after ``now``."""
    return base + ((reminder_slot(base, every, now) or 0) + 1) * every


def on_start(plan: Plan) -> None:
    every = plan.playbook.updates.every
    if every is not None:
        plan.emit(Schedule(CUSTOMER, plan.now + every))


def on_checked(plan: Plan, actor: str, key: str) -> None:
    """An item was checked: if it is a reply to the customer, record it, re-arm the reminder and keep the
    escalation contacts in the loop once the CEO rule applies."""
    if not plan.playbook.item(key).customer_update:
        return
    reply = CustomerReply(at=plan.now, by=actor, item=key)
    plan.update(customer_replies=(*plan.state.customer_replies, reply))
    plan.log(actor, "reply", f"replied to the customer ({key} {plan.playbook.item(key).title})")
    every = plan.playbook.updates.every
    if every is not None and plan.state.status is IncidentStatus.ACTIVE:
        plan.emit(Schedule(CUSTOMER, plan.now + every))
    escalation = plan.playbook.escalation
    if escalation is not None and ceo_rule_applies(plan.state, escalation, plan.now):
        n = len(plan.state.customer_replies) - 1
        message = render.customer_reply_dm(plan.state, plan.playbook, reply, plan.now, plan.calendar)
        contacts = [u for u in render.role_holders(plan.playbook, escalation.notify) if u != actor]
        plan.emit(*(DirectMessage(u, message, dedupe_key=f"customer-reply:{n}:{u}") for u in contacts))


def ceo_rule_applies(state: IncidentState, escalation: Escalation, now: datetime) -> bool:
    """Whether the outage has lasted long enough that the escalation contacts must be in every reply."""
    return now - state.outage_start >= escalation.after


def _remind(plan: Plan) -> None:
    every, state = plan.playbook.updates.every, plan.state
    if every is None or state.status is not IncidentStatus.ACTIVE:
        return
    base = reply_base(state)
    j = reminder_slot(base, every, plan.now)
    if j is not None:
        waited = plan.now - base
        plan.log(BOT_ACTOR, "reminder", f"the customer has had no reply for {render.fmt_elapsed(waited)}")
        message = render.customer_reminder(state, plan.playbook, plan.now, plan.calendar)
        plan.emit(Post(message, dedupe_key=f"{CUSTOMER}:{len(state.customer_replies)}:{j}"))
    plan.emit(Schedule(CUSTOMER, next_reminder(base, every, plan.now)))
    plan.refresh_board()


def on_resolve(plan: Plan) -> None:
    plan.emit(*(Cancel(key) for key in (CUSTOMER, ETA) if key in plan.state.timers))


def on_reopen(plan: Plan) -> None:
    every, state = plan.playbook.updates.every, plan.state
    if every is not None:
        plan.emit(Schedule(CUSTOMER, next_reminder(reply_base(state), every, plan.now)))
    if state.etas and state.etas[-1].eta > plan.now:
        plan.emit(Schedule(ETA, state.etas[-1].eta))


# -- the ETA ---------------------------------------------------------------------------------------


def _set_eta(plan: Plan, actor: str, when: Moment) -> None:
    if plan.state.status is IncidentStatus.RESOLVED:
        raise ClockRefusal("This incident is resolved, so it needs no ETA; reopen it first.")
    try:
        eta = eta_time(when, plan.now, plan.calendar.zone)
    except MomentError as exc:
        raise ClockRefusal(f"No ETA set: {exc}.") from None
    if plan.state.etas and plan.state.etas[-1].eta == eta:
        return  # the same ETA again
    plan.update(etas=(*plan.state.etas, Eta(given_at=plan.now, by=actor, eta=eta)))
    plan.log(actor, "eta", f"set the ETA to {render.fmt_when(eta, plan.calendar)}")
    plan.emit(Post(render.eta_post(actor, eta, plan.now, plan.calendar)), Schedule(ETA, eta))
    plan.refresh_board()


def _eta_passed(plan: Plan) -> None:
    state = plan.state
    if state.status is not IncidentStatus.ACTIVE or not state.etas or state.etas[-1].eta > plan.now:
        return
    eta = state.etas[-1].eta
    plan.log(BOT_ACTOR, "reminder", f"the ETA {render.fmt_when(eta, plan.calendar)} has passed")
    message = render.eta_passed(state, eta, plan.now, plan.calendar)
    plan.emit(Post(message, dedupe_key=f"{ETA}:{len(state.etas) - 1}"))
    plan.refresh_board()


# -- when the outage began -------------------------------------------------------------------------


def _set_outage_start(plan: Plan, actor: str, when: Moment) -> None:
    try:
        began = outage_start_time(when, plan.now, plan.calendar.zone)
    except MomentError as exc:
        raise ClockRefusal(f"The outage start is unchanged: {exc}.") from None
    if began == plan.state.outage_start:
        return
    plan.update(outage_started_at=began)
    plan.log(actor, "since", f"the outage began {render.fmt_when(began, plan.calendar)}")
    plan.emit(Post(render.since_post(actor, began, plan.now, plan.calendar)))
    _rearm_escalation(plan)
    plan.refresh_board()


def _rearm_escalation(plan: Plan) -> None:
    """Escalation counts from the outage's start: a ping already due goes now, else at the first slot to
    come that has not been pinged."""
    state, escalation = plan.state, plan.playbook.escalation
    if escalation is None or state.status is not IncidentStatus.ACTIVE:
        return
    latest = latest_slot(state.outage_start, escalation, plan.now)
    if latest is not None and latest >= state.escalations_sent:
        plan.emit(Schedule(ESCALATION, plan.now))
        return
    k = max(state.escalations_sent, 0 if latest is None else latest + 1)
    plan.emit(Schedule(ESCALATION, slot_due(state.outage_start, escalation, k)))


# -- timers ----------------------------------------------------------------------------------------


def _on_timer(plan: Plan, key: str) -> None:
    """A clock timer fired; one not pending, or not yet due, is a duplicate and ignored."""
    due = plan.state.timers.get(key)
    if due is None or due > plan.now:
        return
    plan.update(timers={k: v for k, v in plan.state.timers.items() if k != key})
    if key == CUSTOMER:
        _remind(plan)
    else:
        _eta_passed(plan)
