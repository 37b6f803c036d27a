"""Reactions on item posts check, uncheck and skip their items: websocket events in, core events out.

The websocket client awaits ``on_event`` before it reads the next frame. This room keeps that short: it
finds the incident of the post (remembered: a post's ref never changes) and queues the reaction for that
incident (``IncidentQueues``: arrival order per incident, one bound in all, back-pressure to the socket).
Each incident's worker brings the tracked reactions of each post up to date (``ReactionBook``) and decides
the whole batch in one transaction, which renders the status board once per batch: what lets the bot keep
up with a crowd.

What cannot be applied (the database or the server is down) is on the server all the same: the follower is
then ``behind`` until a ``catch_up`` reads every active incident's posts with their reactions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import Decision, decide_in_turn
from sev1bot.core.effects import ItemPost, PostRef
from sev1bot.core.events import Event
from sev1bot.core.reactions import Mark, Trigger, reaction_event
from sev1bot.core.state import IncidentState
from sev1bot.core.times import Clock
from sev1bot.mattermost.directory import UserDirectory
from sev1bot.mattermost.errors import MattermostError, NotFound
from sev1bot.mattermost.events import Reaction, ReactionAdded, ReactionRemoved, parse_or_skip
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.ws import RawEvent
from sev1bot.playbook.schema import Playbook
from sev1bot.service.incident_queues import IncidentQueues
from sev1bot.service.reactionbook import ReactionBook
from sev1bot.service.spine import Spine
from sev1bot.store.errors import StoreError
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

MAX_QUEUED = 5000
RECONCILE_SLOTS = 4  # incidents whose posts are read at once
RECONCILE_OVERLAP_MS = 60_000  # re-read a minute back: same-millisecond changes, lagging server clocks
_HANDLED = frozenset({ReactionAdded.name, ReactionRemoved.name})
Route = tuple[str, PostRef, Playbook]  # incident id, which of its posts, its playbook


@dataclass(frozen=True)
class _Queued:
    """A reaction event on an item post, waiting for its incident's worker."""

    key: str
    playbook: Playbook
    reaction: Reaction
    added: bool


@dataclass(frozen=True)
class _Pending:
    """A reaction to decide: the item, what its post carries right after it, and the reaction itself
    (None in reconciliation, which only sees the outcome)."""

    key: str
    reactions: tuple[Reaction, ...]
    trigger: tuple[Reaction, bool] | None = None


class ReactionFollower:
    def __init__(
        self,
        *,
        spine: Spine,
        store: Store,
        api: MattermostAPI,
        users: UserDirectory,
        bot_user_id: str,
        calendar: BusinessCalendar,
        clock: Clock,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.spine = spine
        self.store = store
        self.api = api
        self.users = users
        self.bot_user_id = bot_user_id
        self.calendar = calendar
        self.clock = clock
        self.book = ReactionBook(ignore_user=bot_user_id)  # the bot's own reactions are never marks
        self._routes: dict[str, Route] = {}  # post id -> route
        self._synced: dict[str, int] = {}  # incident id -> newest post change seen by reconcile (ms)
        self.queues = IncidentQueues(self._work, bound=max_queued, what="deciding reactions")
        self.behind = False  # a reaction could not be applied: catch up when the server and database can
        self.caught_up = False  # the last catch-up succeeded: nothing missed is left unapplied

    # -- live ------------------------------------------------------------------------------------------

    async def on_event(self, raw: RawEvent) -> None:
        """Handle one websocket event (called in the order the server sent them)."""
        name = raw.get("event")
        if not isinstance(name, str) or name not in _HANDLED:
            return  # e.g. the bot's own posts coming back: parsing them cost ~0.3 ms each
        event = parse_or_skip(raw)  # a malformed one: one line in the log, and on to the next
        if not isinstance(event, ReactionAdded | ReactionRemoved):
            return
        reaction = event.reaction
        if reaction.user_id == self.bot_user_id:
            return
        try:
            route = await self._route(reaction.post_id)
        except StoreError as exc:
            log.warning("a reaction could not be routed: %s", exc)
            self.behind = True  # the reaction is on the server: pick it up when we can
            return
        if route is None:
            return
        incident_id, ref, playbook = route
        if not isinstance(ref, ItemPost):
            return
        await self.queues.put(
            incident_id, [_Queued(ref.key, playbook, reaction, isinstance(event, ReactionAdded))]
        )

    async def _route(self, post_id: str) -> Route | None:
        route = self._routes.get(post_id)
        if route is None:
            route = await self.store.run(self.store.post_route, post_id)
            if route is None:
                return None
            self._routes[post_id] = route
        return route

    async def _work(self, incident_id: str, batch: list[_Queued]) -> None:
        """Decide a batch of the incident's queued reactions, in arrival order."""
        try:
            pending = [p for q in batch if (p := await self._tracked(q)) is not None]
            if pending:
                await self._follow(incident_id, pending)
        except (StoreError, MattermostError) as exc:
            log.warning("reactions on incident %s not applied: %s", incident_id, exc)
            self.behind = True

    async def _tracked(self, queued: _Queued) -> _Pending | None:
        """Apply the event to the tracked reactions; what to decide, if the emoji means anything."""
        reaction = queued.reaction
        current = self.book.apply(reaction, queued.added)
        reactions = queued.playbook.reactions
        if reaction.emoji_name not in (*reactions.check, *reactions.skip):
            return None
        if current is None:  # not seen since start-up or a gap: ask the server once
            current = self.book.seed(reaction.post_id, await self.api.reactions(reaction.post_id))
        return _Pending(queued.key, tuple(current), (reaction, queued.added))

    async def _follow(self, incident_id: str, batch: list[_Pending]) -> Decision | None:
        """Bring items in line with the reactions on their posts, in order, in one transaction."""
        people = {r.user_id for p in batch for r in p.reactions}
        people.update(p.trigger[0].user_id for p in batch if p.trigger is not None)
        names = {user_id: await self.users.username(user_id) for user_id in people}

        def mark(reaction: Reaction) -> Mark:
            return Mark(names[reaction.user_id], reaction.emoji_name, reaction.create_at)

        steps = [
            (
                p.key,
                [mark(r) for r in p.reactions],
                None if p.trigger is None else Trigger(mark(p.trigger[0]), p.trigger[1]),
            )
            for p in batch
        ]
        now = self.clock()

        def step(state: IncidentState, playbook: Playbook) -> Decision:
            makers = [partial(_event_for, key, marks, trigger, playbook) for key, marks, trigger in steps]
            decision, refused = decide_in_turn(state, makers, playbook, now, self.calendar)
            for exc in refused:
                log.info("a reaction on incident %s was refused: %s", incident_id, exc)
            return decision

        return await self.spine.apply_step(incident_id, step, what="reactions")

    # -- catching up -----------------------------------------------------------------------------------

    async def catch_up(self) -> None:
        """Reconcile; if that fails (server or database down), stay ``behind`` so that it is tried again."""
        self.behind = False
        try:
            await self.reconcile()
        except (MattermostError, StoreError) as exc:
            log.warning("could not catch up with reactions: %s", exc)
            self.behind, self.caught_up = True, False
        else:
            self.caught_up = True

    async def reconcile(self) -> None:
        """Apply reactions made while the bot was away (start-up, or a websocket gap it could not resume).

        One request per active incident: its channel's posts, which carry their reactions; after the first
        reconciliation only the posts changed since the newest change it saw. What an incident's posts call
        for is decided in one transaction. Raises the first failure once every incident has been tried.
        """
        self.book.forget_all()  # events may have been lost; the post lists and GETs seed it again
        slots = asyncio.Semaphore(RECONCILE_SLOTS)
        found = await self.store.run(self.store.active_with_posts)
        outcomes = await asyncio.gather(
            *(self._reconcile_one(slots, *incident) for incident in found), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # the others are done: the caller may retry the whole reconciliation

    async def _reconcile_one(
        self,
        slots: asyncio.Semaphore,
        state: IncidentState,
        playbook: Playbook,
        channel_id: str | None,
        posts: dict[PostRef, str],
    ) -> None:
        items = {post_id: ref for ref, post_id in posts.items() if isinstance(ref, ItemPost)}
        for post_id, ref in items.items():
            self._routes.setdefault(post_id, (state.id, ref, playbook))
        if channel_id is None or not items:
            return
        seen = self._synced.get(state.id)
        since = None if seen is None else max(0, seen - RECONCILE_OVERLAP_MS)
        async with slots:
            try:
                changed = await self.api.channel_posts(channel_id, since=since)
            except NotFound:
                return
        batch = [
            _Pending(items[post.id].key, tuple(self.book.seed(post.id, post.reactions, replace=False)))
            for post in changed
            if post.id in items and not post.delete_at
        ]
        if batch:
            await self._follow(state.id, batch)
        self._synced[state.id] = max([seen or 0, *(p.update_at for p in changed)])

    async def idle(self) -> None:
        """Wait until every queued reaction has been decided (tests, shutdown)."""
        await self.queues.idle()


def _event_for(
    key: str, marks: list[Mark], trigger: Trigger | None, playbook: Playbook, current: IncidentState
) -> Event | None:
    item = current.items.get(key)
    return None if item is None else reaction_event(item, playbook, marks, trigger)
