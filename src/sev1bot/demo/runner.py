"""``sev1bot demo``: the sandbox, the real bot and a scripted Sev 1, all on free local ports.

Everything runs in this process as asyncio tasks but talks over real sockets: the sandbox serves the
Mattermost API and websocket on 127.0.0.1, the bot is the same ``Bot`` ``sev1bot run`` starts (temporary
SQLite database, demo copy of the playbook), and the responders and the person watching use the same API
calls as the Mattermost app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from sev1bot import logs
from sev1bot.config import ConfigError, Settings
from sev1bot.demo.observer import DemoTimeout, Watcher
from sev1bot.demo.playbook import (
    DemoPlaybook,
    DemoSetupError,
    Timings,
    find_shipped_playbook,
    write_demo_playbook,
)
from sev1bot.demo.screen import Screen
from sev1bot.demo.script import PEOPLE, Responders, Scenario
from sev1bot.mattermost.errors import MattermostError
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.cli import banner
from sev1bot.sandbox.seed import SeedError
from sev1bot.service.app import Bot, load_configured_playbooks
from sev1bot.store.errors import StoreError

log = logging.getLogger(__name__)

BOT_START = 20.0  # seconds for the bot to connect, lead and open its websocket


@dataclass(frozen=True)
class Options:
    speed: float = 1.0
    keep_running: bool = False
    seed: str | None = None
    verbose: bool = False
    log_json: bool = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoNoise(logging.Filter):
    """Drops the two warnings that are wrong in the demo: the sandbox does call loopback URLs, and the
    bot stepping down as leader is how the demo ends."""

    EXPECTED = ("Mattermost refuses to call http://127.0.0.1:", "is no longer the leader: shutting down")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.EXPECTED)


def main(options: Options) -> int:
    # After the imports above: the driver sets its own logger's level when it is first imported.
    logs.configure("INFO" if options.verbose else "WARNING", options.log_json)
    if not options.verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(DemoNoise())
    try:
        return asyncio.run(play(options))
    except (DemoSetupError, SeedError) as exc:
        print(f"sev1bot demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def play(options: Options, screen: Screen | None = None) -> int:
    timings = Timings.for_speed(options.speed)
    screen = screen or Screen()
    with tempfile.TemporaryDirectory(prefix="sev1bot-demo-") as tmp:
        demo = write_demo_playbook(find_shipped_playbook(), Path(tmp) / "playbooks", timings)
        async with Sandbox.running(options.seed) as sandbox:
            for token in [*sandbox.tokens.values(), sandbox.admin_token]:
                logs.REDACTOR.add(token)
            missing = [name for name in PEOPLE if name not in sandbox.users]
            if missing:
                raise DemoSetupError(f"the sandbox seed lacks the demo's people: {', '.join(missing)}")
            return await _with_bot(sandbox, demo, timings, screen, options, Path(tmp))


async def _with_bot(
    sandbox: Sandbox, demo: DemoPlaybook, timings: Timings, screen: Screen, options: Options, tmp: Path
) -> int:
    bot, settings = _demo_bot(sandbox, demo, tmp)
    _show_title(screen, sandbox, demo, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop), name="sev1bot")
    watchers: list[Watcher] = []
    people = _responders(sandbox, screen)
    try:
        await _bot_ready(bot, task)
        alice, ceo = await _watchers(sandbox, people, screen, checklist_size=len(demo.playbook.keys()))
        watchers += [alice, ceo]
        for watcher in watchers:
            await watcher.start()
        scenario = Scenario(people, alice, ceo, timings, sandbox.channel("town-square").id)
        await scenario.play()
        screen.summary(summary_rows(scenario, bot, screen.elapsed()))
        if options.keep_running:
            await _keep_running(sandbox, screen, scenario)
        return 0
    except DemoTimeout as exc:
        screen.failure(f"{exc}.\nRun with --verbose to see the bot's log.")
        return 1
    except (ConfigError, MattermostError, StoreError) as exc:
        screen.failure(f"the bot stopped: {exc}")
        return 1
    except httpx.HTTPError as exc:
        screen.failure(f"a responder's request to the sandbox failed: {exc}")
        return 1
    finally:
        for watcher in watchers:
            await watcher.close()
        await people.close()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


def _demo_bot(sandbox: Sandbox, demo: DemoPlaybook, tmp: Path) -> tuple[Bot, Settings]:
    """The bot ``sev1bot run`` starts, set up for the sandbox, a temporary SQLite file and a free port."""
    port = free_port()
    env = {
        "MATTERMOST_URL": sandbox.url,
        "MATTERMOST_TOKEN": sandbox.tokens[sandbox.bot.username],
        "MATTERMOST_TEAM": sandbox.team.name,
        "SEV1BOT_DATABASE_URL": f"sqlite:///{tmp / 'sev1bot.db'}",
        "SEV1BOT_LISTEN": f"127.0.0.1:{port}",
        "SEV1BOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SEV1BOT_PLAYBOOKS": str(demo.directory),
    }
    settings = Settings.from_env(env)
    return Bot(settings, load_configured_playbooks(settings, env)), settings


def _show_title(screen: Screen, sandbox: Sandbox, demo: DemoPlaybook, settings: Settings) -> None:
    screen.title(
        f'sev1bot demo: a scripted Sev 1 on the "{demo.playbook.title}" playbook',
        [
            f"Mattermost sandbox: {sandbox.url} (team {sandbox.team.name}); sev1bot: {settings.public_url},"
            " temporary SQLite database.",
            "The responders act through the Mattermost API as their apps do; below is @alice's view.",
            "Time is compressed in a demo copy of the playbook:",
            *(f"  {change}" for change in demo.changes),
        ],
    )


def _responders(sandbox: Sandbox, screen: Screen) -> Responders:
    return Responders(
        "127.0.0.1",
        sandbox.port,
        sandbox.team.id,
        sandbox.tokens,
        {name: user.id for name, user in sandbox.users.items()},
        screen,
    )


async def _watchers(
    sandbox: Sandbox, people: Responders, screen: Screen, checklist_size: int
) -> tuple[Watcher, Watcher]:
    """@alice's view of the incident channel, and the CEO's, who follows his direct messages."""
    alice = Watcher(
        sandbox.url,
        await people.app("alice"),
        sandbox.tokens["alice"],
        "alice",
        sandbox.bot.username,
        screen,
        checklist_size=checklist_size,
    )
    ceo = Watcher(
        sandbox.url,
        await people.app("ian.tien"),
        sandbox.tokens["ian.tien"],
        "ian.tien",
        sandbox.bot.username,
        screen,
        follow_incident=False,
        follow_dms=True,
    )
    return alice, ceo


async def _bot_ready(bot: Bot, task: asyncio.Task[None]) -> None:
    """Wait until the bot leads and listens on its websocket; raise what stopped it if it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOT_START
    while loop.time() < deadline:
        if task.done():
            task.result()
            raise DemoTimeout("the bot stopped while starting")
        if bot.leadership.is_leader and bot.ws is not None and bot.ws.connected.is_set():
            return
        await asyncio.sleep(0.05)
    raise DemoTimeout(f"the bot was not ready within {BOT_START:.0f}s")


async def _keep_running(sandbox: Sandbox, screen: Screen, scenario: Scenario) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    api, channel = f"{sandbox.url}/api/v4", scenario.channel()
    screen.console.print(
        "\nThe sandbox and the bot keep running. Point your own client at the sandbox, e.g.\n"
        f"  curl -H 'Authorization: Bearer <token>' {api}/channels/{channel}/posts\n"
        f"reads the incident channel ({scenario.where()}), and POST {api}/commands/execute\n"
        f'with {{"channel_id": "{channel}", "command": "/sev1 status"}} runs a command.',
        highlight=False,
        soft_wrap=True,  # keep URLs and tokens whole for copying
    )
    screen.console.print(banner(sandbox), highlight=False, markup=False, soft_wrap=True)
    await stop.wait()


def summary_rows(scenario: Scenario, bot: Bot, took: float) -> list[tuple[str, str]]:
    """The one-screen summary; every claim is checked against what @alice's app saw."""
    alice, ceo, people = scenario.alice, scenario.ceo, scenario.people
    assert alice.incident is not None
    items = [post.message for post in alice.of_kind("item")]
    done = sum("done by" in m for m in items)
    skipped = sum("skipped by" in m for m in items)
    marks = {**alice.milestones, **({"dm": ceo.milestones["dm"]} if "dm" in ceo.milestones else {})}
    labels = {
        "channel": "channel",
        "board": "status board",
        "checklist": "checklist",
        "checked": "first check",
        "ping": "CEO ping",
        "dm": "DM",
        "resolved": "resolved",
        "reminder": "first reminder",
    }
    seen_at = " · ".join(f"{label} {marks[key]:.1f}s" for key, label in labels.items() if key in marks)
    pings, resolutions = alice.of_kind("ping"), alice.of_kind("resolution")
    resolved_at = resolutions[0].create_at if resolutions else None
    late = [p for p in pings if resolved_at is not None and p.create_at > resolved_at]
    stopped = "none after the resolution" if resolved_at and not late else f"{len(late)} after the resolution"
    reminders = [post.message for post in alice.of_kind("reminder")]
    retro_late = any("Complete incident retrospective" in m and "overdue" in m for m in reminders)
    retro = "8.1 was checked in time: no overdue reminder for it" if not retro_late else "8.1 went overdue"
    return [
        ("Incident", f"~{alice.incident.name} · {alice.incident.display_name}"),
        ("Members", " ".join(f"@{name}" for name in alice.incident.members)),
        (
            "Checklist",
            f"{done} of {len(items)} items done, {skipped} skipped, {len(items) - done - skipped} open",
        ),
        (
            "Escalation",
            f"{len(pings)} CEO ping(s) in the channel, {len(ceo.pinged_by_dm)} DM(s) to @ian.tien; {stopped}",
        ),
        ("Resolution", f"{len(resolutions)} resolution post(s)"),
        ("Deadlines", f"{len(reminders)} reminders after the resolution (due soon, overdue); {retro}"),
        ("Seen at", seen_at),
        (
            "Real paths",
            f"{people.commands} /sev1 commands, {people.reactions} reactions through mattermostautodriver; "
            f"the bot made {bot.api.calls} API calls; @alice's app got {alice.events} websocket events",
        ),
        ("Took", f"{took:.1f} s"),
    ]
