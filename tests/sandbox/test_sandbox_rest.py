"""The sandbox's REST API: shapes, status codes, errors and permissions of the real server."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from mattermostautodriver import AsyncTypedDriver
from mattermostautodriver.exceptions import InvalidOrMissingParameters, NotEnoughPermissions

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient

People = Callable[[str], Awaitable[ApiClient]]
Driver = Callable[[str], Awaitable[AsyncTypedDriver]]
ID = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$")


async def new_channel(client: ApiClient, sandbox: Sandbox, name: str, kind: str = "O") -> dict[str, str]:
    body = {"team_id": sandbox.team.id, "name": name, "display_name": name.title(), "type": kind}
    created: dict[str, str] = (await client.post("/api/v4/channels", body)).json(201)
    return created


async def test_driver_logs_in_with_a_token_and_learns_its_user_id(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    assert bot.client.userid == sandbox.bot.id
    me = await bot.users.get_user("me")
    assert me["username"] == "sev1bot" and me["is_bot"] is True
    assert ID.match(me["id"]) and isinstance(me["create_at"], int) and me["create_at"] > 1_600_000_000_000


@pytest.mark.contract_bad_requests
async def test_json_answers_carry_exact_headers_and_errors_carry_the_request_id(
    sandbox: Sandbox, people: People
) -> None:
    alice = await people("alice")
    ok = await alice.get("/api/v4/users/me")
    assert ok.headers["Content-Type"] == "application/json"
    assert ID.match(ok.headers["X-Request-Id"]) and ok.headers["X-Version-Id"].startswith("11.")
    missing = await alice.get(f"/api/v4/users/{'x' * 26}")
    assert missing.status == 404 and missing.headers["Content-Type"] == "application/json"
    assert missing.body["request_id"] == missing.headers["X-Request-Id"]
    assert set(missing.body) == {"id", "message", "detailed_error", "request_id", "status_code"}
    assert missing.body["status_code"] == 404
    unknown = await alice.get("/api/v4/no/such/route")
    assert (unknown.status, unknown.body["id"]) == (404, "api.context.404.app_error")


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, None, 401),
        ({"Authorization": "Bearer nottoken"}, None, 401),
        ({"Authorization": "BEARER {token}"}, None, 200),
        ({"Authorization": "bearer {token}"}, None, 200),
        ({"Authorization": "Token {token}"}, None, 200),
        ({"Cookie": "MMAUTHTOKEN={token}"}, None, 200),
        ({}, {"access_token": "{token}"}, 200),
    ],
)
async def test_every_token_location_the_server_accepts(
    sandbox: Sandbox, headers: dict[str, str], params: dict[str, str] | None, status: int
) -> None:
    token = sandbox.tokens["bob"]
    headers = {k: v.format(token=token) for k, v in headers.items()}
    params = {k: v.format(token=token) for k, v in params.items()} if params else None
    async with ApiClient(sandbox.url) as anonymous:
        reply = await anonymous.get("/api/v4/users/me", headers=headers, params=params)
    assert reply.status == status
    if status == 401:
        assert reply.body["id"] == "api.context.session_expired.app_error"
    else:
        assert reply.body["username"] == "bob"


async def test_cookie_sessions_need_the_csrf_header_on_writes(sandbox: Sandbox) -> None:
    cookie = {"Cookie": f"MMAUTHTOKEN={sandbox.tokens['bob']}"}
    body = {"channel_id": sandbox.channel("town-square").id, "message": "hi"}
    async with ApiClient(sandbox.url) as browser:
        refused = await browser.post("/api/v4/posts", body, headers=cookie)
        accepted = await browser.post(
            "/api/v4/posts", body, headers={**cookie, "X-Requested-With": "XMLHttpRequest"}
        )
    assert refused.status == 401 and accepted.status == 201


async def test_users_by_id_username_and_a_list_of_usernames(sandbox: Sandbox, people: People) -> None:
    alice = await people("alice")
    brent = sandbox.users["brent.fox"]
    assert (await alice.get(f"/api/v4/users/{brent.id}")).json(200)["username"] == "brent.fox"
    assert (await alice.get("/api/v4/users/username/ian.tien")).json(200)["first_name"] == "Ian"
    found = (await alice.post("/api/v4/users/usernames", ["bob", "nobody", "carol"])).json(200)
    assert sorted(u["username"] for u in found) == ["bob", "carol"]
    # A miss by name has its own id (channels/app/user.go GetUserByUsername), not MissingAccountError.
    missing = (await alice.get("/api/v4/users/username/nobody")).json(404)
    assert missing["id"] == "app.user.get_by_username.app_error"
    assert missing["message"].startswith("Unable to find an existing account matching your username")


async def test_team_by_name_and_its_members(sandbox: Sandbox, people: People) -> None:
    alice = await people("alice")
    team = (await alice.get("/api/v4/teams/name/mme")).json(200)
    assert team["id"] == sandbox.team.id
    members = (await alice.get(f"/api/v4/teams/{team['id']}/members")).json(200)
    assert {m["user_id"] for m in members} == {u.id for u in sandbox.users.values()}
    assert (await alice.get("/api/v4/teams/name/nope")).status == 404


async def test_channel_create_get_and_duplicate_name(
    sandbox: Sandbox, driver: Driver, people: People
) -> None:
    bot = await driver("sev1bot")
    created = await bot.channels.create_channel(
        team_id=sandbox.team.id, name="sev1-db", display_name="Sev1 DB", type="P"
    )
    assert created["type"] == "P" and created["creator_id"] == sandbox.bot.id and ID.match(created["id"])
    assert (await bot.channels.get_channel(created["id"]))["name"] == "sev1-db"
    assert (await bot.channels.get_channel_by_name(sandbox.team.id, "sev1-db"))["id"] == created["id"]
    with pytest.raises(InvalidOrMissingParameters) as duplicate:
        await bot.channels.create_channel(
            team_id=sandbox.team.id, name="sev1-db", display_name="Again", type="O"
        )
    assert duplicate.value.error_id == "store.sql_channel.save_channel.exists.app_error"
    alice = await people("alice")
    assert (await alice.get(f"/api/v4/channels/{created['id']}")).status == 403
    assert (await alice.get(f"/api/v4/teams/{sandbox.team.id}/channels/name/sev1-db")).status == 404


@pytest.mark.contract_bad_requests
@pytest.mark.parametrize(
    ("body", "error_id"),
    [
        (
            {"name": "Bad Name", "display_name": "x", "type": "O"},
            "model.channel.is_valid.2_or_more.app_error",
        ),
        (
            {"name": "ok-name", "display_name": "", "type": "O"},
            "model.channel.is_valid.display_name.app_error",
        ),
        ({"name": "ok-name", "display_name": "x", "type": "X"}, "model.channel.is_valid.type.app_error"),
        ({"name": 5, "display_name": "x", "type": "O"}, "api.context.invalid_body_param.app_error"),
    ],
)
async def test_invalid_channels_are_refused_naming_the_field(
    sandbox: Sandbox, people: People, body: dict[str, object], error_id: str
) -> None:
    bot = await people("sev1bot")
    reply = await bot.post("/api/v4/channels", {"team_id": sandbox.team.id, **body})
    assert (reply.status, reply.body["id"]) == (400, error_id)


@pytest.mark.contract_bad_requests
async def test_malformed_json_is_a_400(sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.tokens['bob']}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.url}/api/v4/posts", data=b"{nope", headers=headers) as r,
    ):
        assert r.status == 400 and (await r.json())["status_code"] == 400


async def test_add_member_answers_one_member_and_a_batch_answers_an_array(
    sandbox: Sandbox, people: People
) -> None:
    bot = await people("sev1bot")
    channel = await new_channel(bot, sandbox, "sev1-members", "P")
    path = f"/api/v4/channels/{channel['id']}/members"
    single = (
        await bot.post(
            path, {"user_id": sandbox.users["alice"].id, "channel_id": channel["id"], "post_root_id": ""}
        )
    ).json(201)
    assert isinstance(single, dict) and single["user_id"] == sandbox.users["alice"].id
    batch = (await bot.post(path, {"user_ids": [sandbox.users["bob"].id, sandbox.users["carol"].id]})).json(
        201
    )
    assert isinstance(batch, list) and [m["user_id"] for m in batch] == [
        sandbox.users["bob"].id,
        sandbox.users["carol"].id,
    ]
    members = (await bot.get(path)).json(200)
    assert len(members) == 4
    system = [p for p in sandbox.posts_in(channel["id"]) if p.type == "system_add_to_channel"]
    assert [p.message for p in system] == [
        "@alice added to the channel by @sev1bot.",
        "@bob added to the channel by @sev1bot.",
        "@carol added to the channel by @sev1bot.",
    ]
    assert (await bot.post(path, {})).status == 400


async def test_direct_channel_from_a_bare_array(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    pair = [sandbox.bot.id, sandbox.users["ian.tien"].id]
    direct = await bot.channels.create_direct_channel(pair)
    assert direct["type"] == "D" and direct["name"] == "__".join(sorted(pair)) and direct["team_id"] == ""
    again = await bot.channels.create_direct_channel(list(reversed(pair)))
    assert again["id"] == direct["id"]


async def test_posts_create_patch_get_thread_and_delete(
    sandbox: Sandbox, driver: Driver, people: People
) -> None:
    bot = await driver("sev1bot")
    town = sandbox.channel("town-square").id
    root = await bot.posts.create_post(channel_id=town, message="Sev 1 declared")
    assert (
        root["user_id"] == sandbox.bot.id
        and root["props"]["from_bot"] == "true"
        and root["create_at"] == root["update_at"]
    )
    reply = await bot.posts.create_post(channel_id=town, message="checklist", root_id=root["id"])
    patched = await bot.posts.patch_post(root["id"], message="Sev 1 declared: DB", props={"k": {"nested": 1}})
    assert patched["edit_at"] > 0 and patched["props"]["k"] == {"nested": 1}
    assert (await bot.posts.get_post(root["id"]))["message"] == "Sev 1 declared: DB"
    thread = await bot.posts.get_post_thread(root["id"])
    assert (
        set(thread["order"]) == {root["id"], reply["id"]} and thread["posts"][root["id"]]["reply_count"] == 1
    )
    alice = await people("alice")
    assert (await alice.put(f"/api/v4/posts/{root['id']}/patch", {"message": "hijack"})).status == 403
    assert (await alice.delete(f"/api/v4/posts/{root['id']}")).status == 403
    assert (await bot.posts.delete_post(root["id"])) == {"status": "OK"}
    assert (await alice.get(f"/api/v4/posts/{root['id']}")).status == 404
    assert (await alice.get(f"/api/v4/posts/{reply['id']}")).status == 404


async def test_channel_posts_pages_and_since(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    channel = await bot.channels.create_channel(
        team_id=sandbox.team.id, name="paging", display_name="Paging", type="O"
    )
    made = [await bot.posts.create_post(channel_id=channel["id"], message=f"m{i}") for i in range(5)]
    first = await bot.posts.get_posts_for_channel(channel["id"], page=0, per_page=2)
    assert first["order"] == [made[4]["id"], made[3]["id"]]
    second = await bot.posts.get_posts_for_channel(channel["id"], page=1, per_page=2)
    assert second["order"] == [made[2]["id"], made[1]["id"]]
    since = await bot.posts.get_posts_for_channel(channel["id"], since=made[2]["create_at"])
    assert set(since["order"]) >= {made[3]["id"], made[4]["id"]} and made[0]["id"] not in since["order"]


async def test_pending_post_id_returns_the_same_post(sandbox: Sandbox, people: People) -> None:
    bob = await people("bob")
    body = {
        "channel_id": sandbox.channel("town-square").id,
        "message": "once",
        "pending_post_id": f"{sandbox.users['bob'].id}:1",
    }
    first = (await bob.post("/api/v4/posts", body)).json(201)
    second = (await bob.post("/api/v4/posts", body)).json(201)
    assert first["id"] == second["id"] and first["pending_post_id"] == body["pending_post_id"]
    assert [p.message for p in sandbox.posts_in(body["channel_id"])].count("once") == 1


async def test_posting_needs_membership_even_in_public_channels(sandbox: Sandbox, people: People) -> None:
    bot = await people("sev1bot")
    public = await new_channel(bot, sandbox, "sev1-public")
    private = await new_channel(bot, sandbox, "sev1-private", "P")
    await bot.post("/api/v4/posts", {"channel_id": public["id"], "message": "hello"})
    carol = await people("carol")
    assert (await carol.post("/api/v4/posts", {"channel_id": public["id"], "message": "x"})).status == 403
    assert (await carol.get(f"/api/v4/channels/{public['id']}/posts")).status == 200
    assert (await carol.get(f"/api/v4/channels/{private['id']}/posts")).status == 403
    assert (await carol.post("/api/v4/posts", {"channel_id": "y" * 26, "message": "x"})).status == 403


async def test_reactions_save_list_and_delete(sandbox: Sandbox, driver: Driver) -> None:
    alice = await driver("alice")
    post = await alice.posts.create_post(channel_id=sandbox.channel("town-square").id, message="react to me")
    saved = await alice.reactions.save_reaction(
        {"user_id": alice.client.userid, "post_id": post["id"], "emoji_name": "white_check_mark"}
    )
    assert saved["channel_id"] == post["channel_id"] and saved["emoji_name"] == "white_check_mark"
    assert [r["emoji_name"] for r in await alice.reactions.get_reactions(post["id"])] == ["white_check_mark"]
    assert (await alice.posts.get_post(post["id"]))["metadata"]["reactions"][0][
        "user_id"
    ] == alice.client.userid
    with pytest.raises(NotEnoughPermissions):
        await alice.reactions.save_reaction(
            {"user_id": sandbox.users["bob"].id, "post_id": post["id"], "emoji_name": "x"}
        )
    assert await alice.reactions.delete_reaction(alice.client.userid, post["id"], "white_check_mark") == {
        "status": "OK"
    }
    assert await alice.reactions.get_reactions(post["id"]) == []


async def test_pin_and_unpin_answer_status_ok(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    post = await bot.posts.create_post(channel_id=sandbox.channel("town-square").id, message="pin me")
    assert await bot.posts.pin_post(post["id"]) == {"status": "OK"}
    assert (await bot.posts.get_post(post["id"]))["is_pinned"] is True
    assert await bot.posts.unpin_post(post["id"]) == {"status": "OK"}
    assert (await bot.posts.get_post(post["id"]))["is_pinned"] is False


async def test_ephemeral_posts_need_a_system_admin(sandbox: Sandbox, people: People) -> None:
    body = {
        "user_id": sandbox.users["alice"].id,
        "post": {"channel_id": sandbox.channel("town-square").id, "message": "psst"},
    }
    assert (await (await people("sev1bot")).post("/api/v4/posts/ephemeral", body)).status == 403
    sandbox.users["ian.tien"].roles = "system_user system_admin"
    made = (await (await people("ian.tien")).post("/api/v4/posts/ephemeral", body)).json(201)
    assert made["type"] == "system_ephemeral" and made["message"] == "psst"
    assert made["id"] not in sandbox.state.posts


async def test_patching_a_channel_posts_a_system_message(sandbox: Sandbox, people: People) -> None:
    bot = await people("sev1bot")
    channel = await new_channel(bot, sandbox, "sev1-header")
    patched = (
        await bot.put(f"/api/v4/channels/{channel['id']}/patch", {"header": "Status: open", "purpose": "x"})
    ).json(200)
    assert patched["header"] == "Status: open" and patched["update_at"] >= channel["update_at"]
    messages = {p.type: p.message for p in sandbox.posts_in(channel["id"])}
    assert messages["system_header_change"] == "sev1bot updated the channel header to: Status: open"
    assert messages["system_join_channel"] == "sev1bot joined the channel."
    assert (
        await (await people("carol")).put(f"/api/v4/channels/{channel['id']}/patch", {"header": "x"})
    ).status == 403


async def test_buttons_get_ids_and_clients_never_see_the_integration(
    sandbox: Sandbox, people: People
) -> None:
    bot = await people("sev1bot")
    action = {"name": "Ack", "integration": {"url": "http://127.0.0.1:1/secret", "context": {"k": "v"}}}
    body = {
        "channel_id": sandbox.channel("town-square").id,
        "message": "",
        "props": {"attachments": [{"actions": [action]}]},
    }
    created = (await bot.post("/api/v4/posts", body)).json(201)
    shown = created["props"]["attachments"][0]["actions"][0]
    assert ID.match(shown["id"]) and "integration" not in shown
    stored = sandbox.state.posts[created["id"]].props["attachments"][0]["actions"][0]
    assert stored["integration"]["url"] == "http://127.0.0.1:1/secret" and stored["id"] == shown["id"]
