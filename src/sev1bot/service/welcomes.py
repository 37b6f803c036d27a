"""Whoever joins an incident channel is welcomed once by DM: what the incident is, who owns it, where the
board is and how to check items.

Live, a ``user_added`` websocket event for an incident channel names the person. After a gap (start-up,
failover, a websocket gap the server could not replay) ``catch_up`` compares each active incident's members
with those welcomed already: the ``welcome:<username>`` keys of the store's ``sent`` table, which a welcome
claims before it goes. The bot itself and other bots are never welcomed. Each newcomer becomes the core's
``MemberJoined``, one DM under that key, so someone reported twice (live and by a catch-up) is told once.
"""

from __future__ import annotations

import logging

from sev1bot.background import Background
from sev1bot.core.events import MemberJoined
from sev1bot.mattermost.directory import UserDirectory
from sev1bot.mattermost.errors import MattermostError, NotFound
from sev1bot.mattermost.events import UserAdded, parse_event
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.ws import RawEvent
from sev1bot.service.spine import Spine
from sev1bot.store.errors import StoreError
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

WELCOME_PREFIX = "welcome:"  # the dedupe key of a welcome is this and the username (see core.decide)


class Welcomes:
    def __init__(
        self, *, spine: Spine, store: Store, api: MattermostAPI, users: UserDirectory, bot_user_id: str
    ) -> None:
        self.spine = spine
        self.store = store
        self.api = api
        self.users = users
        self.bot_user_id = bot_user_id
        self.tasks = Background("welcoming a member")
        self._incidents: dict[str, str] = {}  # channel id -> incident id (never changes once set)
        self.behind = False  # a join could not be handled: catch up when the server and database can
        self.caught_up = False  # the last catch-up succeeded

    async def on_event(self, raw: RawEvent) -> None:
        """Handle one websocket event; a join is handled in the background (the socket reads on)."""
        if raw.get("event") != UserAdded.name:
            return
        event = parse_event(raw)
        if isinstance(event, UserAdded) and event.user_id != self.bot_user_id:
            self.tasks.spawn(self._joined(event.channel_id, event.user_id))

    async def _joined(self, channel_id: str, user_id: str) -> None:
        try:
            incident_id = await self._incident_of(channel_id)
            if incident_id is not None:
                await self._welcome(incident_id, [user_id])
        except (StoreError, MattermostError) as exc:
            log.warning("a member of channel %s could not be welcomed: %s", channel_id, exc)
            self.behind = True  # the membership is on the server: the catch-up finds it

    async def _incident_of(self, channel_id: str) -> str | None:
        incident_id = self._incidents.get(channel_id)
        if incident_id is None:
            state = await self.store.run(self.store.incident_by_channel_id, channel_id)
            if state is None:
                return None  # not an incident channel (town square, a DM...)
            incident_id = self._incidents[channel_id] = state.id
        return incident_id

    async def _welcome(
        self, incident_id: str, user_ids: list[str], welcomed: frozenset[str] = frozenset()
    ) -> None:
        people = await self.users.people_among([u for u in user_ids if u != self.bot_user_id])
        for username in people.values():
            if f"{WELCOME_PREFIX}{username}" not in welcomed:
                await self.spine.apply(incident_id, MemberJoined(username))

    # -- catching up -----------------------------------------------------------------------------------

    async def catch_up(self) -> None:
        """Welcome those who joined while the bot was away; if that fails, stay ``behind`` to try again."""
        self.behind = False
        try:
            await self.reconcile()
        except (MattermostError, StoreError) as exc:
            log.warning("could not catch up with the members of incident channels: %s", exc)
            self.behind, self.caught_up = True, False
        else:
            self.caught_up = True

    async def reconcile(self) -> None:
        """One request per active incident (its members), one for the people not seen before, and one
        decision per member not yet welcomed: after the first catch-up, usually none."""
        found = await self.store.run(self.store.active_channels_with_sent, WELCOME_PREFIX)
        for incident_id, channel_id, welcomed in found:
            self._incidents[channel_id] = incident_id
            try:
                members = await self.api.channel_member_ids(channel_id)
            except NotFound:
                continue  # the channel is gone, or the bot was removed from it
            await self._welcome(incident_id, members, frozenset(welcomed))

    async def idle(self) -> None:
        """Wait until every join taken in is handled (tests, shutdown)."""
        await self.tasks.idle()
