"""Mattermost markdown for everything the bot posts: pure functions, times in the calendar's timezone.

Playbook text (titles, descriptions) is trusted and rendered as written; anything a user typed goes through
:func:`~sev1bot.core.text.neutralize` or :func:`~sev1bot.core.text.one_line` first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sev1bot.core import effects as fx
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.effects import post_link
from sev1bot.core.events import (
    Assigned,
    ChannelNamed,
    EtaSet,
    Event,
    FollowChanged,
    ItemChecked,
    ItemEvent,
    ItemSkipped,
    ItemUnchecked,
    MemberJoined,
    OutageSince,
    OwnerChanged,
    Reopened,
    Resolved,
    Started,
    StatusUpdate,
    TaskDone,
    TimerDue,
)
from sev1bot.core.state import CustomerReply, IncidentState, IncidentStatus, ItemStatus
from sev1bot.core.text import mention, neutralize, one_line, quiet
from sev1bot.durations import format_duration
from sev1bot.playbook.schema import Deadline, Playbook

DISPLAY_NAME_MAX = 64
HEADER_MAX = 1024
PURPOSE_MAX = 250
NEXT_ITEMS = 3
TIMELINE_ENTRIES = 60  # the newest ones; older entries are counted, not shown
ESCALATION_KEY = "escalation"  # the timer key, as in core.escalation (which imports this module)
CUSTOMER_KEY = "customer"  # the customer clock's reminder timer, as in core.customer_clock
UPDATE_KEY = "update"  # the status-update reminder's timer, as in core.update_cadence
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MARK = {ItemStatus.DONE: ":white_check_mark:", ItemStatus.SKIPPED: ":fast_forward:"}


def fmt_time(moment: datetime, calendar: BusinessCalendar) -> str:
    """``14:05 UTC``"""
    local = calendar.local(moment)
    return f"{local:%H:%M} {local.tzname()}"


def fmt_when(moment: datetime, calendar: BusinessCalendar) -> str:
    """``Mon 30 Nov 2026 15:00 EST`` (English names whatever the process locale)."""
    local = calendar.local(moment)
    day = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"
    return f"{day} {local:%H:%M} {local.tzname()}"


def fmt_elapsed(delta: timedelta) -> str:
    """``40s``, ``45m``, ``1h``, ``3h 20m``, ``2d 4h``: rounded down, seconds only under a minute."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def display_name(customer: str, started_at: datetime, calendar: BusinessCalendar) -> str:
    """``Sev 1: Acme Corp (2026-11-27)``, the customer shortened to fit Mattermost's 64 characters."""
    tail = f" ({calendar.local(started_at).date().isoformat()})"
    room = DISPLAY_NAME_MAX - len("Sev 1: ") - len(tail)
    return f"Sev 1: {one_line(customer, room)}{tail}"


def header(state: IncidentState, playbook: Playbook) -> str:
    status = "resolved" if state.status is IncidentStatus.RESOLVED else "active"
    parts = [f"**Sev 1 · {one_line(state.customer, 200)}**", f"owner {mention(state.owner)}", status]
    if state.summary:
        parts.append(one_line(state.summary, 500))
    return neutralize(" · ".join(parts), HEADER_MAX)


def purpose(state: IncidentState, playbook: Playbook) -> str:
    return one_line(f"{playbook.title}: {state.customer}", PURPOSE_MAX)


def open_keys(state: IncidentState, playbook: Playbook) -> list[str]:
    """Keys of the items still open, in checklist order (skipped items are not open)."""
    keys: list[str] = playbook.keys()
    return [key for key in keys if state.items[key].status is ItemStatus.OPEN]


def current_stage(state: IncidentState, playbook: Playbook) -> int | None:
    """The first stage with an open item, or None when every item is done or skipped."""
    keys = open_keys(state, playbook)
    return int(keys[0].split(".")[0]) if keys else None


def _stage_counts(state: IncidentState, playbook: Playbook, stage: int) -> tuple[int, int, int]:
    items = [state.items[f"{stage}.{i}"] for i in range(1, len(playbook.stages[stage - 1].items) + 1)]
    finished = sum(item.status is not ItemStatus.OPEN for item in items)
    skipped = sum(item.status is ItemStatus.SKIPPED for item in items)
    return finished, skipped, len(items)


def stage_label(playbook: Playbook, stage: int) -> str:
    return f"{stage} · {playbook.stages[stage - 1].title}"


def stage_root(state: IncidentState, playbook: Playbook, stage: int) -> str:
    """``### 2 · Data Gathering — 3/5 done`` (done counts skipped items too, which are named)."""
    finished, skipped, total = _stage_counts(state, playbook, stage)
    line = f"### {stage_label(playbook, stage)} — {finished}/{total} done"
    if skipped:
        line += f" ({skipped} skipped)"
    if finished == total:
        line += " :white_check_mark:"
    return line + "\n_The items of this stage are in the thread below._"


def notify_titles(playbook: Playbook) -> str:
    """``CEO``: the titles of the roles escalation pings, joined with "and"."""
    roles = playbook.escalation.notify if playbook.escalation else []
    return " and ".join(playbook.roles[r].title for r in roles if r in playbook.roles) or "escalation contact"


def escalation_note(playbook: Playbook) -> str | None:
    """``CEO must be looped in (open > 1h)``, or None for a playbook without escalation."""
    if playbook.escalation is None:
        return None
    return (
        f"{notify_titles(playbook)} must be looped in (open > {format_duration(playbook.escalation.after)})"
    )


def item_post(state: IncidentState, playbook: Playbook, key: str, calendar: BusinessCalendar) -> str:
    item, item_state = playbook.item(key), state.items[key]
    lines = [f"**{key}** {item.title}"]
    if item.description_pending:
        lines.append("_Details to be written._")
    elif item.description:
        lines.append(item.description)
    note = escalation_note(playbook)
    if item.customer_update and state.escalations_sent > 0 and note:
        lines.append(f":rotating_light: **{note}**")
    status: list[str] = []
    if item_state.status is not ItemStatus.OPEN:
        verb = "done" if item_state.status is ItemStatus.DONE else "skipped"
        who = f" by {mention(item_state.by)}" if item_state.by else ""
        when = f" at {fmt_time(item_state.at, calendar)}" if item_state.at else ""
        status.append(f"{_MARK[item_state.status]} {verb}{who}{when}")
    if item_state.assignee:
        status.append(f"assigned to {mention(item_state.assignee)}")
    if status:
        lines.append(" · ".join(status))
    if item_state.status is ItemStatus.OPEN:
        check, skip = playbook.reactions.check[:1], playbook.reactions.skip[:1]
        hint = f"React with :{check[0]}: to check" if check else "Use the check command to check"
        lines.append(f"_{hint}{f' or :{skip[0]}: to skip' if skip else ''}._")
    return "\n".join(lines)


def role_holders(playbook: Playbook, role_ids: list[str]) -> list[str]:
    """Usernames holding the given roles, in order, without repeats (unknown role ids are left out)."""
    names = [playbook.roles[r].username for r in role_ids if r in playbook.roles]
    return list(dict.fromkeys(names))


def deadline_status(state: IncidentState, key: str, due: datetime, now: datetime) -> str:
    item = state.items[key]
    if item.status is ItemStatus.DONE:
        return ":white_check_mark: done"
    if item.status is ItemStatus.SKIPPED:
        return ":fast_forward: skipped"
    return ":warning: **overdue**" if now >= due else "open"


def deadline_lines(
    state: IncidentState, playbook: Playbook, dues: list[tuple[Deadline, str, datetime]], now: datetime,
    calendar: BusinessCalendar,
) -> list[str]:  # fmt: skip
    return [
        f"- **{d.title}** ({key}): due {fmt_when(due, calendar)} — {deadline_status(state, key, due, now)}"
        for d, key, due in dues
    ]


def last_update(state: IncidentState, now: datetime, calendar: BusinessCalendar) -> str | None:
    """``**Last update** 12m ago by alice (10:30 UTC): text · next due 11:00 UTC``; the next due time only
    while the cadence runs, and the line only once there is an update or a cadence."""
    entry = next((e for e in reversed(state.timeline) if e.kind == "update"), None)
    due = state.timers.get(UPDATE_KEY) if state.status is IncidentStatus.ACTIVE else None
    if entry is not None:
        ago = fmt_elapsed(now - entry.at)
        text = f"**Last update** {ago} ago by {quiet(entry.actor)} ({fmt_near(entry.at, now, calendar)}): "
        text += neutralize(entry.text, 1500)
    elif due is not None:
        text = f"**Last update:** none since the start {fmt_elapsed(now - state.started_at)} ago"
    else:
        return None
    return text + (f" · next due {fmt_near(due, now, calendar)}" if due is not None else "")


def update_reminder(state: IncidentState, now: datetime, base: datetime, leads: list[str]) -> str:
    """The reminder to the owner (and, after unanswered reminders, the leads) that no update was posted."""
    since = "since the last one" if base != state.started_at else "since the incident began"
    who = " ".join(mention(u) for u in [state.owner, *leads])
    lines = [
        f"{who} :memo: **No status update for {fmt_elapsed(now - base)}** ({since}).",
        "Post what changed with `/sev1 update <text>`.",
    ]
    if leads:
        lines.append("The leads are mentioned too: the reminders before this one went unanswered.")
    return "\n".join(lines)


def status_board(
    state: IncidentState, playbook: Playbook, now: datetime, calendar: BusinessCalendar,
    dues: list[tuple[Deadline, str, datetime]],
) -> str:  # fmt: skip
    """The pinned summary. ``dues`` lists the deadlines with their due times (only shown once resolved)."""
    lines = [f"### :rotating_light: Sev 1 · {one_line(state.customer, 200)}"]
    since = fmt_when(state.started_at, calendar)
    if state.status is IncidentStatus.RESOLVED and state.resolved_at is not None:
        took = fmt_elapsed(state.resolved_at - state.started_at)
        lines.append(
            f"**Status:** :white_check_mark: Resolved {fmt_when(state.resolved_at, calendar)} after {took}"
        )
    else:
        lines.append(
            f"**Status:** :red_circle: Active, open {fmt_elapsed(now - state.started_at)} (since {since})"
        )
    lines.append(f"**Owner:** {quiet(state.owner)} · **Reporter:** {quiet(state.reporter)}")
    if state.summary:
        lines.append(f"**Summary:** {neutralize(state.summary, 1500)}")
    total = len(state.items)
    finished = total - len(open_keys(state, playbook))
    stage = current_stage(state, playbook)
    where = f" · current stage: {stage_label(playbook, stage)}" if stage else " · every item is done"
    lines += [f"**Progress:** {finished}/{total} items{where}", "", "| Stage | Done |", "|:--|:--|"]
    for n in range(1, len(playbook.stages) + 1):
        done, _skipped, count = _stage_counts(state, playbook, n)
        mark = " :white_check_mark:" if done == count else ""
        lines.append(f"| {stage_label(playbook, n)} | {done}/{count}{mark} |")
    lines.append("")
    update = last_update(state, now, calendar)
    if update:
        lines.append(update)
    if state.followers:
        lines.append(f"**Followers** (each update by DM): {', '.join(quiet(u) for u in state.followers)}")
    lines += clock_lines(state, playbook, now, calendar)
    if playbook.escalation is not None:
        lines.append(f"**Escalation:** {_escalation_state(state, playbook, calendar)}")
    if state.status is IncidentStatus.RESOLVED and dues:
        lines += ["**Deadlines:**", *deadline_lines(state, playbook, dues, now, calendar)]
    lines.append(f"_Updated {fmt_when(now, calendar)}._")
    return "\n".join(lines)


def _escalation_state(state: IncidentState, playbook: Playbook, calendar: BusinessCalendar) -> str:
    """Who gets pinged, how often they were, and when next (board names never notify anyone)."""
    assert playbook.escalation is not None
    roles = [playbook.roles[r] for r in playbook.escalation.notify if r in playbook.roles]
    who = " and ".join(f"the {role.title} ({quiet(role.username)})" for role in roles) or "nobody"
    sent = state.escalations_sent
    done = f"{who} pinged {sent} time{'s' if sent != 1 else ''}" if sent else f"{who} not pinged yet"
    nxt = state.timers.get(ESCALATION_KEY)
    if state.status is IncidentStatus.RESOLVED:
        return f"{done}; stopped (resolved)."
    return f"{done}; next ping at {fmt_time(nxt, calendar)} if still open." if nxt else f"{done}."


def update_post(actor: str, text: str) -> str:
    quoted = "\n".join(f"> {line}" for line in neutralize(text, 3500).split("\n"))
    return f":loudspeaker: **Update** from {mention(actor)}:\n{quoted}"


def resolution_post(
    state: IncidentState, actor: str, note: str, lines: list[str], via: str | None = None
) -> str:
    how = f" by checking {via}" if via else ""
    text = [f":white_check_mark: **Resolved**{how} by {mention(actor)}. Escalation pings have stopped."]
    if note.strip():
        text.append(f"> {neutralize(note, 1500)}".replace("\n", "\n> "))
    if lines:
        text += ["Deadlines from now on:", *lines]
    return "\n".join(text)


def reopen_post(actor: str, next_ping: datetime | None, calendar: BusinessCalendar) -> str:
    text = f":arrows_counterclockwise: **Reopened** by {mention(actor)}. Deadline reminders are paused"
    return text + (f"; the next escalation ping is at {fmt_time(next_ping, calendar)}." if next_ping else ".")


# -- broadcasts to the stakeholders' channels -----------------------------------------------------


def _broadcast_head(state: IncidentState) -> str:
    return f"**Sev 1 · {one_line(state.customer, 200)}** (~{state.channel_name})"


def broadcast_live(state: IncidentState, playbook: Playbook, calendar: BusinessCalendar) -> str:
    """The start's post in a broadcast channel, edited as the incident moves: status, owner, progress."""
    total = len(state.items)
    progress = f"progress {total - len(open_keys(state, playbook))}/{total}"
    if state.status is IncidentStatus.RESOLVED and state.resolved_at is not None:
        took = fmt_elapsed(state.resolved_at - state.started_at)
        status = f":white_check_mark: {_broadcast_head(state)} · **resolved** after {took}"
    else:
        since = fmt_when(state.started_at, calendar)
        status = f":rotating_light: {_broadcast_head(state)} · **active** since {since}"
    summary = f"\n> {one_line(state.summary, 300)}" if state.summary else ""
    return f"{status} · owner {quiet(state.owner)} · {progress}{summary}"


def broadcast_update(state: IncidentState, actor: str, text: str) -> str:
    said = one_line(neutralize(text), 600)
    return f":loudspeaker: {_broadcast_head(state)} update from {quiet(actor)}: {said}"


def broadcast_escalation(state: IncidentState, playbook: Playbook, now: datetime) -> str:
    assert playbook.escalation is not None
    who = ", ".join(quiet(u) for u in role_holders(playbook, playbook.escalation.notify)) or "nobody"
    return (
        f":rotating_light: {_broadcast_head(state)} has been out for "
        f"{fmt_elapsed(now - state.outage_start)}: escalated to {who}."
    )


def broadcast_resolved(state: IncidentState, actor: str) -> str:
    took = fmt_elapsed((state.resolved_at or state.started_at) - state.started_at)
    return f":white_check_mark: {_broadcast_head(state)} resolved by {quiet(actor)} after {took}."


def follower_dm(state: IncidentState, actor: str, text: str) -> str:
    """A status update to someone who follows the incident."""
    quoted = "\n".join(f"> {line}" for line in neutralize(text, 3500).split("\n"))
    return (
        f":loudspeaker: **Update** on {_incident(state)} from {quiet(actor)} (see the "
        f"{post_link('status board')}; `/sev1 unfollow ~{state.channel_name}` to stop these):\n{quoted}"
    )


def broadcast_missing(name: str) -> str:
    """The warning in the incident channel for a broadcast channel the bot cannot find."""
    return (
        f":warning: Could not post to the broadcast channel `~{name}`: the server knows no channel of that "
        "name the bot can see. Either it does not exist on this team (fix the name in the playbook's "
        "`updates.broadcast`), or it is private and the bot is not a member (add the bot to it). Until "
        "then this incident's broadcasts to it are skipped."
    )


# -- the customer clock ----------------------------------------------------------------------------


def fmt_near(moment: datetime, now: datetime, calendar: BusinessCalendar) -> str:
    """``17:30 UTC`` on the local day of ``now``, else with the date: ``Wed 11 Mar 2026 09:00 UTC``."""
    return (
        fmt_time(moment, calendar)
        if calendar.local(moment).date() == calendar.local(now).date()
        else (fmt_when(moment, calendar))
    )


def _customer_items(playbook: Playbook) -> list[str]:
    keys: list[str] = playbook.keys()
    return [key for key in keys if playbook.item(key).customer_update]


def clock_lines(
    state: IncidentState, playbook: Playbook, now: datetime, calendar: BusinessCalendar
) -> list[str]:
    """The board's lines of the customer clock: when the outage began (if said), the last reply to the
    customer and the next reminder, the ETA (flagged once passed)."""
    lines: list[str] = []
    active = state.status is IncidentStatus.ACTIVE
    replies = any(item.customer_update for stage in playbook.stages for item in stage.items)
    if state.outage_started_at is not None:
        ago = f", {fmt_elapsed(now - state.outage_started_at)} ago" if active else ""
        lines.append(f"**Outage began:** {fmt_near(state.outage_started_at, now, calendar)}{ago}")
    if replies or state.customer_replies:
        lines.append(_last_reply(state, now, calendar))
    if state.etas:
        lines.append(_eta_line(state, now, calendar))
    elif active and replies:
        lines.append("**ETA:** none given yet: `/sev1 eta <time>` records the one the customer is told.")
    return lines


def _last_reply(state: IncidentState, now: datetime, calendar: BusinessCalendar) -> str:
    if state.customer_replies:
        last = state.customer_replies[-1]
        text = (
            f"**Last reply to the customer:** {fmt_elapsed(now - last.at)} ago by {quiet(last.by)} "
            f"({last.item}, {fmt_near(last.at, now, calendar)})"
        )
    else:
        text = "**Last reply to the customer:** none yet"
    due = state.timers.get(CUSTOMER_KEY)
    if due is not None and state.status is IncidentStatus.ACTIVE:
        text += f" · the owner is reminded at {fmt_near(due, now, calendar)} if none goes out"
    return text


def _eta_line(state: IncidentState, now: datetime, calendar: BusinessCalendar) -> str:
    given = state.etas[-1]
    when = fmt_near(given.eta, now, calendar)
    if state.status is not IncidentStatus.ACTIVE:
        return f"**ETA:** {when} (given by {quiet(given.by)})"
    if given.eta <= now:
        return (
            f"**ETA:** {when} :warning: **passed {fmt_elapsed(now - given.eta)} ago**: tell the customer "
            "a new one and set it with `/sev1 eta <time>`"
        )
    earlier = f"; {len(state.etas) - 1} earlier" if len(state.etas) > 1 else ""
    return f"**ETA:** {when}, in {fmt_elapsed(given.eta - now)} (given by {quiet(given.by)}{earlier})"


def _next_reply_item(state: IncidentState, playbook: Playbook) -> str | None:
    return next((k for k in _customer_items(playbook) if state.items[k].status is ItemStatus.OPEN), None)


def customer_reminder(
    state: IncidentState, playbook: Playbook, now: datetime, calendar: BusinessCalendar
) -> str:
    """The reminder to the owner that the customer is waiting."""
    if state.customer_replies:
        last = state.customer_replies[-1]
        waited = f"no reply to the customer for {fmt_elapsed(now - last.at)} (the last by {quiet(last.by)})"
    else:
        waited = (
            f"no reply to the customer since the incident began {fmt_elapsed(now - state.started_at)} ago"
        )
    lines = [
        f"{mention(state.owner)} :hourglass_flowing_sand: **{one_line(state.customer, 200)} is waiting**: "
        f"{waited}."
    ]
    key = _next_reply_item(state, playbook)
    check = f" and check {key} once it is sent" if key else ""
    eta = (
        f"the ETA ({fmt_near(state.etas[-1].eta, now, calendar)})"
        if state.etas
        else "an ETA (`/sev1 eta <time>`)"
    )
    lines.append(f"Reply with {eta}{check}.")
    return "\n".join(lines)


def customer_reply_dm(
    state: IncidentState, playbook: Playbook, reply: CustomerReply, now: datetime, calendar: BusinessCalendar
) -> str:
    """What the escalation contacts hear of each reply once the CEO rule applies."""
    title = playbook.item(reply.item).title
    eta = (
        f"the ETA is {fmt_near(state.etas[-1].eta, now, calendar)}"
        if state.etas
        else "no ETA has been given yet"
    )
    return (
        f":speech_balloon: **Reply to {one_line(state.customer, 200)}**: {quiet(reply.by)} checked "
        f"{reply.item} {title} at {fmt_time(reply.at, calendar)}; {eta}. The outage has lasted "
        f"{fmt_elapsed(now - state.outage_start)} (owner {quiet(state.owner)}, ~{state.channel_name})."
    )


def eta_post(actor: str, eta: datetime, now: datetime, calendar: BusinessCalendar) -> str:
    return (
        f":dart: **ETA** {fmt_near(eta, now, calendar)}, in {fmt_elapsed(eta - now)} (set by {quiet(actor)})."
    )


def eta_passed(state: IncidentState, eta: datetime, now: datetime, calendar: BusinessCalendar) -> str:
    late = f" {fmt_elapsed(now - eta)} ago" if now - eta >= timedelta(minutes=1) else ""
    return (
        f"{mention(state.owner)} :hourglass: **The ETA {fmt_near(eta, now, calendar)} has passed{late}.** "
        "Tell the customer a new one and set it with `/sev1 eta <time>`."
    )


def clock_done(state: IncidentState, event: EtaSet | OutageSince, calendar: BusinessCalendar) -> str:
    """The answer to ``/sev1 eta`` and ``/sev1 since``, with the time as the bot read it."""
    if isinstance(event, EtaSet):
        given = state.etas[-1]
        ahead = fmt_elapsed(given.eta - given.given_at)
        return f"Done: the ETA is {fmt_when(given.eta, calendar)}, in {ahead}."
    return f"Done: the outage began {fmt_when(state.outage_start, calendar)}; escalation counts from then."


def since_post(actor: str, began: datetime, now: datetime, calendar: BusinessCalendar) -> str:
    return (
        f":clock1: **The outage began {fmt_near(began, now, calendar)}**, {fmt_elapsed(now - began)} ago "
        f"(said {quiet(actor)}); escalation counts from then."
    )


def _next_items(state: IncidentState, playbook: Playbook) -> tuple[int, str]:
    keys = open_keys(state, playbook)
    shown = "; ".join(f"{k} {playbook.item(k).title}" for k in keys[:NEXT_ITEMS])
    return len(keys), shown


# -- direct messages to the people of an incident (links to its posts are filled in on delivery) ----------


def _incident(state: IncidentState) -> str:
    """``the Sev 1 for **Acme Corp** (~sev1-2026-03-10-acme-corp)``"""
    return f"the Sev 1 for **{one_line(state.customer, 200)}** (~{state.channel_name})"


def _progress(state: IncidentState, playbook: Playbook) -> str:
    total = len(state.items)
    finished = total - len(open_keys(state, playbook))
    stage = current_stage(state, playbook)
    where = f", current stage {stage_label(playbook, stage)}" if stage else ""
    return f"{finished}/{total} items done{where}"


def check_hint(playbook: Playbook, key: str) -> str:
    """How to check an item: its reaction, else the command."""
    check, skip = playbook.reactions.check[:1], playbook.reactions.skip[:1]
    command = f"`/sev1 check {key}`"
    if not check:
        return f"type {command} in the incident channel"
    also = f" (:{skip[0]}: skips it)" if skip else ""
    return f"react with :{check[0]}: on its post{also}, or type {command} in the incident channel"


def assigned_dm(state: IncidentState, playbook: Playbook, key: str, actor: str) -> str:
    """To a new assignee: which item, what it says, and a link to its post."""
    item = playbook.item(key)
    lines = [f":point_right: {quiet(actor)} assigned you an item of {_incident(state)}:"]
    lines.append(f"**{key} {item.title}**")
    if item.description_pending:
        lines.append("_Details to be written._")
    elif item.description:
        lines.append(item.description)
    link = post_link(f"Open {key} in the checklist")
    lines.append(f"{link} · once it is done, {check_hint(playbook, key)}.")
    return "\n".join(lines)


def owner_dm(state: IncidentState, playbook: Playbook, actor: str) -> str:
    """To the new owner: the incident is theirs now, with the board's link."""
    return (
        f":large_orange_diamond: {quiet(actor)} made you the owner of {_incident(state)}. "
        f"It is {_state_word(state)}, {_progress(state, playbook)}: see the {post_link('status board')}."
    )


def former_owner_dm(state: IncidentState, actor: str) -> str:
    """To the owner handing over: who owns it now."""
    return (
        f":arrows_counterclockwise: {quiet(actor)} made {quiet(state.owner)} the owner of "
        f"{_incident(state)}: you no longer own it. The {post_link('status board')} keeps track."
    )


def welcome_dm(state: IncidentState, playbook: Playbook, calendar: BusinessCalendar) -> str:
    """To someone who joined the incident channel: what it is, who owns it, the board, how to check items."""
    about = f": {one_line(state.summary, 300)}" if state.summary else ""
    example = next(iter(open_keys(state, playbook)), "1.1")
    lines = [
        f":wave: You are in the incident channel of {_incident(state)}{about}",
        f"**Owner:** {quiet(state.owner)} · started {fmt_when(state.started_at, calendar)} by "
        f"{quiet(state.reporter)} · {_state_word(state)}, {_progress(state, playbook)}.",
        f"**Status board:** {post_link('pinned in the channel')}. The checklist is posted there, one thread "
        "per stage.",
        f"To check an item, {check_hint(playbook, example)}; `/sev1 help` lists every command.",
    ]
    return "\n".join(lines)


def _state_word(state: IncidentState) -> str:
    return "resolved" if state.status is IncidentStatus.RESOLVED else "active"


def escalation_ping(state: IncidentState, playbook: Playbook, now: datetime) -> str:
    assert playbook.escalation is not None
    people = role_holders(playbook, playbook.escalation.notify)
    who = " ".join(mention(u) for u in dict.fromkeys([*people, state.owner]))
    lines = [
        f"{who} :rotating_light: **The Sev 1 for {one_line(state.customer, 200)} has been open for "
        f"{fmt_elapsed(now - state.outage_start)}.** The {notify_titles(playbook)} must be looped into "
        "customer replies."
    ]
    if state.outage_started_at is not None:
        lines[0] += " (Counted from the outage's start, as given with `/sev1 since`.)"
    stage = current_stage(state, playbook)
    count, shown = _next_items(state, playbook)
    if stage is not None:
        lines.append(f"Current stage: **{stage_label(playbook, stage)}**, {count} items open. Next: {shown}")
    return "\n".join(lines)


def escalation_dm(state: IncidentState, playbook: Playbook, now: datetime) -> str:
    elapsed = fmt_elapsed(now - state.outage_start)
    return (
        f":rotating_light: The Sev 1 for {one_line(state.customer, 200)} has been open for {elapsed} "
        f"(owner {quiet(state.owner)}). As {notify_titles(playbook)} you must be looped into customer "
        f"replies: please join ~{state.channel_name}."
    )


def channel_named_dm(state: IncidentState, announced: str, link: str) -> str:
    """To the reporter, whose start answer linked ``announced``: the incident runs in another channel."""
    return (
        f":warning: The Sev 1 for {one_line(state.customer, 200)} runs in [~{state.channel_name}]({link}), "
        f"not in `{announced}` as the start message said: a channel that sev1bot did not create already had "
        "that name, so the incident does not use it. Follow this link and share nothing in the other one."
    )


_GOALS: dict[type[fx.Effect], str] = {
    fx.CreateChannel: "create the incident channel",
    fx.Invite: "invite people to the incident channel",
    fx.SetHeader: "update the incident channel's header",
    fx.Post: "post in the incident channel",
    fx.EditPost: "update a post in the incident channel",
    fx.DirectMessage: "send a direct message about the incident",
}


def delivery_stuck_dm(
    state: IncidentState, effect: fx.Effect, error: str, failures: int, retry_every: timedelta
) -> str:
    """To the reporter and the owner, once, when the bot keeps failing to carry out ``effect``."""
    goal = _GOALS.get(type(effect), "carry out a step of the incident")
    said = one_line(error, 300).replace("`", "'")
    text = (
        f":warning: sev1bot could not {goal} for the Sev 1 for {one_line(state.customer, 200)}: "
        f"{failures} attempts failed (Mattermost said: `{said}`). It keeps trying, at most "
        f"{fmt_elapsed(retry_every)} apart."
    )
    if isinstance(effect, fx.CreateChannel):
        return (
            f"{text} Until it succeeds the incident has no channel: run it by hand in a channel you create, "
            "and ask whoever runs sev1bot to check that its account may create private channels in this "
            f"team and to read its log for incident `{state.id}`."
        )
    return (
        f"{text} Until then ~{state.channel_name} may be out of date; ask whoever runs sev1bot to read its "
        f"log for incident `{state.id}`."
    )


def deadline_reminder(
    state: IncidentState,
    deadline: Deadline,
    key: str,
    due: datetime,
    now: datetime,
    calendar: BusinessCalendar,
) -> str:
    when = fmt_when(due, calendar)
    if now >= due:
        late = fmt_elapsed(now - due)
        return (
            f"{mention(state.owner)} :warning: **{deadline.title}** ({key}) is overdue by {late}: it was due "
            f"{when}. Check {key} once it is done."
        )
    return (
        f"{mention(state.owner)} :alarm_clock: **{deadline.title}** ({key}) is due {when}, "
        f"in {fmt_elapsed(due - now)}. Check {key} once it is done."
    )


def inline(text: str, limit: int = 200) -> str:
    """User text for one line of a table or sentence: defused, whitespace folded, ``|`` escaped."""
    return one_line(text, limit).replace("|", "\\|")


def timeline(state: IncidentState, calendar: BusinessCalendar) -> str:
    """The incident's timeline, newest last: ``- Fri 27 Nov 2026 10:05 UTC · @alice · checked 2.3 ...``."""
    entries = state.timeline[-TIMELINE_ENTRIES:]
    lines = [f"#### Timeline · {one_line(state.customer, 200)}"]
    if len(state.timeline) > len(entries):
        lines.append(f"_{len(state.timeline) - len(entries)} earlier entries not shown._")
    for entry in entries:
        text = neutralize(entry.text, 300).replace("\n", " ")
        lines.append(f"- {fmt_when(entry.at, calendar)} · {quiet(entry.actor)} · {entry.kind}: {text}")
    return "\n".join(lines)


_ITEM_VERB: dict[type[ItemEvent], str] = {
    ItemChecked: "checked",
    ItemUnchecked: "unchecked",
    ItemSkipped: "skipped",
}


def _describe_report(event: TimerDue | ChannelNamed | TaskDone | MemberJoined) -> str:
    """What a report of the bot's own adapters did (a timer, the channel's name, a task, a member)."""
    match event:
        case TimerDue(key):
            return f"handled timer {inline(key, 80)}"
        case ChannelNamed(name):
            return f"named the channel {inline(name, 80)}"
        case TaskDone() | MemberJoined():
            return "noted what happened in the channel"


# What the events whose confirmation needs none of their fields did.
_SAID: dict[type[Event], str] = {
    StatusUpdate: "posted the update",
    Resolved: "resolved the incident",
    Reopened: "reopened the incident",
    EtaSet: "set the ETA",
    OutageSince: "set when the outage began",
}


def describe_event(event: Event) -> str:
    """What an event did, for a short confirmation: ``checked 2.3``, ``made @bob the owner``."""
    match event:
        case ItemChecked() | ItemUnchecked() | ItemSkipped():
            return f"{_ITEM_VERB[type(event)]} {inline(event.key, 40)}"
        case Assigned(_, key, assignee):
            return f"assigned {inline(key, 40)} to {quiet(assignee.strip().removeprefix('@'))}"
        case OwnerChanged(_, owner):
            return f"made {quiet(owner.strip().removeprefix('@'))} the owner"
        case FollowChanged(_, username, following):
            who = quiet(username.strip().removeprefix("@"))
            return f"{who} {'follows' if following else 'no longer follows'} the incident"
        case StatusUpdate() | Resolved() | Reopened() | EtaSet() | OutageSince():
            return _SAID[type(event)]
        case Started(customer=customer):
            return f"started the incident for {inline(customer)}"
        case TimerDue() | ChannelNamed() | TaskDone() | MemberJoined():
            return _describe_report(event)
