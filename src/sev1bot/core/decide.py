"""The incident state machine: ``decide(state, event, playbook, now, calendar) -> Decision``.

Pure: no clock, no I/O. The adapter passes ``now`` and carries out the effects. Repeating an event that
already took effect (a duplicate websocket event, a timer firing twice) returns the same state and no effects.
A request the core refuses raises :class:`CoreError`, whose text is a short sentence for the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sev1bot.core import customer_clock, followers, render, update_cadence
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.effects import (
    BroadcastStart,
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
    without_superseded,
)
from sev1bot.core.escalation import (
    DEADLINE_PREFIX,
    ESCALATION,
    Plan,
    deadline_due,
    deadline_item,
    deadline_timers,
    next_slot_after,
    on_timer,
    slot_due,
    status_edits,
)
from sev1bot.core.events import (
    Assigned,
    ChannelNamed,
    Event,
    FollowChanged,
    ItemChecked,
    ItemEvent,
    ItemSkipped,
    ItemUnchecked,
    MemberJoined,
    OwnerChanged,
    Reopened,
    Resolved,
    Started,
    StatusUpdate,
    TaskDone,
    TimerDue,
)
from sev1bot.core.state import BOT_ACTOR, IncidentState, IncidentStatus, ItemState, ItemStatus
from sev1bot.core.text import normalize_username, one_line
from sev1bot.core.times import require_utc
from sev1bot.playbook.schema import BotTask, Playbook

UPDATE_MAX = 4000


class CoreError(Exception):
    """A request the core refuses. ``str(error)`` is a plain, short sentence to show the user."""


@dataclass(frozen=True)
class Decision:
    state: IncidentState
    effects: tuple[Effect, ...]


def _utc(now: datetime) -> datetime:
    return require_utc(now, "now")


def start(event: Started, playbook: Playbook, now: datetime, calendar: BusinessCalendar) -> Decision:
    """Open an incident: create and fill its channel, and arm the escalation timer."""
    now = _utc(now)
    customer = event.customer.strip()
    if not customer:
        raise CoreError("Name the customer, e.g. `/sev1 start Acme Corp`.")
    keys: list[str] = playbook.keys()
    state = IncidentState(
        id=event.incident_id,
        playbook_id=playbook.id,
        channel_name=event.channel_name,
        customer=customer,
        summary=event.summary.strip(),
        owner=event.actor,
        reporter=event.actor,
        started_at=now,
        items={key: ItemState(key=key) for key in keys},
    )
    plan = Plan(state, playbook, now, calendar)
    plan.log(event.actor, "started", f"started the incident for {customer}")
    if playbook.escalation is not None:
        plan.emit(Schedule(ESCALATION, slot_due(now, playbook.escalation, 0)))
    customer_clock.on_start(plan)
    update_cadence.on_start(plan)
    state = plan.state
    # What the bot does itself is checked when delivery reports it done (TaskDone), not here, although the
    # outbox's order would keep the check from showing before the channel and the invite: an invite may
    # leave someone out (deactivated, a bot, a typo in the roles), and only delivery knows. Exactly once:
    # the report comes before the effect is written off, and a report repeated after a crash in between
    # finds the task on the timeline and changes nothing (_task_done).
    tasks = {playbook.item(key).done_by_bot for key in keys}
    plan.emit(
        CreateChannel(
            name=event.channel_name,
            display_name=render.display_name(customer, now, calendar),
            header=render.header(state, playbook),
            purpose=render.purpose(state, playbook),
            task=BotTask.CHANNEL_CREATED.value if BotTask.CHANNEL_CREATED in tasks else None,
        ),
        Invite(
            tuple(dict.fromkeys([event.actor, *render.role_holders(playbook, playbook.invite)])),
            task=BotTask.LEADS_INVITED.value if BotTask.LEADS_INVITED in tasks else None,
        ),
        Post(render.status_board(state, playbook, now, calendar, []), ref=StatusBoard(), pin=True),
    )
    live = render.broadcast_live(state, playbook, calendar)
    for name in playbook.updates.broadcast:
        plan.emit(Post(live, ref=BroadcastStart(name), channel=name, dedupe_key=f"broadcast:{name}:start"))
    for stage in range(1, len(playbook.stages) + 1):
        plan.emit(Post(render.stage_root(state, playbook, stage), ref=StageRoot(stage)))
        for index in range(1, len(playbook.stages[stage - 1].items) + 1):
            key = f"{stage}.{index}"
            text = render.item_post(state, playbook, key, calendar)
            plan.emit(Post(text, ref=ItemPost(key), thread=StageRoot(stage)))
    return Decision(plan.state, plan.effects)


def decide(
    state: IncidentState, event: Event, playbook: Playbook, now: datetime, calendar: BusinessCalendar
) -> Decision:
    """Apply one event to an incident; see the module docstring for the rules every event follows."""
    return _decide(Plan(state, playbook, _utc(now), calendar), event)


def decide_in_turn(
    state: IncidentState,
    steps: Iterable[Callable[[IncidentState], Event | None]],
    playbook: Playbook,
    now: datetime,
    calendar: BusinessCalendar,
) -> tuple[Decision, list[CoreError]]:
    """Several events as one decision: each step names its event from the state the ones before it left
    (or None), and each is decided in turn. Refused events are returned and change nothing. Edits that a
    later one overwrites are left out, and the status board is rendered once, at the end: for a batch of
    reactions most of the work of deciding them one by one."""
    effects: list[Effect] = []
    refused: list[CoreError] = []
    stale = False
    at = _utc(now)
    for step in steps:
        event = step(state)
        if event is None:
            continue
        plan = Plan(state, playbook, at, calendar, defer_board=True)
        try:
            decision = _decide(plan, event)
        except CoreError as exc:
            refused.append(exc)
            continue
        state, stale = decision.state, stale or plan.board_stale
        effects.extend(decision.effects)
    if stale:
        effects.extend(status_edits(state, playbook, at, calendar))
    return Decision(state, tuple(without_superseded(effects))), refused


def _decide(plan: Plan, event: Event) -> Decision:
    _same_playbook(plan)
    if customer_clock.handles(event):
        return _clock(plan, event)
    match event:
        case Started():
            raise CoreError("This incident has already started.")
        case ItemChecked() | ItemUnchecked() | ItemSkipped():
            _set_item(plan, event.actor, event.key, _STATUS_AFTER[type(event)], event.via)
        case Assigned(actor, key, assignee):
            _assign(plan, actor, key, assignee)
        case OwnerChanged(actor, owner):
            _change_owner(plan, actor, owner)
        case StatusUpdate() | FollowChanged():
            _update_or_follow(plan, event)
        case Resolved(actor, note):
            _resolve_by_command(plan, actor, note)
        case Reopened(actor):
            _reopen_by_command(plan, actor)
        case TimerDue() | ChannelNamed() | TaskDone() | MemberJoined():
            _from_the_adapter(plan, event)
    return Decision(plan.state, plan.effects)


def _from_the_adapter(plan: Plan, event: TimerDue | ChannelNamed | TaskDone | MemberJoined) -> None:
    """What the bot's adapters report: a timer, the channel created under another name, a task done,
    someone in the channel."""
    match event:
        case TimerDue(key) if update_cadence.handles(event):
            update_cadence.apply(plan, event)
        case TimerDue(key):
            on_timer(plan, key)
        case ChannelNamed(name, link):
            _channel_named(plan, name, link)
        case TaskDone(task, left_out):
            _task_done(plan, task, left_out)
        case MemberJoined(username):
            _welcome(plan, username)


def _same_playbook(plan: Plan) -> None:
    state, playbook = plan.state, plan.playbook
    if state.playbook_id != playbook.id:
        raise ValueError(f"incident {state.id} runs playbook {state.playbook_id!r}, not {playbook.id!r}")


def _clock(plan: Plan, event: Event) -> Decision:
    """The customer clock's commands and timers (core/customer_clock.py)."""
    try:
        customer_clock.apply(plan, event)
    except customer_clock.ClockRefusal as exc:
        raise CoreError(str(exc)) from None
    return Decision(plan.state, plan.effects)


_STATUS_AFTER: dict[type[ItemEvent], ItemStatus] = {
    ItemChecked: ItemStatus.DONE,
    ItemUnchecked: ItemStatus.OPEN,
    ItemSkipped: ItemStatus.SKIPPED,
}


def _channel_named(plan: Plan, name: str, link: str) -> None:
    """The channel runs under another name than the one announced: keep the real one (``/sev1 list``, DMs
    that name the channel) and tell the reporter, whose link leads to a channel the bot did not create."""
    old = plan.state.channel_name
    if name == old:
        return
    plan.update(channel_name=name)
    plan.log(BOT_ACTOR, "channel", f"the channel is ~{name}: a channel the bot did not create holds {old}")
    reporter = plan.state.reporter
    dm = render.channel_named_dm(plan.state, old, link)
    plan.emit(DirectMessage(reporter, dm, dedupe_key=f"channel:{name}:dm:{reporter}"))


def _resolve_by_command(plan: Plan, actor: str, note: str) -> None:
    playbook = plan.playbook
    if plan.state.status is IncidentStatus.RESOLVED:
        raise CoreError("This incident is already resolved.")
    if not playbook.resolution.command:
        keys = ", ".join(playbook.item_key(ref) or ref for ref in playbook.resolution.items)
        raise CoreError(f"This playbook is resolved by checking item {keys}, not by command.")
    _require(plan, actor, playbook.permissions.resolve, "resolve this incident")
    _resolve(plan, actor, note, via=None)


def _reopen_by_command(plan: Plan, actor: str) -> None:
    if plan.state.status is not IncidentStatus.RESOLVED:
        raise CoreError("This incident is not resolved, so there is nothing to reopen.")
    _require(plan, actor, plan.playbook.permissions.resolve, "reopen this incident")
    _reopen(plan, actor)


def item_key(playbook: Playbook, ref: str) -> str:
    """The positional key of an item reference ("2.3" or an item id), or CoreError saying what is wrong."""
    ref = ref.strip()
    key = playbook.item_key(ref)
    if key is not None:
        return key
    shown = one_line(ref, 40)
    parts = ref.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise CoreError(f'Unknown item "{shown}": name it as stage.item, e.g. "2.3".')
    stage = int(parts[0])
    if not 1 <= stage <= len(playbook.stages):
        raise CoreError(f'Unknown item "{shown}" (the checklist has {len(playbook.stages)} stages).')
    count = len(playbook.stages[stage - 1].items)
    raise CoreError(f'Unknown item "{shown}" (stage {stage} has {count} items).')


def _username(name: str, role: str) -> str:
    """A username from user input; ``role`` starts the error ("The assignee ... is not a username")."""
    try:
        return normalize_username(name)
    except ValueError as exc:
        raise CoreError(f"{role} {exc}.") from None


def _require(plan: Plan, actor: str, roles: list[str], what: str) -> None:
    """Commands limited by the playbook: the owner or a holder of one of ``roles`` may run them."""
    allowed = [plan.state.owner, *render.role_holders(plan.playbook, roles)]
    if roles and actor not in allowed:
        titles = [f"the {plan.playbook.roles[r].title}" for r in roles if r in plan.playbook.roles]
        raise CoreError(f"Only the owner (@{plan.state.owner}) or {' or '.join(titles)} can {what}.")


_VERB = {ItemStatus.DONE: "checked", ItemStatus.OPEN: "unchecked", ItemStatus.SKIPPED: "skipped"}


def _set_item(plan: Plan, actor: str, ref: str, status: ItemStatus, via: str) -> None:
    playbook, key = plan.playbook, item_key(plan.playbook, ref)
    item = plan.state.items[key]
    if item.status is status:
        return
    closed = status is not ItemStatus.OPEN
    changed = item.model_copy(
        update={
            "status": status,
            "by": actor if closed else None,
            "at": plan.now if closed else None,
            "via": via if closed else None,
        }
    )
    plan.update(items={**plan.state.items, key: changed})
    plan.log(actor, _VERB[status], f"{_VERB[status]} {key} {playbook.item(key).title}")
    resolved_at = plan.state.resolved_at if plan.state.status is IncidentStatus.RESOLVED else None
    for deadline in playbook.deadlines:
        if deadline_item(playbook, deadline) != key:
            continue
        if closed:
            plan.cancel_where(f"{DEADLINE_PREFIX}{deadline.id}:")
        elif resolved_at is not None:
            due = deadline_due(deadline, resolved_at, plan.calendar)
            plan.emit(*deadline_timers(deadline, due, plan.now, plan.calendar))
    stage = int(key.split(".")[0])
    plan.emit(
        EditPost(ItemPost(key), render.item_post(plan.state, playbook, key, plan.calendar)),
        EditPost(StageRoot(stage), render.stage_root(plan.state, playbook, stage)),
    )
    if status is ItemStatus.DONE:
        customer_clock.on_checked(plan, actor, key)
    resolves = {playbook.item_key(ref) for ref in playbook.resolution.items}
    if status is ItemStatus.DONE and key in resolves and resolved_at is None:
        _resolve(plan, actor, "", via=key)
    else:
        plan.refresh_board()


def _assign(plan: Plan, actor: str, ref: str, assignee: str) -> None:
    key, username = item_key(plan.playbook, ref), _username(assignee, "The assignee")
    item = plan.state.items[key]
    if item.assignee == username:
        return
    plan.update(items={**plan.state.items, key: item.model_copy(update={"assignee": username})})
    plan.log(actor, "assigned", f"assigned {key} to @{username}")
    plan.emit(
        Invite((username,)),
        EditPost(ItemPost(key), render.item_post(plan.state, plan.playbook, key, plan.calendar)),
    )
    # The item post's mention is added by an edit, which Mattermost never notifies: the assignee is told here.
    text = render.assigned_dm(plan.state, plan.playbook, key, actor)
    _tell(plan, actor, username, text, ItemPost(key))


def _change_owner(plan: Plan, actor: str, owner: str) -> None:
    _require(plan, actor, plan.playbook.permissions.owner, "hand over ownership")
    username = _username(owner, "The new owner")
    before = plan.state.owner
    if username == before:
        return
    plan.update(owner=username)
    plan.log(actor, "owner", f"made @{username} the owner")
    plan.emit(Invite((username,)), SetHeader(render.header(plan.state, plan.playbook)))
    _tell(plan, actor, username, render.owner_dm(plan.state, plan.playbook, actor), StatusBoard())
    _tell(plan, actor, before, render.former_owner_dm(plan.state, actor), StatusBoard())
    plan.refresh_board()


def _tell(plan: Plan, actor: str, username: str, text: str, link: StatusBoard | ItemPost) -> None:
    """A DM about what ``actor`` just did (the timeline's last entry), once; not to the actor, who typed it
    and sees the answer."""
    if username != actor:
        key = f"{plan.state.timeline[-1].kind}:{len(plan.state.timeline) - 1}:{username}"
        plan.emit(DirectMessage(username, text, dedupe_key=key, links=(link,)))


def _welcome(plan: Plan, username: str) -> None:
    """One DM to each person in the channel, ever: the adapter reports members it has not seen welcomed,
    and the ``sent`` claim of the key keeps a report that comes twice from sending twice."""
    text = render.welcome_dm(plan.state, plan.playbook, plan.calendar)
    plan.emit(DirectMessage(username, text, dedupe_key=f"welcome:{username}", links=(StatusBoard(),)))


TASK_LOG = "task"  # the timeline kind of what the bot did by itself; also what makes TaskDone happen once
_TASK_TEXT = {
    BotTask.CHANNEL_CREATED: "created the incident channel",
    BotTask.LEADS_INVITED: "invited the leads",
}


def _task_done(plan: Plan, task: str, left_out: tuple[str, ...]) -> None:
    """Delivery did a task: check the open items that name it, once (a retry after a crash reports again)."""
    text = next((words for known, words in _TASK_TEXT.items() if known.value == task), None)
    timeline = plan.state.timeline
    if text is None or any(e.kind == TASK_LOG and e.text.startswith(text) for e in timeline):
        return
    if left_out:  # someone is missing: a person has to see to it, so the item stays open
        plan.log(BOT_ACTOR, TASK_LOG, f"{text} except {', '.join(left_out)}")
        return
    plan.log(BOT_ACTOR, TASK_LOG, text)
    keys: list[str] = plan.playbook.keys()
    for key in keys:
        if plan.playbook.item(key).done_by_bot == task and plan.state.items[key].status is ItemStatus.OPEN:
            _set_item(plan, BOT_ACTOR, key, ItemStatus.DONE, via="bot")


def _status_update(plan: Plan, actor: str, text: str) -> None:
    text = text.strip()[:UPDATE_MAX]
    if not text:
        raise CoreError(
            "The update is empty: write what changed, e.g. `/sev1 update Patch deployed to staging`."
        )
    last = next((e for e in reversed(plan.state.timeline) if e.kind == "update"), None)
    if last is not None and last.actor == actor and last.text == text:
        return  # the same update again: a duplicate delivery, not news
    plan.log(actor, "update", text)
    plan.emit(Post(render.update_post(actor, text)))
    n = sum(1 for entry in plan.state.timeline if entry.kind == "update")
    plan.broadcast(f"update:{n}", render.broadcast_update(plan.state, actor, text))
    followers.tell_followers(plan, actor, text, n)
    update_cadence.on_update(plan)
    plan.refresh_board()


def _update_or_follow(plan: Plan, event: StatusUpdate | FollowChanged) -> None:
    """A status update, or someone starting or stopping to get them by DM (core/followers.py)."""
    if isinstance(event, StatusUpdate):
        _status_update(plan, event.actor, event.text)
        return
    try:
        followers.apply(plan, event)
    except followers.FollowRefusal as exc:
        raise CoreError(str(exc)) from None


def _resolve(plan: Plan, actor: str, note: str, via: str | None) -> None:
    plan.update(status=IncidentStatus.RESOLVED, resolved_at=plan.now)
    plan.log(actor, "resolved", f"resolved by checking {via}" if via else note.strip()[:UPDATE_MAX])
    if ESCALATION in plan.state.timers:
        plan.emit(Cancel(ESCALATION))
    customer_clock.on_resolve(plan)
    update_cadence.on_resolve(plan)
    assert plan.state.resolved_at is not None
    lines: list[str] = []
    for deadline in plan.playbook.deadlines:
        key = deadline_item(plan.playbook, deadline)
        due = deadline_due(deadline, plan.state.resolved_at, plan.calendar)
        lines.append(f"- **{deadline.title}** ({key}): due {render.fmt_when(due, plan.calendar)}")
        if plan.state.items[key].status is ItemStatus.OPEN:
            plan.emit(*deadline_timers(deadline, due, plan.now, plan.calendar))
        else:
            lines[-1] += " — already done"
    plan.emit(SetHeader(render.header(plan.state, plan.playbook)))
    plan.refresh_board()
    plan.emit(Post(render.resolution_post(plan.state, actor, note, lines, via)))
    n = sum(1 for entry in plan.state.timeline if entry.kind == "resolved")
    plan.broadcast(f"resolved:{n}", render.broadcast_resolved(plan.state, actor))


def _reopen(plan: Plan, actor: str) -> None:
    plan.update(status=IncidentStatus.ACTIVE, resolved_at=None)
    plan.log(actor, "reopened", "reopened the incident")
    plan.cancel_where(DEADLINE_PREFIX)
    next_ping = None
    if plan.playbook.escalation is not None:
        next_ping = next_slot_after(plan.state.outage_start, plan.playbook.escalation, plan.now)[1]
        plan.emit(Schedule(ESCALATION, next_ping))
    customer_clock.on_reopen(plan)
    update_cadence.on_reopen(plan)
    plan.emit(SetHeader(render.header(plan.state, plan.playbook)))
    plan.refresh_board()
    plan.emit(Post(render.reopen_post(actor, next_ping, plan.calendar)))
