"""Creating an incident's channel: only ever a channel this bot created, under the next free name if another
channel holds the announced one.

The name of the next incident's channel is easy to guess (``sev1-<date>-<customer>``), and anyone on the team
may create a private channel of that name first, and add the bot to it. The incident must not run there: the
squatter would stay channel admin and read everything. So a taken name is the bot's only if the bot created
that channel (its ``creator_id``) and no incident is bound to it: the channel an attempt that crashed or
timed out left behind. Any other holder, seen or unseen (a private channel the bot is not in answers 404),
means the next name (``-2``, ``-3`` ... within 64 characters).

A changed name is committed as the core's ``ChannelNamed`` once the channel exists (the store keeps incident
channel names unique), which records the real name and DMs the reporter, whose start answer linked the
announced one. Should a start take that name in between, the store refuses the rename: the channel just made
is left for that incident to adopt, and this one tries the next name.
"""

from __future__ import annotations

import logging

from sev1bot.core import effects as fx
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import Decision, decide
from sev1bot.core.events import ChannelNamed
from sev1bot.core.naming import NAME_TRIES, with_suffix
from sev1bot.core.render import HEADER_MAX, PURPOSE_MAX
from sev1bot.core.state import IncidentState
from sev1bot.core.times import Clock
from sev1bot.mattermost.directory import Team
from sev1bot.mattermost.errors import BadRequest
from sev1bot.mattermost.rest import CHANNEL_EXISTS, Channel, MattermostAPI
from sev1bot.playbook.schema import Playbook
from sev1bot.store.errors import ChannelNameTaken, IncidentNotFound
from sev1bot.store.store import Store

log = logging.getLogger(__name__)


class IncidentChannel:
    def __init__(
        self,
        *,
        api: MattermostAPI,
        store: Store,
        team: Team,
        calendar: BusinessCalendar,
        clock: Clock,
        site_url: str,
    ) -> None:
        self.api = api
        self.store = store
        self.team = team
        self.calendar = calendar
        self.clock = clock
        self.site_url = site_url.rstrip("/")

    async def create(self, incident_id: str, effect: fx.CreateChannel) -> str:
        """Create (or adopt) the incident's channel, bind it to the incident and return its id."""
        state = await self.store.run(self.store.load, incident_id)
        if state is None:
            raise IncidentNotFound(incident_id)
        names = [with_suffix(effect.name, n) for n in range(1, NAME_TRIES + 1)]
        # After a crash the incident may already hold a later name: go on from there.
        first = names.index(state.channel_name) if state.channel_name in names else 0
        for name in names[first:]:
            channel_id = await self._try(state, name, effect)
            if channel_id is not None:
                return channel_id
        raise BadRequest(
            f"no channel name is free: {effect.name} and its -2 to -{NAME_TRIES} are taken by channels "
            "that sev1bot did not create",
            status=400,
            error_id=CHANNEL_EXISTS,
            operation="create_channel",
        )

    async def _try(self, state: IncidentState, name: str, effect: fx.CreateChannel) -> str | None:
        """The id of the channel ``name``, now bound to the incident; None if that name is someone else's."""
        renamed = name != state.channel_name
        if renamed and await self.store.run(self.store.channel_name_taken, name):
            return None  # another incident's
        channel = await self._obtain(name, effect)
        if channel is None:
            log.warning(
                "incident %s: %s is a channel sev1bot did not create; trying the next name", state.id, name
            )
            return None
        owner = await self.store.run(self.store.incident_by_channel_id, channel.id)
        if owner is not None and owner.id != state.id:
            return None
        if renamed and not await self._rename(state.id, name):
            return None
        await self.store.run(self.store.set_channel_id, state.id, channel.id)
        return channel.id

    async def _obtain(self, name: str, effect: fx.CreateChannel) -> Channel | None:
        """The channel ``name``, created now or by this bot before; None if someone else holds the name."""
        try:
            return await self.api.create_channel(
                self.team.id,
                name,
                effect.display_name,
                header=effect.header[:HEADER_MAX],
                purpose=effect.purpose[:PURPOSE_MAX],
                type="P",
            )
        except BadRequest as exc:
            if exc.error_id != CHANNEL_EXISTS:
                raise
        return await self.api.own_channel(self.team.id, name)

    async def _rename(self, incident_id: str, name: str) -> bool:
        """Commit the incident's real channel name (and the reporter's DM); False if another incident has
        that name."""
        event = ChannelNamed(name, f"{self.site_url}/{self.team.name}/channels/{name}")
        now = self.clock()

        def step(state: IncidentState, playbook: Playbook) -> Decision:
            return decide(state, event, playbook, now, self.calendar)

        try:
            await self.store.run(self.store.apply, incident_id, step)
        except ChannelNameTaken:
            log.info("incident %s: a new incident took %s meanwhile; trying the next name", incident_id, name)
            return False
        log.info("incident %s runs in %s", incident_id, name)
        return True
