"""The stakeholders' broadcast channels: found by name on the bot's team, joined by the bot when it is not in
one (a public channel; a private one it cannot even see), and remembered for the life of the process."""

from __future__ import annotations

import logging

from sev1bot.mattermost.directory import Team
from sev1bot.mattermost.errors import NotFound
from sev1bot.mattermost.rest import MattermostAPI

log = logging.getLogger(__name__)


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
