"""Deactivated users, as the server treats them (app/user.go UpdateActive, app/channel.go AddChannelMember,
platform/web_conn.go ShouldSendEvent): deactivate and reactivate over the admin route or from the seed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from mattermostautodriver import AsyncTypedDriver
from mattermostautodriver.exceptions import NotEnoughPermissions, ResourceNotFound

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.cli import banner
from sev1bot.sandbox.client import ApiClient, EventStream
from sev1bot.sandbox.seed import Seed, SeedError, SeedUser, load_seed
from testkit import SandboxStarter

People = Callable[[str], Awaitable[ApiClient]]
Driver = Callable[[str], Awaitable[AsyncTypedDriver]]


def admin(sandbox: Sandbox) -> ApiClient:
    return ApiClient(sandbox.url, sandbox.admin_token)


async def set_active(sandbox: Sandbox, username: str, active: object) -> tuple[int, object]:
    async with admin(sandbox) as control:
        reply = await control.put(f"/sandbox/admin/users/{username}/active", {"active": active})
    return reply.status, reply.body


async def test_the_admin_route_deactivates_and_reactivates_and_get_user_shows_delete_at(
    sandbox: Sandbox, people: People
) -> None:
    carol = sandbox.users["carol"]
    alice = await people("alice")
    before = (await alice.get(f"/api/v4/users/{carol.id}")).json(200)
    assert before["delete_at"] == 0

    status, body = await set_active(sandbox, "carol", False)
    assert status == 200 and isinstance(body, dict), body
    assert body["id"] == carol.id and body["delete_at"] > 0 and body["update_at"] == body["delete_at"]
    shown = (await alice.get(f"/api/v4/users/{carol.id}")).json(200)
    assert shown["delete_at"] == body["delete_at"]
    by_name = (await alice.get("/api/v4/users/username/carol")).json(200)
    assert by_name["delete_at"] == body["delete_at"]

    status, body = await set_active(sandbox, "carol", True)
    assert status == 200 and isinstance(body, dict) and body["delete_at"] == 0
    assert (await alice.get(f"/api/v4/users/{carol.id}")).json(200)["delete_at"] == 0


async def test_the_admin_route_checks_its_token_and_body(sandbox: Sandbox) -> None:
    async with ApiClient(sandbox.url, "wrong") as intruder:
        refused = await intruder.put("/sandbox/admin/users/carol/active", {"active": False})
    assert refused.status == 401
    status, body = await set_active(sandbox, "carol", "no")
    assert (
        status == 400 and isinstance(body, dict) and body["id"] == "api.context.invalid_body_param.app_error"
    )
    status, body = await set_active(sandbox, "nobody", False)
    assert status == 404 and isinstance(body, dict) and body["id"] == "app.user.get_by_username.app_error"
    assert sandbox.users["carol"].delete_at == 0


async def test_a_deactivated_users_token_answers_401_until_reactivated(
    sandbox: Sandbox, people: People
) -> None:
    carol = await people("carol")
    assert (await carol.get("/api/v4/users/me")).status == 200
    sandbox.set_active("carol", False)
    refused = await carol.get("/api/v4/users/me")
    assert refused.status == 401 and refused.body["id"] == "api.context.session_expired.app_error"
    posted = await carol.post(
        "/api/v4/posts", {"channel_id": sandbox.channel("town-square").id, "message": "x"}
    )
    assert posted.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await EventStream.connect(sandbox.ws_url, sandbox.tokens["carol"])
    assert handshake.value.status == 401
    sandbox.set_active("carol", True)  # a personal access token works again; the server makes a new session
    assert (await carol.get("/api/v4/users/me")).status == 200


async def test_adding_a_deactivated_user_to_a_channel_is_403(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    channel = await bot.channels.create_channel(
        team_id=sandbox.team.id, name="sev1-incident", display_name="Sev 1", type="P"
    )
    alice, carol = sandbox.users["alice"], sandbox.users["carol"]
    await bot.channels.add_channel_member(channel["id"], user_id=alice.id)
    sandbox.set_active("alice", False)
    sandbox.set_active("carol", False)
    with pytest.raises(NotEnoughPermissions) as refused:
        await bot.channels.add_channel_member(channel["id"], user_id=carol.id)
    assert (refused.value.status_code, refused.value.error_id) == (
        403,
        "app.channel.add_member.deleted_user.app_error",
    )
    assert sandbox.state.channel_member(channel["id"], carol.id) is None
    # An existing member is returned before the check, as AddChannelMember does.
    again = await bot.channels.add_channel_member(channel["id"], user_id=alice.id)
    assert again["user_id"] == alice.id
    sandbox.set_active("carol", True)
    added = await bot.channels.add_channel_member(channel["id"], user_id=carol.id)
    assert added["user_id"] == carol.id


async def test_user_updated_goes_to_everyone_and_the_deactivated_user_hears_nothing(sandbox: Sandbox) -> None:
    carol = sandbox.users["carol"]
    alice_ws = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"])
    carol_ws = await EventStream.connect(sandbox.ws_url, sandbox.tokens["carol"])
    try:
        await alice_ws.next_event("hello")
        await carol_ws.next_event("hello")
        sandbox.set_active("carol", False)
        event = await alice_ws.next_event("user_updated")
        assert event["data"]["user"]["id"] == carol.id and event["data"]["user"]["delete_at"] > 0
        assert event["broadcast"]["omit_users"] == {carol.id: True}
        # Carol's socket stays open but gets nothing: not the event about her, not a post in her channel.
        async with ApiClient(sandbox.url, sandbox.tokens["bob"]) as bob:
            town = sandbox.channel("town-square").id
            assert (await bob.post("/api/v4/posts", {"channel_id": town, "message": "hi"})).status == 201
        await alice_ws.next_event("posted")
        assert await carol_ws.settle() == []

        sandbox.set_active("carol", True)
        back = await alice_ws.next_event("user_updated")
        assert back["data"]["user"]["id"] == carol.id and back["data"]["user"]["delete_at"] == 0
        own = await carol_ws.next_event("user_updated")  # to herself, once her token works again
        assert own["broadcast"]["user_id"] == carol.id and own["data"]["user"]["delete_at"] == 0
        assert [f for f in await alice_ws.settle() if f.get("event") == "user_updated"] == []
    finally:
        await alice_ws.close()
        await carol_ws.close()


async def test_a_seeded_user_can_start_deactivated(start_sandbox: SandboxStarter) -> None:
    seed = load_seed()
    seed = Seed(
        team=seed.team,
        users=[*seed.users, SeedUser(username="dave", first_name="Dave", deactivated=True)],
        bot=seed.bot,
        channels=seed.channels,
    )
    async with start_sandbox(seed) as sandbox:
        dave = sandbox.users["dave"]
        assert dave.delete_at > 0
        async with sandbox.client("dave") as client:
            assert (await client.get("/api/v4/users/me")).status == 401
        async with sandbox.client("alice") as alice:
            assert (await alice.get(f"/api/v4/users/{dave.id}")).json(200)["delete_at"] == dave.delete_at
        assert sandbox.describe()["users"]["dave"]["active"] is False
        assert "dave (deactivated)" in banner(sandbox)
        assert "alice (deactivated)" not in banner(sandbox)


def test_the_seed_file_field_is_a_flag(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text("team: {name: ops, display_name: Ops}\nusers: [{username: dana, deactivated: true}]\n")
    assert load_seed(path).users[0].deactivated is True
    path.write_text("team: {name: ops, display_name: Ops}\nusers: [{username: dana, deactivated: maybe}]\n")
    with pytest.raises(SeedError, match=r"users\[0\]\.deactivated"):
        load_seed(path)


async def test_the_driver_cannot_look_up_a_missing_user_but_sees_a_deactivated_one(
    sandbox: Sandbox, driver: Driver
) -> None:
    bot = await driver("sev1bot")
    sandbox.set_active("carol", False)
    found = await bot.users.get_user_by_username("carol")
    assert found["delete_at"] > 0
    with pytest.raises(ResourceNotFound):
        await bot.users.get_user_by_username("nobody")
