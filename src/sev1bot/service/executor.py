"""Delivers the outbox: each incident's effects, oldest first, one pass at a time per incident.

The core decides; the store commits the new state and its effects (the outbox) in one transaction; this module
delivers them (each through ``delivery``, which makes a retry harmless). Each effect is deleted from the
outbox only after it took effect, so a crash or an outage means a retry, never a loss.

Each pass reads a batch of effects (with the channel and post ids it does not know yet), skips edits that a
later edit of the same post in the batch supersedes, delivers the rest in order (replies to different posts
side by side when every reader sees threads collapsed) and writes down what it delivered once, at the end
(see ``acks``): bookkeeping per effect cost more than the request itself (docs/performance.md).

A pass that fails is tried again by the leader's outbox sweep (``drain_all``), at the pace ``pacing`` sets
per incident: waits that double up to a minute, and after a few failures one DM to the reporter and owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sev1bot.core import effects as fx
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.delivery import Delivery
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.pacing import Pacing, StuckNotice
from sev1bot.service.timers import Timers
from sev1bot.store.errors import StoreError, StoreUnavailable
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
        channel: IncidentChannel,
        *,
        threads_collapsed: bool,
    ) -> None:
        self.store = store
        self.delivery = Delivery(api, store, timers, team, users, channel)
        self.pacing = Pacing()
        self.stuck = StuckNotice(api, store, users, team)
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
                    self.pacing.succeeded(incident_id)
                    return
                failed: list[OutboxEntry] = []
                try:
                    await self._pass(incident_id, batch, failed)
                except Exception as exc:
                    await self._failed(failed[0] if failed else batch.entries[0], exc)
                    raise
                finally:
                    if len(self._known) >= MAX_KNOWN and incident_id not in self._known:
                        self._known.clear()
                    self._known[incident_id] = Batch([], batch.channel_id, batch.posts)
                self.pacing.succeeded(incident_id)
                if len(batch.entries) < BATCH:
                    return  # whatever is committed from now on comes with its own call to drain

    async def _pass(self, incident_id: str, batch: Batch, failed: list[OutboxEntry]) -> None:
        """Deliver one batch in order (replies side by side when threads are collapsed), then write down
        what was delivered, even if something failed (then the first error goes through, and ``failed``
        holds the entries that failed)."""
        acks = Acks(self.store)
        due, done = _coalesce(batch.entries)
        replies = _Replies()

        async def deliver(entry: OutboxEntry) -> None:
            try:
                await self.delivery.carry_out(entry, batch, acks)
            except Exception:
                failed.append(entry)
                raise
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

    async def _failed(self, entry: OutboxEntry, exc: Exception) -> None:
        """Count a failed pass; once it has failed often enough, tell the people (once: see ``pacing``)."""
        failures, wait = self.pacing.failed(entry.incident_id)
        log.info(
            "incident %s: delivery failed %d time(s) in a row; next try in %.1f s",
            entry.incident_id,
            failures,
            wait,
        )
        if failures < self.pacing.stuck_after:
            return
        try:
            await self.stuck.tell(entry, exc, failures, self.pacing.cap)
        except (MattermostError, StoreError) as err:
            log.warning(
                "incident %s: could not tell anyone that delivery is stuck: %s", entry.incident_id, err
            )

    async def drain_all(self) -> None:
        """Deliver what every incident has pending, except those that failed lately and wait their turn,
        and those with a pass under way (a pass queued behind one that fails would retry it at once)."""
        for incident_id in await self.store.run(self.store.outbox_incidents):
            lock = self._locks.get(incident_id)
            if not self.pacing.due(incident_id) or (lock is not None and lock.locked()):
                continue
            try:
                await self.drain(incident_id)
            except (MattermostError, StoreUnavailable) as exc:
                log.warning("could not deliver the pending effects of incident %s: %s", incident_id, exc)

    def forget(self) -> None:
        """Drop what this executor knows of channels and posts (another replica may have delivered)."""
        self._known.clear()


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


def _coalesce(entries: list[OutboxEntry]) -> tuple[list[OutboxEntry], list[int]]:
    """(the entries to deliver, ids of those a later entry makes pointless): an edit of a post that a later
    edit in the batch replaces, a header that a later header replaces. Under load a board is edited once
    per batch instead of once per reaction."""
    due = fx.without_superseded(entries, lambda entry: entry.effect)
    kept = {entry.id for entry in due}
    return due, [entry.id for entry in entries if entry.id not in kept]
