"""``sev1bot run`` as an operator starts it: clear messages and non-zero exits for bad settings."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from harness import bot_env, free_port

from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def run_cli(env: dict[str, str], limit: float = 20) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SEV1BOT_", "MATTERMOST_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sev1bot.cli", "run",
        env={**clean, **env}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode()


async def test_missing_settings_are_named_in_one_message() -> None:
    code, out = await run_cli({"MATTERMOST_URL": "not a url"})
    assert code == 2
    for name in ("MATTERMOST_URL", "MATTERMOST_TOKEN", "MATTERMOST_TEAM", "SEV1BOT_PUBLIC_URL"):
        assert name in out
    assert "Traceback" not in out


async def test_a_wrong_token_stops_the_bot_with_a_clear_error_that_does_not_show_the_token(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'db.sqlite'}", ROOT / "playbooks", free_port())
    env["MATTERMOST_TOKEN"] = "wrongtoken0123456789abcdef"
    code, out = await run_cli(env)
    assert code == 1, out
    # One line, naming the call, the server's answer and its status and error id.
    stopped = [line for line in out.splitlines() if "sev1bot stopped: " in line]
    assert len(stopped) == 1, out
    reason = stopped[0].split("sev1bot stopped: ", 1)[1]
    assert reason.startswith("me: Invalid or expired session, please login again."), reason
    assert "(HTTP 401, api.context.session_expired.app_error)" in reason, reason
    assert "wrongtoken0123456789abcdef" not in out
    assert "Traceback" not in out
