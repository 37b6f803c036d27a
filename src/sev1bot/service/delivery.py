"""How each effect is carried out against Mattermost, so that doing it again never does it twice.

A post with a ``ref`` is skipped when the batch already maps that ref to a post; a post with a
``dedupe_key`` is claimed in the ``sent`` table first; every create carries a ``pending_post_id`` derived
from the outbox row, which the server dedupes on; a channel is created once per incident, and only a
channel the bot created is ever used (``incident_channel``).
"""

from __future__ import annotations

import logging

from sev1bot.core import effects as fx
from sev1bot.core.render import HEADER_MAX
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.timers import Timers
from sev1bot.store.outbox import Batch, Delivered, OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)


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

    async def carry_out(self, entry: OutboxEntry, batch: Batch, acks: Acks) -> None:
        """Make one effect happen; record in ``batch`` and ``acks`` what it created."""
        effect, incident_id = entry.effect, entry.incident_id
        acks.check()
        match effect:
            case fx.CreateChannel():
                await self._create_channel(batch, incident_id, effect)
            case fx.SetHeader(header):
                await self.api.patch_channel(_channel(batch, incident_id), header=header[:HEADER_MAX])
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

    async def _create_channel(self, batch: Batch, incident_id: str, effect: fx.CreateChannel) -> None:
        if batch.channel_id is None:
            batch.channel_id = await self.store.run(self.store.channel_id_of, incident_id)
        if batch.channel_id is None:  # else created before a crash or retry
            batch.channel_id = await self.channel.create(incident_id, effect)

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


def _channel(batch: Batch, incident_id: str) -> str:
    if batch.channel_id is None:
        raise RuntimeError(f"incident {incident_id} has no channel yet")
    return batch.channel_id
