"""How each effect is carried out against Mattermost, so that doing it again never does it twice.

A post with a ``ref`` is skipped when the batch already maps that ref to a post; a post with a
``dedupe_key`` is claimed in the ``sent`` table first; every create carries a ``pending_post_id`` derived
from the outbox row, which the server dedupes on for 30 s, and the row's delivery key in its props, by which
``recovery`` finds it later; a channel is created once per incident, and only a channel the bot created is
ever used (``incident_channel``). Edits send only the message, so the server keeps the post's props (the key
among them).

A channel creation or an invite that names a playbook task is reported back (``report``: a ``TaskDone``
decided and committed like any event) once it is done, before its outbox entry is written off: a crash in
between reports it again, which the core ignores. A direct message's links to the incident's posts are
filled in here, from the batch's post ids.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from sev1bot.core import effects as fx
from sev1bot.core.events import TaskDone
from sev1bot.core.render import HEADER_MAX, broadcast_missing
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.events import Post
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.broadcast_channels import BroadcastChannels
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.recovery import Lookup, delivery_key
from sev1bot.service.timers import Timers
from sev1bot.store.outbox import Batch, Delivered, OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

Report = Callable[[str, TaskDone], Awaitable[object]]  # (incident id, what was done): the spine applies it


class Delivery:
    def __init__(
        self,
        api: MattermostAPI,
        store: Store,
        timers: Timers,
        team: Team,
        users: UserDirectory,
        channel: IncidentChannel,
    ) -> None:
        self.api = api
        self.store = store
        self.timers = timers
        self.team = team
        self.users = users
        self.channel = channel
        self.broadcasts = BroadcastChannels(api, team)
        self.report: Report | None = None  # set once the spine, which is built on delivery, exists

    async def carry_out(
        self, entry: OutboxEntry, batch: Batch, acks: Acks, lookup: Lookup | None = None
    ) -> None:
        """Make one effect happen; record in ``batch`` and ``acks`` what it created. A create that ``lookup``
        finds on the server already is adopted instead of sent again."""
        effect, incident_id = entry.effect, entry.incident_id
        acks.check()
        match effect:
            case fx.CreateChannel():
                await self._create_channel(batch, incident_id, effect)
                await self._done(incident_id, effect.task)
            case fx.SetHeader(header):
                await self.api.patch_channel(_channel(batch, incident_id), header=header[:HEADER_MAX])
            case fx.Invite(usernames, task):
                left_out = await self._invite(batch, incident_id, list(usernames))
                await self._done(incident_id, task, left_out)
            case fx.Post():
                await self._post(entry, effect, batch, acks, lookup)
            case fx.EditPost(ref, message):
                post_id = batch.posts.get(ref)
                if post_id is None:
                    log.warning("incident %s: no post for %s, edit skipped", incident_id, ref)
                    return
                where = ref.channel if isinstance(ref, fx.BroadcastStart) else None
                await self.broadcasts.attempt(where, self.api.patch_post(post_id, message=message))
            case fx.DirectMessage():
                await self._direct(entry, self._linked(effect, batch), acks, lookup)
            case fx.Schedule(key, at):
                self.timers.schedule(incident_id, key, at)
            case fx.Cancel(key):
                self.timers.cancel(incident_id, key)

    async def _create_channel(self, batch: Batch, incident_id: str, effect: fx.CreateChannel) -> None:
        if batch.channel_id is None:
            batch.channel_id = await self.store.run(self.store.channel_id_of, incident_id)
        if batch.channel_id is None:  # else created before a crash or retry
            batch.channel_id = await self.channel.create(incident_id, effect)

    async def _done(self, incident_id: str, task: str | None, left_out: list[str] | None = None) -> None:
        if task is not None and self.report is not None:
            await self.report(incident_id, TaskDone(task, tuple(left_out or ())))

    def _linked(self, effect: fx.DirectMessage, batch: Batch) -> fx.DirectMessage:
        """The message with its links to the incident's posts filled in (to the channel if one is unknown:
        delivered in order, a DM comes after the posts it names)."""
        if not effect.links:
            return effect

        def url(ref: fx.PostRef) -> str:
            post_id = batch.posts.get(ref)
            return self.team.permalink(post_id) if post_id else self.team.channel_link(batch.channel_id or "")

        return replace(effect, message=fx.fill_links(effect.message, effect.links, url))

    async def _invite(self, batch: Batch, incident_id: str, usernames: list[str]) -> list[str]:
        """Add the people among ``usernames`` to the channel; the names left out (warned about there)."""
        # Asked afresh each time: a deactivated account (or a bot) in the list would make the server refuse
        # the whole addition with 403, and the invite comes before the checklist, so the start would stall.
        found, missing = await self.users.people(usernames)
        deactivated = [name for name, user in found.items() if user.deactivated]
        bots = [name for name, user in found.items() if user.is_bot and not user.deactivated]
        people = [user.id for name, user in found.items() if name not in deactivated and name not in bots]
        channel_id = _channel(batch, incident_id)
        if people:
            await self.api.add_members(channel_id, people)
        for names, why in (
            (missing, "no such user on this server"),
            (deactivated, "deactivated on this server"),
            (bots, "a bot, not a person" if len(bots) == 1 else "bots, not people"),
        ):
            if names:
                await self._not_invited(incident_id, channel_id, names, why)
        return [*missing, *deactivated, *bots]

    async def _not_invited(self, incident_id: str, channel_id: str, names: list[str], why: str) -> None:
        log.warning("incident %s: not invited (%s): %s", incident_id, why, ", ".join(names))
        listed = ", ".join(f"`{name}`" for name in names)
        await self.api.create_post(
            channel_id,
            f":warning: Could not invite {listed}: {why}. "
            "Check the playbook's roles or the SEV1BOT_ROLE_* settings.",
        )

    def _pending_id(self, entry: OutboxEntry) -> str:
        # Deterministic per outbox row, so the server recognises a retry of the same create.
        return f"{self.team.bot_user_id}:{delivery_key(entry)}"

    async def _post(
        self, entry: OutboxEntry, effect: fx.Post, batch: Batch, acks: Acks, lookup: Lookup | None
    ) -> None:
        incident_id = entry.incident_id
        if effect.ref is not None and effect.ref in batch.posts:
            return  # delivered before a crash or retry
        channel_id = await self._target(batch, incident_id, effect)
        if channel_id is None:
            return
        post = await lookup.existing(channel_id, entry) if lookup is not None else None
        if post is not None:
            await self._claimed(incident_id, effect.dedupe_key)
        elif effect.dedupe_key and not await self.store.run(self.store.claim, incident_id, effect.dedupe_key):
            return  # sent (or being sent) already: a ping or reminder goes at most once
        else:
            root_id = batch.posts.get(effect.thread, "") if effect.thread is not None else ""
            async with self._releasing(incident_id, effect.dedupe_key):
                created = self._create(entry, channel_id, effect.message, root_id)
                post = await self.broadcasts.attempt(effect.channel, created)
            if post is None:
                return  # a broadcast channel the bot cannot post to any more
        if effect.ref is not None:
            batch.posts[effect.ref] = post.id
        if effect.ref is not None or effect.dedupe_key:
            ref_post = (effect.ref, post.id) if effect.ref is not None else None
            sent = (effect.dedupe_key, post.id) if effect.dedupe_key else None
            acks.add(Delivered(incident_id, post=ref_post, sent=sent))  # written down before the pin
        if effect.pin and not post.is_pinned:
            await self.api.pin(post.id)

    async def _target(self, batch: Batch, incident_id: str, effect: fx.Post) -> str | None:
        """The incident channel, or the broadcast channel the post names; None for one the bot cannot find,
        which the start's broadcast post reports in the incident channel (once, claimed like a ping)."""
        if effect.channel is None:
            return _channel(batch, incident_id)
        found = await self.broadcasts.channel_id(effect.channel)
        missing = found is None and isinstance(effect.ref, fx.BroadcastStart)
        if missing and await self.store.run(self.store.claim, incident_id, f"missing:{effect.channel}"):
            await self.api.create_post(_channel(batch, incident_id), broadcast_missing(effect.channel))
        return found

    async def _direct(
        self, entry: OutboxEntry, effect: fx.DirectMessage, acks: Acks, lookup: Lookup | None
    ) -> None:
        incident_id, dedupe_key = entry.incident_id, effect.dedupe_key
        post = None
        if lookup is not None and lookup.suspects(entry):
            channel_id = await self._direct_channel(incident_id, effect.username)
            post = await lookup.existing(channel_id, entry) if channel_id else None
        if post is not None:
            await self._claimed(incident_id, dedupe_key)
        elif dedupe_key and not await self.store.run(self.store.claim, incident_id, dedupe_key):
            return
        else:
            async with self._releasing(incident_id, dedupe_key):
                channel_id = await self._direct_channel(incident_id, effect.username)
                if channel_id is None:
                    return
                post = await self._create(entry, channel_id, effect.message)
        if dedupe_key:
            acks.add(Delivered(incident_id, sent=(dedupe_key, post.id)))

    async def _direct_channel(self, incident_id: str, username: str) -> str | None:
        """The bot's direct channel with ``username``; None (and a warning) if there is no such user."""
        found, _ = await self.users.ids([username])
        if username not in found:
            log.warning("incident %s: cannot message %s: no such user", incident_id, username)
            return None
        return (await self.api.direct_channel(self.team.bot_user_id, found[username])).id

    async def _create(self, entry: OutboxEntry, channel_id: str, message: str, root_id: str = "") -> Post:
        return await self.api.create_post(
            channel_id,
            message,
            root_id=root_id,
            pending_post_id=self._pending_id(entry),
            delivery_key=delivery_key(entry),
        )

    @asynccontextmanager
    async def _releasing(self, incident_id: str, dedupe_key: str | None) -> AsyncIterator[None]:
        """Release the claim of an at-most-once send whose create failed, so that it may be tried again."""
        try:
            yield
        except MattermostError:
            if dedupe_key:
                await self.store.run(self.store.release, incident_id, dedupe_key)
            raise

    async def _claimed(self, incident_id: str, dedupe_key: str | None) -> None:
        """An adopted at-most-once send: make sure it is claimed (a failed attempt released its claim), so
        that its record can be completed with the post."""
        if dedupe_key:
            await self.store.run(self.store.claim, incident_id, dedupe_key)


def _channel(batch: Batch, incident_id: str) -> str:
    if batch.channel_id is None:
        raise RuntimeError(f"incident {incident_id} has no channel yet")
    return batch.channel_id
