"""A Mattermost server that stops answering without closing anything, and one that comes back.

A stopped server process (SIGSTOP), a hung VM or a network path that drops every packet leaves the bot's
TCP connections open: only the bot's own pings can tell. The server sits behind a TCP proxy
(``tests/e2e/tcpproxy.py``) whose ``freeze()`` forwards nothing and leaves new connections hanging, which
is what a client of a SIGSTOPped process sees, and whose ``cut()``/``restore()`` make it unreachable and
reachable again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import bot_env, eventually, free_port, running_bot
from tcpproxy import TcpProxy

from sev1bot.mattermost.ws import ConnectionState, WebSocketClient
from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e

NOTICED_WITHIN = 15.0  # documented in docs/reliability.md


@pytest.fixture
async def proxy(sandbox: Sandbox) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", sandbox.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def readyz(session: aiohttp.ClientSession, base_url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(base_url + "/readyz") as response:
        return response.status, await response.json()


async def test_a_frozen_server_is_noticed_within_15_seconds_and_the_bot_recovers(
    sandbox: Sandbox, proxy: TcpProxy, tmp_path: Path, playbook_dir: Path
) -> None:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'bot.db'}", playbook_dir, free_port())
    env["MATTERMOST_URL"] = f"http://127.0.0.1:{proxy.port}"
    async with running_bot(env) as running, aiohttp.ClientSession() as session:
        url = running.bot.url
        assert url is not None
        assert (await readyz(session, url))[0] == 200

        proxy.freeze()
        frozen_at = time.monotonic()

        async def not_ready() -> dict[str, Any] | None:
            status, body = await readyz(session, url)
            return body if status == 503 else None

        body = await eventually(not_ready, NOTICED_WITHIN, "/readyz to say the websocket is down")
        noticed = time.monotonic() - frozen_at
        print(f"a frozen server was noticed after {noticed:.1f}s")
        assert body["websocket"] in {"reconnecting", "failed"}, body
        ws = running.bot.ws
        assert ws is not None and ws.counters.ping_timeouts == 1
        assert (ws.last_error or "").startswith("no answer to a ping within"), ws.last_error

        proxy.thaw()
        thawed_at = time.monotonic()

        async def ready() -> bool:
            return (await readyz(session, url))[0] == 200

        await eventually(ready, 30, "/readyz to be 200 again once the server answers")
        print(f"ready again {time.monotonic() - thawed_at:.1f}s after the server answered again")


async def test_after_an_outage_the_websocket_reconnects_as_soon_as_the_server_answers(
    sandbox: Sandbox, proxy: TcpProxy
) -> None:
    """The backoff after failed attempts can be long (full jitter, up to 30 s); a server that answers again
    must not wait for it. A seeded backoff makes the wait without the probe certain: 9.6 s here."""
    seed, cap = 2, 10.0
    backoff = random.Random(seed).uniform(0, cap)
    assert backoff > 6, "the seed must make the backoff long enough to tell the difference"

    async def nothing(*_: Any) -> None:
        pass

    await proxy.cut()  # the server is down (restarting) when the client tries
    client = WebSocketClient(
        f"http://127.0.0.1:{proxy.port}",
        sandbox.tokens["sev1bot"],
        nothing,
        nothing,
        backoff_base=cap,
        backoff_cap=cap,
        rng=random.Random(seed),
    )
    task = asyncio.create_task(client.run())
    try:
        await eventually(
            lambda: _async(client.state is ConnectionState.RECONNECTING), 5, "the first attempt to fail"
        )
        assert (client.last_error or "").startswith("cannot connect"), client.last_error
        await proxy.restore()
        restored_at = time.monotonic()
        await asyncio.wait_for(client.connected.wait(), timeout=backoff)
        took = time.monotonic() - restored_at
        print(f"reconnected {took:.1f}s after the server answered again (the backoff was {backoff:.1f}s)")
        assert took < 3.0, "reconnects within about a second (probe_every) of the server answering"
    finally:
        await client.close()
        await task


async def _async(value: bool) -> bool:
    return value
