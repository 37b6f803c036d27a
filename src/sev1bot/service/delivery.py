"""How each effect is carried out against Mattermost, so that doing it again never does it twice.

A post with a ``ref`` is skipped when the batch already maps that ref to a post; a post with a
``dedupe_key`` is claimed in the ``sent`` table first; every create carries a ``pending_post_id`` derived
from the outbox row, which the server dedupes on; a channel is created once per incident.

A channel creation or an invite that names a playbook task is reported back (``report``: a ``TaskDone``
decided and committed like any event) once it is done, before its outbox entry is written off: a crash in
between reports it again, which the core ignores. A direct message's links to the incident's posts are
filled in here, from the batch's post ids.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sev1bot.core import effects as fx
from sev1bot.core.events import TaskDone
from sev1bot.core.render import HEADER_MAX, PURPOSE_MAX
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import BadRequest, MattermostError
from sev1bot.mattermost.rest import CHANNEL_EXISTS, MattermostAPI
from sev1bot.service.acks import Acks
from sev1bot.service.timers import Timers
from sev1bot.store.outbox import Batch, Delivered, OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

Report = Callable[[str, TaskDone], Awaitable[object]]  # (incident id, what was done): the spine applies it


class Delivery:
    def __init__(
        self, api: MattermostAPI, store: Store, timers: Timers, team: Team, users: UserDirectory
    ) -> None:
        self.api = api
        self.store = store
        self.timers = timers
        self.team = team
        self.users = users
        self.report: Report | None = None  # set once the spine, which is built on delivery, exists

    async def carry_out(self, entry: OutboxEntry, batch: Batch, acks: Acks) -> None:
        """Make one effect happen; record in ``batch`` and ``acks`` what it created."""
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
                await self._post(entry, effect, batch, acks)
            case fx.EditPost(ref, message):
                post_id = batch.posts.get(ref)
                if post_id is None:
                    log.warning("incident %s: no post for %s, edit skipped", incident_id, ref)
                    return
                await self.api.patch_post(post_id, message=message)
            case fx.DirectMessage():
                await self._direct(entry, self._linked(effect, batch), acks)
            case fx.Schedule(key, at):
                self.timers.schedule(incident_id, key, at)
            case fx.Cancel(key):
                self.timers.cancel(incident_id, key)

    async def _create_channel(self, batch: Batch, incident_id: str, effect: fx.CreateChannel) -> None:
        if batch.channel_id or await self.store.run(self.store.channel_id_of, incident_id):
            return  # created before a crash or retry
        try:
            channel = await self.api.create_channel(
                self.team.id,
                effect.name,
                effect.display_name,
                header=effect.header[:HEADER_MAX],
                purpose=effect.purpose[:PURPOSE_MAX],
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
