"""A reverse proxy in front of the sandbox that duplicates and reorders websocket events (fault 6).

REST requests pass through unchanged (``requests`` lists them: which client did what, when several bots
share one account). Websocket frames from the server go through ``mode``:

* ``clean``: unchanged.
* ``wire``: every reaction event is sent twice, and each pair of reaction events is swapped, seq numbers
  and all, as a broken network or middlebox would. The client's seq check must notice and resync.
* ``app``: the same duplicates and swaps, but renumbered so that the seq check passes: the duplicates
  and the reordering reach the bot's event handling itself, as they would from a server that replays
  events after a failover.

A held-back event is released after ``hold`` seconds if no other reaction event follows it. ``budget``
limits how many pairs are tampered with (then frames pass clean): in ``wire`` mode the server replays the
swapped events on resume, and tampering with the replay forever would never let the client catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
from aiohttp import web

Mode = Literal["clean", "wire", "app"]
_HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "upgrade", "content-length"})
_REACTIONS = frozenset({"reaction_added", "reaction_removed"})


class TamperingProxy:
    def __init__(
        self, upstream: str, mode: Mode = "clean", hold: float = 0.3, budget: int | None = None
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode: Mode = mode
        self.hold = hold
        self.budget = budget
        self.url = ""
        self.duplicated = 0  # reaction events sent twice
        self.swapped = 0  # pairs of reaction events sent in reverse order
        self.requests: list[tuple[str, str]] = []  # (method, path) of each REST request, as it arrived
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    @asynccontextmanager
    async def running(
        cls, upstream: str, mode: Mode = "clean", budget: int | None = None
    ) -> AsyncIterator[TamperingProxy]:
        proxy = cls(upstream, mode, budget=budget)
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", proxy._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        proxy.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        proxy._session = aiohttp.ClientSession(auto_decompress=False)
        try:
            yield proxy
        finally:
            await runner.cleanup()
            await proxy._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/api/v4/websocket":
            return await self._websocket(request)
        assert self._session is not None
        self.requests.append((request.method, request.path))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            return web.Response(status=upstream.status, body=body, headers=out)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {"Authorization": request.headers.get("Authorization", "")}
        target = self.upstream.replace("http", "ws", 1) + request.path_qs
        try:
            upstream = await self._session.ws_connect(target, headers=headers, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status)
        client = web.WebSocketResponse(autoping=True)
        await client.prepare(request)
        down = asyncio.ensure_future(self._downstream(upstream, client))
        try:
            async for msg in client:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(msg.data)
        finally:
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await down
            await upstream.close()
        return client

    async def _downstream(  # noqa: C901  one loop owns the held frame and the renumbering; a split scatters it
        self, upstream: aiohttp.ClientWebSocketResponse, client: web.WebSocketResponse
    ) -> None:
        held: dict[str, Any] | None = None
        renumber = 1  # app mode: the next seq the client expects after hello
        loop = asyncio.get_running_loop()
        held_since = 0.0

        async def send(frame: dict[str, Any]) -> None:
            nonlocal renumber
            if self.mode == "app" and frame.get("event") != "hello" and "seq" in frame:
                frame = {**frame, "seq": renumber}
                renumber += 1
            await client.send_str(json.dumps(frame))

        while not client.closed:
            timeout = None if held is None else max(0.0, held_since + self.hold - loop.time())
            try:
                msg = await upstream.receive(timeout=timeout)
            except TimeoutError:
                if held is not None:
                    await send(held)
                    held = None
                continue
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame.get("event") == "hello":
                renumber = 1
            if self.mode == "clean" or self.budget == 0 or frame.get("event") not in _REACTIONS:
                if held is not None:  # keep non-reaction traffic behind the held event, as it was
                    await send(held)
                    held = None
                await send(frame)
                continue
            if held is None:
                held, held_since = frame, loop.time()
                continue
            # Two reaction events: send the later one first, and each of them twice.
            self.swapped += 1
            self.duplicated += 2
            if self.budget is not None:
                self.budget -= 1
            for item in (frame, frame, held, held):
                await send(item)
            held = None
        await client.close()
