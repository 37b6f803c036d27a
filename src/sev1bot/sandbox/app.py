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

from sev1bot.sandbox import rest, rest_commands, rest_posts, websocket
from sev1bot.sandbox.buttons import ButtonOps
from sev1bot.sandbox.client import ApiClient
from sev1bot.sandbox.commands import CommandOps
from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.hub import Hub
from sev1bot.sandbox.middleware import api_errors
from sev1bot.sandbox.models import Channel, Post, Team, User
from sev1bot.sandbox.ops_channels import ChannelOps
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.outbound import Outbound
from sev1bot.sandbox.seed import Seed, Seeded, apply_seed, load_seed
from sev1bot.sandbox.state import State
from sev1bot.sandbox.wiring import SERVICES, Services

log = logging.getLogger(__name__)


class Sandbox:
    def __init__(self, seed: Seed | str | Path | None = None, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = State()
        self.hub = Hub(self.state, self.config)
        self.posts = PostOps(self.state, self.hub, self.config)
        self.channels = ChannelOps(self.state, self.hub, self.posts)
        self.outbound = Outbound(self.config)
        self.commands = CommandOps(self.state, self.posts, self.outbound)
        self.buttons = ButtonOps(self.state, self.posts, self.outbound)
        self.seeded: Seeded = apply_seed(self.state, seed if isinstance(seed, Seed) else load_seed(seed))
        self.services = Services(
            self.config, self.state, self.posts, self.channels, self.commands, self.buttons
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    @classmethod
    @asynccontextmanager
    async def running(cls, seed: Seed | str | Path | None = None, **settings: Any) -> AsyncIterator[Sandbox]:
        """Start a sandbox for the duration of the block. ``settings`` are SandboxConfig fields."""
        sandbox = cls(seed, dataclasses.replace(SandboxConfig(), **settings))
        await sandbox.start()
        try:
            yield sandbox
        finally:
            await sandbox.stop()

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[api_errors])
        app[SERVICES] = self.services
        rest.add_routes(app)
        rest_posts.add_routes(app)
        rest_commands.add_routes(app)
        websocket.add_routes(app, self.hub)
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
