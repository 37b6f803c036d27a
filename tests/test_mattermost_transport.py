"""The driver's client on aiohttp: what goes on the wire, what comes back, and how failures map.

Run against a small aiohttp server on 127.0.0.1 that records each request, mostly through ``MattermostAPI``
so that the whole stack (driver, client, error translation) is what is tested.
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

from sev1bot.mattermost.errors import BadRequest, NotFound, RateLimited, Unreachable
from sev1bot.mattermost.inbound import serve
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.transport import AiohttpTransport

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
            error = {
                "id": "api.context.404.app_error",
                "message": "no",
                "request_id": "r",
                "status_code": 404,
            }
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


async def test_bodies_queries_and_odd_answers_match_the_driver(server: tuple[Server, str]) -> None:
    fake, url = server
    fake.routes["POST /api/v4/users/usernames"] = reply([BOT])
    fake.routes["GET /api/v4/commands"] = reply([])
    fake.routes["PUT /api/v4/channels/c1/patch"] = reply({"id": "c1", "name": "x", "type": "P"})

    async def charset_json(request: web.Request) -> web.StreamResponse:
        body = json.dumps({"id": "p1", "channel_id": "c1", "user_id": "u1"})
        return web.Response(text=body, headers={"Content-Type": "application/json; charset=utf-8"})

    fake.routes["GET /api/v4/posts/p1"] = charset_json
    async with MattermostAPI(url, TOKEN) as api:
        assert [u.username for u in await api.users_by_usernames(["sev1bot", "nobody"])] == ["sev1bot"]
        assert await api.list_commands("team1") == []
        await api.patch_channel("c1", header="h")
        assert (await api.get_post("p1")).id == "p1"  # JSON under another content type still reads
    bodies = {(m, p.split("?")[0]): b for m, p, _, b in fake.seen}
    assert json.loads(bodies[("POST", "/api/v4/users/usernames")]) == ["sev1bot", "nobody"]
    assert json.loads(bodies[("PUT", "/api/v4/channels/c1/patch")]) == {"header": "h"}  # no nulls sent
    query = next(p for m, p, _, _ in fake.seen if p.startswith("/api/v4/commands"))
    assert "team_id=team1" in query and "custom_only=true" in query


async def test_error_answers_become_our_errors(server: tuple[Server, str]) -> None:
    fake, url = server

    async def limited(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, text="limit exceeded\n", headers={"Retry-After": "7"})

    async def bad(request: web.Request) -> web.StreamResponse:
        error = {"id": "api.post.bad", "message": "Bad post.", "request_id": "r1", "status_code": 400}
        return web.Response(
            body=gzip.compress(json.dumps(error).encode()),
            status=400,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    fake.routes["GET /api/v4/posts/p1/reactions"] = limited
    fake.routes["POST /api/v4/posts"] = bad
    async with MattermostAPI(url, TOKEN, retries=0) as api:
        with pytest.raises(RateLimited) as limit:
            await api.reactions("p1")
        with pytest.raises(BadRequest) as refused:
            await api.create_post("c1", "x", pending_post_id="x:1")
    assert limit.value.retry_after == 7
    assert refused.value.error_id == "api.post.bad" and "Bad post." in str(refused.value)
