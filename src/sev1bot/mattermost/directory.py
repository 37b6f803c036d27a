"""Who is who on the Mattermost server: the bot's team, and usernames <-> user ids (cached)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sev1bot.mattermost.errors import NotFound
from sev1bot.mattermost.rest import MattermostAPI, User


@dataclass(frozen=True)
class Team:
    """The team the bot serves, as the bot: the channel and membership questions the service asks."""

    api: MattermostAPI
    id: str
    name: str
    bot_user_id: str
    site_url: str = ""  # where people open Mattermost: links in messages start with it

    def permalink(self, post_id: str) -> str:
        """The link that opens a post in its channel (and previews it where it is pasted)."""
        return f"{self.site_url.rstrip('/')}/{self.name}/pl/{post_id}"

    def channel_link(self, channel: str) -> str:
        """The link that opens a channel of the team, by name or id."""
        return f"{self.site_url.rstrip('/')}/{self.name}/channels/{channel}"

    async def channel_exists(self, name: str) -> bool:
        try:
            await self.api.channel_by_name(self.id, name)
        except NotFound:
            return False
        return True

    async def is_member(self, channel_id: str, user_id: str) -> bool:
        return await self.api.is_channel_member(channel_id, user_id)


@dataclass
class UserDirectory:
    """Usernames <-> user ids, cached: usernames of people in an incident rarely change mid-incident.

    Whether someone is deactivated or a bot is not cached (:meth:`people` asks the server each time): an
    account can be deactivated at any moment, and the questions that depend on it are rare.
    """

    api: MattermostAPI
    by_name: dict[str, str] = field(default_factory=dict)
    by_id: dict[str, str] = field(default_factory=dict)
    bots: set[str] = field(default_factory=set)  # ids of bot accounts: an account never stops being one

    async def ids(self, usernames: list[str]) -> tuple[dict[str, str], list[str]]:
        """(username -> id for those found, usernames not found)."""
        wanted = [u for u in dict.fromkeys(usernames) if u not in self.by_name]
        if wanted:
            for user in await self.api.users_by_usernames(wanted):
                self._remember(user)
        found = {u: self.by_name[u] for u in usernames if u in self.by_name}
        return found, [u for u in usernames if u not in self.by_name]

    async def people(self, usernames: list[str]) -> tuple[dict[str, User], list[str]]:
        """(username -> user for those found, usernames not found), fresh from the server: each user says
        whether it is deactivated (``deactivated``) or a bot (``is_bot``)."""
        found: dict[str, User] = {}
        for user in await self.api.users_by_usernames(usernames):
            self._remember(user)
            found[user.username] = user
        return found, [u for u in dict.fromkeys(usernames) if u not in found]

    async def people_among(self, user_ids: list[str]) -> dict[str, str]:
        """user id -> username of those among ``user_ids`` that are people, not bots (unknown ids left out);
        one request for the ids not seen yet, none if all were."""
        unseen = [u for u in dict.fromkeys(user_ids) if u not in self.by_id]
        if unseen:
            for user in await self.api.users_by_ids(unseen):
                self._remember(user)
        return {u: self.by_id[u] for u in dict.fromkeys(user_ids) if u in self.by_id and u not in self.bots}

    async def username(self, user_id: str) -> str:
        """The username of ``user_id``; NotFound if the server has no such user."""
        if user_id not in self.by_id:
            self._remember(await self.api.user(user_id))
        return self.by_id[user_id]

    def _remember(self, user: User) -> None:
        self.by_id[user.id] = user.username
        self.by_name[user.username] = user.id
        if user.is_bot:
            self.bots.add(user.id)
