"""The one place that wires sev1bot together: settings, playbooks, store, Mattermost, timers, HTTP.

``Bot(settings, playbooks)`` holds what needs no server; ``await bot.run(stop)`` connects, builds the rest
(``Parts``: everything that needs to know the bot's team) and serves until ``stop`` is set. Every replica
serves slash commands and button clicks; only the leader follows the websocket, fires timers and delivers
the outbox (``LeaderDuties``), so two replicas never act twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

from sev1bot.config import Settings
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.times import Clock, utcnow
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.inbound import Fronts, TokenVerifier, build_http_app, serve
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.ws import OnEvent, OnGap, WebSocketClient
from sev1bot.playbook.loader import load_playbooks
from sev1bot.playbook.overrides import apply_role_overrides_all
from sev1bot.playbook.schema import Playbook
from sev1bot.service.action_front import ActionFront
from sev1bot.service.command_front import CommandFront
from sev1bot.service.executor import Executor
from sev1bot.service.incident_channel import IncidentChannel
from sev1bot.service.leader import Leadership
from sev1bot.service.leader_duties import LeaderDuties
from sev1bot.service.reaction_follower import ReactionFollower
from sev1bot.service.spine import Spine
from sev1bot.service.timers import Timers
from sev1bot.service.welcomes import Welcomes
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

DEFAULT_PLAYBOOK = "mme-sev1"


def load_configured_playbooks(settings: Settings, env: Mapping[str, str]) -> dict[str, Playbook]:
    playbooks = load_playbooks(settings.playbooks)
    return apply_role_overrides_all(playbooks, env, settings.roles_file)


@dataclass(frozen=True)
class Parts:
    """What the bot is made of once it knows its team."""

    team: Team
    timers: Timers
    executor: Executor
    spine: Spine
    commands: CommandFront
    actions: ActionFront
    follower: ReactionFollower
    welcomes: Welcomes
    duties: LeaderDuties


class Bot:
    def __init__(
        self,
        settings: Settings,
        playbooks: dict[str, Playbook],
        *,
        clock: Clock = utcnow,
        lease_ttl: float = 6.0,
        ws_ping_interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self.playbooks = playbooks
        self.clock = clock
        self.store = Store(settings.database_url.get_secret_value(), clock=clock)
        self.api = MattermostAPI(settings.mattermost_url, settings.mattermost_token)
        self.calendar = BusinessCalendar(
            settings.timezone, settings.holidays_country, extra_holidays=frozenset(settings.holidays)
        )
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.leadership = Leadership(
            self.store, holder, clock=clock, ttl=lease_ttl, renew_every=lease_ttl / 4
        )
        self.verify = TokenVerifier(
            settings.command_token.get_secret_value() if settings.command_token else None
        )
        self.ws_ping_interval = ws_ping_interval
        self.parts: Parts | None = None  # built by run() once connected
        self.url: str | None = None  # the HTTP endpoint's base URL once serving
        self.ready = asyncio.Event()

    @property
    def ws(self) -> WebSocketClient | None:
        return self.parts.duties.ws if self.parts else None

    async def run(self, stop: asyncio.Event) -> None:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.api.close)
            stack.callback(self.store.close)
            await asyncio.to_thread(self.store.migrate)  # Alembic: slow, start-up only
            team = await self._connect()
            self.parts = parts = self._wire(team, threads_collapsed=await self._threads_collapsed())
            app = build_http_app(
                Fronts(parts.commands, parts.actions),
                self.verify,
                signing_secret=self.settings.signing_secret,
                readiness=parts.duties.readiness,
                clock=lambda: self.clock().timestamp(),
                mattermost_url=self.settings.mattermost_url,
            )
            self.url = await stack.enter_async_context(
                serve(app, self.settings.listen_host, self.settings.listen_port)
            )
            stack.callback(parts.timers.shutdown)
            parts.timers.start(parts.duties.on_timer)
            leadership = asyncio.create_task(self.leadership.run(stop, parts.duties), name="leadership")
            self.ready.set()
            await stop.wait()
            await leadership
            await self.idle()

    async def idle(self) -> None:
        """Wait until every reaction taken in is decided and every delivery started has ended."""
        if self.parts is not None:
            await self.parts.follower.idle()
            await self.parts.welcomes.idle()
            await self.parts.spine.deliveries.idle()

    async def _connect(self) -> Team:
        me = await self.api.me()
        found = await self.api.team_by_name(self.settings.mattermost_team)
        if self.settings.command_token is None:
            token = await self.api.register_command(found.id, url=self.settings.command_url)
            self.verify.set_token(token)
        log.info("connected to %s as @%s, team %s", self.settings.mattermost_url, me.username, found.name)
        return Team(self.api, found.id, found.name, me.id, site_url=self.settings.mattermost_url)

    def _wire(self, team: Team, *, threads_collapsed: bool) -> Parts:
        users = UserDirectory(self.api)
        timers = Timers()
        executor = self._executor(team, users, timers, threads_collapsed=threads_collapsed)
        spine = Spine(
            store=self.store,
            executor=executor,
            timers=timers,
            team=team,
            calendar=self.calendar,
            clock=self.clock,
            can_deliver=lambda: self.leadership.is_leader,
        )
        executor.delivery.report = spine.apply  # tasks the bot carried out are events like any other
        follower = ReactionFollower(
            spine=spine,
            store=self.store,
            api=self.api,
            users=users,
            bot_user_id=team.bot_user_id,
            calendar=self.calendar,
            clock=self.clock,
        )
        welcomes = Welcomes(
            spine=spine, store=self.store, api=self.api, users=users, bot_user_id=team.bot_user_id
        )
        commands = CommandFront(
            spine=spine,
            store=self.store,
            team=team,
            users=users,
            playbooks=self.playbooks,
            default_playbook=DEFAULT_PLAYBOOK
            if DEFAULT_PLAYBOOK in self.playbooks
            else next(iter(self.playbooks)),
            calendar=self.calendar,
            clock=self.clock,
            site_url=self.settings.mattermost_url,
        )
        duties = LeaderDuties(
            leadership=self.leadership,
            store=self.store,
            executor=executor,
            timers=timers,
            spine=spine,
            follower=follower,
            welcomes=welcomes,
            websocket=self._websocket,
        )
        return Parts(team, timers, executor, spine, commands, ActionFront(), follower, welcomes, duties)

    def _executor(
        self, team: Team, users: UserDirectory, timers: Timers, *, threads_collapsed: bool
    ) -> Executor:
        channel = IncidentChannel(
            api=self.api,
            store=self.store,
            team=team,
            calendar=self.calendar,
            clock=self.clock,
            site_url=self.settings.mattermost_url,
        )
        return Executor(
            self.api,
            self.store,
            timers,
            team,
            users,
            channel,
            threads_collapsed=threads_collapsed,
            leading=self.leadership.leading,
        )

    def _websocket(self, on_event: OnEvent, on_gap: OnGap) -> WebSocketClient:
        return WebSocketClient(
            self.settings.mattermost_url,
            self.settings.mattermost_token.get_secret_value(),
            on_event,
            on_gap,
            ping_interval=self.ws_ping_interval,
        )

    async def _threads_collapsed(self) -> bool:
        """Whether the server shows every user threads collapsed (then a checklist's stages are posted
        side by side, each thread in order); if it cannot say, assume not."""
        try:
            config = await self.api.client_config()
        except MattermostError as exc:
            log.info("could not read the server's client configuration (%s); posting one at a time", exc)
            return False
        return config.get("CollapsedThreads") == "always_on"
