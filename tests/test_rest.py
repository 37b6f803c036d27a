"""MattermostAPI over real sockets.

Part one drives it against a scripted stand-in server that fails on cue (5xx, 429, dropped connections,
slow answers, old-server errors), to check retries, de-duplication and error mapping. Part two runs it
against the sandbox, the Mattermost-compatible server of this project.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from sev1bot.mattermost.errors import (
    BadRequest,
    Forbidden,
    MattermostError,
    NotFound,
    RateLimited,
    RegistrationError,
    ServerError,
    Unauthorized,
    Unreachable,
)
from sev1bot.mattermost.inbound import serve
from sev1bot.mattermost.rest import CHANNEL_EXISTS, DELIVERY_PROP, MattermostAPI
from testkit import eventually

TOKEN = "bottoken0123456789abcdefgh"
BOT_ID = "botuserid0123456789abcdefg"
FAST: dict[str, Any] = {"backoff": 0.01, "max_backoff": 0.05, "request_timeout": 2.0}  # API keywords

Reply = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


def user(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "username": name, "first_name": "", "last_name": "", "is_bot": uid == BOT_ID}


def app_error(status: int, error_id: str, message: str) -> web.Response:
    body = {
        "id": error_id,
        "message": message,
        "detailed_error": "",
        "request_id": "req1",
        "status_code": status,
    }
    return json_response(body, status)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with exactly ``Content-Type: application/json``, as the real server sends it."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeMattermost:
    """Answers from a script: per "METHOD /path", a queue of replies, then the default reply."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    defaults: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # pending_post_id -> post

    def on(self, route: str, *replies: Reply) -> None:
        self.script.setdefault(route, []).extend(replies)

    def calls(self, route: str) -> list[Seen]:
        return [s for s in self.seen if f"{s.method} {s.path}" == route]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return app_error(401, "api.context.session_expired.app_error", "Invalid or expired session")
        route = f"{request.method} {request.path.removeprefix('/mm')}"
        queue = self.script.get(route)
        reply = queue.pop(0) if queue else self.defaults.get(route)
        if reply is None:
            return app_error(404, "api.context.404.app_error", "Sorry, we could not find the page.")
        return await reply(request, body)


def ok(data: Any, status: int = 200) -> Reply:
    async def reply(request: web.Request, body: Any) -> web.StreamResponse:
        return json_response(data, status)

    return reply


def fail(status: int, error_id: str = "app.error", message: str = "failed") -> Reply:
    async def reply(request: web.Request, body: Any) -> web.StreamResponse:
        return app_error(status, error_id, message)

    return reply


def after(first: Reply, then: Reply) -> Reply:
    """Do ``first`` (e.g. really create the post), but answer with ``then`` (e.g. a 502)."""

    async def reply(request: web.Request, body: Any) -> web.StreamResponse:
        await first(request, body)
        return await then(request, body)

    return reply


def slow(seconds: float, then: Reply) -> Reply:
    async def reply(request: web.Request, body: Any) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await then(request, body)

    return reply


async def drop(request: web.Request, body: Any) -> web.StreamResponse:
    """Close the connection without an answer (after reading the request)."""
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.05)
    return web.Response()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeMattermost, str]]:
    server = FakeMattermost()

    async def create_post(request: web.Request, body: Any) -> web.StreamResponse:
        pending = body.get("pending_post_id", "")
        if pending not in server.posts:  # dedupes like the real server
            server.posts[pending] = {"id": f"post{len(server.posts) + 1}", "user_id": BOT_ID, **body}
        return json_response(server.posts[pending], 201)

    server.defaults.update(
        {
            "GET /api/v4/users/me": ok(user(BOT_ID, "sev1bot")),
            "POST /api/v4/posts": create_post,
        }
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.dispatch)
    async with serve(app, "127.0.0.1", 0) as url:
        yield server, url


@pytest.fixture
async def api(fake: tuple[FakeMattermost, str]) -> AsyncIterator[MattermostAPI]:
    async with MattermostAPI(fake[1], TOKEN, **FAST) as client:
        yield client


async def test_reads_retry_5xx_and_count_calls(fake: tuple[FakeMattermost, str], api: MattermostAPI) -> None:
    server, _ = fake
    server.on("GET /api/v4/teams/name/ops", fail(503), fail(500), ok({"id": "team1", "name": "ops"}))
    team = await api.team_by_name("ops")
    assert (team.id, team.name) == ("team1", "ops")
    assert api.calls == 3 and api.calls_by_op["team_by_name"] == 3
    server.on("GET /api/v4/teams/name/ops", *[fail(502)] * 10)
    with pytest.raises(ServerError) as caught:
        await api.team_by_name("ops")
    assert caught.value.status == 502 and caught.value.operation == "team_by_name"
    assert api.calls == 3 + 5  # first try and 4 retries


async def test_create_post_retried_without_duplicates(fake: tuple[FakeMattermost, str]) -> None:
    server, url = fake
    created = server.defaults["POST /api/v4/posts"]
    server.on("POST /api/v4/posts", after(created, fail(502)), after(created, drop), slow(0.5, created))
    api = MattermostAPI(url, TOKEN, **{**FAST, "request_timeout": 0.25})
    post = await api.create_post("chan1", "hello", props={"k": "v"})
    attempts = server.calls("POST /api/v4/posts")
    assert len(attempts) == 4
    pending_ids = {a.body["pending_post_id"] for a in attempts}
    assert len(pending_ids) == 1
    (pending,) = pending_ids
    assert re.fullmatch(rf"{BOT_ID}:\d{{13}}", pending)
    assert len(server.posts) == 1 and post.id == "post1" and post.message == "hello"
    assert attempts[0].body == {
        "channel_id": "chan1",
        "message": "hello",
        "root_id": "",
        "props": {"k": "v"},
        "pending_post_id": pending,
    }

    second = await api.create_post("chan1", "again", root_id="post1")
    assert second.id == "post2" and second.root_id == "post1"
    assert server.calls("POST /api/v4/posts")[-1].body["pending_post_id"] != pending
    assert len(server.calls("GET /api/v4/users/me")) == 1  # the bot's id is looked up once
    await api.close()


async def test_post_retries_stay_within_the_servers_dedupe_window(fake: tuple[FakeMattermost, str]) -> None:
    server, url = fake
    pending = fail(500, "api.post.deduplicate_create_post.pending", "still saving")
    server.on("POST /api/v4/posts", *[pending] * 10)
    options = {**FAST, "backoff": 0.1, "max_backoff": 0.1, "retries": 8, "post_retry_window": 0.3}
    async with MattermostAPI(url, TOKEN, **options) as api:
        with pytest.raises(ServerError) as caught:
            await api.create_post("chan1", "hello")
    assert caught.value.error_id == "api.post.deduplicate_create_post.pending"
    assert 2 <= len(server.calls("POST /api/v4/posts")) <= 7


async def test_pending_ids_strictly_increase(api: MattermostAPI) -> None:
    ids = [await api.new_pending_post_id() for _ in range(50)]
    stamps = [int(i.split(":")[1]) for i in ids]
    assert stamps == sorted(set(stamps))


async def test_429_honours_retry_after(fake: tuple[FakeMattermost, str], api: MattermostAPI) -> None:
    server, _ = fake

    def limited(wait: str) -> Reply:
        async def reply(request: web.Request, body: Any) -> web.StreamResponse:
            return web.Response(status=429, text="limit exceeded\n", headers={"Retry-After": wait})

        return reply

    server.on("GET /api/v4/users/username/alice", limited("0.3"), ok(user("uid-alice", "alice")))
    began = time.monotonic()
    alice = await api.user_by_username("@alice")
    assert alice.username == "alice" and time.monotonic() - began >= 0.3
    server.on("GET /api/v4/users/username/alice", limited("3600"))
    began = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await api.user_by_username("alice")
    assert caught.value.retry_after == 3600 and time.monotonic() - began < 1
    # A 429 means the server did nothing, so even calls that are unsafe to replay are retried.
    server.on(
        "POST /api/v4/posts/ephemeral",
        limited("0"),
        ok({"id": "e1", "channel_id": "c", "user_id": BOT_ID}, 201),
    )
    assert (await api.ephemeral("uid-alice", "c", "psst")).id == "e1"


async def test_after_a_429_every_request_waits_and_they_go_one_at_a_time(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    in_flight = peak = 0
    sent_at: list[float] = []

    async def slow(request: web.Request, body: Any) -> web.StreamResponse:
        nonlocal in_flight, peak
        sent_at.append(time.monotonic())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return json_response(user("uid-alice", "alice"))

    refused_at = 0.0
    refused = asyncio.Event()

    async def limited(request: web.Request, body: Any) -> web.StreamResponse:
        nonlocal refused_at
        refused_at = time.monotonic()
        refused.set()
        return web.Response(status=429, text="limit exceeded\n", headers={"Retry-After": "0.3"})

    route = "GET /api/v4/users/username/alice"
    server.defaults[route] = slow
    server.on(route, limited)
    first = asyncio.create_task(api.user_by_username("alice"))  # refused, then retried after 0.3 s
    await refused.wait()
    # Once the client has read the 429 it pauses everyone: start the others only then.
    await eventually(lambda: api._paused_until > 0, what="the client to read the 429")
    others = await asyncio.gather(*(api.user_by_username("alice") for _ in range(5)))
    await first
    assert all(u.username == "alice" for u in others)
    assert refused_at > 0 and len(sent_at) == 6
    assert min(sent_at) >= refused_at + 0.3 - 0.01, "nothing sent during the pause"
    assert peak == 1, "one at a time while the server is limiting"


async def test_unsafe_calls_not_replayed_after_maybe_sent(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    server.on("POST /api/v4/posts/ephemeral", fail(503))
    with pytest.raises(ServerError):
        await api.ephemeral("u", "c", "psst")
    server.on("POST /api/v4/commands", drop)
    with pytest.raises(Unreachable) as caught:
        await api.create_command("team1", "sev1", "http://bot/x")
    assert caught.value.maybe_sent
    assert len(server.calls("POST /api/v4/posts/ephemeral")) == 1
    assert len(server.calls("POST /api/v4/commands")) == 1


async def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with MattermostAPI(f"http://127.0.0.1:{port}", TOKEN, **FAST) as api:
        with pytest.raises(Unreachable) as caught:
            await api.create_command("team1", "sev1", "http://bot/x")
    assert not caught.value.maybe_sent
    assert api.calls == 5  # never sent, so retried even though creating a command is not replayable


async def test_create_channel_recovers_from_its_own_first_attempt(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    channel = {
        "id": "chan9",
        "team_id": "team1",
        "name": "sev1-db",
        "display_name": "Sev1 db",
        "type": "P",
        "creator_id": BOT_ID,
    }
    server.on(
        "POST /api/v4/channels",
        fail(504),
        fail(400, CHANNEL_EXISTS, "A channel with that name already exists on the same team."),
    )
    server.on("GET /api/v4/teams/team1/channels/name/sev1-db", ok(channel))
    made = await api.create_channel("team1", "sev1-db", "Sev1 db", header="h", purpose="p")
    assert made.id == "chan9"
    assert server.calls("POST /api/v4/channels")[0].body == {
        "team_id": "team1",
        "name": "sev1-db",
        "display_name": "Sev1 db",
        "type": "P",
        "purpose": "p",
        "header": "h",
    }
    # A channel that existed before the call is the caller's business.
    server.on("POST /api/v4/channels", fail(400, CHANNEL_EXISTS, "exists"))
    with pytest.raises(BadRequest) as caught:
        await api.create_channel("team1", "sev1-db", "Sev1 db")
    assert caught.value.error_id == CHANNEL_EXISTS


@pytest.mark.parametrize("holder", ["someone else", "unseen"])
async def test_a_retry_never_takes_a_channel_someone_else_created_under_that_name(
    fake: tuple[FakeMattermost, str], api: MattermostAPI, holder: str
) -> None:
    # The first attempt failed without creating anything; meanwhile someone made a channel of that name
    # (and added the bot, or not: a private channel the bot is not in answers 404).
    server, _ = fake
    theirs = {"id": "chan6", "team_id": "team1", "name": "sev1-db", "type": "P", "creator_id": "mallory0123"}
    server.on("POST /api/v4/channels", fail(504), fail(400, CHANNEL_EXISTS, "exists"))
    by_name = "GET /api/v4/teams/team1/channels/name/sev1-db"
    if holder == "unseen":
        server.on(by_name, fail(404, "app.channel.get_by_name.missing.app_error", "Channel does not exist."))
    else:
        server.on(by_name, ok(theirs))
    with pytest.raises(BadRequest) as caught:
        await api.create_channel("team1", "sev1-db", "Sev1 db")
    assert caught.value.error_id == CHANNEL_EXISTS
    assert len(server.calls("POST /api/v4/channels")) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (413, BadRequest),
        (501, ServerError),
    ],
)
async def test_error_mapping(
    fake: tuple[FakeMattermost, str], api: MattermostAPI, status: int, error: type[MattermostError]
) -> None:
    server, _ = fake
    server.on("GET /api/v4/posts/p1", fail(status, "some.error.id", "it went wrong"))
    with pytest.raises(error) as caught:
        await api.get_post("p1")
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.error_id, caught.value.request_id) == (
        status,
        "some.error.id",
        "req1",
    )
    assert str(caught.value) == f"get_post: it went wrong (HTTP {status}, some.error.id)"
    assert api.calls == 1


async def test_non_json_errors_and_bodies(fake: tuple[FakeMattermost, str], api: MattermostAPI) -> None:
    server, _ = fake

    async def html(request: web.Request, body: Any) -> web.StreamResponse:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    async def plain_ok(request: web.Request, body: Any) -> web.StreamResponse:
        return web.Response(text="hello", content_type="text/plain")

    server.on("GET /api/v4/channels/c1", html, ok({"id": "c1", "name": "x", "type": "O"}))
    assert (await api.get_channel("c1")).id == "c1"

    async def charset_json(request: web.Request, body: Any) -> web.StreamResponse:
        return web.json_response({"id": "c1", "name": "x", "type": "O"})  # "; charset=utf-8" appended

    server.on("GET /api/v4/channels/c1", charset_json)
    assert (await api.get_channel("c1")).name == "x"
    server.on("GET /api/v4/channels/c1", plain_ok)
    with pytest.raises(MattermostError, match="expected a JSON response, got text/plain"):
        await api.get_channel("c1")


async def test_wrong_token_is_unauthorized(fake: tuple[FakeMattermost, str]) -> None:
    async with MattermostAPI(fake[1], "not-the-token", **FAST) as api:
        with pytest.raises(Unauthorized):
            await api.me()
        assert api.calls == 1


async def test_add_members_batches_and_falls_back_on_old_servers(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    route = "POST /api/v4/channels/c1/members"
    server.on(route, ok([{"user_id": "u1"}, {"user_id": "u2"}], 201))
    await api.add_members("c1", ["u1", "u2", "u1"])
    assert [s.body for s in server.calls(route)] == [{"user_ids": ["u1", "u2"]}]

    old = fail(400, "api.context.invalid_body_param.app_error", "Invalid or missing user_id in request body.")
    member = ok({"user_id": "x"}, 201)
    server.on(route, old, member, member, member)
    await api.add_members("c1", ["u3", "u4"])
    await api.add_members("c1", ["u5"])  # the fallback is remembered
    assert [s.body for s in server.calls(route)[1:]] == [
        {"user_ids": ["u3", "u4"]},
        {"user_id": "u3"},
        {"user_id": "u4"},
        {"user_id": "u5"},
    ]
    await api.add_members("c1", [])
    assert len(server.calls(route)) == 5


async def test_add_members_does_not_fall_back_on_other_errors(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    msg = "Invalid or missing user_ids in request body."
    server.on("POST /api/v4/channels/c1/members", fail(400, "api.context.invalid_body_param.app_error", msg))
    with pytest.raises(BadRequest):
        await api.add_members("c1", ["bad"])
    assert len(server.calls("POST /api/v4/channels/c1/members")) == 1


async def test_register_command_creates_updates_reuses(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    url = "https://bot.example.com/mattermost/command"
    made = {"id": "cmd1", "token": "tok1", "team_id": "team1", "trigger": "sev1", "url": url, "method": "P"}
    server.on("GET /api/v4/commands", ok([]))
    server.on("POST /api/v4/commands", ok(made, 201))
    assert await api.register_command("team1", url=url) == "tok1"
    assert server.calls("GET /api/v4/commands")[0].query == {"team_id": "team1", "custom_only": "true"}
    created = server.calls("POST /api/v4/commands")[0].body
    assert created["trigger"] == "sev1" and created["url"] == url and created["method"] == "P"
    assert created["auto_complete"] is True and created["team_id"] == "team1"

    stale = {**made, "url": "http://old:8080/mattermost/command", "icon_url": "kept", "username": "kept"}
    other = {**made, "id": "cmd2", "trigger": "deploy", "token": "tok2"}
    server.on("GET /api/v4/commands", ok([other, stale]))
    server.on("PUT /api/v4/commands/cmd1", ok(made))
    assert await api.register_command("team1", url=url) == "tok1"
    sent = server.calls("PUT /api/v4/commands/cmd1")[0].body
    assert sent["url"] == url and sent["icon_url"] == "kept" and sent["id"] == "cmd1"

    server.on("GET /api/v4/commands", ok([made]))
    assert await api.register_command("team1", url=url) == "tok1"
    assert len(server.calls("PUT /api/v4/commands/cmd1")) == 1
    assert len(server.calls("POST /api/v4/commands")) == 1


async def test_register_command_race_with_another_replica(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    url = "https://bot.example.com/mattermost/command"
    theirs = {"id": "cmd7", "token": "tok7", "team_id": "team1", "trigger": "sev1", "url": url, "method": "P"}
    server.on("GET /api/v4/commands", ok([]), ok([theirs]))
    server.on("POST /api/v4/commands", fail(400, "api.command.duplicate_trigger.app_error", "taken"))
    assert await api.register_command("team1", url=url) == "tok7"
    assert len(server.calls("POST /api/v4/commands")) == 1


async def test_register_command_refused_tells_the_operator_what_to_do(
    fake: tuple[FakeMattermost, str], api: MattermostAPI
) -> None:
    server, _ = fake
    url = "http://sev1bot:8080/mattermost/command"
    server.on(
        "GET /api/v4/commands",
        fail(403, "api.context.permissions.app_error", "You do not have the permission"),
    )
    with pytest.raises(RegistrationError) as caught:
        await api.register_command("team1", url=url)
    text = str(caught.value)
    assert "/sev1" in text and "team admin" in text.lower() and "Manage Slash Commands" in text
    assert "SEV1BOT_COMMAND_TOKEN" in text and url in text
    assert "AllowedUntrustedInternalConnections" in text and "'sev1bot'" in text
    assert TOKEN not in text

    server.on(
        "GET /api/v4/commands", fail(501, "api.command.disabled.app_error", "Commands have been disabled")
    )
    with pytest.raises(RegistrationError) as caught:
        await api.register_command("team1", url="https://bot.example.com/mattermost/command")
    text = str(caught.value)
    assert "MM_SERVICESETTINGS_ENABLECOMMANDS=true" in text and "AllowedUntrusted" not in text

    server.on("GET /api/v4/commands", ok([]))
    server.on("POST /api/v4/commands", fail(403, "api.context.permissions.app_error", "no"))
    with pytest.raises(RegistrationError, match="SEV1BOT_COMMAND_TOKEN"):
        await api.register_command("team1", url=url)


async def test_base_url_with_path_and_no_token_in_logs(
    fake: tuple[FakeMattermost, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, url = fake
    server.defaults["GET /api/v4/users/me"] = ok(user(BOT_ID, "sev1bot"))
    caplog.set_level(logging.DEBUG)
    server.on("GET /api/v4/users/me", fail(503))
    async with MattermostAPI(url + "/mm/", TOKEN, **FAST) as api:
        me = await api.me()
        with pytest.raises(NotFound):
            await api.get_post("nope")
    assert me.id == BOT_ID and me.is_bot
    assert server.seen[-1].path == "/mm/api/v4/posts/nope"
    assert "retry 1/4" in caplog.text
    assert TOKEN not in caplog.text


# -- against the sandbox -------------------------------------------------------------------------------


@pytest.fixture
async def bot(sandbox: Any) -> AsyncIterator[MattermostAPI]:
    async with MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"], **FAST) as client:
        yield client


async def test_sandbox_users_and_teams(sandbox: Any, bot: MattermostAPI) -> None:
    me = await bot.me()
    assert (me.id, me.username, me.is_bot) == (sandbox.bot.id, "sev1bot", True)
    team = await bot.team_by_name(sandbox.team.name)
    assert team.id == sandbox.team.id
    alice = await bot.user_by_username("@alice")
    assert alice.username == "alice" and alice.first_name == "Alice" and not alice.is_bot
    found = await bot.users_by_usernames(["alice", "bob", "no.such.user", "alice"])
    assert sorted(u.username for u in found) == ["alice", "bob"]
    assert await bot.users_by_usernames([]) == []
    with pytest.raises(NotFound) as caught:
        await bot.user_by_username("no.such.user")
    assert caught.value.operation == "user_by_username"
    with pytest.raises(NotFound):
        await bot.team_by_name("no-such-team")


async def test_sandbox_channels_and_members(sandbox: Any, bot: MattermostAPI) -> None:
    team_id = sandbox.team.id
    made = await bot.create_channel(team_id, "sev1-db-down", "Sev 1: db down", header="h1", purpose="p1")
    assert (made.name, made.display_name, made.type, made.header, made.purpose) == (
        "sev1-db-down",
        "Sev 1: db down",
        "P",
        "h1",
        "p1",
    )
    assert (await bot.channel_by_name(team_id, "sev1-db-down")).id == made.id
    assert (await bot.get_channel(made.id)).team_id == team_id
    patched = await bot.patch_channel(made.id, header="Status: mitigating")
    assert patched.header == "Status: mitigating" and patched.purpose == "p1"
    with pytest.raises(BadRequest) as caught:
        await bot.create_channel(team_id, "sev1-db-down", "again")
    assert caught.value.error_id == CHANNEL_EXISTS
    with pytest.raises(NotFound):
        await bot.channel_by_name(team_id, "no-such-channel")

    people = await bot.users_by_usernames(["alice", "bob", "carol"])
    await bot.add_members(made.id, [u.id for u in people])
    await bot.add_members(made.id, [people[0].id])  # already a member: fine
    assert set(sandbox.state.member_ids(made.id)) == {sandbox.bot.id, *(u.id for u in people)}
    members = await bot.channel_member_ids(made.id, per_page=2)  # two pages and a short one
    assert sorted(members) == sorted({sandbox.bot.id, *(u.id for u in people)})
    by_id = await bot.users_by_ids([*members, "nosuchuser0123456789abcdef", members[0]])
    assert sorted(u.id for u in by_id) == sorted(members) and await bot.users_by_ids([]) == []
    assert [u.is_bot for u in by_id if u.id == sandbox.bot.id] == [True]

    alice = people[0] if people[0].username == "alice" else await bot.user_by_username("alice")
    dm = await bot.direct_channel(sandbox.bot.id, alice.id)
    assert dm.type == "D"
    assert (await bot.direct_channel(sandbox.bot.id, alice.id)).id == dm.id


async def test_sandbox_posts_threads_pins_reactions(sandbox: Any, bot: MattermostAPI) -> None:
    channel = await bot.create_channel(sandbox.team.id, "sev1-posts", "Sev 1 posts", type="O")
    root = await bot.create_post(channel.id, "Stage 1", props={"sev1bot": {"ref": "stage:1"}})
    assert root.user_id == sandbox.bot.id and root.props["sev1bot"] == {"ref": "stage:1"}
    reply = await bot.create_post(channel.id, "- [ ] page the CEO", root_id=root.id)
    assert reply.root_id == root.id
    assert [p.id for p in await bot.thread(reply.id)] == [root.id, reply.id]

    edited = await bot.patch_post(reply.id, "- [x] page the CEO", props={"checked": True})
    assert edited.message == "- [x] page the CEO" and edited.props["checked"] is True
    await bot.pin(root.id)
    assert (await bot.get_post(root.id)).is_pinned

    async with sandbox.client("alice") as alice:
        me = (await alice.get("/api/v4/users/me")).json(200)
        await alice.post(f"/api/v4/channels/{channel.id}/members", {"user_id": me["id"]})
        reaction = {"user_id": me["id"], "post_id": reply.id, "emoji_name": "white_check_mark"}
        (await alice.post("/api/v4/reactions", reaction)).json(201)
    (got,) = await bot.reactions(reply.id)
    assert (got.user_id, got.post_id, got.emoji_name) == (me["id"], reply.id, "white_check_mark")
    assert await bot.reactions(root.id) == []

    everything = await bot.channel_posts(channel.id)
    assert [p.id for p in everything if not p.type] == [root.id, reply.id]
    later = await bot.create_post(channel.id, "later")
    assert [p.id for p in await bot.channel_posts(channel.id, since=later.create_at - 1)] == [later.id]
    paged = await bot.channel_posts(channel.id, per_page=1)
    assert [p.id for p in paged] == [p.id for p in await bot.channel_posts(channel.id)]

    with pytest.raises(NotFound):
        await bot.get_post("x" * 26)


async def test_sandbox_delivery_keys_survive_edits(sandbox: Any, bot: MattermostAPI) -> None:
    """The key the bot looks its posts up by after a crash stays on a post through every kind of edit."""
    channel = await bot.create_channel(sandbox.team.id, "sev1-keys", "Sev 1 keys", type="O")
    root = await bot.create_post(channel.id, "board", delivery_key="1700000000000-1")
    reply = await bot.create_post(channel.id, "item", root_id=root.id, props={"x": 1}, delivery_key="1-2")
    assert root.props[DELIVERY_PROP] == "1700000000000-1"
    assert reply.props == {"x": 1, DELIVERY_PROP: "1-2", "from_bot": "true"}
    # The message alone: the server keeps the props.
    assert (await bot.patch_post(root.id, "board v2")).props[DELIVERY_PROP] == "1700000000000-1"
    # Props too: the server replaces them all, so the key is carried over (and a given one wins).
    edited = await bot.patch_post(reply.id, "item v2", props={"checked": True})
    assert edited.props == {"checked": True, DELIVERY_PROP: "1-2"}
    assert sandbox.state.posts[reply.id].props == edited.props, "as the server stored it"
    assert (await bot.patch_post(reply.id, props={DELIVERY_PROP: "1-3"})).props == {DELIVERY_PROP: "1-3"}


async def test_sandbox_posts_created_after_pages_back_just_far_enough(
    sandbox: Any, bot: MattermostAPI
) -> None:
    channel = await bot.create_channel(sandbox.team.id, "sev1-pages", "Sev 1 pages", type="O")
    root = await bot.create_post(channel.id, "root")
    made = [root, *[await bot.create_post(channel.id, f"reply {n}", root_id=root.id) for n in range(4)]]
    made.append(await bot.create_post(channel.id, "last"))
    path = f"/api/v4/channels/{channel.id}/posts"

    def expected(after: int) -> list[str]:
        return [p.id for p in sandbox.posts_in(channel.id) if p.create_at > after]

    for after in (0, made[-1].create_at - 1):
        before = sandbox.count_requests("GET", path)
        found = await bot.posts_created_after(channel.id, after, per_page=2)
        assert [p.id for p in found] == expected(after)  # replies included, oldest first
        # Newest first, two a page: it stops at the first page that reaches back to ``after`` (or ends).
        assert sandbox.count_requests("GET", path) - before == 1 + len(found) // 2, (after, len(found))
    assert {p.id for p in made} <= {p.id for p in await bot.posts_created_after(channel.id, 0)}


async def test_sandbox_dedupes_posts_on_pending_post_id(sandbox: Any, bot: MattermostAPI) -> None:
    channel = sandbox.channel("town-square")
    before = len(sandbox.posts_in(channel.id))
    pending = await bot.new_pending_post_id()
    first = await bot.create_post(channel.id, "escalating to the CEO", pending_post_id=pending)
    again = await bot.create_post(channel.id, "escalating to the CEO", pending_post_id=pending)
    assert first.id == again.id
    assert len(sandbox.posts_in(channel.id)) == before + 1


async def test_sandbox_faults_retried_and_posts_not_duplicated(sandbox: Any) -> None:
    channel = sandbox.channel("town-square")
    async with MattermostAPI(
        sandbox.url, sandbox.tokens["sev1bot"], **{**FAST, "request_timeout": 0.3}
    ) as bot:
        await bot.me()
        sandbox.faults.fail_next("GET", "/api/v4/teams/name/*", status=503, count=2)
        assert (await bot.team_by_name(sandbox.team.name)).id == sandbox.team.id
        assert sandbox.count_requests("GET", "/api/v4/teams/name/*") == 3

        # The post is created but the answer comes too late: the retry must not post it twice.
        before = len(sandbox.posts_in(channel.id))
        sandbox.faults.delay("POST", "/api/v4/posts", 0.6, after=True)
        posting = asyncio.create_task(bot.create_post(channel.id, "Sev 1 declared"))
        # The first attempt is answered (after 0.6 s, too late: the client gave up at 0.3 s and retried).
        await eventually(lambda: sandbox.count_requests("POST", "/api/v4/posts") >= 1, what="a late answer")
        sandbox.faults.clear()
        post = await posting
        assert sandbox.count_requests("POST", "/api/v4/posts") >= 2
        assert [p.id for p in sandbox.posts_in(channel.id)[before:]] == [post.id]

        sandbox.set_rate_limit(per_sec=1, max_burst=0)
        began = time.monotonic()
        for _ in range(2):
            await bot.get_channel(channel.id)
        assert time.monotonic() - began >= 0.9  # waited out Retry-After rather than failing
        assert sandbox.count_requests("GET", f"/api/v4/channels/{channel.id}", status=429) >= 1


async def test_sandbox_ephemeral_needs_a_system_admin(
    sandbox: Any, bot: MattermostAPI, start_sandbox: Any
) -> None:
    from sev1bot.sandbox.seed import Seed, SeedTeam, SeedUser

    channel = sandbox.channel("town-square")
    alice = await bot.user_by_username("alice")
    with pytest.raises(Forbidden):  # create_post_ephemeral: system admins only, as on a real server
        await bot.ephemeral(alice.id, channel.id, "only you can see this")

    seed = Seed(
        team=SeedTeam(name="ops", display_name="Ops"), users=[SeedUser(username="root", system_admin=True)]
    )
    async with start_sandbox(seed) as admin_box:
        town = admin_box.channel("town-square")
        before = len(admin_box.posts_in(town.id))
        async with MattermostAPI(admin_box.url, admin_box.tokens["root"], **FAST) as root:
            bot_user = await root.user_by_username("sev1bot")
            post = await root.ephemeral(bot_user.id, town.id, "only you can see this")
        assert post.message == "only you can see this" and post.channel_id == town.id
        assert len(admin_box.posts_in(town.id)) == before


async def test_sandbox_wrong_token(sandbox: Any) -> None:
    async with MattermostAPI(sandbox.url, "not-a-token", **FAST) as api:
        with pytest.raises(Unauthorized):
            await api.me()


async def test_sandbox_register_command(sandbox: Any, bot: MattermostAPI) -> None:
    url = "https://bot.example.com/mattermost/command"
    token = await bot.register_command(sandbox.team.id, url=url)
    assert token
    (command,) = [c for c in await bot.list_commands(sandbox.team.id) if c.trigger == "sev1"]
    assert (command.url, command.method, command.token) == (url, "P", token)
    assert await bot.register_command(sandbox.team.id, url=url) == token
    moved = "https://bot2.example.com/mattermost/command"
    assert await bot.register_command(sandbox.team.id, url=moved) == token
    (command,) = [c for c in await bot.list_commands(sandbox.team.id) if c.trigger == "sev1"]
    assert command.url == moved

    async with MattermostAPI(sandbox.url, sandbox.tokens["alice"], **FAST) as alice:
        with pytest.raises(RegistrationError) as caught:
            await alice.register_command(sandbox.team.id, url=url)
    assert "SEV1BOT_COMMAND_TOKEN" in str(caught.value) and "team admin" in str(caught.value).lower()


async def test_client_config_asks_for_the_old_format_as_the_server_requires(
    sandbox: Any, bot: MattermostAPI
) -> None:
    assert (await bot.client_config())["CollapsedThreads"] == "always_on"  # the server's default
    sandbox.config.collapsed_threads = "default_off"
    assert (await bot.client_config())["CollapsedThreads"] == "default_off"
    import aiohttp

    headers = {"Authorization": f"Bearer {sandbox.tokens['sev1bot']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{sandbox.url}/api/v4/config/client") as resp:
            assert resp.status == 501
            assert (await resp.json())["id"] == "api.config.client.old_format.app_error"
        async with http.get(f"{sandbox.url}/api/v4/config/client?format=new") as resp:
            assert resp.status == 400
