"""``sev1bot run``: read the settings, start the bot, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from sev1bot import logs
from sev1bot.config import ConfigError, Settings
from sev1bot.mattermost.errors import MattermostError
from sev1bot.playbook.problems import PlaybookError
from sev1bot.service.app import Bot, load_configured_playbooks
from sev1bot.store.errors import StoreError

log = logging.getLogger(__name__)


async def serve(bot: Bot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bot.run(stop)


def run(config_file: str | None, log_json: bool) -> int:
    try:
        settings = Settings.from_env(os.environ, config_file)
    except ConfigError as exc:
        print(f"sev1bot: {exc}", file=sys.stderr)
        return 2
    logs.REDACTOR.add(settings.mattermost_token.get_secret_value())
    if settings.command_token:
        logs.REDACTOR.add(settings.command_token.get_secret_value())
    logs.configure(settings.log_level, log_json)
    try:
        playbooks = load_configured_playbooks(settings, {**os.environ, **settings.role_overrides})
    except PlaybookError as exc:
        print(f"sev1bot: the playbooks in {settings.playbooks} have problems:\n{exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(Bot(settings, playbooks)))
    except (ConfigError, MattermostError, StoreError) as exc:
        log.error("sev1bot stopped: %s", exc)
        return 1
    return 0
