"""The bot against the sandbox, over real sockets: the same ``Bot`` that ``sev1bot run`` starts.

Humans act through ``mattermostautodriver`` exactly as their apps do: ``commands/execute`` for slash commands,
``POST /reactions`` for reactions. Nothing of the bot is mocked; the playbook is the shipped one with its
escalation (and, where a test asks, its deadlines) compressed to seconds, and without its ``done_by_bot``
items unless a test asks for them: the tests written before the bot checked 1.1 and 1.2 itself use them as
items people check.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mattermostautodriver import AsyncTypedDriver

from sev1bot.config import Settings
from sev1bot.core.times import Clock, utcnow
from sev1bot.sandbox.app import Sandbox
from sev1bot.service.app import Bot, load_configured_playbooks
from testkit import eventually

__all__ = ["eventually"]  # the one polling helper, re-exported for the e2e modules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "playbooks" / "mme-sev1.yaml"
T = TypeVar("T")


def fast_playbook(
    directory: Path,
    escalate_after: str = "2s",
    repeat_every: str = "2s",
    deadlines: str | None = None,
    customer_every: str | None = None,
    *,
    bot_tasks: bool = False,
    broadcast: list[str] | None = None,
) -> Path:
    """The shipped playbook with its escalation and optionally its customer clock (``updates.every``) and
    every deadline shortened, and the broadcast channels given; with ``bot_tasks`` the bot checks the items
    it carries out itself (1.1 and 1.2), as shipped."""
    text = SHIPPED.read_text()
    if not bot_tasks:
        text, found = re.subn(r"^ +done_by_bot: .*\n", "", text, flags=re.MULTILINE)
        assert found, "the shipped playbook declares no done_by_bot items any more: drop bot_tasks"
    text = text.replace("  after: 1h\n", f"  after: {escalate_after}\n")
    text = text.replace("  repeat_every: 1h\n", f"  repeat_every: {repeat_every}\n")
    if customer_every is not None:
        assert "\nupdates:\n  every: 30m\n" in text, "the shipped playbook's customer clock moved"
        text = text.replace("\nupdates:\n  every: 30m\n", f"\nupdates:\n  every: {customer_every}\n")
    if broadcast is not None:
        assert "\nupdates:\n  every: " in text, "the shipped playbook's updates section moved"
        text = text.replace("\nupdates:\n", f"\nupdates:\n  broadcast: [{', '.join(broadcast)}]\n")
    if deadlines is not None:
        text = re.sub(
            r"    (business_days: \d+|duration: 24h)\n",
            f"    duration: {deadlines}\n    remind_before: 1s\n",
            text,
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mme-sev1.yaml"
    path.write_text(text)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(sandbox: Sandbox, db_url: str, playbooks: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        "MATTERMOST_URL": sandbox.url,
        "MATTERMOST_TOKEN": sandbox.tokens["sev1bot"],
        "MATTERMOST_TEAM": sandbox.team.name,
        "SEV1BOT_DATABASE_URL": db_url,
        "SEV1BOT_LISTEN": f"127.0.0.1:{port}",
        "SEV1BOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SEV1BOT_PLAYBOOKS": str(playbooks),
        **extra,
    }


@dataclass
class RunningBot:
    bot: Bot
    task: asyncio.Task[None]
    stop: asyncio.Event

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 15)


@asynccontextmanager
async def running_bot(env: dict[str, str], clock: Clock = utcnow) -> AsyncIterator[RunningBot]:
    settings = Settings.from_env(env)
    bot = Bot(settings, load_configured_playbooks(settings, env), clock=clock, lease_ttl=2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    ready = asyncio.create_task(bot.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises what stopped the bot
    running = RunningBot(bot, task, stop)
    try:
        await eventually(lambda: _is_leader(bot), 10, "the bot to lead and connect its websocket")
        yield running
    finally:
        if not task.done():
            await running.shutdown()


async def _is_leader(bot: Bot) -> bool:
    return bot.leadership.is_leader and bot.ws is not None and bot.ws.connected.is_set()


@dataclass
class Humans:
    sandbox: Sandbox
    drivers: dict[str, AsyncTypedDriver] = field(default_factory=dict)

    async def __call__(self, username: str) -> AsyncTypedDriver:
        if username not in self.drivers:
            driver = AsyncTypedDriver(
                {
                    "url": "127.0.0.1",
                    "port": self.sandbox.port,
                    "scheme": "http",
                    "token": self.sandbox.tokens[username],
                }
            )
            await driver.login()
            self.drivers[username] = driver
        return self.drivers[username]

    async def close(self) -> None:
        for driver in self.drivers.values():
            await driver.close()


async def slash(humans: Humans, username: str, channel_id: str, text: str) -> dict[str, Any]:
    """Run ``/sev1 <text>`` as ``username`` in a channel, as the web app does."""
    driver = await humans(username)
    body = {"channel_id": channel_id, "team_id": humans.sandbox.team.id, "command": f"/sev1 {text}"}
    result: dict[str, Any] = await driver.client.post("/api/v4/commands/execute", body)
    return result


async def react(humans: Humans, username: str, post_id: str, emoji: str) -> None:
    driver = await humans(username)
    user_id = humans.sandbox.users[username].id
    await driver.client.post(
        "/api/v4/reactions", {"user_id": user_id, "post_id": post_id, "emoji_name": emoji}
    )


async def unreact(humans: Humans, username: str, post_id: str, emoji: str) -> None:
    driver = await humans(username)
    user_id = humans.sandbox.users[username].id
    await driver.client.delete(f"/api/v4/users/{user_id}/posts/{post_id}/reactions/{emoji}")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


# -- fixtures (conftest.py re-exports them: mypy checks them here, where they have a module name of their own)


@pytest.fixture
async def humans(sandbox: Sandbox) -> AsyncIterator[Humans]:
    people = Humans(sandbox)
    yield people
    await people.close()


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    return fast_playbook(tmp_path / "playbooks", escalate_after="3s", repeat_every="3s")


@pytest.fixture
async def bot(sandbox: Sandbox, tmp_path: Path, playbook_dir: Path) -> AsyncIterator[RunningBot]:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbook_dir, free_port())
    async with running_bot(env) as running:
        yield running
