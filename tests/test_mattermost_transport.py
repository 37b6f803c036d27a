"""The aiohttp transport under the driver: what goes on the wire, what comes back, and how failures map.

Run against a small aiohttp server on 127.0.0.1 that records each request, through ``MattermostAPI`` so
that the whole stack (driver, httpx client, transport, error translation) is what is tested.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from sev1bot.mattermost.errors import NotFound, Unreachable
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.transport import AiohttpTransport
from sev1bot.service.http import serve

TOKEN = "bottoken0123456789abcdefgh"
BOT = {"id": "botuserid0123456789abcdefg", "username": "sev1bot"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.routes: dict[str, Handler] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        handler = self.routes.get(f"{request.method} {request.path}")
        if handler is None:
            error = {"id": "api.context.404.app_error", "message": "no", "request_id": "r", "status_code": 404}
            return web.json_response(error, status=404)
        return await handler(request)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    fake = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    async with serve(app, "127.0.0.1", 0) as url:
        yield fake, url


def reply(data: Any, status: int = 200, gzipped: bool = False) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raw = json.dumps(data).encode()
        headers = {"Content-Type": "application/json"}
        if gzipped:
            raw = gzip.compress(raw)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=raw, status=status, headers=headers)

    return handler


async def test_requests_carry_the_token_and_json_and_answers_decode(server: tuple[Server, str]) -> None:
    fake, url = server
    post = {"id": "p1", "channel_id": "c1", "user_id": BOT["id"], "message": "hi ✅"}
    fake.routes["POST /api/v4/posts"] = reply(post, 201)
    fake.routes["GET /api/v4/users/me"] = reply(BOT, gzipped=True)
    async with MattermostAPI(url, TOKEN) as api:
        assert (await api.me()).username == "sev1bot"  # a gzip answer arrives decoded, once
        made = await api.create_post("c1", "hi ✅", pending_post_id="x:1")
    assert made.id == "p1" and made.message == "hi ✅"
    method, path, headers, body = fake.seen[-1]
    assert (method, path) == ("POST", "/api/v4/posts")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body)["message"] == "hi ✅"
    assert fake.seen[0][2].get("Accept-Encoding", "").startswith("gzip")


async def test_query_strings_and_errors_pass_through(server: tuple[Server, str]) -> None:
    fake, url = server
    fake.routes["GET /api/v4/channels/c1/posts"] = reply({"order": [], "posts": {}})
    async with MattermostAPI(url, TOKEN) as api:
        assert await api.channel_posts("c1", since=1234) == []
        with pytest.raises(NotFound):
            await api.get_post("missing")
    assert fake.seen[0][1] == "/api/v4/channels/c1/posts?since=1234"


async def test_a_slow_answer_times_out_as_maybe_sent(server: tuple[Server, str]) -> None:
    fake, url = server

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response(BOT)

    fake.routes["POST /api/v4/commands"] = slow
    async with MattermostAPI(url, TOKEN, request_timeout=0.2, retries=0) as api:
        with pytest.raises(Unreachable) as caught:
            await api.create_command("team1", "sev1", "http://bot/x")
    assert caught.value.maybe_sent


async def test_a_dropped_connection_is_a_read_error(server: tuple[Server, str]) -> None:
    fake, url = server

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()

    fake.routes["GET /api/v4/users/me"] = drop
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ReadError):
            await client.get(url + "/api/v4/users/me")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serve(web.Application(), "127.0.0.1", 0) as url:
        pass  # the port is free again
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/api/v4/users/me")


async def test_closing_the_api_closes_the_session(server: tuple[Server, str]) -> None:
    fake, url = server
    fake.routes["GET /api/v4/users/me"] = reply(BOT)
    transport = AiohttpTransport()
    client = httpx.AsyncClient(transport=transport)
    await client.get(url + "/api/v4/users/me")
    session = transport._session
    assert session is not None and not session.closed
    await client.aclose()
    assert session.closed
