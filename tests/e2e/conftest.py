"""Fixtures for end-to-end tests: a fresh sandbox, a temporary database, the shipped playbook sped up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, running_bot

from sev1bot.sandbox.app import Sandbox


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
