"""The sandbox's websocket: authentication, event shapes and audiences, replies, pings and resuming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient, EventStream

People = Callable[[str], Awaitable[ApiClient]]
Listen = Callable[..., Awaitable[EventStream]]


@pytest.fixture
async def listen(sandbox: Sandbox) -> AsyncIterator[Listen]:
    """``await listen("alice")``: a websocket authenticated on the upgrade (pass token="" for none)."""
    streams: list[EventStream] = []

    async def connect(username: str = "", **kwargs: object) -> EventStream:
        token = sandbox.tokens[username] if username else ""
        streams.append(await EventStream.connect(sandbox.ws_url, token, **kwargs))  # type: ignore[arg-type]
        return streams[-1]

    yield connect
    for stream in streams:
        await stream.close()


async def post(client: ApiClient, channel_id: str, message: str, **extra: object) -> dict[str, object]:
    created: dict[str, object] = (
        await client.post("/api/v4/posts", {"channel_id": channel_id, "message": message, **extra})
    ).json(201)
    return created


async def test_hello_first_with_connection_id_and_version(sandbox: Sandbox, listen: Listen) -> None:
    alice = await listen("alice")
    hello = await alice.receive()
    assert hello["event"] == "hello" and hello["seq"] == 0
    assert len(hello["data"]["connection_id"]) == 26 and hello["data"]["server_version"].startswith("11.")
    assert hello["broadcast"] == {
        "omit_users": None,
        "user_id": sandbox.users["alice"].id,
        "channel_id": "",
        "team_id": "",
        "connection_id": "",
        "omit_connection_id": "",
    }


@pytest.mark.parametrize("where", ["cookie", "query"])
async def test_upgrade_authenticated_by_cookie_or_query(sandbox: Sandbox, listen: Listen, where: str) -> None:
    token = sandbox.tokens["bob"]
    if where == "cookie":
        stream = await listen(headers={"Cookie": f"MMAUTHTOKEN={token}"})
    else:
        stream = await listen(query={"access_token": token})
    assert (await stream.receive())["broadcast"]["user_id"] == sandbox.users["bob"].id


async def test_challenge_then_ping_without_waiting_like_the_web_app(sandbox: Sandbox, listen: Listen) -> None:
    stream = await listen(query={"connection_id": "", "sequence_number": "0", "posted_ack": "true"})
    await stream.send("authentication_challenge", 1, {"token": sandbox.tokens["carol"]})
    await stream.ws.send_json({"action": "ping", "seq": 2})
    hello, ok, pong = [await stream.receive() for _ in range(3)]
    assert hello["event"] == "hello" and hello["seq"] == 0
    assert ok == {"status": "OK", "seq_reply": 1}
    assert pong["seq_reply"] == 2 and pong["data"]["text"] == "pong" and "seq" not in pong


async def test_bad_token_on_the_upgrade_is_http_401(sandbox: Sandbox) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await EventStream.connect(sandbox.ws_url, "not-a-token")
    assert refused.value.status == 401


async def test_bad_token_in_the_challenge_cuts_without_a_close_frame(listen: Listen) -> None:
    stream = await listen()
    await stream.send("authentication_challenge", 1, {"token": "not-a-token"})
    with pytest.raises(ConnectionError, match="1006"):
        await stream.receive()


async def test_unauthenticated_sockets_are_cut(sandbox: Sandbox, listen: Listen) -> None:
    sandbox.config.unauthenticated_timeout = 0.2
    stream = await listen()
    await stream.ws.send_json({"action": "ping", "seq": 1})  # no reply: not authenticated yet
    with pytest.raises(ConnectionError, match="1006"):
        await stream.receive(within=3)


async def test_posted_event_shape_and_mentions_only_for_the_mentioned(
    sandbox: Sandbox, listen: Listen, people: People
) -> None:
    alice, bob = await listen("alice"), await listen("bob")
    carol = await people("carol")
    sent = await post(carol, sandbox.channel("town-square").id, "need @alice now")
    for_alice, for_bob = await alice.next_event("posted"), await bob.next_event("posted")
    assert for_alice["seq"] == 1 and for_alice["broadcast"]["channel_id"] == sent["channel_id"]
    data = for_alice["data"]
    assert isinstance(data["post"], str) and json.loads(data["post"])["id"] == sent["id"]
    assert (data["channel_type"], data["channel_name"], data["sender_name"]) == ("O", "town-square", "@carol")
    assert (
        data["channel_display_name"] == "Town Square"
        and data["team_id"] == sandbox.team.id
        and data["set_online"] is True
    )
    assert data["mentions"] == json.dumps([sandbox.users["alice"].id])
    assert "mentions" not in for_bob["data"]


async def test_every_event_kind_and_its_audience(sandbox: Sandbox, listen: Listen, people: People) -> None:
    bot_ws, alice_ws, bob_ws = await listen("sev1bot"), await listen("alice"), await listen("bob")
    for stream in (bot_ws, alice_ws, bob_ws):
        await stream.receive()
    bot = await people("sev1bot")
    channel = (
        await bot.post(
            "/api/v4/channels",
            {"team_id": sandbox.team.id, "name": "sev1-x", "display_name": "X", "type": "P"},
        )
    ).json(201)
    created = await bot_ws.next_event("channel_created")
    assert created["data"] == {"channel_id": channel["id"], "team_id": sandbox.team.id}
    await bot.post(f"/api/v4/channels/{channel['id']}/members", {"user_id": sandbox.users["alice"].id})
    added = await alice_ws.next_event("user_added")
    assert added["data"] == {"user_id": sandbox.users["alice"].id, "team_id": sandbox.team.id}
    assert added["broadcast"]["channel_id"] == channel["id"]
    sent = await post(bot, channel["id"], "private")
    system = json.loads((await alice_ws.next_event("posted"))["data"]["post"])
    assert (
        system["type"] == "system_add_to_channel"
        and system["props"]["addedUserId"] == sandbox.users["alice"].id
    )
    assert json.loads((await alice_ws.next_event("posted"))["data"]["post"])["id"] == sent["id"]
    await bot.put(f"/api/v4/posts/{sent['id']}/patch", {"message": "edited"})
    assert json.loads((await alice_ws.next_event("post_edited"))["data"]["post"])["message"] == "edited"
    alice = await people("alice")
    await alice.post(
        "/api/v4/reactions",
        {"user_id": sandbox.users["alice"].id, "post_id": sent["id"], "emoji_name": "eyes"},
    )
    reaction = json.loads((await bot_ws.next_event("reaction_added"))["data"]["reaction"])
    assert (
        reaction["channel_id"] == channel["id"]
        and reaction["emoji_name"] == "eyes"
        and reaction["post_id"] == sent["id"]
    )
    await alice.delete(f"/api/v4/users/{sandbox.users['alice'].id}/posts/{sent['id']}/reactions/eyes")
    assert (
        json.loads((await bot_ws.next_event("reaction_removed"))["data"]["reaction"])["emoji_name"] == "eyes"
    )
    await bot.delete(f"/api/v4/posts/{sent['id']}")
    assert json.loads((await alice_ws.next_event("post_deleted"))["data"]["post"])["id"] == sent["id"]
    direct = (await bot.post("/api/v4/channels/direct", [sandbox.bot.id, sandbox.users["alice"].id])).json(
        201
    )
    assert (await alice_ws.next_event("direct_added"))["broadcast"]["channel_id"] == direct["id"]
    assert await bob_ws.settle() == [], "bob is in none of these channels and must hear nothing"


async def test_sequence_numbers_have_no_gaps(sandbox: Sandbox, listen: Listen, people: People) -> None:
    stream = await listen("alice")
    bob = await people("bob")
    for i in range(5):
        await post(bob, sandbox.channel("off-topic").id, f"m{i}")
    await stream.ws.send_json({"action": "ping", "seq": 7})
    frames = [await stream.receive() for _ in range(7)]
    assert [f.get("seq") for f in frames[:6]] == list(range(6))
    assert frames[6]["seq_reply"] == 7 and "seq" not in frames[6]


async def test_ephemeral_goes_to_its_user_only(sandbox: Sandbox, listen: Listen, people: People) -> None:
    alice_ws, bob_ws = await listen("alice"), await listen("bob")
    await alice_ws.receive()
    await bob_ws.receive()
    sandbox.users["ian.tien"].roles = "system_user system_admin"
    ian = await people("ian.tien")
    town = sandbox.channel("town-square").id
    body = {"user_id": sandbox.users["alice"].id, "post": {"channel_id": town, "message": "only you"}}
    (await ian.post("/api/v4/posts/ephemeral", body)).json(201)
    event = await alice_ws.next_event("ephemeral_message")
    assert (
        event["broadcast"]["user_id"] == sandbox.users["alice"].id
        and event["broadcast"]["channel_id"] == town
    )
    assert json.loads(event["data"]["post"])["message"] == "only you"
    assert await bob_ws.settle() == []


async def test_bad_frames_get_fail_replies(listen: Listen) -> None:
    stream = await listen("alice")
    await stream.receive()
    await stream.send("no_such_action", 3)
    await stream.send("ping", 0)
    unknown, bad_seq = await stream.receive(), await stream.receive()
    assert unknown["status"] == "FAIL" and unknown["seq_reply"] == 3
    assert unknown["error"]["id"] == "api.web_socket_router.bad_action.app_error"
    assert bad_seq["error"]["id"] == "api.web_socket_router.bad_seq.app_error"


async def test_server_pings_at_the_configured_interval(sandbox: Sandbox) -> None:
    sandbox.config.ping_interval = 0.1
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {sandbox.tokens['alice']}"}
        async with session.ws_connect(sandbox.ws_url, headers=headers, autoping=False) as ws:
            kinds = [(await ws.receive(timeout=3)).type for _ in range(2)]
    assert kinds == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING]


async def _resume(sandbox: Sandbox, listen: Listen, connection_id: str, sequence: int) -> EventStream:
    query = {"connection_id": connection_id, "sequence_number": str(sequence)}
    return await listen("alice", query=query)


async def test_resume_after_a_drop_delivers_what_was_missed_without_hello(
    sandbox: Sandbox, listen: Listen, people: People
) -> None:
    first = await listen("alice")
    connection_id = (await first.receive())["data"]["connection_id"]
    assert sandbox.drop_websockets() == 1
    with pytest.raises(ConnectionError):
        await first.receive()
    bob = await people("bob")
    missed = [await post(bob, sandbox.channel("town-square").id, f"while away {i}") for i in range(2)]
    resumed = await _resume(sandbox, listen, connection_id, 1)
    frames = [await resumed.receive(), await resumed.receive()]
    assert [f["seq"] for f in frames] == [1, 2] and all(f["event"] == "posted" for f in frames)
    assert [json.loads(f["data"]["post"])["id"] for f in frames] == [m["id"] for m in missed]


async def test_resume_replays_from_the_dead_queue(sandbox: Sandbox, listen: Listen, people: People) -> None:
    first = await listen("alice")
    connection_id = (await first.receive())["data"]["connection_id"]
    bob = await people("bob")
    for i in range(3):
        await post(bob, sandbox.channel("town-square").id, f"m{i}")
    seen = [await first.receive() for _ in range(3)]
    sandbox.drop_websockets()
    resumed = await _resume(sandbox, listen, connection_id, 2)
    replayed = [await resumed.receive(), await resumed.receive()]
    assert [f["seq"] for f in replayed] == [2, 3] and replayed == seen[1:]
    await post(bob, sandbox.channel("town-square").id, "after")
    assert (await resumed.receive())["seq"] == 4


@pytest.mark.parametrize(
    "case", ["unknown id", "sequence never sent", "evicted", "restart", "expired", "queue overflow"]
)
async def test_resume_that_cannot_be_honoured_starts_over_with_hello(
    sandbox: Sandbox, listen: Listen, people: People, case: str
) -> None:
    sandbox.config.dead_queue_size = 2
    first = await listen("alice")
    connection_id = (await first.receive())["data"]["connection_id"]
    bob = await people("bob")
    for i in range(3):
        await post(bob, sandbox.channel("town-square").id, f"m{i}")
    for _ in range(3):
        await first.receive()
    sandbox.drop_websockets()
    with pytest.raises(ConnectionError):
        await first.receive()
    if case == "restart":
        sandbox.restart()
    if case == "expired":
        sandbox.config.inactive_connection_ttl = 0.0
    if case == "queue overflow":
        sandbox.config.send_queue_size = 1
        await post(bob, sandbox.channel("town-square").id, "fills the queue")
        await post(bob, sandbox.channel("town-square").id, "one too many")
    wanted = {
        "unknown id": ("y" * 26, 4),
        "sequence never sent": (connection_id, 9),
        "evicted": (connection_id, 1),
    }
    resume_id, sequence = wanted.get(case, (connection_id, 4))
    again = await _resume(sandbox, listen, resume_id, sequence)
    hello = await again.receive()
    assert hello["event"] == "hello" and hello["seq"] == 0
    assert hello["data"]["connection_id"] not in {connection_id, resume_id}


async def test_malformed_resume_query_is_cut(sandbox: Sandbox, listen: Listen) -> None:
    stream = await listen("alice", query={"connection_id": "not-an-id", "sequence_number": "1"})
    with pytest.raises(ConnectionError):
        await stream.receive()


async def test_first_frame_auth_never_resumes(sandbox: Sandbox, listen: Listen) -> None:
    first = await listen("alice")
    connection_id = (await first.receive())["data"]["connection_id"]
    sandbox.drop_websockets()
    stream = await listen(query={"connection_id": connection_id, "sequence_number": "1"})
    await stream.send("authentication_challenge", 1, {"token": sandbox.tokens["alice"]})
    hello = await stream.receive()
    assert hello["event"] == "hello" and hello["data"]["connection_id"] != connection_id


async def test_frames_off_the_protocol_go_out_as_given_numbered_when_they_are_objects(
    sandbox: Sandbox, listen: Listen, people: People
) -> None:
    """What tests of a client's defences send: the contract checker lets exactly these through."""
    alice = await listen("alice")
    assert (await alice.receive())["event"] == "hello"
    hostile = {"event": "reaction_added", "data": {"reaction": "{garbage"}, "broadcast": {}}
    assert sandbox.send_off_contract("alice", "not json {") == 1
    assert sandbox.send_off_contract("alice", hostile) == 1
    await post(await people("bob"), sandbox.channel("town-square").id, "after them")
    raw = [(await alice.ws.receive(timeout=5)).data for _ in range(3)]
    assert raw[0] == "not json {"
    assert json.loads(raw[1]) == {**hostile, "seq": 1}
    after = json.loads(raw[2])
    assert after["event"] == "posted" and after["seq"] == 2  # the stream goes on, numbered as before
    assert sandbox.send_off_contract("carol", "x") == 0  # carol has no websocket open
