"""The one place that wires sev1bot together: settings, playbooks, store, Mattermost, timers, HTTP.

``Bot(settings, playbooks)`` builds everything; ``await bot.run(stop)`` serves until ``stop`` is set. Every
replica serves slash commands and button clicks; only the leader listens on the websocket, fires timers and
delivers the outbox, so two replicas never act twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from sev1bot.config import Settings
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.events import ReactionAdded, ReactionRemoved, parse_event
from sev1bot.mattermost.inbound import TokenVerifier, build_http_app, serve
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.ws import ConnectionState, RawEvent, WebSocketClient
from sev1bot.playbook.loader import load_playbooks
from sev1bot.playbook.overrides import apply_role_overrides_all
from sev1bot.playbook.schema import Playbook
from sev1bot.service.executor import Executor
from sev1bot.service.incidents import Clock, IncidentService, utcnow
from sev1bot.service.lanes import Lanes
from sev1bot.service.leader import Leadership
from sev1bot.service.timers import Timers
from sev1bot.store.errors import StoreError
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

DEFAULT_PLAYBOOK = "mme-sev1"
OUTBOX_POLL = 0.5  # seconds: how soon the leader delivers what another replica committed
_HANDLED = frozenset({ReactionAdded.name, ReactionRemoved.name})  # websocket events the bot acts on


def load_configured_playbooks(settings: Settings, env: Mapping[str, str]) -> dict[str, Playbook]:
    playbooks = load_playbooks(settings.playbooks)
    return apply_role_overrides_all(playbooks, env, settings.roles_file)


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
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.store = Store(settings.database_url.get_secret_value())
        self.calendar = BusinessCalendar(
            settings.timezone, settings.holidays_country, extra_holidays=frozenset(settings.holidays)
        )
        self.api = MattermostAPI(settings.mattermost_url, settings.mattermost_token)
        self.timers = Timers(self._on_timer)
        self.verify = TokenVerifier(
            settings.command_token.get_secret_value() if settings.command_token else None
        )
        self.leadership = Leadership(
            self.store,
            self.holder,
            on_elected=self._elected,
            on_demoted=self._demoted,
            ttl=lease_ttl,
            renew_every=lease_ttl / 4,
        )
        self.ws: WebSocketClient | None = None
        self.service: IncidentService | None = None
        self.url: str | None = None  # the HTTP endpoint's base URL once serving
        self.ready = asyncio.Event()
        self._ws_ping_interval = ws_ping_interval
        self._leader_tasks: list[asyncio.Task[None]] = []
        # A reaction or gap we could not handle (database or server down): reconcile once they are back.
        self._reconcile_due = False
        self._caught_up = False  # the last reconciliation succeeded: nothing missed is left unapplied
        self.lanes = Lanes()  # reactions, handled off the websocket's read loop, in order per post

    # -- start-up --------------------------------------------------------------------------------------

    async def _connect(self) -> IncidentService:
        await asyncio.to_thread(self.store.migrate)  # Alembic: slow, start-up only
        me = await self.api.me()
        team = await self.api.team_by_name(self.settings.mattermost_team)
        if self.settings.command_token is None:
            token = await self.api.register_command(team.id, url=self.settings.command_url)
            self.verify.set_token(token)
        log.info("connected to %s as @%s, team %s", self.settings.mattermost_url, me.username, team.name)
        executor = Executor(
            self.api, self.store, self.timers, Team(team.id, team.name, me.id), UserDirectory(self.api)
        )
        executor.threads_collapsed = await self._threads_collapsed()
        return IncidentService(
            store=self.store,
            executor=executor,
            playbooks=self.playbooks,
            default_playbook=DEFAULT_PLAYBOOK
            if DEFAULT_PLAYBOOK in self.playbooks
            else next(iter(self.playbooks)),
            calendar=self.calendar,
            site_url=self.settings.mattermost_url,
            clock=self.clock,
            can_deliver=lambda: self.leadership.is_leader,
            on_missed=self._missed,
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

    async def run(self, stop: asyncio.Event) -> None:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.api.close)
            stack.callback(self.store.close)
            self.service = await self._connect()
            app = build_http_app(
                self.service,
                self.verify,
                signing_secret=self.settings.signing_secret,
                readiness=self._readiness,
            )
            self.url = await stack.enter_async_context(
                serve(app, self.settings.listen_host, self.settings.listen_port)
            )
            stack.callback(self.timers.shutdown)
            self.timers.start()
            leadership = asyncio.create_task(self.leadership.run(stop), name="leadership")
            self.ready.set()
            await stop.wait()
            await leadership
            await self.lanes.idle()
            await self.service.idle()

    def _readiness(self) -> dict[str, Any]:
        ws = self.ws.state.value if self.ws else "off"
        role = "leader" if self.leadership.is_leader else "follower"
        ready = role == "follower" or (ws == ConnectionState.CONNECTED.value and self._caught_up)
        info = {"ready": ready, "role": role, "websocket": ws, "caught_up": self._caught_up}
        database = self.store.write_problem  # None, or why it refuses writes ("... is read-only: ...")
        return {**info, "ready": ready and database is None, "database": database or "ok"}

    # -- leadership ------------------------------------------------------------------------------------

    async def _elected(self) -> None:
        self._require_service().executor.forget()  # another leader may have posted meanwhile
        for incident_id, key, due in await self.store.run(self.store.pending_timers):
            self.timers.schedule(incident_id, key, due)
        self.ws = WebSocketClient(
            self.settings.mattermost_url,
            self.settings.mattermost_token.get_secret_value(),
            self._on_event,
            self._reconcile,
            ping_interval=self._ws_ping_interval,
        )
        self._leader_tasks = [
            asyncio.create_task(self.ws.run(), name="websocket"),
            asyncio.create_task(self._outbox_loop(), name="outbox"),
        ]
        await self.ws.connected.wait()
        await self._reconcile()

    async def _demoted(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        for task in self._leader_tasks:
            task.cancel()
        await asyncio.gather(*self._leader_tasks, return_exceptions=True)
        self._leader_tasks = []
        self.timers.cancel_all()

    async def _outbox_loop(self) -> None:
        service = self._require_service()
        while True:
            await self._safely(service.executor.drain_all())
            if self._reconcile_due:
                await self._reconcile()
            await asyncio.sleep(OUTBOX_POLL)

    async def _reconcile(self) -> None:
        """Catch up with reactions from the server; if that fails, the outbox loop tries again."""
        self._reconcile_due = False
        self._caught_up = await self._safely(self._require_service().reconcile())
        if not self._caught_up:
            self._reconcile_due = True

    # -- events ----------------------------------------------------------------------------------------

    async def _on_event(self, raw: RawEvent) -> None:
        service = self._require_service()
        name = raw.get("event")
        if not isinstance(name, str) or name not in _HANDLED:
            return  # e.g. the bot's own posts coming back: parsing them cost ~0.3 ms each
        event = parse_event(raw)
        if isinstance(event, ReactionAdded | ReactionRemoved):
            reaction, added = event.reaction, isinstance(event, ReactionAdded)

            async def handle() -> None:
                if not await self._safely(service.on_reaction(reaction, added)):
                    self._missed()

            await self.lanes.submit(reaction.post_id, handle)

    def _missed(self) -> None:
        self._reconcile_due = True  # the reaction is on the server: pick it up when we can

    async def _on_timer(self, incident_id: str, key: str) -> None:
        if self.leadership.is_leader:
            await self._require_service().on_timer(incident_id, key)

    async def _safely(self, coro: Any) -> bool:
        """Await ``coro``; log a Mattermost or store failure instead of raising. True if it succeeded."""
        try:
            await coro
        except (MattermostError, StoreError) as exc:
            log.warning("%s", exc)
            return False
        return True

    def _require_service(self) -> IncidentService:
        if self.service is None:
            raise RuntimeError("the bot is not connected yet")
        return self.service
