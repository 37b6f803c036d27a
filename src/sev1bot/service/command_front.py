"""The ``/sev1`` slash command: a typed invocation in, the answer's text out.

Parsing is ``commands.parse_command``; a command that changes an incident is already a core event, so this
front only checks where it was typed and by whom, and hands it to the spine. The answer is shown only to the
person who typed the command.

Who typed it is the user of ``user_id`` (asked of the server, cached), never the request's ``user_name``,
which anyone holding the command token could set to someone else's name. A request is run once: its
``trigger_id`` is recorded in the store (shared by every replica) before it runs, and a replay of it is
answered :data:`REPLAYED` without running again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sev1bot import commands as cmd
from sev1bot.core import render
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import CoreError
from sev1bot.core.escalation import deadline_dues
from sev1bot.core.events import Assigned, EtaSet, FollowChanged, OutageSince, OwnerChanged
from sev1bot.core.state import IncidentState
from sev1bot.core.text import RESERVED_USERNAMES
from sev1bot.core.times import Clock
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError, NotFound
from sev1bot.mattermost.inbound import SlashCommand
from sev1bot.playbook.schema import Playbook
from sev1bot.service.spine import Spine
from sev1bot.store.errors import IncidentUnreadable, StoreReadOnly, StoreUnavailable
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

NOT_AN_INCIDENT = (
    "This is not an incident channel. Run this in the incident's channel, or `/sev1 list` to find it."
)
MEMBERS_ONLY = "Only members of this incident channel can change the incident."
NO_CHANNEL = "(no channel yet)"
NO_CHANNEL_NOTE = (
    "_(no channel yet)_: the bot has not managed to create that incident's channel so far. It keeps trying, "
    "and tells the reporter and the owner by direct message if it keeps failing."
)
UNAVAILABLE = (
    "sev1bot could not do that right now (the server or database is unavailable). "
    "Nothing was changed; please try again in a moment."
)
UNREADABLE = (
    "sev1bot cannot work on this incident: its record in the bot's database cannot be read. "
    "Nothing was changed. Ask whoever runs sev1bot to look at its log; other incidents are not affected."
)

# A replayed request (same trigger id) is answered with this rather than the first answer: the store keeps
# request ids, not answers (an answer can hold a status board), the person who typed the command already saw
# the first answer, and a replay by anyone else must learn nothing from it. Running nothing is the harmless
# side: a retried change is not applied twice.
REPLAYED = "Already done: this request was handled before, so nothing more was done."
UNKNOWN_SENDER = "sev1bot does not know the user this command came from, so it did nothing."


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
            return await self._handle(invocation)
        except CoreError as exc:
            return str(exc)
        except (StoreUnavailable, MattermostError) as exc:
            log.warning("command %r failed: %s", invocation.text[:40], exc)
            return UNAVAILABLE
        except IncidentUnreadable as exc:
            log.error("command %r refused: %s", invocation.text[:40], exc)
            return UNREADABLE

    async def _handle(self, invocation: SlashCommand) -> str:
        if await self._replayed(invocation.trigger_id):
            return REPLAYED
        actor = await self._sender(invocation)
        if actor is None:
            return UNKNOWN_SENDER
        invocation = replace(invocation, actor_name=actor)
        try:
            command = cmd.parse_command(invocation.text, actor)
        except cmd.UsageError as exc:
            return f"{exc.message}\nUsage: `{exc.usage_line}`"
        return await self._run(invocation, command)

    async def _replayed(self, trigger_id: str) -> bool:
        """Whether this request was seen before (and record it if not). The server gives every command a new
        trigger id; a request without one (an old server, a hand-made request) cannot be told apart."""
        if not trigger_id:
            return False
        try:
            return await self.store.run(self.store.seen_request, f"command:{trigger_id}")
        except StoreReadOnly:
            return False  # nothing can be saved, so nothing can happen twice; reading commands still work

    async def _sender(self, invocation: SlashCommand) -> str | None:
        """The username of the request's ``user_id``; None if the server has no such user."""
        try:
            username = await self.users.username(invocation.actor_id)
        except NotFound:
            log.warning("slash command from an unknown user id %s refused", invocation.actor_id)
            return None
        if username != invocation.actor_name:
            log.warning(
                "slash command: user_name %r is not the name of user id %s; acting as @%s",
                invocation.actor_name[:64],
                invocation.actor_id,
                username,
            )
        return username

    async def _run(self, invocation: SlashCommand, command: cmd.Command) -> str:
        match command:
            case cmd.Help():
                return cmd.help_text()
            case cmd.List():
                return await self._list()
            case cmd.Start(customer, summary):
                return await self._start(invocation.actor_name, customer, summary)
            case cmd.Elsewhere():
                return await self._elsewhere(invocation, command)
        incident = await self.store.run(self.store.incident_by_channel_id, invocation.channel_id)
        if incident is None:
            return NOT_AN_INCIDENT
        if not await self.team.is_member(invocation.channel_id, invocation.actor_id):
            return MEMBERS_ONLY
        return await self._in_incident(incident, command)

    async def _elsewhere(self, invocation: SlashCommand, command: cmd.Elsewhere) -> str:
        """A follow that names its incident's channel: run from anywhere by a member of that channel."""
        active = await self.store.run(self.store.active_incidents)
        incident = next((s for s in active if s.channel_name == command.channel), None)
        ids = await self.store.run(self.store.channel_ids, [incident.id]) if incident else {}
        channel_id = ids.get(incident.id) if incident else None
        if incident is None or channel_id is None:
            return f"No active incident has the channel `~{command.channel}`: `/sev1 list` shows them."
        if not await self.team.is_member(channel_id, invocation.actor_id):
            return f"Only members of ~{command.channel} can follow it or add followers."
        return await self._in_incident(incident, command.event)

    async def _in_incident(self, incident: IncidentState, command: cmd.Command) -> str:
        match command:
            case cmd.Status():
                playbook = await self.store.run(self.store.load_playbook, incident.id)
                dues = deadline_dues(incident, playbook, self.calendar)
                return render.status_board(incident, playbook, self.clock(), self.calendar, dues)
            case cmd.Timeline():
                return render.timeline(incident, self.calendar)
            case cmd.Start() | cmd.List() | cmd.Help() | cmd.Elsewhere():
                return "That command does not apply inside an incident channel."
        people = Assigned | OwnerChanged | FollowChanged
        if isinstance(command, people) and (refused := await self._not_a_person(command)):
            return refused
        decision = await self.spine.apply(incident.id, command)
        if decision is None or not decision.effects:
            return "Nothing to change: that is already so."
        if isinstance(command, EtaSet | OutageSince):  # say how the time was read
            return render.clock_done(decision.state, command, self.calendar)
        return f"Done: {render.describe_event(command)}."

    async def _not_a_person(self, command: Assigned | OwnerChanged | FollowChanged) -> str | None:
        """Refuse anyone who cannot take the job: a typo must not become the owner or an assignee, nor a
        deactivated account (it could never act, and inviting it fails), nor a bot (as owner it would lock
        the people out of resolving)."""
        if isinstance(command, Assigned):
            named, role = command.assignee, "an item's assignee"
        elif isinstance(command, FollowChanged):
            named, role = command.username, "a follower"
        else:
            named, role = command.owner, "an incident's owner"
        if named in RESERVED_USERNAMES:
            return None  # @all, @channel, @here: the core refuses them, saying why
        found, _ = await self.users.people([named])
        user = found.get(named)
        if user is None:
            return f"There is no user `@{named}` on this server: check the spelling."
        if user.deactivated:
            return f"@{named} is deactivated on this server: choose someone active."
        if user.is_bot:
            return f"@{named} is a bot: {role} must be a person."
        return None

    async def _list(self) -> str:
        active = await self.store.run(self.store.active_incidents)
        if not active:
            return "No active incidents."
        channels = await self.store.run(self.store.channel_ids, [state.id for state in active])
        now = self.clock()
        lines = ["| Incident | Customer | Owner | Open for |", "|---|---|---|---|"]
        for state in sorted(active, key=lambda s: s.started_at):
            # No link to a channel that does not exist: ~name would lead to whoever holds that name.
            where = (
                f"~{state.channel_name}" if channels.get(state.id) else f"`{state.channel_name}` {NO_CHANNEL}"
            )
            lines.append(
                f"| {where} | {render.inline(state.customer)} | @{state.owner} "
                f"| {render.fmt_elapsed(now - state.started_at)} |"
            )
        if not all(channels.get(state.id) for state in active):
            lines.append(f"\n{NO_CHANNEL_NOTE}")
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
