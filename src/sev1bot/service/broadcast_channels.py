"""The stakeholders' broadcast channels: found by name on the bot's team, joined by the bot when it is not in
one (a public channel; a private one it cannot even see), and remembered for the life of the process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from sev1bot.mattermost.directory import Team
from sev1bot.mattermost.errors import Forbidden, NotFound
from sev1bot.mattermost.rest import MattermostAPI

log = logging.getLogger(__name__)
T = TypeVar("T")


class BroadcastChannels:
    def __init__(self, api: MattermostAPI, team: Team) -> None:
        self.api = api
        self.team = team
        self._ids: dict[str, str] = {}

    async def channel_id(self, name: str) -> str | None:
        """The channel's id, the bot a member; None when the server knows no channel of that name the bot
        can see (it answers the same 404 for one that does not exist and a private one without the bot)."""
        known = self._ids.get(name)
        if known is not None:
            return known
        try:
            channel = await self.api.channel_by_name(self.team.id, name)
        except NotFound:
            log.warning("broadcast channel %s: not found, or private without the bot", name)
            return None
        if not await self.team.is_member(channel.id, self.team.bot_user_id):
            await self.api.add_members(channel.id, [self.team.bot_user_id])  # joins a public channel
        self._ids[name] = channel.id
        return channel.id

    async def attempt(self, name: str | None, call: Awaitable[T]) -> T | None:
        """``call``, a create or edit in the broadcast channel ``name`` (None: the incident's, left alone).
        A broadcast channel gone or without the bot (403, 404) skips that broadcast, logged, rather than
        holding up the incident's delivery; the channel is looked up afresh next time."""
        if name is None:
            return await call
        try:
            return await call
        except (Forbidden, NotFound) as exc:
            log.warning("broadcast channel %s: skipped (%s)", name, exc)
            self._ids.pop(name, None)
            return None
