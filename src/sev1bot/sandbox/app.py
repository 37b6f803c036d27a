"""``Sandbox``: a Mattermost-compatible server on a real socket, with a Python API for tests.

    async with Sandbox.running() as sb:          # default seed, free port on 127.0.0.1
        sb.url, sb.team.id, sb.tokens["alice"], sb.bot.id

The server holds its data in memory; see the package docstring for what it imitates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from sev1bot.sandbox import admin, events, rest, rest_commands, rest_posts, websocket
from sev1bot.sandbox.buttons import ButtonOps
from sev1bot.sandbox.client import ApiClient
from sev1bot.sandbox.command_registry import CommandRegistry
from sev1bot.sandbox.commands import CommandOps
from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.contract import ContractChecker, contract_middleware
from sev1bot.sandbox.faults import Faults, RequestRecord, fault_middleware, request_log_middleware
from sev1bot.sandbox.hub import Hub
from sev1bot.sandbox.ids import new_id
from sev1bot.sandbox.middleware import api_errors
from sev1bot.sandbox.models import Channel, Post, Team, User
from sev1bot.sandbox.ops_channels import ChannelOps
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.outbound import Outbound
from sev1bot.sandbox.ratelimit import RateLimiter, rate_limit_middleware
from sev1bot.sandbox.seed import Seed, Seeded, apply_seed, load_seed
from sev1bot.sandbox.state import State
from sev1bot.sandbox.wiring import SERVICES, Services

log = logging.getLogger(__name__)


class Sandbox:
    """The server plus its controls. Use ``Sandbox.running(...)`` or ``start()``/``stop()``."""

    def __init__(
        self,
        seed: Seed | str | Path | None = None,
        config: SandboxConfig | None = None,
        contract: ContractChecker | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.contract = contract
        self.admin_token = self.config.admin_token or new_id()
        self.state = State()
        self.hub = Hub(self.state, self.config)
        if contract is not None:
            self.hub.check_frame = contract.check_frame
        self.posts = PostOps(self.state, self.hub, self.config)
        self.channels = ChannelOps(self.state, self.hub, self.posts)
        self.outbound = Outbound(self.config)
        self.registry = CommandRegistry(self.state)
        self.commands = CommandOps(self.state, self.posts, self.outbound)
        self.buttons = ButtonOps(self.state, self.posts, self.outbound)
        self.faults = Faults()
        self.rate_limiter = RateLimiter()
        self.seeded: Seeded = apply_seed(self.state, seed if isinstance(seed, Seed) else load_seed(seed))
        self.services = Services(
            self.config, self.state, self.posts, self.channels, self.registry, self.commands, self.buttons
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    @classmethod
    @asynccontextmanager
    async def running(
        cls, seed: Seed | str | Path | None = None, contract: ContractChecker | None = None, **settings: Any
    ) -> AsyncIterator[Sandbox]:
        """Start a sandbox for the duration of the block. ``settings`` are SandboxConfig fields;
        ``contract`` checks every API request and response against the OpenAPI spec."""
        sandbox = cls(seed, dataclasses.replace(SandboxConfig(), **settings), contract)
        await sandbox.start()
        try:
            yield sandbox
        finally:
            await sandbox.stop()

    def build_app(self) -> web.Application:
        middlewares = [
            request_log_middleware(self.faults),
            rate_limit_middleware(self.rate_limiter),
            api_errors,
            fault_middleware(self.faults),
        ]
        if self.contract is not None:
            middlewares.insert(2, contract_middleware(self.contract))
        app = web.Application(middlewares=middlewares)
        app[SERVICES] = self.services
        rest.add_routes(app)
        rest_posts.add_routes(app)
        rest_commands.add_routes(app)
        websocket.add_routes(app, self.hub)
        admin.add_routes(app, self)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.services.site_url = self.url
        log.info("sandbox listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            self.hub.restart()
            await self._runner.cleanup()
            await self.outbound.close()
            self._runner = None

    # controls (also reachable over HTTP under /sandbox/admin)
    def drop_websockets(self) -> int:
        """Cut every websocket without a close frame; the connections stay resumable. Returns how many."""
        return self.hub.drop_all()

    def send_off_contract(self, username: str, frame: str | dict[str, Any]) -> int:
        """Send ``username``'s live websockets a frame no server would (tests of a client's defences): a str
        verbatim, a dict numbered like an event. Not contract-checked. Returns how many sockets got it."""
        return self.hub.send_off_contract(self.users[username].id, frame)

    def restart(self) -> None:
        """Behave like a server restart: sockets cut, connection ids, replay buffers and caches lost."""
        self.hub.restart()
        self.state.forget_caches()
        self.rate_limiter.reset()

    def expire_pending_posts(self) -> int:
        """Forget the ``pending_post_id`` of every post made so far, as the server does 30 s
        (``pending_post_ttl``) after each: a retry from now on makes a new post. Returns how many."""
        return self.state.expire_pending_posts()

    def set_rate_limit(self, enabled: bool = True, per_sec: float = 10.0, max_burst: int = 100) -> None:
        self.rate_limiter.configure(enabled, per_sec, max_burst)

    def set_active(self, username: str, active: bool) -> User:
        """Deactivate (``active=False``) or reactivate a user, as ``PUT /users/{id}/active`` does: while
        deactivated their tokens answer 401, their websockets stay open but get no events, adding them
        to a channel answers 403; everyone else gets ``user_updated`` (and they do, once reactivated)."""
        user = self.state.set_active(self.state.user_by_name(username).id, active)
        for event in events.user_updated(user):
            self.hub.publish(event)
        return user

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far (method, path, status, at, duration), oldest first."""
        return self.faults.log

    def count_requests(self, method: str = "*", path: str = "*", status: int | None = None) -> int:
        return self.faults.count(method, path, status)

    def describe(self) -> dict[str, Any]:
        """Where the sandbox is and who is in it (what ``sev1bot sandbox`` prints)."""
        return {
            "url": self.url,
            "websocket_url": self.ws_url,
            "team": {"id": self.team.id, "name": self.team.name},
            "bot": self.bot.username,
            "users": {
                name: {"id": u.id, "token": self.tokens[name], "active": not u.delete_at}
                for name, u in self.users.items()
            },
        }

    # where and who
    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/api/v4/websocket"

    @property
    def team(self) -> Team:
        return self.seeded.team

    @property
    def tokens(self) -> dict[str, str]:
        """Personal access tokens by username (the bot's included)."""
        return self.seeded.tokens

    @property
    def users(self) -> dict[str, User]:
        return self.seeded.users

    @property
    def bot(self) -> User:
        assert self.seeded.bot is not None
        return self.seeded.bot

    def client(self, username: str) -> ApiClient:
        """An HTTP client acting as ``username`` (close it, or use it with ``async with``)."""
        return ApiClient(self.url, self.tokens[username])

    # looking at the data
    def channel(self, name: str) -> Channel:
        found = self.state.find_channel_by_name(self.team.id, name)
        if found is None:
            raise KeyError(f"no channel named {name!r} in team {self.team.name!r}")
        return found

    def posts_in(self, channel_id: str) -> list[Post]:
        """Live posts of a channel, oldest first (system messages included)."""
        return self.state.posts_in(channel_id)
