"""Carries out the core's effects against Mattermost, from the outbox, in order.

The core decides; the store commits the new state and its effects (the outbox) in one transaction; this module
delivers them. Each effect is deleted from the outbox only after it took effect, so a crash or an outage means
a retry, never a loss. Retries never duplicate a post: a post with a ``ref`` is skipped when the store already
maps that ref to a post, a post with a ``dedupe_key`` is claimed in the ``sent`` table first, and every create
carries a ``pending_post_id`` derived from the outbox row, which the server dedupes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sev1bot.core import effects as fx
from sev1bot.mattermost.errors import BadRequest, MattermostError, NotFound
from sev1bot.mattermost.rest import CHANNEL_EXISTS, MattermostAPI
from sev1bot.service.timers import Timers
from sev1bot.store.errors import StoreUnavailable
from sev1bot.store.outbox import OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)


@dataclass
class Team:
    id: str
    name: str
    bot_user_id: str


@dataclass
class UserDirectory:
    """Usernames <-> user ids, cached: usernames of people in an incident rarely change mid-incident."""

    api: MattermostAPI
    by_name: dict[str, str] = field(default_factory=dict)
    by_id: dict[str, str] = field(default_factory=dict)

    async def ids(self, usernames: list[str]) -> tuple[dict[str, str], list[str]]:
        """(username -> id for those found, usernames not found)."""
        wanted = [u for u in dict.fromkeys(usernames) if u not in self.by_name]
        if wanted:
            for user in await self.api.users_by_usernames(wanted):
                self.by_name[user.username] = user.id
                self.by_id[user.id] = user.username
        found = {u: self.by_name[u] for u in usernames if u in self.by_name}
        return found, [u for u in usernames if u not in self.by_name]

    async def username(self, user_id: str) -> str:
        if user_id not in self.by_id:
            user = await self.api.user(user_id)
            self.by_id[user.id] = user.username
            self.by_name[user.username] = user.id
        return self.by_id[user_id]


class Executor:
    def __init__(
        self, api: MattermostAPI, store: Store, timers: Timers, team: Team, users: UserDirectory
    ) -> None:
        self.api = api
        self.store = store
        self.timers = timers
        self.team = team
        self.users = users
        self._locks: dict[str, asyncio.Lock] = {}

    async def drain(self, incident_id: str) -> None:
        """Deliver every pending effect of one incident, oldest first. Safe to call concurrently."""
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        async with lock:
            while True:
                entries = await asyncio.to_thread(self.store.outbox_pending, incident_id, 50)
                if not entries:
                    return
                for entry in entries:
                    await self._deliver(entry)
                    await asyncio.to_thread(self.store.outbox_done, entry.id)

    async def drain_all(self) -> None:
        for incident_id in await asyncio.to_thread(self.store.outbox_incidents):
            try:
                await self.drain(incident_id)
            except (MattermostError, StoreUnavailable) as exc:
                log.warning("could not deliver the pending effects of incident %s: %s", incident_id, exc)

    async def _deliver(self, entry: OutboxEntry) -> None:
        effect, incident_id = entry.effect, entry.incident_id
        match effect:
            case fx.CreateChannel():
                await self._create_channel(incident_id, effect)
            case fx.SetHeader(header):
                await self.api.patch_channel(await self._channel(incident_id), header=header[:1024])
            case fx.Invite(usernames):
                await self._invite(incident_id, list(usernames))
            case fx.Post():
                await self._post(entry, effect)
            case fx.EditPost(ref, message):
                post_id = await self._post_id(incident_id, ref)
                if post_id is None:
                    log.warning("incident %s: no post for %s, edit skipped", incident_id, ref)
                    return
                await self.api.patch_post(post_id, message=message)
            case fx.DirectMessage():
                await self._direct(entry, effect)
            case fx.Schedule(key, at):
                self.timers.schedule(incident_id, key, at)
            case fx.Cancel(key):
                self.timers.cancel(incident_id, key)

    async def is_member(self, channel_id: str, user_id: str) -> bool:
        return await self.api.is_channel_member(channel_id, user_id)

    async def channel_exists(self, name: str) -> bool:
        try:
            await self.api.channel_by_name(self.team.id, name)
        except NotFound:
            return False
        return True

    async def _post_id(self, incident_id: str, ref: fx.PostRef) -> str | None:
        return await asyncio.to_thread(self.store.post_id_for, incident_id, ref)

    async def _channel(self, incident_id: str) -> str:
        channel_id = await asyncio.to_thread(self.store.channel_id_of, incident_id)
        if channel_id is None:
            raise RuntimeError(f"incident {incident_id} has no channel yet")
        return channel_id

    async def _create_channel(self, incident_id: str, effect: fx.CreateChannel) -> None:
        if await asyncio.to_thread(self.store.channel_id_of, incident_id):
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
        await asyncio.to_thread(self.store.set_channel_id, incident_id, channel.id)

    async def _invite(self, incident_id: str, usernames: list[str]) -> None:
        found, missing = await self.users.ids(usernames)
        if found:
            await self.api.add_members(await self._channel(incident_id), list(found.values()))
        if missing:
            names = ", ".join(f"`{name}`" for name in missing)
            await self.api.create_post(
                await self._channel(incident_id),
                f":warning: Could not invite {names}: no such user on this server. "
                "Check the playbook's roles or the SEV1BOT_ROLE_* settings.",
            )

    def _pending_id(self, entry: OutboxEntry) -> str:
        # Deterministic per outbox row, so the server recognises a retry of the same create. Row ids alone
        # can repeat (SQLite reuses them once the outbox is empty); with the row's creation time they cannot.
        return f"{self.team.bot_user_id}:{int(entry.created_at.timestamp() * 1000)}-{entry.id}"

    async def _post(self, entry: OutboxEntry, effect: fx.Post) -> None:
        incident_id = entry.incident_id
        if effect.ref is not None and await self._post_id(incident_id, effect.ref):
            return  # delivered before a crash or retry
        if effect.dedupe_key and not await asyncio.to_thread(
            self.store.claim, incident_id, effect.dedupe_key
        ):
            return  # sent (or being sent) already: a ping or reminder goes at most once
        root_id = ""
        if effect.thread is not None:
            root_id = await self._post_id(incident_id, effect.thread) or ""
        try:
            post = await self.api.create_post(
                await self._channel(incident_id),
                effect.message,
                root_id=root_id,
                pending_post_id=self._pending_id(entry),
            )
        except MattermostError:
            if effect.dedupe_key:
                await asyncio.to_thread(self.store.release, incident_id, effect.dedupe_key)
            raise
        if effect.ref is not None:
            await asyncio.to_thread(self.store.record_post, incident_id, effect.ref, post.id)
        if effect.dedupe_key:
            await asyncio.to_thread(self.store.complete, incident_id, effect.dedupe_key, post.id)
        if effect.pin:
            await self.api.pin(post.id)

    async def _direct(self, entry: OutboxEntry, effect: fx.DirectMessage) -> None:
        incident_id = entry.incident_id
        if effect.dedupe_key and not await asyncio.to_thread(
            self.store.claim, incident_id, effect.dedupe_key
        ):
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
        except (MattermostError, NotFound):
            if effect.dedupe_key:
                await asyncio.to_thread(self.store.release, incident_id, effect.dedupe_key)
            raise
        if effect.dedupe_key:
            await asyncio.to_thread(self.store.complete, incident_id, effect.dedupe_key, post.id)
