"""The ``/sev1`` slash command: a typed invocation in, the answer's text out.

Parsing is ``commands.parse_command``; a command that changes an incident is already a core event, so this
front only checks where it was typed and by whom, and hands it to the spine. The answer is shown only to the
person who typed the command.
"""

from __future__ import annotations

import logging

from sev1bot import commands as cmd
from sev1bot.core import render
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import CoreError
from sev1bot.core.escalation import deadline_dues
from sev1bot.core.events import Assigned, OwnerChanged
from sev1bot.core.state import IncidentState
from sev1bot.core.text import RESERVED_USERNAMES
from sev1bot.core.times import Clock
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.inbound import SlashCommand
from sev1bot.playbook.schema import Playbook
from sev1bot.service.spine import Spine
from sev1bot.store.errors import IncidentUnreadable, StoreUnavailable
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

NOT_AN_INCIDENT = (
    "This is not an incident channel. Run this in the incident's channel, or `/sev1 list` to find it."
)
MEMBERS_ONLY = "Only members of this incident channel can change the incident."
UNAVAILABLE = (
    "sev1bot could not do that right now (the server or database is unavailable). "
    "Nothing was changed; please try again in a moment."
)
UNREADABLE = (
    "sev1bot cannot work on this incident: its record in the bot's database cannot be read. "
    "Nothing was changed. Ask whoever runs sev1bot to look at its log; other incidents are not affected."
)


class CommandFront:
    def __init__(
        self,
        *,
        spine: Spine,
        store: Store,
        team: Team,
        users: UserDirectory,
        playbooks: dict[str, Playbook],
        default_playbook: str,
        calendar: BusinessCalendar,
        clock: Clock,
        site_url: str,
    ) -> None:
        self.spine = spine
        self.store = store
        self.team = team
        self.users = users
        self.playbooks = playbooks
        self.default_playbook = default_playbook
        self.calendar = calendar
        self.clock = clock
        self.site_url = site_url.rstrip("/")

    async def handle(self, invocation: SlashCommand) -> str:
        try:
            command = cmd.parse_command(invocation.text, invocation.actor_name)
        except cmd.UsageError as exc:
            return f"{exc.message}\nUsage: `{exc.usage_line}`"
        try:
            return await self._run(invocation, command)
        except CoreError as exc:
            return str(exc)
        except (StoreUnavailable, MattermostError) as exc:
            log.warning("command %r failed: %s", invocation.text[:40], exc)
            return UNAVAILABLE
        except IncidentUnreadable as exc:
            log.error("command %r refused: %s", invocation.text[:40], exc)
            return UNREADABLE

    async def _run(self, invocation: SlashCommand, command: cmd.Command) -> str:
        match command:
            case cmd.Help():
                return cmd.help_text()
            case cmd.List():
                return await self._list()
            case cmd.Start(customer, summary):
                return await self._start(invocation.actor_name, customer, summary)
        incident = await self.store.run(self.store.incident_by_channel_id, invocation.channel_id)
        if incident is None:
            return NOT_AN_INCIDENT
        if not await self.team.is_member(invocation.channel_id, invocation.actor_id):
            return MEMBERS_ONLY
        return await self._in_incident(incident, command)

    async def _in_incident(self, incident: IncidentState, command: cmd.Command) -> str:
        match command:
            case cmd.Status():
                playbook = await self.store.run(self.store.load_playbook, incident.id)
                dues = deadline_dues(incident, playbook, self.calendar)
                return render.status_board(incident, playbook, self.clock(), self.calendar, dues)
            case cmd.Timeline():
                return render.timeline(incident, self.calendar)
            case cmd.Start() | cmd.List() | cmd.Help():
                return "That command does not apply inside an incident channel."
        if isinstance(command, Assigned | OwnerChanged):
            named = command.assignee if isinstance(command, Assigned) else command.owner
            if unknown := await self._no_such_user(named):
                return unknown
        decision = await self.spine.apply(incident.id, command)
        if decision is None or not decision.effects:
            return "Nothing to change: that is already so."
        return f"Done: {render.describe_event(command)}."

    async def _no_such_user(self, username: str) -> str | None:
        """Refuse a username nobody has: a typo must not become the owner or an assignee."""
        if username in RESERVED_USERNAMES:
            return None  # @all, @channel, @here: the core refuses them, saying why
        _, missing = await self.users.ids([username])
        if not missing:
            return None
        return f"There is no user `@{username}` on this server: check the spelling."

    async def _list(self) -> str:
        active = await self.store.run(self.store.active_incidents)
        if not active:
            return "No active incidents."
        now = self.clock()
        lines = ["| Incident | Customer | Owner | Open for |", "|---|---|---|---|"]
        for state in sorted(active, key=lambda s: s.started_at):
            lines.append(
                f"| ~{state.channel_name} | {render.inline(state.customer)} | @{state.owner} "
                f"| {render.fmt_elapsed(now - state.started_at)} |"
            )
        return "\n".join(lines)

    async def _start(self, actor: str, customer: str, summary: str) -> str:
        state = await self.spine.start(actor, customer, summary, self.playbooks[self.default_playbook])
        if state is None:
            return "Could not find a free channel name for this incident; try a shorter customer name."
        link = f"{self.site_url}/{self.team.name}/channels/{state.channel_name}"
        return (
            f"Started Sev 1 incident for **{render.inline(customer)}**: [~{state.channel_name}]({link}). "
            "The checklist is being posted there now."
        )
