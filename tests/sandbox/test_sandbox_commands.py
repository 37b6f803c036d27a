"""Slash commands and buttons: what the sandbox sends to a real integration, and what it does with answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from mattermostautodriver import AsyncTypedDriver

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient, EventStream

People = Callable[[str], Awaitable[ApiClient]]
Driver = Callable[[str], Awaitable[AsyncTypedDriver]]


@dataclass
class Seen:
    method: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    json: Any


@dataclass
class Receiver:
    """A small integration: records every request and answers with ``answer`` (status, type, body)."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answer: tuple[int, str, bytes] = (200, "application/json", b"{}")
    delay: float = 0.0

    def json_answer(self, body: Any, status: int = 200) -> None:
        self.answer = (status, "application/json", json.dumps(body).encode())

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        is_form = request.content_type == "application/x-www-form-urlencoded"
        self.seen.append(
            Seen(
                request.method,
                dict(request.headers),
                parse_qs(request.query_string, keep_blank_values=True),
                parse_qs(raw.decode(), keep_blank_values=True) if is_form else {},
                json.loads(raw) if request.content_type == "application/json" and raw else None,
            )
        )
        await asyncio.sleep(self.delay)
        status, content_type, body = self.answer
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


async def register(
    sandbox: Sandbox, bot: ApiClient, url: str, method: str = "P", trigger: str = "sev1"
) -> dict[str, Any]:
    body = {
        "team_id": sandbox.team.id,
        "trigger": trigger,
        "url": url,
        "method": method,
        "display_name": "Sev 1",
    }
    created: dict[str, Any] = (await bot.post("/api/v4/commands", body)).json(201)
    return created


async def test_registering_listing_updating_and_deleting_commands(sandbox: Sandbox, people: People) -> None:
    bot, alice = await people("sev1bot"), await people("alice")
    command = await register(sandbox, bot, "http://127.0.0.1:9/cmd")
    assert (
        len(command["token"]) == 26
        and command["trigger"] == "sev1"
        and command["creator_id"] == sandbox.bot.id
    )
    listed = (
        await bot.get("/api/v4/commands", params={"team_id": sandbox.team.id, "custom_only": "true"})
    ).json(200)
    assert [c["id"] for c in listed] == [command["id"]]
    assert (
        await alice.get("/api/v4/commands", params={"team_id": sandbox.team.id, "custom_only": "true"})
    ).status == 403
    assert (await alice.post("/api/v4/commands", {**command, "trigger": "mine"})).status == 403
    duplicate = await bot.post("/api/v4/commands", {**command, "trigger": "SEV1"})
    assert duplicate.body["id"] == "api.command.duplicate_trigger.app_error"
    assert (await bot.post("/api/v4/commands", {**command, "trigger": "echo"})).status == 400
    bad_url = await bot.post("/api/v4/commands", {**command, "trigger": "x1", "url": "ftp://x"})
    assert bad_url.body["id"] == "model.command.is_valid.url_http.app_error"
    path = f"/api/v4/commands/{command['id']}"
    assert (await bot.put(path, {**command, "id": "z" * 26})).status == 400
    updated = (await bot.put(path, {**command, "url": "http://127.0.0.1:9/v2", "token": "ignored"})).json(200)
    assert updated["url"] == "http://127.0.0.1:9/v2" and updated["token"] == command["token"]
    assert (await alice.get(path)).status == 404
    assert (await bot.delete(path)).json(200) == {"status": "OK"}
    assert (await bot.get(path)).status == 404


async def test_execute_sends_every_field_and_header_and_answers_ephemerally(
    sandbox: Sandbox, people: People, driver: Driver, receiver: Receiver
) -> None:
    command = await register(sandbox, await people("sev1bot"), f"{receiver.url}/command")
    receiver.json_answer({"response_type": "ephemeral", "text": "Starting <https://x.test|the playbook>"})
    alice_ws, bob_ws = (
        await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"]),
        await EventStream.connect(sandbox.ws_url, sandbox.tokens["bob"]),
    )
    try:
        alice = await driver("alice")
        town = sandbox.channel("town-square")
        answer = await alice.commands.execute_command(town.id, "/SEV1 start db down @bob ~town-square")
        seen = receiver.seen[0]
        assert seen.method == "POST"
        assert seen.headers["Authorization"] == f"Token {command['token']}"
        assert seen.headers["Accept"] == "application/json"
        assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form: dict[str, Any] = {k: v if len(v) > 1 else v[0] for k, v in seen.form.items()}
        alice_user, bob = sandbox.users["alice"], sandbox.users["bob"]
        assert (
            form["token"] == command["token"]
            and form["team_id"] == sandbox.team.id
            and form["team_domain"] == "mme"
        )
        assert (form["channel_id"], form["channel_name"]) == (town.id, "town-square")
        assert (form["user_id"], form["user_name"]) == (alice_user.id, "alice")
        assert (form["command"], form["text"]) == ("/sev1", "start db down @bob ~town-square")
        assert form["response_url"].startswith(f"{sandbox.url}/hooks/commands/") and form["trigger_id"]
        assert (form["user_mentions"], form["user_mentions_ids"]) == ("bob", bob.id)
        assert (form["channel_mentions"], form["channel_mentions_ids"]) == ("town-square", town.id)
        assert answer["response_type"] == "ephemeral" and len(answer["trigger_id"]) == 26
        event = await alice_ws.next_event("ephemeral_message")
        assert json.loads(event["data"]["post"])["message"] == "Starting [the playbook](https://x.test)"
        assert [f for f in await bob_ws.settle() if f.get("event") == "ephemeral_message"] == []
        assert all(p.message != "Starting [the playbook](https://x.test)" for p in sandbox.posts_in(town.id))
    finally:
        await alice_ws.close()
        await bob_ws.close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            (200, "application/json", b'{"response_type": "in_channel", "text": "Sev 1 started"}'),
            "in_channel",
        ),
        ((200, "text/plain; charset=utf-8", b"plain words"), "ephemeral"),
        ((200, "application/json; charset=utf-8", b'{"text": "no type"}'), "ephemeral"),
    ],
)
async def test_answers_become_posts_the_way_the_server_does_it(
    sandbox: Sandbox, people: People, receiver: Receiver, answer: tuple[int, str, bytes], expected: str
) -> None:
    await register(sandbox, await people("sev1bot"), f"{receiver.url}/command")
    receiver.answer = answer
    stream = await EventStream.connect(sandbox.ws_url, sandbox.tokens["carol"])
    try:
        carol = await people("carol")
        town = sandbox.channel("town-square").id
        reply = await carol.post("/api/v4/commands/execute", {"channel_id": town, "command": "/sev1 start"})
        assert reply.status == 200
        if expected == "in_channel":
            posted = json.loads((await stream.next_event("posted"))["data"]["post"])
            assert (
                posted["user_id"] == sandbox.users["carol"].id and posted["props"]["from_webhook"] == "true"
            )
            assert posted["message"] == "Sev 1 started"
        else:
            shown = json.loads((await stream.next_event("ephemeral_message"))["data"]["post"])
            assert shown["message"] in {"plain words", "no type"} and shown["type"] == "system_ephemeral"
    finally:
        await stream.close()


async def test_failures_of_the_integration_reach_the_caller(
    sandbox: Sandbox, people: People, receiver: Receiver
) -> None:
    await register(sandbox, await people("sev1bot"), f"{receiver.url}/command")
    bob = await people("bob")
    body = {"channel_id": sandbox.channel("town-square").id, "command": "/sev1"}
    receiver.answer = (503, "text/plain", b"down")
    refused = await bob.post("/api/v4/commands/execute", body)
    assert (refused.status, refused.body["id"]) == (500, "api.command.execute_command.failed_resp.app_error")
    receiver.answer = (200, "application/json", b"{not json")
    assert (await bob.post("/api/v4/commands/execute", body)).body[
        "id"
    ] == "api.command.execute_command.failed.app_error"
    sandbox.config.integration_timeout = 0.2
    receiver.delay = 2.0
    slow = await bob.post("/api/v4/commands/execute", body)
    assert (slow.status, slow.body["id"]) == (500, "api.command.execute_command.failed.app_error")
    unknown = await bob.post("/api/v4/commands/execute", {**body, "command": "/nope"})
    assert (unknown.status, unknown.body["id"]) == (404, "api.command.execute_command.not_found.app_error")
    assert (await bob.post("/api/v4/commands/execute", {**body, "command": "sev1"})).status == 400


async def test_commands_only_run_where_the_caller_is_a_member(
    sandbox: Sandbox, people: People, receiver: Receiver
) -> None:
    bot = await people("sev1bot")
    await register(sandbox, bot, f"{receiver.url}/command")
    channel = (
        await bot.post(
            "/api/v4/channels",
            {"team_id": sandbox.team.id, "name": "war-room", "display_name": "W", "type": "O"},
        )
    ).json(201)
    reply = await (await people("carol")).post(
        "/api/v4/commands/execute", {"channel_id": channel["id"], "command": "/sev1"}
    )
    assert reply.status == 403 and receiver.seen == []


async def test_get_commands_send_the_fields_as_query(
    sandbox: Sandbox, people: People, receiver: Receiver
) -> None:
    await register(sandbox, await people("sev1bot"), f"{receiver.url}/command?v=1", method="G")
    await (await people("bob")).post(
        "/api/v4/commands/execute", {"channel_id": sandbox.channel("town-square").id, "command": "/sev1 hi"}
    )
    seen = receiver.seen[0]
    assert (
        seen.method == "GET"
        and seen.query["v"] == ["1"]
        and seen.query["text"] == ["hi"]
        and seen.query["user_name"] == ["bob"]
    )


async def test_response_url_answers_later_a_few_times(
    sandbox: Sandbox, people: People, receiver: Receiver
) -> None:
    await register(sandbox, await people("sev1bot"), f"{receiver.url}/command")
    bob = await people("bob")
    town = sandbox.channel("town-square").id
    await bob.post("/api/v4/commands/execute", {"channel_id": town, "command": "/sev1 start"})
    response_url = receiver.seen[0].form["response_url"][0]
    async with ApiClient("") as anyone:
        answers = [
            await anyone.post(response_url, {"response_type": "in_channel", "text": f"later {i}"})
            for i in range(6)
        ]
        missing = await anyone.post(f"{sandbox.url}/hooks/commands/{'q' * 26}", {"text": "x"})
    assert [a.status for a in answers] == [200] * 5 + [400]
    assert answers[0].body == "ok" and answers[0].headers["Content-Type"].startswith("text/plain")
    assert missing.status == 404
    later = [p for p in sandbox.posts_in(town) if p.message.startswith("later")]
    assert [p.message for p in later] == [f"later {i}" for i in range(5)] and later[
        0
    ].user_id == sandbox.users["bob"].id


def button_post(sandbox: Sandbox, url: str, channel_id: str) -> dict[str, Any]:
    action = {
        "name": "Acknowledge",
        "type": "button",
        "integration": {"url": url, "context": {"incident": "42", "sig": "s"}},
    }
    return {
        "channel_id": channel_id,
        "message": "Sev 1 open",
        "props": {"attachments": [{"text": "x", "actions": [action]}]},
    }


async def test_button_click_posts_the_integration_request_and_applies_the_update(
    sandbox: Sandbox, people: People, driver: Driver, receiver: Receiver
) -> None:
    bot = await people("sev1bot")
    town = sandbox.channel("town-square").id
    post = (await bot.post("/api/v4/posts", button_post(sandbox, f"{receiver.url}/action", town))).json(201)
    action_id = post["props"]["attachments"][0]["actions"][0]["id"]
    receiver.json_answer(
        {
            "update": {"message": "Acknowledged by alice", "props": {"attachments": []}},
            "ephemeral_text": "Thanks",
        }
    )
    stream = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"])
    try:
        alice = await driver("alice")
        answer = await alice.posts.do_post_action(post["id"], action_id)
        request = receiver.seen[0].json
        assert receiver.seen[0].headers["Content-Type"] == "application/json"
        assert request == {
            "user_id": sandbox.users["alice"].id,
            "user_name": "alice",
            "channel_id": town,
            "channel_name": "town-square",
            "team_id": sandbox.team.id,
            "team_domain": "mme",
            "post_id": post["id"],
            "trigger_id": request["trigger_id"],
            "type": "button",
            "data_source": "",
            "context": {"incident": "42", "sig": "s"},
        }
        assert answer["status"] == "OK" and len(answer["trigger_id"]) == 26
        edited = json.loads((await stream.next_event("post_edited"))["data"]["post"])
        # the update replaces props; only from_webhook and override_* are kept (from_bot is not)
        assert edited["message"] == "Acknowledged by alice" and edited["props"] == {"attachments": []}
        assert (
            json.loads((await stream.next_event("ephemeral_message"))["data"]["post"])["message"] == "Thanks"
        )
    finally:
        await stream.close()


async def test_button_errors(sandbox: Sandbox, people: People, receiver: Receiver) -> None:
    bot = await people("sev1bot")
    private = (
        await bot.post(
            "/api/v4/channels",
            {"team_id": sandbox.team.id, "name": "closed", "display_name": "C", "type": "P"},
        )
    ).json(201)
    post = (
        await bot.post("/api/v4/posts", button_post(sandbox, f"{receiver.url}/action", private["id"]))
    ).json(201)
    action_id = post["props"]["attachments"][0]["actions"][0]["id"]
    path = f"/api/v4/posts/{post['id']}/actions/{action_id}"
    assert (await (await people("carol")).post(path)).status == 403
    assert (await bot.post(f"/api/v4/posts/{post['id']}/actions/nosuchaction")).status == 404
    receiver.answer = (500, "text/plain", b"boom")
    failed = await bot.post(path, {"selected_option": ""})
    assert (failed.status, failed.body["id"]) == (400, "api.post.do_action.action_integration.app_error")


async def test_buttons_on_ephemeral_posts_are_clicked_with_their_cookie(
    sandbox: Sandbox, people: People, receiver: Receiver
) -> None:
    sandbox.users["ian.tien"].roles = "system_user system_admin"
    ian = await people("ian.tien")
    town = sandbox.channel("town-square").id
    stream = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"])
    try:
        body = {
            "user_id": sandbox.users["alice"].id,
            "post": button_post(sandbox, f"{receiver.url}/action", town),
        }
        (await ian.post("/api/v4/posts/ephemeral", body)).json(201)
        shown = json.loads((await stream.next_event("ephemeral_message"))["data"]["post"])
        action = shown["props"]["attachments"][0]["actions"][0]
        assert "integration" not in action and action["cookie"]
        alice = await people("alice")
        clicked = await alice.post(
            f"/api/v4/posts/{shown['id']}/actions/{action['id']}", {"cookie": action["cookie"]}
        )
        assert clicked.json(200)["status"] == "OK"
        assert receiver.seen[0].json["context"] == {"incident": "42", "sig": "s"}
        forged = await alice.post(f"/api/v4/posts/{shown['id']}/actions/{action['id']}", {"cookie": "forged"})
        assert forged.status == 400
    finally:
        await stream.close()
