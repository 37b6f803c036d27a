"""The incident service: slash commands, reactions and timers become core events; their effects become work.

Every change goes the same way: load the incident with a lock, ``decide``, commit the new state together
with its effects (the outbox), answer, then deliver the effects in the background (see ``executor``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sev1bot import commands as cmd
from sev1bot.core import render
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import CoreError, Decision, decide, decide_in_turn, start
from sev1bot.core.effects import ItemPost, PostRef
from sev1bot.core.escalation import deadline_dues
from sev1bot.core.events import (
    Assigned,
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
from sev1bot.core.naming import channel_name, with_suffix
from sev1bot.core.reactions import Mark, Trigger, reaction_event
from sev1bot.core.state import IncidentState
from sev1bot.core.text import RESERVED_USERNAMES
from sev1bot.mattermost.errors import MattermostError, NotFound
from sev1bot.mattermost.events import Reaction
from sev1bot.mattermost.inbound import ActionRequest, CommandRequest, CommandResponse
from sev1bot.playbook.schema import Playbook
from sev1bot.service.executor import Executor
from sev1bot.service.reactionbook import ReactionBook
from sev1bot.store.errors import ChannelNameTaken, IncidentNotFound, StoreError, StoreUnavailable
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EventFor = Callable[[IncidentState], Event | None]
PostMap = dict[PostRef, str]
_RETRY = timedelta(seconds=5)
MAX_QUEUED_REACTIONS = 5000  # then the websocket stops reading, and the server's own limits apply


@dataclass(frozen=True)
class _Pending:
    """A reaction to decide: the item, what its post carries right after it, and the reaction itself
    (None in reconciliation, which only sees the outcome)."""

    key: str
    reactions: tuple[Reaction, ...]
    trigger: tuple[Reaction, bool] | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ephemeral(text: str) -> CommandResponse:
    return CommandResponse(response_type="ephemeral", text=text)


class IncidentService:
    def __init__(
        self,
        *,
        store: Store,
        executor: Executor,
        playbooks: dict[str, Playbook],
        default_playbook: str,
        calendar: BusinessCalendar,
        site_url: str,
        clock: Clock = utcnow,
        can_deliver: Callable[[], bool] = lambda: True,
        on_missed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.playbooks = playbooks
        self.default_playbook = default_playbook
        self.calendar = calendar
        self.site_url = site_url.rstrip("/")
        self.clock = clock
        self.can_deliver = can_deliver  # only the leader delivers; others leave the outbox to it
        self.on_missed = on_missed  # reactions that could not be applied: reconcile when possible
        self._tasks: set[asyncio.Task[None]] = set()
        self._synced: dict[str, int] = {}  # incident id -> newest post change seen by reconcile (ms)
        self.book = ReactionBook()
        self._routes: dict[str, tuple[str, PostRef, Playbook]] = {}  # post id -> incident, ref, playbook
        self._queued: dict[str, list[_Pending]] = {}  # incident id -> reactions waiting to be decided
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._backlog = 0
        self._room = asyncio.Event()
        self._room.set()

    # -- slash commands --------------------------------------------------------------------------------

    async def handle_command(self, req: CommandRequest) -> CommandResponse:
        try:
            command = cmd.parse_command(req.text)
        except cmd.UsageError as exc:
            return _ephemeral(f"{exc.message}\nUsage: `{exc.usage_line}`")
        actor = req.user_name
        try:
            match command:
                case cmd.Help():
                    return _ephemeral(cmd.help_text())
                case cmd.List():
                    return _ephemeral(await self._list())
                case cmd.Start(customer, summary):
                    return await self._start(req, customer, summary)
            incident = await self.store.run(self.store.incident_by_channel_id, req.channel_id)
            if incident is None:
                return _ephemeral(
                    "This is not an incident channel. Run this in the incident's channel, "
                    "or `/sev1 list` to find it."
                )
            if not await self.executor.is_member(req.channel_id, req.user_id):
                return _ephemeral("Only members of this incident channel can change the incident.")
            return await self._in_incident(incident, command, actor)
        except CoreError as exc:
            return _ephemeral(str(exc))
        except (StoreUnavailable, MattermostError) as exc:
            log.warning("command %r failed: %s", req.text[:40], exc)
            return _ephemeral(
                "sev1bot could not do that right now (the server or database is unavailable). "
                "Nothing was changed; please try again in a moment."
            )

    async def handle_action(self, req: ActionRequest) -> dict[str, object]:
        return {"ephemeral_text": "This button is not in use."}

    async def _in_incident(
        self, incident: IncidentState, command: cmd.Command, actor: str
    ) -> CommandResponse:
        playbook = await self.store.run(self.store.load_playbook, incident.id)
        event: Event
        match command:
            case cmd.Status():
                dues = deadline_dues(incident, playbook, self.calendar)
                return _ephemeral(render.status_board(incident, playbook, self.clock(), self.calendar, dues))
            case cmd.Timeline():
                return _ephemeral(render.timeline(incident, self.calendar))
            case cmd.Check(key):
                event = ItemChecked(actor, key)
            case cmd.Uncheck(key):
                event = ItemUnchecked(actor, key)
            case cmd.Skip(key):
                event = ItemSkipped(actor, key)
            case cmd.Assign(key, username):
                if unknown := await self._no_such_user(username):
                    return unknown
                event = Assigned(actor, key, username)
            case cmd.Owner(username):
                if unknown := await self._no_such_user(username):
                    return unknown
                event = OwnerChanged(actor, username)
            case cmd.Update(text):
                event = StatusUpdate(actor, text)
            case cmd.Resolve(note):
                event = Resolved(actor, note)
            case cmd.Reopen():
                event = Reopened(actor)
            case _:
                return _ephemeral("That command does not apply inside an incident channel.")
        decision = await self.apply(incident.id, event)
        if decision is None or not decision.effects:
            return _ephemeral("Nothing to change: that is already so.")
        return _ephemeral(f"Done: {render.describe_event(event)}.")

    async def _no_such_user(self, username: str) -> CommandResponse | None:
        """Refuse a username nobody has: a typo must not become the owner or an assignee."""
        if username in RESERVED_USERNAMES:
            return None  # @all, @channel, @here: the core refuses them, saying why
        _, missing = await self.executor.users.ids([username])
        if not missing:
            return None
        return _ephemeral(f"There is no user `@{username}` on this server: check the spelling.")

    async def _list(self) -> str:
        active = await self.store.run(self.store.active_incidents)
        if not active:
            return "No active incidents."
        now = self.clock()
        lines = ["| Incident | Customer | Owner | Open for |", "|---|---|---|---|"]
        for state in sorted(active, key=lambda s: s.started_at):
            lines.append(
                f"| ~{state.channel_name} | {render.inline(state.customer)} | @{state.owner} "
                f"| {render.fmt_elapsed(now - state.started_at)} |"
            )
        return "\n".join(lines)

    async def _start(self, req: CommandRequest, customer: str, summary: str) -> CommandResponse:
        playbook = self.playbooks[self.default_playbook]
        now = self.clock()
        base = channel_name(now, customer, self.calendar.timezone)
        for n in range(1, 100):
            name = base if n == 1 else with_suffix(base, n)
            if await self.store.run(self.store.channel_name_taken, name):
                continue
            if await self.executor.channel_exists(name):
                continue
            incident_id = secrets.token_hex(6)
            event = Started(incident_id, req.user_name, customer, name, summary)
            decision = start(event, playbook, now, self.calendar)
            try:
                await self.store.run(self.store.create_incident, decision.state, playbook, decision.effects)
            except ChannelNameTaken:
                continue
            self._deliver(incident_id)
            link = f"{self.site_url}/{self.executor.team.name}/channels/{name}"
            return CommandResponse(
                response_type="ephemeral",
                text=f"Started Sev 1 incident for **{render.inline(customer)}**: [~{name}]({link}). "
                "The checklist is being posted there now.",
            )
        return _ephemeral(
            "Could not find a free channel name for this incident; try a shorter customer name."
        )

    # -- events ----------------------------------------------------------------------------------------

    async def apply(self, incident_id: str, event: Event) -> Decision | None:
        """Decide and commit one event with its effects, then deliver them. CoreError reaches the caller."""
        now = self.clock()

        def step(state: IncidentState, playbook: Playbook) -> Decision:
            return decide(state, event, playbook, now, self.calendar)

        try:
            decision = await self.store.run(self.store.apply, incident_id, step)
        except IncidentNotFound:
            log.warning("event %s for unknown incident %s dropped", type(event).__name__, incident_id)
            return None
        if decision.effects:
            self._deliver(incident_id)
        return decision

    async def on_timer(self, incident_id: str, key: str) -> None:
        try:
            await self.apply(incident_id, TimerDue(key))
        except (StoreUnavailable, MattermostError) as exc:
            # The timer stays in the state; the next start-up or retry sweep fires it again (the core
            # dedupes), so an outage delays a ping but never loses it.
            log.warning("timer %s of incident %s failed: %s; retrying in 5 s", key, incident_id, exc)
            self.executor.timers.schedule(incident_id, key, self.clock() + _RETRY)

    async def on_reaction(self, reaction: Reaction, added: bool) -> None:
        """A reaction on one of our item posts checks, unchecks or skips that item.

        Called in order per post. Returns once the reaction is queued for its incident: the reactions that
        queue up while one batch is being decided are decided together in one transaction and delivered
        in one pass (a board edited once per batch), which is what lets the bot keep up with a crowd.
        """
        if reaction.user_id == self.executor.team.bot_user_id:
            return
        route = await self._route(reaction.post_id)
        if route is None:
            return
        incident_id, ref, playbook = route
        if not isinstance(ref, ItemPost):
            return
        current = self.book.apply(reaction, added)
        if reaction.emoji_name not in (*playbook.reactions.check, *playbook.reactions.skip):
            return
        if current is None:  # not seen since start-up or a gap: ask the server once
            current = self.book.seed(reaction.post_id, await self.executor.api.reactions(reaction.post_id))
        while self._backlog >= MAX_QUEUED_REACTIONS:
            await self._room.wait()
        self._queue(incident_id, _Pending(ref.key, tuple(current), (reaction, added)))

    async def _route(self, post_id: str) -> tuple[str, PostRef, Playbook] | None:
        """The incident, ref and playbook of one of our posts (remembered: a post's ref never changes)."""
        route = self._routes.get(post_id)
        if route is None:
            route = await self.store.run(self.store.post_route, post_id)
            if route is None:
                return None
            self._routes[post_id] = route
        return route

    def _queue(self, incident_id: str, pending: _Pending) -> None:
        self._queued.setdefault(incident_id, []).append(pending)
        self._backlog += 1
        if self._backlog >= MAX_QUEUED_REACTIONS:
            self._room.clear()
        if incident_id not in self._workers:
            worker = asyncio.ensure_future(self._decide_queued(incident_id))
            self._workers[incident_id] = worker
            self._tasks.add(worker)
            worker.add_done_callback(self._done)

    async def _decide_queued(self, incident_id: str) -> None:
        """Decide the incident's queued reactions, a batch at a time, until none are left."""
        try:
            while batch := self._queued.pop(incident_id, None):
                self._backlog -= len(batch)
                if self._backlog < MAX_QUEUED_REACTIONS:
                    self._room.set()
                try:
                    await self._follow_reactions(incident_id, batch)
                except (StoreError, MattermostError) as exc:
                    # The reactions are on the server: the next reconciliation picks them up.
                    log.warning("reactions on incident %s not applied: %s", incident_id, exc)
                    self.on_missed()
        finally:
            del self._workers[incident_id]

    async def _follow_reactions(self, incident_id: str, batch: list[_Pending]) -> Decision | None:
        """Bring items in line with the reactions on their posts, in order, in one transaction."""
        bot = self.executor.team.bot_user_id
        people = {r.user_id for p in batch for r in p.reactions if r.user_id != bot}
        people.update(p.trigger[0].user_id for p in batch if p.trigger is not None)
        names = {user_id: await self.executor.users.username(user_id) for user_id in people}

        def mark(reaction: Reaction) -> Mark:
            return Mark(names[reaction.user_id], reaction.emoji_name, reaction.create_at)

        steps = [
            (
                p.key,
                [mark(r) for r in p.reactions if r.user_id != bot],
                None if p.trigger is None else Trigger(mark(p.trigger[0]), p.trigger[1]),
            )
            for p in batch
        ]
        now = self.clock()

        def step(state: IncidentState, playbook: Playbook) -> Decision:
            def event_for(key: str, marks: list[Mark], trigger: Trigger | None) -> EventFor:
                def event(current: IncidentState) -> Event | None:
                    item = current.items.get(key)
                    return None if item is None else reaction_event(item, playbook, marks, trigger)

                return event

            makers = [event_for(*s) for s in steps]
            decision, refused = decide_in_turn(state, makers, playbook, now, self.calendar)
            for exc in refused:
                log.info("a reaction on incident %s was refused: %s", incident_id, exc)
            return decision

        try:
            decision = await self.store.run(self.store.apply, incident_id, step)
        except IncidentNotFound:
            log.warning("reactions for unknown incident %s dropped", incident_id)
            return None
        if decision.effects:
            self._deliver(incident_id)
        return decision

    async def reconcile(self) -> None:
        """Apply reactions made while the bot was away (start-up, or a websocket gap it could not resume).

        One request per active incident: its channel's posts, which carry their reactions; after the first
        reconciliation only the posts changed since the newest change it saw (``since``). It used to be one
        request per item post, 40 per incident: 8,000 requests and a minute for 200 incidents. What an
        incident's posts call for is decided in one transaction.
        """
        self.book.forget_all()  # events may have been lost; the post lists and GETs seed it again
        slots = asyncio.Semaphore(4)

        async def one(
            state: IncidentState, playbook: Playbook, channel_id: str | None, posts: PostMap
        ) -> None:
            items = {post_id: ref for ref, post_id in posts.items() if isinstance(ref, ItemPost)}
            for post_id, ref in items.items():
                self._routes.setdefault(post_id, (state.id, ref, playbook))
            if channel_id is None or not items:
                return
            seen = self._synced.get(state.id)
            # Back a minute: changes stamped in the same millisecond, or by a server node whose clock lags.
            since = None if seen is None else max(0, seen - 60_000)
            async with slots:
                try:
                    changed = await self.executor.api.channel_posts(channel_id, since=since)
                except NotFound:
                    return
            batch = [
                _Pending(items[post.id].key, tuple(self.book.seed(post.id, post.reactions, replace=False)))
                for post in changed
                if post.id in items and not post.delete_at
            ]
            if batch:
                await self._follow_reactions(state.id, batch)
            self._synced[state.id] = max([seen or 0, *(p.update_at for p in changed)])

        found = await self.store.run(self.store.active_with_posts)
        outcomes = await asyncio.gather(*(one(*incident) for incident in found), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # the others are done: the caller may retry the whole reconciliation

    def _deliver(self, incident_id: str) -> None:
        if not self.can_deliver():
            return
        task = asyncio.ensure_future(self.executor.drain(incident_id))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background delivery failed: %s", task.exception())

    async def idle(self) -> None:
        """Wait until every background delivery has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
