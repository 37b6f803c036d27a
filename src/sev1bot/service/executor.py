"""Delivers the outbox: each incident's effects, oldest first, one pass at a time per incident.

The core decides; the store commits the new state and its effects (the outbox) in one transaction; this module
delivers them (each through ``delivery``, which makes a retry harmless). Each effect is deleted from the
outbox only after it took effect, so a crash or an outage means a retry, never a loss.

Each pass reads a batch of effects (with the channel and post ids it does not know yet), skips edits that a
later edit of the same post in the batch supersedes, delivers the rest in order (replies to different posts
side by side when every reader sees threads collapsed) and writes down what it delivered once, at the end
(see ``acks``): bookkeeping per effect cost more than the request itself (docs/performance.md).

A create that may have reached the server without being written down (it is older than this process's
term as leader, or this process tried it and did not write it down) is looked up on the server before it
is sent again (see ``recovery``): one read per channel per pass, only then.

Only the leader delivers, and a leader can be deposed without noticing at once (paused past its lease, say).
So the store hands out a batch only against the leader's current fence, checked in the transaction that
reads it; before each effect the pass checks, in memory, that this replica still holds the lease it read the
batch under (renewed in time, same fence); and each write of what was delivered checks the fence again. A
deposed leader stops there and the outbox keeps the rest for the new one (docs/reliability.md says what
a pause right before a request can still cost).

A pass that fails is tried again by the leader's outbox sweep (``drain_all``), at the pace ``pacing`` sets
per incident: waits that double up to a minute, and after a few failures one DM to the reporter and owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sev1bot.core import effects as fx
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.delivery import Delivery
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.pacing import Pacing, StuckNotice
from sev1bot.service.recovery import Lookup, Suspects
from sev1bot.service.reply_chains import ReplyChains
from sev1bot.service.timers import Timers
from sev1bot.store.errors import Fenced, StoreError, StoreUnavailable
from sev1bot.store.leases import Fence
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
        leading: Callable[[], Fence | None],
    ) -> None:
        self.store = store
        self.leading = leading  # the fence this replica leads under; None while it does not lead
        self.delivery = Delivery(api, store, timers, team, users, channel)
        self._suspects = Suspects(store.clock)  # the rows whose creates may be on the server unrecorded
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
            if self.leading() is None:
                return  # stepped down while this pass waited for its turn: nothing to say
            try:
                await self._batches(incident_id)
            except Fenced as exc:
                log.log(
                    logging.INFO if self.leading() is None else logging.WARNING,
                    "stopped delivering the effects of incident %s: %s; the leader delivers the rest",
                    incident_id,
                    exc,
                )

    async def _batches(self, incident_id: str) -> None:
        while True:
            fence = self._fence()
            known = self._known.get(incident_id)
            batch = await self.store.run(self.store.outbox_batch, incident_id, BATCH, known, fence)
            if not batch.entries:
                self.pacing.succeeded(incident_id)
                return
            failed: list[OutboxEntry] = []
            try:
                await self._pass(incident_id, batch, fence, failed)
            except Fenced:
                raise  # not a failed delivery: the new leader delivers
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

    def _fence(self, read_under: Fence | None = None) -> Fence:
        """The fence this replica leads under; Fenced if it does not lead (stepped down, or its lease was
        not renewed in time), or leads under another fence than ``read_under``, the batch's."""
        fence = self.leading()
        if fence is None:
            raise Fenced("this replica does not hold the leader lease (stepped down, or not renewed in time)")
        if read_under is not None and fence != read_under:
            raise Fenced(
                f"the batch was read under fence {read_under.token}, this replica now leads under "
                f"{fence.token}"
            )
        return fence

    async def _pass(self, incident_id: str, batch: Batch, fence: Fence, failed: list[OutboxEntry]) -> None:
        """Deliver one batch in order (replies side by side when threads are collapsed), then write down
        what was delivered, even if something failed (then the first error goes through, and ``failed``
        holds the entries that failed)."""
        acks = Acks(self.store, fence=fence)
        due, done = _coalesce(batch.entries)
        replies = ReplyChains()
        lookup = Lookup(self.delivery.api, self.delivery.team.bot_user_id, self._suspects.among(due))

        async def deliver(entry: OutboxEntry) -> None:
            self._fence(fence)  # no round trip: a deposed leader that has not noticed yet stops here
            self._suspects.attempting(entry)
            try:
                await self.delivery.carry_out(entry, batch, acks, lookup)
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
            written = set(done)
            self._suspects.settled(entry for entry in batch.entries if entry.id in written)

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
            if self.leading() is None:
                return  # stepped down meanwhile
            lock = self._locks.get(incident_id)
            if not self.pacing.due(incident_id) or (lock is not None and lock.locked()):
                continue
            try:
                await self.drain(incident_id)
            except (MattermostError, StoreUnavailable) as exc:
                log.warning("could not deliver the pending effects of incident %s: %s", incident_id, exc)

    def forget(self) -> None:
        """Drop what this executor knows of channels and posts (another replica may have delivered), and
        look up every create already in the outbox before sending it (another process may have sent it).
        Called when this process becomes the leader."""
        self._known.clear()
        self._suspects.new_term()


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
