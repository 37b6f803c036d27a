"""Rate limiting, fault injection, the request log and the admin routes (Python API and HTTP)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from mattermostautodriver import AsyncTypedDriver
from mattermostautodriver.exceptions import UnknownMattermostError

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient, EventStream
from sev1bot.sandbox.ratelimit import RateLimiter

People = Callable[[str], Awaitable[ApiClient]]
Driver = Callable[[str], Awaitable[AsyncTypedDriver]]


def admin(sandbox: Sandbox) -> ApiClient:
    return ApiClient(sandbox.url, sandbox.admin_token)


async def test_rate_limiting_is_off_by_default(sandbox: Sandbox, people: People) -> None:
    reply = await (await people("alice")).get("/api/v4/users/me")
    assert reply.status == 200 and "X-RateLimit-Limit" not in reply.headers


async def test_rate_limit_headers_and_the_plain_text_429(sandbox: Sandbox, people: People) -> None:
    sandbox.set_rate_limit(per_sec=1, max_burst=2)
    alice = await people("alice")
    replies = [await alice.get("/api/v4/users/me") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in replies] == ["3"] * 4
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert all(1 <= int(r.headers["X-RateLimit-Reset"]) <= 3 for r in replies)
    limited = replies[-1]
    assert (
        limited.body == "limit exceeded\n" and limited.headers["Content-Type"] == "text/plain; charset=utf-8"
    )
    assert limited.headers["Retry-After"] == "1" and "Retry-After" not in replies[0].headers
    assert sandbox.count_requests(status=429) == 1


def test_gcra_refills_at_the_configured_rate() -> None:
    limiter = RateLimiter()
    limiter.configure(True, per_sec=10, max_burst=100)
    decisions = [limiter.take("a", now=0.0) for _ in range(102)]
    assert [d.limited for d in decisions].count(False) == 101 and decisions[-1].limited
    assert decisions[-1].retry_after == pytest.approx(0.1)
    assert not limiter.take("a", now=0.11).limited
    assert not limiter.take("someone else", now=0.0).limited


async def test_the_driver_waits_out_429s(sandbox: Sandbox, driver: Driver) -> None:
    bot = await driver("sev1bot")
    sandbox.set_rate_limit(per_sec=20, max_burst=0)
    town = sandbox.channel("town-square").id
    for i in range(3):
        await bot.posts.create_post(channel_id=town, message=f"throttled {i}")
    assert sandbox.count_requests("POST", "/api/v4/posts", status=429) >= 1
    assert [p.message for p in sandbox.posts_in(town) if p.message.startswith("throttled")] == [
        f"throttled {i}" for i in range(3)
    ]


async def test_rate_limit_over_the_admin_route(sandbox: Sandbox) -> None:
    async with admin(sandbox) as control, ApiClient(sandbox.url, "wrong") as intruder:
        assert (await intruder.put("/sandbox/admin/ratelimit", {"enabled": True})).status == 401
        settings = (await control.put("/sandbox/admin/ratelimit", {"per_sec": 5, "max_burst": 1})).json(200)
        assert settings == {"enabled": True, "per_sec": 5.0, "max_burst": 1}
        assert (await control.put("/sandbox/admin/ratelimit", {"per_sec": 0})).status == 400
    assert sandbox.rate_limiter.enabled


async def test_fail_next_matching_requests(sandbox: Sandbox, people: People) -> None:
    sandbox.faults.fail_next("POST", "/api/v4/posts", status=503, count=2, error_id="sandbox.down")
    bob = await people("bob")
    body = {"channel_id": sandbox.channel("town-square").id, "message": "retry me"}
    replies = [await bob.post("/api/v4/posts", body) for _ in range(3)]
    assert [r.status for r in replies] == [503, 503, 201]
    assert (
        replies[0].body["id"] == "sandbox.down"
        and replies[0].body["request_id"] == replies[0].headers["X-Request-Id"]
    )
    assert (await bob.get("/api/v4/users/me")).status == 200


async def test_the_driver_retries_an_injected_503_on_a_get(sandbox: Sandbox, driver: Driver) -> None:
    alice = await driver("alice")
    sandbox.faults.fail_next("GET", "/api/v4/channels/*", status=503)
    channel = await alice.channels.get_channel(sandbox.channel("town-square").id)
    assert channel["name"] == "town-square"
    assert sandbox.count_requests("GET", "/api/v4/channels/*") == 2


async def test_the_driver_sees_injected_failures_and_delays(sandbox: Sandbox) -> None:
    options = {"url": "127.0.0.1", "port": sandbox.port, "scheme": "http", "token": sandbox.tokens["bob"]}
    bob = AsyncTypedDriver({**options, "max_retries": 0, "request_timeout": 0.2})
    try:
        await bob.login()
        sandbox.faults.fail_next("POST", "/api/v4/posts", status=500, error_id="sandbox.db_down")
        with pytest.raises(UnknownMattermostError) as failed:
            await bob.posts.create_post(channel_id=sandbox.channel("town-square").id, message="x")
        assert (failed.value.status_code, failed.value.error_id) == (500, "sandbox.db_down")
        sandbox.faults.delay("GET", "/api/v4/users/me", 0.5)
        with pytest.raises(httpx.TimeoutException):
            await bob.users.get_user("me")
    finally:
        await bob.close()


async def test_faults_and_delays_over_the_admin_routes(sandbox: Sandbox, people: People) -> None:
    alice = await people("alice")
    async with admin(sandbox) as control:
        (
            await control.post(
                "/sandbox/admin/faults/fail", {"method": "GET", "path": "/api/v4/users/*", "status": 500}
            )
        ).json(200)
        assert (await alice.get("/api/v4/users/me")).status == 500
        assert (await alice.get("/api/v4/users/me")).status == 200
        (
            await control.post("/sandbox/admin/faults/delay", {"path": "/api/v4/users/me", "seconds": 2.0})
        ).json(200)
        started = time.monotonic()
        assert (await alice.get("/api/v4/users/me")).status == 200
        assert time.monotonic() - started >= 2.0
        (await control.delete("/sandbox/admin/faults")).json(200)
        started = time.monotonic()
        await alice.get("/api/v4/users/me")
        assert time.monotonic() - started < 2.0  # the 2 s hold is gone (a loaded machine is not that slow)
        bad = await control.post("/sandbox/admin/faults/fail", {"path": "/x", "status": 200})
        assert bad.status == 400 and "400-599" in bad.body["detailed_error"]
        assert (await control.post("/sandbox/admin/faults/fail", {"status": 500})).status == 400


async def test_delay_after_lets_the_request_take_effect(sandbox: Sandbox, people: People) -> None:
    sandbox.faults.delay("POST", "/api/v4/posts", 0.2, after=True)
    bob = await people("bob")
    town = sandbox.channel("town-square").id
    started = time.monotonic()
    created = (await bob.post("/api/v4/posts", {"channel_id": town, "message": "slow"})).json(201)
    assert time.monotonic() - started >= 0.2 and created["id"] in sandbox.state.posts


async def test_the_request_log_counts_api_calls_but_not_admin_ones(sandbox: Sandbox, people: People) -> None:
    alice = await people("alice")
    await alice.get("/api/v4/users/me")
    await alice.get(f"/api/v4/channels/{'n' * 26}")
    async with admin(sandbox) as control:
        logged = (await control.get("/sandbox/admin/requests")).json(200)["requests"]
        assert [(r["method"], r["path"], r["status"]) for r in logged] == [
            ("GET", "/api/v4/users/me", 200),
            ("GET", f"/api/v4/channels/{'n' * 26}", 404),
        ]
        assert all(r["at"] > 1_600_000_000 and r["duration"] >= 0 for r in logged)
        assert sandbox.count_requests("GET", "/api/v4/channels/*", status=404) == 1
        (await control.delete("/sandbox/admin/requests")).json(200)
    assert sandbox.requests == []


async def test_drop_websockets_and_restart_over_http(sandbox: Sandbox, people: People) -> None:
    stream = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"])
    connection_id = (await stream.receive())["data"]["connection_id"]
    bob = await people("bob")
    body = {"channel_id": sandbox.channel("town-square").id, "message": "kept", "pending_post_id": "p:1"}
    first = (await bob.post("/api/v4/posts", body)).json(201)
    await stream.next_event("posted")
    async with admin(sandbox) as control:
        assert (await control.post("/sandbox/admin/websockets/drop")).json(200) == {"dropped": 1}
        with pytest.raises(ConnectionError, match="1006"):
            await stream.receive()
        await stream.close()
        query = {"connection_id": connection_id, "sequence_number": "2"}
        resumed = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"], query=query)
        assert await resumed.settle() == []  # resumed losslessly: no new hello
        (await control.post("/sandbox/admin/restart")).json(200)
        with pytest.raises(ConnectionError):
            await resumed.receive()
        await resumed.close()
    fresh = await EventStream.connect(sandbox.ws_url, sandbox.tokens["alice"], query=query)
    try:
        hello = await fresh.receive()
        assert hello["event"] == "hello" and hello["data"]["connection_id"] != connection_id
    finally:
        await fresh.close()
    assert first["id"] in sandbox.state.posts
    second = (await bob.post("/api/v4/posts", body)).json(201)
    assert second["id"] != first["id"], "a restart forgets the pending_post_id cache"


async def test_admin_describe_lists_the_seeded_people(sandbox: Sandbox) -> None:
    async with admin(sandbox) as control:
        described = (await control.get("/sandbox/admin")).json(200)
    assert described["team"] == {"id": sandbox.team.id, "name": "mme"} and described["bot"] == "sev1bot"
    assert described["users"]["alice"]["token"] == sandbox.tokens["alice"]


async def test_pending_post_ids_can_be_expired_at_once(sandbox: Sandbox, people: People) -> None:
    """The 30 s after which the server forgets a pending_post_id, skipped: a retry then makes a second post.
    (What a bot must survive after a crash and a restart more than 30 s later.)"""
    assert sandbox.config.pending_post_ttl == 30.0, "the server's default"
    bob = await people("bob")
    channel_id = sandbox.channel("town-square").id
    body = {"channel_id": channel_id, "message": "once", "pending_post_id": "p:1", "props": {"sev1bot": "k1"}}
    first = (await bob.post("/api/v4/posts", body)).json(201)
    assert (await bob.post("/api/v4/posts", body)).json(201)["id"] == first["id"], "remembered"
    async with admin(sandbox) as control:
        assert (await control.post("/sandbox/admin/pending-posts/expire")).json(200) == {"expired": 1}
    second = (await bob.post("/api/v4/posts", body)).json(201)
    assert second["id"] != first["id"], "forgotten: a retry makes a new post"
    # Both carry the custom props key, as a reader of the channel sees them.
    listed = (await bob.get(f"/api/v4/channels/{channel_id}/posts", params={"per_page": "5"})).json(200)
    assert [listed["posts"][i]["props"].get("sev1bot") for i in listed["order"][:2]] == ["k1", "k1"]
    assert sandbox.expire_pending_posts() == 1
