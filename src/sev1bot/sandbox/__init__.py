"""A Mattermost-compatible server for tests and demos, held to the real server's contract.

It speaks the subset of API v4 the bot and a human need (users, teams, channels, posts, reactions, pins,
slash commands, interactive buttons) and the websocket, with the server's status codes, AppError bodies,
headers, permissions and event shapes. See ``Sandbox`` in ``app``.
"""

from __future__ import annotations

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient, EventStream, Reply
from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.seed import Seed, SeedError, load_seed

__all__ = ["ApiClient", "EventStream", "Reply", "Sandbox", "SandboxConfig", "Seed", "SeedError", "load_seed"]
