"""``sev1bot run`` as a real subprocess, for the tests that kill it (SIGKILL) or run two replicas.

The sandbox stays in the test process; the bot process reaches it over 127.0.0.1 like any client. Output
(stdout and stderr together) goes to a file, so a chatty DEBUG log can never block the child on a full pipe,
and the tests can read it afterwards (the secrets test greps it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit import eventually

ROOT = Path(__file__).resolve().parents[2]


def child_env(bot_settings: dict[str, str]) -> dict[str, str]:
    """The test's environment without any sev1bot/Mattermost setting of its own, plus ``bot_settings``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SEV1BOT_", "MATTERMOST_"))}
    return {**base, "PYTHONUNBUFFERED": "1", **bot_settings}


@dataclass
class BotProcess:
    """One ``python -m sev1bot.cli run`` child. ``port`` is its SEV1BOT_LISTEN port."""

    name: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0
    args: tuple[str, ...] = ()  # after ``run``, e.g. ("--log-json",)
    paused: bool = False
    _log: Any = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.env["SEV1BOT_LISTEN"].rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        self.runs += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== {self.name} run {self.runs} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sev1bot.cli", "run", *self.args],
            env=child_env(self.env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def health(self) -> dict[str, Any] | None:
        """The /healthz JSON, or None while the process does not answer."""
        return await asyncio.to_thread(_get_json, f"{self.url}/healthz")

    async def wait_healthy(self, within: float = 20.0, role: str | None = None) -> dict[str, Any]:
        """Wait until it serves HTTP and knows its command token (and, with ``role``, has that role)."""

        async def healthy() -> dict[str, Any] | None:
            if not self.alive():  # not an AssertionError: that would only mean "not yet"
                raise RuntimeError(
                    f"{self.name} exited with {self.proc and self.proc.returncode}:\n{self.tail()}"
                )
            health = await self.health()
            return health if health and health.get("command_token") and _has_role(health, role) else None

        as_role = f" as {role}" if role else ""
        try:
            return await eventually(healthy, within, f"{self.name} to be healthy{as_role}", every=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its health: {await self.health()}\n{self.tail()}") from None

    def pause(self) -> None:
        """SIGSTOP: the process stops where it is (mid-request, mid-pass) and keeps its sockets open, as in
        a long GC pause, a hung VM or a debugger; the kernel still accepts what peers send it."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT: carry on from where ``pause`` stopped it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, the lease is not released, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    async def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL if it does not stop in time); the exit code.

        Waits in a thread: the sandbox shares this event loop, and the bot talks to it while shutting down.
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if self.paused:
                self.resume()  # a stopped process handles SIGTERM only once it runs again
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)
        self._close_log()
        return proc.returncode

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _has_role(health: dict[str, Any], role: str | None) -> bool:
    """A leader counts once its websocket is connected."""
    if role is None:
        return True
    return health.get("role") == role and (role != "leader" or health.get("websocket") == "connected")


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read() or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
