"""The sandbox's collaborators, built once per server and reached from request handlers via the app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sev1bot.sandbox.buttons import ButtonOps
from sev1bot.sandbox.command_registry import CommandRegistry
from sev1bot.sandbox.commands import CommandOps
from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.ops_channels import ChannelOps
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.state import State


@dataclass
class Services:
    config: SandboxConfig
    state: State
    posts: PostOps
    channels: ChannelOps
    registry: CommandRegistry
    commands: CommandOps
    buttons: ButtonOps
    site_url: str = ""  # set once the server is bound; response_url is built from it


SERVICES = web.AppKey("sandbox_services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
