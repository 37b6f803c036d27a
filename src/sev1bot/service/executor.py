"""Carries out the core's effects against Mattermost, from the outbox, in order.

The core decides; the store commits the new state and its effects (the outbox) in one transaction; this module
delivers them. Each effect is deleted from the outbox only after it took effect, so a crash or an outage means
a retry, never a loss. Retries never duplicate a post: a post with a ``ref`` is skipped when the store already
maps that ref to a post, a post with a ``dedupe_key`` is claimed in the ``sent`` table first, and every create
carries a ``pending_post_id`` derived from the outbox row, which the server dedupes on.

Each pass reads a batch of effects (with the channel and post ids it does not know yet), skips edits that a
later edit of the same post in the batch supersedes, delivers the rest in order (replies to different posts
side by side when every reader sees threads collapsed) and writes down what it delivered once, at the end
(see ``acks``): bookkeeping per effect cost more than the request itself (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sev1bot.core import effects as fx
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import BadRequest, MattermostError
from sev1bot.mattermost.rest import CHANNEL_EXISTS, MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.timers import Timers
from sev1bot.store.errors import StoreUnavailable
from sev1bot.store.outbox import Batch, Delivered, OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

BATCH = 50  # outbox entries per pass
MAX_KNOWN = 1000  # incidents whose channel and posts are remembered


class Executor:
    def __init__(
        self,
        api: MattermostAPI,
        store: Store,
        timers: Timers,
        team: Team,
        users: UserDirectory,
        *,
        threads_collapsed: bool,
    ) -> None:
        self.api = api
        self.store = store
        self.timers = timers
        self.team = team
        self.users = users
        self._locks: dict[str, asyncio.Lock] = {}
        # Every reader sees threads collapsed (the server's CollapsedThreads is always_on): replies show only
        # in their thread, in the order they were made, so replies to different posts may be made side by
        # side. Otherwise they show in the channel too, and everything goes in order, one at a time.
        self.threads_collapsed = threads_collapsed
        self._waiting: dict[str, asyncio.Future[None]] = {}  # incident id -> the pass waiting its turn
        # incident id -> its channel and post ids as delivery left them: they never change once set, so
        # a pass reads only the ones it has not seen (a read per pass cost more than its edits).
        self._known: dict[str, Batch] = {}

    async def drain(self, incident_id: str) -> None:
        """Deliver every pending effect of one incident, oldest first. Safe to call concurrently.

        One pass runs at a time per incident. A call made while another waits for its turn joins that
        one, which reads everything committed before it starts: under load, one pass per batch of
        decisions instead of an extra read of an empty outbox per decision.
        """
        waiting = self._waiting.get(incident_id)
        if waiting is None:
            waiting = asyncio.ensure_future(self._drain(incident_id))
            waiting.add_done_callback(_retrieved)
            self._waiting[incident_id] = waiting
        await asyncio.shield(waiting)

    async def _drain(self, incident_id: str) -> None:
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        async with lock:
            del self._waiting[incident_id]  # from now on, a new call needs a new pass
            while True:
                known = self._known.get(incident_id)
                batch = await self.store.run(self.store.outbox_batch, incident_id, BATCH, known)
                if not batch.entries:
                    return
                try:
                    await self._pass(incident_id, batch)
                finally:
                    if len(self._known) >= MAX_KNOWN and incident_id not in self._known:
                        self._known.clear()
                    self._known[incident_id] = Batch([], batch.channel_id, batch.posts)
                if len(batch.entries) < BATCH:
                    return  # whatever is committed from now on comes with its own call to drain

    async def _pass(self, incident_id: str, batch: Batch) -> None:
        """Deliver one batch in order (replies side by side when threads are collapsed), then write down
        what was delivered, even if something failed (then the first error goes through)."""
        acks = Acks(self.store)
        due, done = _coalesce(batch.entries)
        replies = _Replies()

        async def deliver(entry: OutboxEntry) -> None:
            await self._deliver(entry, batch, acks)
            done.append(entry.id)

        try:
            for entry in due:
                effect = entry.effect
                is_post = isinstance(effect, fx.Post)
                thread = effect.thread if isinstance(effect, fx.Post) else None
                if thread is not None and self.threads_collapsed and thread in batch.posts:
                    replies.add(thread, deliver(entry))
                    continue
                if not is_post or thread is not None:
                    await replies.join()  # only a new root may go ahead of replies in flight
                await deliver(entry)
            await replies.join()
        finally:
            await replies.join(raise_first=False)
            if done:  # once per pass unless the pass runs long: see acks.py
                acks.add(Delivered(incident_id, tuple(done)))
            await acks.settle()

    async def drain_all(self) -> None:
        for incident_id in await self.store.run(self.store.outbox_incidents):
            try:
                await self.drain(incident_id)
            except (MattermostError, StoreUnavailable) as exc:
                log.warning("could not deliver the pending effects of incident %s: %s", incident_id, exc)

    async def _deliver(self, entry: OutboxEntry, batch: Batch, acks: Acks) -> None:
        effect, incident_id = entry.effect, entry.incident_id
        acks.check()
        match effect:
            case fx.CreateChannel():
                await self._create_channel(batch, incident_id, effect)
            case fx.SetHeader(header):
                await self.api.patch_channel(_channel(batch, incident_id), header=header[:1024])
            case fx.Invite(usernames):
                await self._invite(batch, incident_id, list(usernames))
            case fx.Post():
                await self._post(entry, effect, batch, acks)
            case fx.EditPost(ref, message):
                post_id = batch.posts.get(ref)
                if post_id is None:
                    log.warning("incident %s: no post for %s, edit skipped", incident_id, ref)
                    return
                await self.api.patch_post(post_id, message=message)
            case fx.DirectMessage():
                await self._direct(entry, effect, acks)
            case fx.Schedule(key, at):
                self.timers.schedule(incident_id, key, at)
            case fx.Cancel(key):
                self.timers.cancel(incident_id, key)

    def forget(self) -> None:
        """Drop what this executor knows of channels and posts (another replica may have delivered)."""
        self._known.clear()

    async def _create_channel(self, batch: Batch, incident_id: str, effect: fx.CreateChannel) -> None:
        if batch.channel_id or await self.store.run(self.store.channel_id_of, incident_id):
            return  # created before a crash or retry
        try:
            channel = await self.api.create_channel(
                self.team.id,
                effect.name,
                effect.display_name,
                header=effect.header[:1024],
                purpose=effect.purpose[:250],
                type="P",
            )
        except BadRequest as exc:
            if exc.error_id != CHANNEL_EXISTS:
                raise
            # Created by an earlier delivery of this same effect that crashed before recording it: the bot
            # is a member of channels it created, and names of incident channels are reserved in the store.
            channel = await self.api.channel_by_name(self.team.id, effect.name)
            if not await self.api.is_channel_member(channel.id, self.team.bot_user_id):
                raise
        await self.store.run(self.store.set_channel_id, incident_id, channel.id)
        batch.channel_id = channel.id

    async def _invite(self, batch: Batch, incident_id: str, usernames: list[str]) -> None:
        found, missing = await self.users.ids(usernames)
        if found:
            await self.api.add_members(_channel(batch, incident_id), list(found.values()))
        if missing:
            names = ", ".join(f"`{name}`" for name in missing)
            await self.api.create_post(
                _channel(batch, incident_id),
                f":warning: Could not invite {names}: no such user on this server. "
                "Check the playbook's roles or the SEV1BOT_ROLE_* settings.",
            )

    def _pending_id(self, entry: OutboxEntry) -> str:
        # Deterministic per outbox row, so the server recognises a retry of the same create. Row ids alone
        # can repeat (SQLite reuses them once the outbox is empty); with the row's creation time they cannot.
        return f"{self.team.bot_user_id}:{int(entry.created_at.timestamp() * 1000)}-{entry.id}"

    async def _post(self, entry: OutboxEntry, effect: fx.Post, batch: Batch, acks: Acks) -> None:
        incident_id = entry.incident_id
        if effect.ref is not None and effect.ref in batch.posts:
            return  # delivered before a crash or retry
        if effect.dedupe_key and not await self.store.run(self.store.claim, incident_id, effect.dedupe_key):
            return  # sent (or being sent) already: a ping or reminder goes at most once
        root_id = ""
        if effect.thread is not None:
            root_id = batch.posts.get(effect.thread, "")
        try:
            post = await self.api.create_post(
                _channel(batch, incident_id),
                effect.message,
                root_id=root_id,
                pending_post_id=self._pending_id(entry),
            )
        except MattermostError:
            if effect.dedupe_key:
                await self.store.run(self.store.release, incident_id, effect.dedupe_key)
            raise
        if effect.ref is not None:
            batch.posts[effect.ref] = post.id
        if effect.ref is not None or effect.dedupe_key:
            ref_post = (effect.ref, post.id) if effect.ref is not None else None
            sent = (effect.dedupe_key, post.id) if effect.dedupe_key else None
            acks.add(Delivered(incident_id, post=ref_post, sent=sent))  # written down before the pin
        if effect.pin:
            await self.api.pin(post.id)

    async def _direct(self, entry: OutboxEntry, effect: fx.DirectMessage, acks: Acks) -> None:
        incident_id = entry.incident_id
        if effect.dedupe_key and not await self.store.run(self.store.claim, incident_id, effect.dedupe_key):
            return
        try:
            found, _ = await self.users.ids([effect.username])
            if effect.username not in found:
                log.warning("incident %s: cannot message %s: no such user", incident_id, effect.username)
                return
            channel = await self.api.direct_channel(self.team.bot_user_id, found[effect.username])
            post = await self.api.create_post(
                channel.id, effect.message, pending_post_id=self._pending_id(entry)
            )
        except MattermostError:
            if effect.dedupe_key:
                await self.store.run(self.store.release, incident_id, effect.dedupe_key)
            raise
        if effect.dedupe_key:
            acks.add(Delivered(incident_id, sent=(effect.dedupe_key, post.id)))


class _Replies:
    """Replies being posted alongside each other: one chain per thread, each reply after the one before."""

    def __init__(self) -> None:
        self._tails: dict[fx.PostRef, asyncio.Task[None]] = {}

    def add(self, thread: fx.PostRef, reply: Coroutine[Any, Any, None]) -> None:
        self._tails[thread] = asyncio.ensure_future(_after(self._tails.get(thread), reply))

    async def join(self, *, raise_first: bool = True) -> None:
        """Wait for every reply in flight; then raise the first error, if any (and ``raise_first``)."""
        tails, self._tails = list(self._tails.values()), {}
        outcomes = await asyncio.gather(*tails, return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors and raise_first:
            raise errors[0]


async def _after(previous: asyncio.Task[None] | None, reply: Coroutine[Any, Any, None]) -> None:
    """Run ``reply`` once ``previous`` succeeded; fail with its error (and never post) if it did not."""
    if previous is not None:
        try:
            await previous
        except BaseException:
            reply.close()
            raise
    await reply


def _retrieved(task: asyncio.Future[None]) -> None:
    """Mark a pass's error as seen: its callers may all have gone (each that awaits it gets the error)."""
    if not task.cancelled():
        task.exception()


def _channel(batch: Batch, incident_id: str) -> str:
    if batch.channel_id is None:
        raise RuntimeError(f"incident {incident_id} has no channel yet")
    return batch.channel_id


def _coalesce(entries: list[OutboxEntry]) -> tuple[list[OutboxEntry], list[int]]:
    """(the entries to deliver, ids of those a later entry makes pointless): an edit of a post that a later
    edit in the batch replaces, a header that a later header replaces. Under load a board is edited once
    per batch instead of once per reaction."""
    due = fx.without_superseded(entries, lambda entry: entry.effect)
    kept = {entry.id for entry in due}
    return due, [entry.id for entry in entries if entry.id not in kept]
