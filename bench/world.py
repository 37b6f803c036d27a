"""The bench's world: the sandbox in this process, the bot as a subprocess, people and their websocket.

* :class:`CountingSandbox` is the sandbox with one extra middleware that counts every API request by who
  made it, so the bot's calls are counted on the server side without touching the bot.
* :class:`BotProcess` runs ``sev1bot run`` exactly as an operator would, and reads its memory and CPU time
  from ``/proc``.
* :class:`People` act over HTTP from 127.0.0.2, so that with rate limiting on (per remote address, as the
  server does) their requests do not eat the bot's allowance on 127.0.0.1.
* :class:`Listener` is a person's websocket: when each post was created or edited, as a client sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from sev1bot.playbook.loader import load_playbooks
from sev1bot.sandbox.app import Sandbox

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PLAYBOOKS = ROOT / "playbooks"
PEOPLE_ADDRESS = "127.0.0.2"
_ID = re.compile(r"/[a-z0-9]{26}(?=/|$)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingSandbox(Sandbox):
    """The sandbox, counting API requests per (username, method, route)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()  # (username, status)
        self.last_call: dict[str, float] = {}  # username -> perf_counter() of their latest request
        self._by_token = {token: name for name, token in self.tokens.items()}

    def build_app(self) -> web.Application:
        app = super().build_app()

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path
            if not path.startswith("/api/v4/") or path == "/api/v4/websocket":
                return await handler(request)
            token = request.headers.get("Authorization", "").partition(" ")[2]
            who = self._by_token.get(token, "?")
            self.calls[(who, request.method, _ID.sub("/{id}", path))] += 1
            self.last_call[who] = time.perf_counter()
            response = await handler(request)
            self.statuses[(who, response.status)] += 1
            return response

        app.middlewares.insert(0, count)
        return app

    def calls_by(self, username: str) -> int:
        return sum(n for (who, _, _), n in self.calls.items() if who == username)

    def calls_snapshot(self, username: str) -> Counter[str]:
        return Counter({f"{m} {p}": n for (who, m, p), n in self.calls.items() if who == username})

    def status_count(self, username: str, status: int) -> int:
        return self.statuses[(username, status)]

    async def quiet(self, username: str, for_s: float = 1.0, within: float = 60.0) -> float:
        """Wait until ``username`` made no request for ``for_s`` seconds; the time of their last one."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            last = self.last_call.get(username, 0.0)
            if time.perf_counter() - last >= for_s:
                return last
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{username} kept calling the API for {within} s")


class BotProcess:
    """``sev1bot run`` in a subprocess, with its settings in the environment and its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, profile: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.profile = profile  # run under yappi, statistics to this file (bench/yappi_bot.py)
        self.port = int(env["SEV1BOT_LISTEN"].rpartition(":")[2])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.spawned_at = 0.0

    async def start(self) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SEV1BOT_", "MATTERMOST_"))}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.spawned_at = time.perf_counter()
            command = ["-m", "bench.yappi_bot", str(self.profile)] if self.profile else ["-m", "sev1bot.cli"]
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *command,
                "run",
                env={**inherited, **self.env},
                cwd=str(ROOT),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the bot is not running")
        return self.proc.pid

    async def wait_ready(self, within: float = 30.0) -> dict[str, float]:
        """Poll /readyz; seconds from spawn until HTTP answered and until it was ready as the leader."""
        answered: float | None = None
        deadline = time.perf_counter() + within
        async with aiohttp.ClientSession() as http:
            while time.perf_counter() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"the bot exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        body = await resp.json()
                    now = time.perf_counter()
                    answered = answered or now
                    # Leading and caught up: a replica that has not yet taken the lease answers "ready" as
                    # a follower. (Before caught_up existed, ready meant the websocket was connected.)
                    leading = body.get("role") == "leader" and body.get("caught_up", True)
                    if body.get("ready") and leading:
                        return {"http_up_s": answered - self.spawned_at, "ready_s": now - self.spawned_at}
                except (aiohttp.ClientError, ValueError):
                    pass
                await asyncio.sleep(0.01)
        raise TimeoutError(f"the bot was not ready within {within} s; see {self.log_path}")

    def memory_mb(self) -> dict[str, float]:
        """Peak (VmHWM) and current (VmRSS) resident memory, in MB."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in {"VmHWM", "VmRSS"}:
                fields[key] = int(value.split()[0]) / 1024
        return {"peak_rss_mb": round(fields["VmHWM"], 1), "rss_mb": round(fields["VmRSS"], 1)}

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    async def stop(self) -> int:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc and self.proc.returncode is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            log.warning("the bot did not stop within 20 s; killing it")
            self.proc.kill()
            return await self.proc.wait()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)


class People:
    """Humans acting over the REST API, from 127.0.0.2 (their own rate-limit bucket)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        connector = aiohttp.TCPConnector(local_addr=(PEOPLE_ADDRESS, 0), limit=200)
        self.http = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        await self.http.close()

    async def call(self, username: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.sandbox.tokens[username]}"}
        async with self.http.request(method, self.sandbox.url + path, json=body, headers=headers) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path} as {username}: HTTP {resp.status}: {text[:200]}")
            return json.loads(text) if text else None

    async def slash(self, username: str, channel_id: str, text: str) -> Any:
        body = {"channel_id": channel_id, "team_id": self.sandbox.team.id, "command": f"/sev1 {text}"}
        return await self.call(username, "POST", "/api/v4/commands/execute", body)

    async def react(self, username: str, post_id: str, emoji: str) -> None:
        user_id = self.sandbox.users[username].id
        body = {"user_id": user_id, "post_id": post_id, "emoji_name": emoji}
        await self.call(username, "POST", "/api/v4/reactions", body)

    async def unreact(self, username: str, post_id: str, emoji: str) -> None:
        user_id = self.sandbox.users[username].id
        await self.call(username, "DELETE", f"/api/v4/users/{user_id}/posts/{post_id}/reactions/{emoji}")


Predicate = Callable[[str, dict[str, Any]], bool]


class Listener:
    """A person's websocket. Records when posts appear and change; callers wait on futures of the time."""

    def __init__(self, sandbox: Sandbox, username: str) -> None:
        self.sandbox = sandbox
        self.username = username
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(PEOPLE_ADDRESS, 0)))
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._edits: dict[str, list[asyncio.Future[float]]] = {}
        self._watchers: list[tuple[Predicate, asyncio.Future[float]]] = []
        self.events: Counter[str] = Counter()
        self._closing = False

    async def start(self) -> None:
        headers = {"Authorization": f"Bearer {self.sandbox.tokens[self.username]}"}
        self._ws = await self.http.ws_connect(self.sandbox.ws_url, headers=headers, max_msg_size=0)
        self._task = asyncio.create_task(self._read(self._ws), name=f"listener-{self.username}")

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.http.close()

    def next_edit(self, post_id: str) -> asyncio.Future[float]:
        """The time of the next ``post_edited`` of ``post_id``."""
        self._check()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._edits.setdefault(post_id, []).append(future)
        return future

    def when(self, predicate: Predicate) -> asyncio.Future[float]:
        """The time of the first event (name, data with ``post`` decoded) for which ``predicate`` holds."""
        self._check()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._watchers.append((predicate, future))
        return future

    def _check(self) -> None:
        if self._task is None or self._task.done():
            raise ConnectionError(f"{self.username}'s websocket is not connected")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._receive(ws)
        finally:
            if not self._closing:
                lost = ConnectionError(f"{self.username}'s websocket ended (close code {ws.close_code})")
                log.error("%s", lost)
                waiting = [f for fs in self._edits.values() for f in fs] + [f for _, f in self._watchers]
                for future in waiting:
                    if not future.done():
                        future.set_exception(lost)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            at = time.perf_counter()
            frame = json.loads(message.data)
            name = frame.get("event")
            if not name:
                continue
            self.events[name] += 1
            data = frame.get("data") or {}
            if isinstance(data.get("post"), str):
                data["post"] = json.loads(data["post"])
            if name == "post_edited":
                for future in self._edits.pop(data["post"]["id"], []):
                    if not future.done():
                        future.set_result(at)
            if self._watchers:
                keep = []
                for predicate, future in self._watchers:
                    if future.done():
                        continue
                    if predicate(name, data):
                        future.set_result(at)
                    else:
                        keep.append((predicate, future))
                self._watchers = keep


class World:
    """Everything a scenario needs: the sandbox, people, a listening websocket, the database, the bot."""

    def __init__(
        self,
        sandbox: CountingSandbox,
        workdir: Path,
        database_url: str,
        log_level: str,
        profile: Path | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.profile = profile
        self.workdir = workdir
        self.database_url = database_url
        self.log_level = log_level
        self.people = People(sandbox)
        self.listener = Listener(sandbox, "alice")
        self.playbook = load_playbooks(SHIPPED_PLAYBOOKS)["mme-sev1"]
        self.bot: BotProcess | None = None
        self._bots = 0

    def bot_env(self, port: int) -> dict[str, str]:
        return {
            "MATTERMOST_URL": self.sandbox.url,
            "MATTERMOST_TOKEN": self.sandbox.tokens["sev1bot"],
            "MATTERMOST_TEAM": self.sandbox.team.name,
            "SEV1BOT_DATABASE_URL": self.database_url,
            "SEV1BOT_LISTEN": f"127.0.0.1:{port}",
            "SEV1BOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SEV1BOT_PLAYBOOKS": str(SHIPPED_PLAYBOOKS),
            "SEV1BOT_LOG_LEVEL": self.log_level,
        }

    async def start_bot(self) -> dict[str, float]:
        """Start a bot process and wait until it is ready; returns its start-up timings."""
        if self.bot is not None:
            raise RuntimeError("a bot is already running")
        self._bots += 1
        profile = self.profile.with_suffix(f".{self._bots}.txt") if self.profile else None
        self.bot = BotProcess(self.bot_env(free_port()), self.workdir / f"bot-{self._bots}.log", profile)
        await self.bot.start()
        try:
            return await self.bot.wait_ready()
        except BaseException:
            await self.stop_bot()
            raise

    async def stop_bot(self) -> None:
        if self.bot is not None:
            code = await self.bot.stop()
            if code not in (0, -signal.SIGTERM):
                log.warning("the bot exited with %s; see %s", code, self.bot.log_path)
            self.bot = None

    def require_bot(self) -> BotProcess:
        if self.bot is None:
            raise RuntimeError("no bot is running")
        return self.bot


@contextlib.asynccontextmanager
async def open_world(
    workdir: Path, database_url: str | None = None, log_level: str = "WARNING", profile: Path | None = None
) -> AsyncIterator[World]:
    """A sandbox with a listener, and a fresh SQLite database in ``workdir`` (which must exist) unless a URL
    is given."""
    url = database_url or f"sqlite:///{workdir / 'sev1bot.db'}"
    async with CountingSandbox.running() as sandbox:
        assert isinstance(sandbox, CountingSandbox)
        world = World(sandbox, workdir, url, log_level, profile)
        await world.listener.start()
        try:
            yield world
        finally:
            await world.stop_bot()
            await world.listener.close()
            await world.people.close()
