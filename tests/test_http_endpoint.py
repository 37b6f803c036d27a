"""The HTTP endpoint over real sockets: token checks, form parsing, slow handlers, signed button clicks."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web

from sev1bot.mattermost.inbound import (
    FAILED_TEXT,
    WORKING_TEXT,
    ActionRequest,
    CommandRequest,
    CommandResponse,
    Complaints,
    NonceCache,
    TokenVerifier,
    answer_url,
    build_http_app,
    serve,
)
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.signing import SignatureError, canonical_json, sign, verify
from testkit import eventually

TOKEN = "cmdtoken0123456789abcdefgh"
SECRET = "button-signing-secret-0123"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


@dataclass
class Handler:
    """Records what it is given; answers after ``delay`` seconds, or raises when ``fail`` is set."""

    delay: float = 0.0
    fail: bool = False
    commands: list[CommandRequest] = field(default_factory=list)
    actions: list[ActionRequest] = field(default_factory=list)

    async def handle_command(self, req: CommandRequest) -> CommandResponse:
        self.commands.append(req)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom")
        return CommandResponse(response_type="in_channel", text=f"done: {req.text}")

    async def handle_action(self, req: ActionRequest) -> dict[str, Any]:
        self.actions.append(req)
        if self.fail:
            raise RuntimeError("boom")
        return {"update": {"message": f"clicked by {req.user_name}"}}


@dataclass
class Bot:
    url: str
    handler: Handler
    http: aiohttp.ClientSession
    verifier: TokenVerifier
    state: dict[str, Any]
    now: list[float]


Start = Callable[..., Any]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start the endpoint on 127.0.0.1 with a free port; options go to build_http_app."""
    stack: list[Any] = []
    http = aiohttp.ClientSession()

    async def _start(handler: Handler | None = None, token: str | None = TOKEN, **options: Any) -> Bot:
        handler = handler or Handler()
        state: dict[str, Any] = {"ready": True, "websocket": "connected", "role": "leader"}
        now = [time.time()]
        verifier = TokenVerifier(token)
        app = build_http_app(
            handler,
            verifier,
            signing_secret=SECRET,
            readiness=options.pop("readiness", lambda: state),
            clock=lambda: now[0],
            **options,
        )
        server = serve(app, "127.0.0.1", 0)
        url = await server.__aenter__()
        stack.append(server)
        return Bot(url, handler, http, verifier, state, now)

    yield _start
    for server in reversed(stack):
        await server.__aexit__(None, None, None)
    await http.close()


CAROL = "c" * 26  # a user id as the server makes them: 26 lowercase letters and digits
HOOK = "h00k" * 6 + "id"


def command_form(token: str | None = TOKEN, **overrides: Any) -> list[tuple[str, str]]:
    """The form Mattermost posts for ``/sev1 start db is down @alice @bob``."""
    fields: dict[str, Any] = {
        "token": token,
        "team_id": "team1",
        "team_domain": "ops",
        "channel_id": "chan1",
        "channel_name": "town-square",
        "user_id": CAROL,
        "user_name": "carol",
        "command": "/sev1",
        "text": "start db is down & slow: 100% @alice @bob ünïcode",
        "trigger_id": "trig1",
        "response_url": f"http://127.0.0.1:1/hooks/commands/{HOOK}",
        "user_mentions": ["alice", "bob"],
        "user_mentions_ids": ["uid-alice", "uid-bob"],
        "channel_mentions": [],
        "channel_mentions_ids": [],
    }
    fields.update(overrides)
    pairs: list[tuple[str, str]] = []
    for key, value in fields.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item))
    return pairs


async def post_command(
    bot: Bot, form: Any, headers: Mapping[str, str] | None = None
) -> aiohttp.ClientResponse:
    sent = {**FORM_HEADERS, "Authorization": f"Token {TOKEN}"} if headers is None else dict(headers)
    body = urlencode(form) if not isinstance(form, bytes | str) else form
    return await bot.http.post(bot.url + "/mattermost/command", data=body, headers=sent)


# -- slash commands ------------------------------------------------------------------------------------


async def test_command_parsed_and_answered(start: Start) -> None:
    bot = await start()
    async with await post_command(bot, command_form()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await resp.json()
    assert body == {
        "response_type": "in_channel",
        "text": "done: start db is down & slow: 100% @alice @bob ünïcode",
    }
    (req,) = bot.handler.commands
    assert req.team_id == "team1" and req.channel_id == "chan1" and req.channel_name == "town-square"
    assert req.user_id == CAROL and req.user_name == "carol" and req.command == "/sev1"
    assert req.text == "start db is down & slow: 100% @alice @bob ünïcode"
    assert req.trigger_id == "trig1" and req.response_url == f"http://127.0.0.1:1/hooks/commands/{HOOK}"
    assert req.user_mentions == ("alice", "bob") and req.user_mentions_ids == ("uid-alice", "uid-bob")
    assert req.channel_mentions == ()
    assert "token" not in req.model_dump()


@pytest.mark.parametrize(
    ("field_token", "header"),
    [
        ("wrong", f"Token {TOKEN}"),
        (TOKEN, "Token wrong"),
        ("wrong", "Token wrong"),
        (None, f"Token {TOKEN}"),
        (TOKEN, None),
        (None, None),
        (TOKEN, f"Bearer {TOKEN}"),
        ("", "Token "),
        (TOKEN[:-1], f"Token {TOKEN[:-1]}"),
    ],
    ids=["field", "header", "both", "no-field", "no-header", "none", "bearer", "empty", "prefix"],
)
async def test_command_token_checks(
    start: Start, field_token: str | None, header: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await start()
    headers = dict(FORM_HEADERS)
    if header is not None:
        headers["Authorization"] = header
    async with await post_command(bot, command_form(token=field_token), headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Token"
        assert await resp.json() == {"error": "unauthorized", "message": "missing or wrong command token"}
    assert bot.handler.commands == []
    assert "wrong or missing command token" in caplog.text
    assert TOKEN not in caplog.text


async def test_header_scheme_is_case_insensitive(start: Start) -> None:
    bot = await start()
    headers = {**FORM_HEADERS, "Authorization": f"TOKEN {TOKEN}"}
    async with await post_command(bot, command_form(), headers) as resp:
        assert resp.status == 200


async def test_command_token_set_after_start(start: Start) -> None:
    bot = await start(token=None)
    async with await post_command(bot, command_form()) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"] == "not_ready"
    bot.verifier.set_token(TOKEN)
    async with await post_command(bot, command_form()) as resp:
        assert resp.status == 200
    assert len(bot.handler.commands) == 1


async def test_command_bad_requests(start: Start) -> None:
    bot = await start()
    async with await post_command(bot, command_form(user_id=None, channel_id="")) as resp:
        assert resp.status == 400
        body = await resp.json()
        assert (
            body["error"] == "bad_command"
            and "channel_id" in body["message"]
            and "user_id" in body["message"]
        )
    headers = {"Content-Type": "application/json", "Authorization": f"Token {TOKEN}"}
    async with await post_command(bot, json.dumps(dict(command_form())), headers) as resp:
        assert resp.status == 415
    async with await post_command(bot, b"token=" + TOKEN.encode() + b"&text=%ff%fe") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "bad_form"
    assert bot.handler.commands == []


async def test_body_over_64k_is_413(start: Start) -> None:
    bot = await start()
    big = command_form(text="x" * (64 * 1024))
    async with await post_command(bot, big) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        yield urlencode(command_form()).encode()
        for _ in range(20):
            yield b"&pad=" + b"y" * 4096

    headers = {**FORM_HEADERS, "Authorization": f"Token {TOKEN}"}
    async with bot.http.post(bot.url + "/mattermost/command", data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    just_under = command_form(text="x" * (60 * 1024))
    async with await post_command(bot, just_under) as resp:
        assert resp.status == 200
    assert len(bot.handler.commands) == 1


async def test_handler_error_is_an_apology_not_a_500(start: Start) -> None:
    bot = await start(Handler(fail=True))
    async with await post_command(bot, command_form()) as resp:
        assert resp.status == 200
        assert await resp.json() == {"response_type": "ephemeral", "text": FAILED_TEXT}


@pytest.fixture
async def response_url() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[float, Any]]]]:
    """A stand-in for Mattermost's /hooks/commands/<id>: records (time, JSON) of each POST.

    Yields (base URL, queue); the form's response_url names another host, as a public site address would.
    """
    received: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((time.monotonic(), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hooks/commands/{id}", hook)
    async with serve(app, "127.0.0.1", 0) as url:
        yield url, received


async def test_slow_handler_acks_then_answers_via_response_url(
    start: Start, response_url: tuple[str, asyncio.Queue[tuple[float, Any]]]
) -> None:
    hook, received = response_url
    bot = await start(Handler(delay=0.6), ack_timeout=0.15, mattermost_url=hook)
    began = time.monotonic()
    async with await post_command(bot, command_form()) as resp:
        assert resp.status == 200
        assert await resp.json() == {"response_type": "ephemeral", "text": WORKING_TEXT}
    assert received.empty()  # acked before the slow work answered: the order, not a speed (that is bench's)
    at, answer = await asyncio.wait_for(received.get(), timeout=5)
    assert answer == {
        "response_type": "in_channel",
        "text": "done: start db is down & slow: 100% @alice @bob ünïcode",
    }
    assert at - began >= 0.6


async def test_slow_failing_handler_apologises_via_response_url(
    start: Start, response_url: tuple[str, asyncio.Queue[tuple[float, Any]]]
) -> None:
    hook, received = response_url
    bot = await start(Handler(delay=0.3, fail=True), ack_timeout=0.05, mattermost_url=hook)
    async with await post_command(bot, command_form()) as resp:
        assert (await resp.json())["text"] == WORKING_TEXT
    _, answer = await asyncio.wait_for(received.get(), timeout=5)
    assert answer == {"response_type": "ephemeral", "text": FAILED_TEXT}


async def test_shutdown_waits_for_late_answers(
    response_url: tuple[str, asyncio.Queue[tuple[float, Any]]],
) -> None:
    hook, received = response_url
    app = build_http_app(
        Handler(delay=0.3), TokenVerifier(TOKEN), signing_secret=SECRET, ack_timeout=0.05, mattermost_url=hook
    )
    async with serve(app, "127.0.0.1", 0) as url, aiohttp.ClientSession() as http:
        bot = Bot(url, Handler(), http, TokenVerifier(TOKEN), {}, [0.0])
        async with await post_command(bot, command_form()) as resp:
            assert (await resp.json())["text"] == WORKING_TEXT
    # The server is stopped; the answer still went out.
    _, answer = received.get_nowait()
    assert answer["text"].startswith("done: ")


# -- health --------------------------------------------------------------------------------------------


async def test_healthz_and_readyz(start: Start) -> None:
    bot = await start()
    async with bot.http.get(bot.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {
            "status": "ok",
            "ready": True,
            "websocket": "connected",
            "role": "leader",
            "command_token": True,
        }
    async with bot.http.get(bot.url + "/readyz") as resp:
        assert resp.status == 200
    bot.state.update(ready=False, websocket="reconnecting", role="follower")
    async with bot.http.get(bot.url + "/healthz") as resp:
        assert resp.status == 200  # alive, just not ready: no restart wanted
        body = await resp.json()
        assert body["ready"] is False and body["websocket"] == "reconnecting"
    async with bot.http.get(bot.url + "/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["status"] == "not_ready"


async def test_readiness_hook_failure_and_missing_token(start: Start) -> None:
    def broken() -> Mapping[str, Any]:
        raise RuntimeError("hook bug")

    bot = await start(readiness=broken)
    async with bot.http.get(bot.url + "/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["error"] == "readiness hook failed"
    bot = await start(token=None)
    async with bot.http.get(bot.url + "/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["command_token"] is False


# -- button clicks -------------------------------------------------------------------------------------


def click(context: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "user_id": CAROL,
        "user_name": "carol",
        "channel_id": "chan1",
        "channel_name": "sev1-db",
        "team_id": "team1",
        "team_domain": "ops",
        "post_id": "post1",
        "trigger_id": "trig1",
        "type": "",
        "data_source": "",
        "context": context,
    }
    return {**body, **overrides}


def via_mattermost(context: dict[str, Any]) -> dict[str, Any]:
    """What the server hands back: keys reordered and every number a float64 (Go map[string]any)."""
    loaded: dict[str, Any] = json.loads(json.dumps(context), parse_int=float)
    return dict(reversed(list(loaded.items())))


async def post_action(bot: Bot, body: Any) -> tuple[int, Any]:
    async with bot.http.post(bot.url + "/mattermost/action", json=body) as resp:
        return resp.status, await resp.json()


async def test_signed_click_accepted(start: Start) -> None:
    bot = await start()
    context = sign(
        {"action": "ack", "incident": 42, "item": "1.2", "users": ["a", "b"]}, SECRET, 3600, now=time.time()
    )
    status, body = await post_action(bot, click(via_mattermost(context), selected_option=""))
    assert status == 200
    assert body == {"update": {"message": "clicked by carol"}}
    (req,) = bot.handler.actions
    assert req.context == {"action": "ack", "incident": 42, "item": "1.2", "users": ["a", "b"]}
    assert req.user_id == CAROL and req.post_id == "post1" and req.channel_id == "chan1"


async def test_forged_expired_replayed_clicks_rejected(start: Start) -> None:
    bot = await start()
    good = sign({"action": "ack", "incident": 42}, SECRET, 60, now=bot.now[0])

    tampered = {**good, "data": {"action": "ack", "incident": 43}}
    assert await post_action(bot, click(tampered)) == (
        403,
        {"error": "forged", "message": "context signature does not match"},
    )
    other_key = sign({"action": "ack", "incident": 42}, "some-other-secret-xyz", 60, now=time.time())
    assert (await post_action(bot, click(other_key)))[1]["error"] == "forged"
    longer = {**good, "exp": good["exp"] + 3600}
    assert (await post_action(bot, click(longer)))[1]["error"] == "forged"
    for bad in ({"action": "ack"}, None, "text", {**good, "extra": 1}, {**good, "exp": "soon"}):
        status, body = await post_action(bot, click(bad))
        assert (status, body["error"]) == (400, "malformed")
    assert bot.handler.actions == []

    status, _ = await post_action(bot, click(good))
    assert status == 200
    assert await post_action(bot, click(good, user_id="d" * 26)) == (
        403,
        {"error": "replayed", "message": "this button click was already handled"},
    )
    assert len(bot.handler.actions) == 1

    fresh = sign({"action": "ack"}, SECRET, 60, now=bot.now[0])
    bot.now[0] += 61
    assert await post_action(bot, click(fresh)) == (
        403,
        {"error": "expired", "message": "this button has expired"},
    )
    assert len(bot.handler.actions) == 1


async def test_action_bad_bodies(start: Start) -> None:
    bot = await start(Handler(fail=True))
    async with bot.http.post(bot.url + "/mattermost/action", data=b"{not json") as resp:
        assert resp.status == 400
    assert await post_action(bot, [1, 2]) == (
        400,
        {"error": "bad_json", "message": "the body is not a JSON object"},
    )
    context = sign({"a": "b"}, SECRET, 60, now=time.time())
    # user_id is checked as for slash commands: a Mattermost id, or the click is refused.
    for user_id in ("", "../../users/me", "me", CAROL.upper(), CAROL + "x"):
        status, body = await post_action(bot, click(context, user_id=user_id))
        assert (status, body["error"]) == (400, "bad_action") and "user_id" in body["message"], user_id
    assert bot.handler.actions == []
    status, body = await post_action(
        bot, click(sign({"a": "b"}, SECRET, 60, now=time.time()), padding="z" * 70_000)
    )
    assert status == 413
    # The refused clicks did not spend the button's one click.
    status, body = await post_action(bot, click(context))
    assert (status, body) == (200, {"ephemeral_text": FAILED_TEXT})


# -- end to end through the sandbox -------------------------------------------------------------------


async def test_sandbox_runs_the_slash_command_through_the_endpoint(sandbox: Any) -> None:
    handler = Handler()
    verifier = TokenVerifier()
    app = build_http_app(
        handler, verifier, signing_secret=SECRET, ack_timeout=0.2, mattermost_url=sandbox.url
    )
    town = sandbox.channel("town-square")
    async with (
        serve(app, "127.0.0.1", 0) as url,
        MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"]) as api,
        sandbox.client("alice") as alice,
    ):
        verifier.set_token(await api.register_command(sandbox.team.id, url=url + "/mattermost/command"))
        run = {
            "channel_id": town.id,
            "team_id": sandbox.team.id,
            "command": "/sev1 start db down @bob ~off-topic",
        }
        answer = (await alice.post("/api/v4/commands/execute", run)).json(200)
        assert (
            answer["response_type"] == "in_channel"
            and answer["text"] == "done: start db down @bob ~off-topic"
        )
        (req,) = handler.commands
        assert (req.user_name, req.user_id) == ("alice", sandbox.users["alice"].id)
        assert (req.channel_id, req.channel_name, req.team_id, req.team_domain) == (
            town.id,
            "town-square",
            sandbox.team.id,
            sandbox.team.name,
        )
        assert (req.command, req.text) == ("/sev1", "start db down @bob ~off-topic")
        assert req.user_mentions == ("bob",) and req.user_mentions_ids == (sandbox.users["bob"].id,)
        assert req.channel_mentions == ("off-topic",)
        assert req.response_url.startswith(sandbox.url + "/hooks/commands/") and req.trigger_id
        assert sandbox.posts_in(town.id)[-1].message == "done: start db down @bob ~off-topic"

        handler.delay = 0.5  # too slow: acked at once, answered later through response_url
        run["command"] = "/sev1 status"
        answer = (await alice.post("/api/v4/commands/execute", run)).json(200)
        assert answer["text"] == WORKING_TEXT  # the ack, before the work's result is posted below
        await eventually(
            lambda: sandbox.posts_in(town.id)[-1].message == "done: status", what="the late answer"
        )


async def test_a_late_answer_goes_to_the_configured_server_whatever_host_response_url_names(
    sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A request with the command token but a response_url on another host (a leaked token, a proxy that
    rewrites it) must not make the bot post there: only the hook id is used, under MATTERMOST_URL."""
    elsewhere: list[str] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(request.path)
        return web.json_response({})

    attacker = web.Application()
    attacker.router.add_route("*", "/{tail:.*}", record)
    handler = Handler(delay=0.3)
    verifier = TokenVerifier()
    app = build_http_app(
        handler, verifier, signing_secret=SECRET, ack_timeout=0.05, mattermost_url=sandbox.url
    )
    town = sandbox.channel("town-square")
    async with (
        serve(attacker, "127.0.0.1", 0) as attacker_url,
        serve(app, "127.0.0.1", 0) as url,
        MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"]) as api,
        sandbox.client("alice") as alice,
        aiohttp.ClientSession() as http,
    ):
        token = await api.register_command(sandbox.team.id, url=url + "/mattermost/command")
        verifier.set_token(token)
        run = {"channel_id": town.id, "team_id": sandbox.team.id, "command": "/sev1 status"}
        assert (await alice.post("/api/v4/commands/execute", run)).json(200)["text"] == WORKING_TEXT

        def messages() -> list[str]:
            return [p.message for p in sandbox.posts_in(town.id)]

        await eventually(lambda: "done: status" in messages(), what="the late answer")
        (genuine,) = handler.commands
        hook_path = urlsplit(genuine.response_url).path
        assert hook_path.startswith("/hooks/commands/")

        forged = [
            f"{attacker_url}{hook_path}",  # the right hook on another host: answered on the server
            f"{attacker_url}/hooks/commands/{'a' * 26}/../../steal",  # not a hook path: dropped
            f"{attacker_url}/steal",
        ]
        for n, response_url in enumerate(forged):
            form = command_form(
                token=token,
                team_id=sandbox.team.id,
                channel_id=town.id,
                user_id=sandbox.users["alice"].id,
                user_name="alice",
                text=f"forged {n}",
                response_url=response_url,
            )
            bot = Bot(url, handler, http, verifier, {}, [0.0])
            headers = {**FORM_HEADERS, "Authorization": f"Token {token}"}
            async with await post_command(bot, form, headers) as resp:
                assert (await resp.json())["text"] == WORKING_TEXT
        await eventually(lambda: "done: forged 0" in messages(), what="the forged answer, on the server")

        def dropped() -> int:
            return sum("late answer to a slash command is dropped" in r.getMessage() for r in caplog.records)

        await eventually(lambda: bool(elsewhere) or dropped() == 2, what="the other two dropped")
    assert elsewhere == [], "the bot posted to a host it was not configured with"
    assert "done: forged 1" not in messages() and "done: forged 2" not in messages()


def test_answer_url_keeps_only_the_hook_id_and_appends_it_to_the_configured_url() -> None:
    hook = "/hooks/commands/" + "k" * 26
    public = "https://chat.example.com/mm" + hook
    assert answer_url(public, "http://mattermost:8065/mm/") == "http://mattermost:8065/mm" + hook
    assert answer_url(public, "http://mattermost:8065") == "http://mattermost:8065" + hook
    assert answer_url(public, None) is None
    for bad in ("", "not a url", "https://x/hooks/commands/short", "https://x" + hook + "/more", hook + "A"):
        assert answer_url(bad, "http://mattermost:8065") is None, bad


async def test_sandbox_button_clicks_reach_the_endpoint_signed_and_once(sandbox: Any) -> None:
    handler = Handler()
    app = build_http_app(handler, TokenVerifier(TOKEN), signing_secret=SECRET)
    town = sandbox.channel("town-square")
    async with (
        serve(app, "127.0.0.1", 0) as url,
        MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"]) as api,
        sandbox.client("alice") as alice,
    ):
        context = sign({"incident": 7, "do": "ack"}, SECRET, 600, now=time.time())
        action = {
            "id": "ack",
            "name": "Acknowledge",
            "integration": {"url": url + "/mattermost/action", "context": context},
        }
        post = await api.create_post(
            town.id, "Sev 1", props={"attachments": [{"text": "Ack?", "actions": [action]}]}
        )

        reply = await alice.post(f"/api/v4/posts/{post.id}/actions/ack", {})
        assert reply.json(200)["status"] == "OK"
        (req,) = handler.actions
        assert (
            req.context == {"incident": 7, "do": "ack"}
            and req.user_name == "alice"
            and req.post_id == post.id
        )
        assert (await api.get_post(post.id)).message == "clicked by alice"

        again = await alice.post(f"/api/v4/posts/{post.id}/actions/ack", {})
        assert again.status >= 400  # replayed: refused, and the server tells the user
        assert len(handler.actions) == 1


# -- signing and nonces, without the server ------------------------------------------------------------


def test_sign_rejects_values_that_do_not_survive_the_round_trip() -> None:
    with pytest.raises(ValueError, match=r"context.ratio: float"):
        sign({"ratio": 0.5}, SECRET, 60, now=time.time())
    with pytest.raises(ValueError, match="too large"):
        sign({"big": 2**60}, SECRET, 60, now=time.time())
    with pytest.raises(ValueError, match="not a string"):
        sign({"nested": {1: "x"}}, SECRET, 60, now=time.time())
    with pytest.raises(ValueError, match="ttl"):
        sign({}, SECRET, 0, now=time.time())
    with pytest.raises(ValueError, match="empty"):
        sign({}, "", 60, now=time.time())


def test_verify_details() -> None:
    signed = sign({"k": "v", "n": -3, "ok": True, "none": None}, SECRET.encode(), 10, now=1000.0)
    assert signed["exp"] == 1010
    result = verify(via_mattermost(signed), SECRET, now=1010.0)
    assert result.data == {"k": "v", "n": -3, "ok": True, "none": None}
    assert result.expires_at == 1010 and result.nonce == signed["nonce"]
    with pytest.raises(SignatureError) as caught:
        verify(signed, SECRET, now=1010.5)
    assert caught.value.reason == "expired"
    assert sign({}, SECRET, 10, now=time.time())["nonce"] != sign({}, SECRET, 10, now=time.time())["nonce"]
    assert canonical_json({"b": 1.0, "a": ["é"]}) == '{"a":["é"],"b":1}'.encode()


def test_nonce_cache_expires_and_is_bounded() -> None:
    cache = NonceCache(capacity=3)
    assert cache.first_use("a", expires_at=100, now=0)
    assert not cache.first_use("a", expires_at=100, now=50)
    for nonce in "bcd":
        assert cache.first_use(nonce, expires_at=200, now=60)
    assert len(cache) == 3  # "a" was dropped to stay within capacity
    assert cache.first_use("e", expires_at=300, now=250)  # b, c, d expired
    assert len(cache) == 1


def test_complaints_are_logged_once_per_kind_and_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    complaints = Complaints(every=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="sev1bot.mattermost.inbound"):
        for _ in range(100):
            complaints.warn("bad_json", "rejected a click from %s", "10.0.0.1")
        complaints.warn("click_forged", "forged from %s", "10.0.0.2")
        now[0] = 61
        complaints.warn("bad_json", "rejected a click from %s", "10.0.0.3")
    assert [r.getMessage() for r in caplog.records] == [
        "rejected a click from 10.0.0.1",
        "forged from 10.0.0.2",
        "rejected a click from 10.0.0.3 (and 99 more like it in the last 60s)",
    ]
