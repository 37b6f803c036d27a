"""The websocket client against small scripted Mattermost-like servers on real sockets (127.0.0.1, port 0)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sev1bot.mattermost.ws import (
    CLOSE_PING_TIMEOUT,
    CLOSE_RESYNC,
    ConnectionState,
    WebSocketClient,
    backoff_delay,
    websocket_url,
)
from testkit import eventually

TOKEN = "tok-S3CR3T-value-never-logged"
WRONG_TOKEN = "tok-WRONG-also-never-logged"


class ServerConn:
    """One websocket connection as the server sees it: what the client asked for and sent."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, answer_pings: bool) -> None:
        self.ws = ws
        self.request = request
        self.query = dict(request.query)
        self.received: list[dict[str, Any]] = []
        self.answer_pings = answer_pings
        self.got_frame = asyncio.Event()
        self.pongs = 0  # ping replies written (each is on the wire before anything sent after it)
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                self.received.append(frame)
                self.got_frame.set()
                if frame.get("action") == "ping" and self.answer_pings:
                    await self.ws.send_json(
                        {"status": "OK", "seq_reply": frame["seq"], "data": {"text": "pong"}}
                    )
                    self.pongs += 1
        self.close_code = self.ws.close_code
        self.closed.set()

    @property
    def pings(self) -> list[int]:
        return [frame["seq"] for frame in self.received if frame.get("action") == "ping"]

    async def event(self, name: str, seq: Any, data: dict[str, Any] | None = None, **extra: Any) -> None:
        frame = {"event": name, "data": data or {}, "broadcast": {"channel_id": "c1"}, "seq": seq, **extra}
        if seq is None:
            del frame["seq"]
        await self.ws.send_json(frame)

    async def hello(self, connection_id: str, seq: int = 0) -> None:
        await self.event("hello", seq, {"connection_id": connection_id, "server_version": "11.1.0"})

    async def posted(self, seq: int) -> None:
        await self.event(
            "posted", seq, {"post": json.dumps({"id": f"p{seq}", "channel_id": "c1", "user_id": "u1"})}
        )

    def drop(self) -> None:
        """Vanish without a close frame (1006), like a dead network or a restarted server."""
        transport = self.request.transport
        assert transport is not None
        transport.abort()


Script = Callable[[ServerConn], Awaitable[None]]


async def just_hello(conn: ServerConn) -> None:
    await conn.hello("conn-default")


class FakeMattermost:
    """Just enough of Mattermost's websocket endpoint; each connection runs the next script."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.scripts: list[Script] = []
        self.default: Script = just_hello
        self.answer_pings = True
        self.refuse_status: list[int] = []  # HTTP statuses for the next upgrades, before any script
        self.upgrade_delay = 0.0
        self.upgrades: list[dict[str, str]] = []
        self.conns: list[ServerConn] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.upgrades.append({"auth": request.headers.get("Authorization", ""), **request.query})
        await asyncio.sleep(self.upgrade_delay)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"id": "api.context.session_expired.app_error", "status_code": 401}, status=401
            )
        if self.refuse_status:
            return web.json_response({"id": "unavailable"}, status=self.refuse_status.pop(0))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = ServerConn(ws, request, self.answer_pings)
        self.conns.append(conn)
        script = self.scripts.pop(0) if self.scripts else self.default
        await script(conn)
        await conn.closed.wait()
        return ws

    async def conn(self, index: int) -> ServerConn:
        await eventually(lambda: len(self.conns) > index, what=f"connection #{index + 1}")
        return self.conns[index]


@pytest.fixture
async def server() -> AsyncIterator[FakeMattermost]:
    fake = FakeMattermost()
    app = web.Application()
    app.router.add_get("/api/v4/websocket", fake.handle)

    async def close_all(_: web.Application) -> None:
        for conn in fake.conns:
            await conn.ws.close(code=1001)

    app.on_shutdown.append(close_all)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in caplog.text
        assert all(secret not in str(record.args) for record in caplog.records)


class Recorder:
    """The service side: what the client handed over, in order."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.states: list[tuple[ConnectionState, str | None]] = []

    async def on_event(self, raw: dict[str, Any]) -> None:
        self.log.append((raw["event"], raw["seq"]))

    async def on_gap(self) -> None:
        self.log.append("GAP")

    async def on_state(self, state: ConnectionState, reason: str | None) -> None:
        self.states.append((state, reason))

    @property
    def events(self) -> list[tuple[str, int]]:
        return [entry for entry in self.log if entry != "GAP"]


@pytest.fixture
async def start(server: FakeMattermost) -> AsyncIterator[Callable[..., tuple[WebSocketClient, Recorder]]]:
    running: list[tuple[WebSocketClient, asyncio.Task[None]]] = []

    def make(**options: Any) -> tuple[WebSocketClient, Recorder]:
        recorder = Recorder()
        settings: dict[str, Any] = {"ping_interval": 5.0, "backoff_base": 0.01, "backoff_cap": 0.05}
        settings.update(options)
        token = settings.pop("token", TOKEN)
        client = WebSocketClient(
            server.url, token, recorder.on_event, recorder.on_gap, on_state=recorder.on_state, **settings
        )
        running.append((client, asyncio.create_task(client.run())))
        return client, recorder

    yield make
    for client, task in running:
        await client.close()
        async with asyncio.timeout(3):
            await task


async def test_connects_with_the_token_pings_and_delivers_events_in_order(
    server: FakeMattermost, start: Any
) -> None:
    async def script(conn: ServerConn) -> None:
        await conn.got_frame.wait()  # the client pings at once
        await conn.hello("c1")
        await conn.posted(1)
        await conn.posted(2)

    server.scripts = [script]
    client, recorder = start()
    await eventually(lambda: len(recorder.events) == 3, what="three events")
    assert recorder.log == [("hello", 0), ("posted", 1), ("posted", 2)]  # no gap on the first connect
    conn = server.conns[0]
    assert server.upgrades[0] == {"auth": f"Bearer {TOKEN}", "connection_id": "", "sequence_number": "0"}
    assert conn.received[0] == {"action": "ping", "seq": 1}
    assert client.connection_id == "c1"
    assert client.last_seq == 2
    assert client.state is ConnectionState.CONNECTED
    assert client.connected.is_set()
    assert recorder.states == [(ConnectionState.CONNECTING, None), (ConnectionState.CONNECTED, None)]
    assert (client.counters.gaps, client.counters.resumes, client.counters.reconnects) == (0, 0, 0)
    assert TOKEN not in repr(client)


async def test_a_dropped_connection_resumes_and_the_server_replays(
    server: FakeMattermost, start: Any
) -> None:
    async def first(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.posted(1)
        await conn.posted(2)
        # A drop discards what the client has not read yet: drop once it has handed all three over.
        await eventually(lambda: len(recorder.log) == 3, what="the first three events")
        conn.drop()

    async def resumed(conn: ServerConn) -> None:
        assert conn.query == {"connection_id": "c1", "sequence_number": "3"}
        await conn.posted(3)
        await conn.posted(4)

    server.scripts = [first, resumed]
    client, recorder = start()
    await eventually(lambda: len(recorder.log) == 5, what="five events")
    assert recorder.log == [("hello", 0), ("posted", 1), ("posted", 2), ("posted", 3), ("posted", 4)]
    assert server.upgrades[1]["auth"] == f"Bearer {TOKEN}"  # the resume is authenticated too
    assert (client.counters.resumes, client.counters.gaps, client.counters.reconnects) == (1, 0, 1)
    assert client.connection_id == "c1"
    assert client.state is ConnectionState.CONNECTED
    states = [state for state, _ in recorder.states]
    assert states == ["connecting", "connected", "reconnecting", "connected"]
    assert client.last_error == "the connection dropped without a close frame"


async def test_a_resume_with_nothing_to_replay_is_confirmed_by_the_ping_reply(
    server: FakeMattermost, start: Any
) -> None:
    async def first(conn: ServerConn) -> None:
        await conn.hello("c1")
        await eventually(lambda: client.connection_id == "c1", what="the client to read the hello")
        await conn.ws.close(code=1001)

    async def quiet(conn: ServerConn) -> None:
        pass

    server.scripts = [first, quiet]
    client, recorder = start()
    await eventually(lambda: client.counters.resumes == 1, what="a resume")
    assert client.connected.is_set()
    assert client.state is ConnectionState.CONNECTED
    assert server.conns[1].query == {"connection_id": "c1", "sequence_number": "1"}
    assert recorder.log == [("hello", 0)]


async def test_a_new_hello_after_a_resume_means_events_were_lost(server: FakeMattermost, start: Any) -> None:
    async def first(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.posted(1)
        await eventually(lambda: len(recorder.log) == 2, what="hello and the first event")
        conn.drop()

    async def fresh(conn: ServerConn) -> None:
        await conn.hello("c2")
        await conn.posted(1)

    server.scripts = [first, fresh]
    client, recorder = start()
    await eventually(lambda: len(recorder.log) == 5, what="gap and events")
    assert recorder.log == [("hello", 0), ("posted", 1), "GAP", ("hello", 0), ("posted", 1)]
    assert (client.counters.gaps, client.counters.resumes) == (1, 0)
    assert (client.connection_id, client.last_seq) == ("c2", 1)


async def test_a_ping_reply_racing_ahead_of_a_new_hello_is_not_counted_as_a_resume(
    server: FakeMattermost, start: Any
) -> None:
    async def first(conn: ServerConn) -> None:
        await conn.hello("c1")
        await eventually(lambda: client.connection_id == "c1", what="the client to read the hello")
        conn.drop()

    async def pong_then_hello(conn: ServerConn) -> None:
        await eventually(lambda: conn.pongs == 1, what="the reply to the resumed connection's ping")
        await conn.hello("c2")  # after the pong on the wire

    server.scripts = [first, pong_then_hello]
    client, recorder = start()
    await eventually(lambda: "GAP" in recorder.log, what="the gap")
    assert (client.counters.gaps, client.counters.resumes) == (1, 0)


async def test_a_seq_gap_closes_with_4001_and_resumes_from_the_missing_event(
    server: FakeMattermost, start: Any
) -> None:
    async def skips_two(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.posted(1)
        await conn.posted(3)

    async def replay(conn: ServerConn) -> None:
        assert conn.query == {"connection_id": "c1", "sequence_number": "2"}
        await conn.posted(2)
        await conn.posted(3)

    server.scripts = [skips_two, replay]
    client, recorder = start()
    await eventually(lambda: len(recorder.log) == 4, what="four events")
    assert recorder.log == [("hello", 0), ("posted", 1), ("posted", 2), ("posted", 3)]
    await server.conns[0].closed.wait()
    assert server.conns[0].close_code == CLOSE_RESYNC
    assert client.counters.protocol_errors == 1
    assert client.counters.gaps == 0


async def test_a_frame_too_big_to_read_starts_a_new_connection_instead_of_replaying_it(
    server: FakeMattermost, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A resume would get the same frame again, for ever: start over, and let the service catch up."""

    async def huge(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.posted(1)
        await conn.event("posted", 2, {"post": "A" * (4 * 1024 * 1024)})

    async def fresh(conn: ServerConn) -> None:
        assert conn.query == {"connection_id": "", "sequence_number": "0"}
        await conn.hello("c2")

    server.scripts = [huge, fresh]
    client, recorder = start()
    await eventually(lambda: len(recorder.log) == 4, what="the gap and the new hello")
    assert recorder.log == [("hello", 0), ("posted", 1), "GAP", ("hello", 0)]
    assert (client.counters.gaps, client.counters.resumes, client.connection_id) == (1, 0, "c2")
    assert "a frame too big to read (Message size" in caplog.text, caplog.text


@pytest.mark.parametrize(
    ("frames", "expected_error"),
    [
        ([("hello", 3, {"connection_id": "c1"})], "hello with seq 3; a hello must be seq 0"),
        ([("hello", 0, {})], "hello without a connection_id"),
        ([("posted", 0, {})], "event 'posted' arrived before hello"),
        ([("hello", 0, {"connection_id": "c1"}), ("posted", None, {})], "event 'posted' has no integer seq"),
        ([("hello", 0, {"connection_id": "c1"}), ("posted", "1", {})], "event 'posted' has no integer seq"),
        ([("hello", 0, {"connection_id": "c1"}), ("posted", True, {})], "event 'posted' has no integer seq"),
        (
            [("hello", 0, {"connection_id": "c1"}), ("posted", 2, {})],
            "expected seq 1 but event 'posted' has seq 2",
        ),
        (
            [("hello", 0, {"connection_id": "c1"}), ("posted", 0, {})],
            "expected seq 1 but event 'posted' has seq 0",
        ),
    ],
)
async def test_out_of_order_frames_force_a_resync(
    server: FakeMattermost,
    start: Any,
    caplog: pytest.LogCaptureFixture,
    frames: list[Any],
    expected_error: str,
) -> None:
    async def script(conn: ServerConn) -> None:
        for name, seq, data in frames:
            await conn.event(name, seq, data)

    server.scripts = [script]
    client, recorder = start(failures_before_failed=100)
    first = await server.conn(0)
    await server.conn(1)
    await first.closed.wait()
    assert first.close_code == CLOSE_RESYNC
    assert client.counters.protocol_errors >= 1
    assert expected_error in caplog.text
    assert ("posted", frames[-1][1]) not in recorder.events


async def test_garbage_frames_and_failed_replies_are_logged_and_skipped(
    server: FakeMattermost, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.ws.send_str("this is not json")
        await conn.ws.send_str("[1, 2]")
        await conn.ws.send_bytes(b"\x00\x01")
        await conn.ws.send_json({"status": "FAIL", "seq_reply": 9, "error": {"id": "x"}})
        await conn.event("posted", 1, {}, seq_reply=0)  # a falsy seq_reply is an event
        await conn.posted(2)

    server.scripts = [script]
    _, recorder = start()
    await eventually(lambda: len(recorder.log) == 3, what="three events")
    assert recorder.log == [("hello", 0), ("posted", 1), ("posted", 2)]
    assert len(server.conns) == 1
    assert "not JSON (16 characters)" in caplog.text
    assert "not a JSON object" in caplog.text
    assert "binary websocket frame (2 bytes)" in caplog.text
    assert "status 'FAIL'" in caplog.text


async def test_answered_pings_keep_the_connection(server: FakeMattermost, start: Any) -> None:
    client, _ = start(ping_interval=0.03)
    conn = await server.conn(0)
    await eventually(lambda: len(conn.pings) >= 6, what="six pings")
    assert conn.pings == list(range(1, len(conn.pings) + 1))
    assert len(server.conns) == 1
    assert client.counters.ping_timeouts == 0


async def test_an_unanswered_ping_closes_with_4000_and_reconnects(
    server: FakeMattermost, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer_pings = False
    client, recorder = start(ping_interval=0.05, pong_timeout=0.1)
    first = await server.conn(0)
    await server.conn(1)
    await first.closed.wait()
    assert first.close_code == CLOSE_PING_TIMEOUT
    assert client.counters.ping_timeouts >= 1
    assert "no answer to a ping within 0.1s" in caplog.text
    assert any(state is ConnectionState.RECONNECTING for state, _ in recorder.states)


async def test_a_rejected_token_is_surfaced_as_failed(
    server: FakeMattermost, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, recorder = start(token=WRONG_TOKEN)
    await eventually(lambda: client.state is ConnectionState.FAILED, what="failed state")
    assert client.last_error == "the server rejected the bot's token (HTTP 401)"
    assert (ConnectionState.FAILED, client.last_error) in recorder.states
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "sev1bot.mattermost.ws"]
    assert errors
    assert "rejected the bot's token" in errors[0].getMessage()
    assert not client.connected.is_set()
    await eventually(lambda: len(server.upgrades) >= 3, what="it keeps retrying")
    assert server.upgrades[0]["auth"] == f"Bearer {WRONG_TOKEN}"


async def test_repeated_failures_turn_failed_then_recover(
    server: FakeMattermost, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.refuse_status = [503, 502, 503, 503]
    client, recorder = start(failures_before_failed=3)
    await eventually(lambda: client.state is ConnectionState.CONNECTED, what="connected in the end")
    states = [state for state, _ in recorder.states]
    assert states == ["connecting", "reconnecting", "failed", "connected"]
    assert recorder.states[1][1] == "the server refused the websocket upgrade (HTTP 503)"
    levels = [
        r.levelno
        for r in caplog.records
        if r.name == "sev1bot.mattermost.ws" and r.levelno >= logging.WARNING
    ]
    assert levels == [logging.WARNING, logging.WARNING, logging.ERROR, logging.ERROR]
    assert client.counters.reconnects == 4
    assert client.last_error == "the server refused the websocket upgrade (HTTP 503)"  # kept for the record


async def test_nothing_listening_is_reported_as_cannot_connect(start: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    client = WebSocketClient(
        f"http://127.0.0.1:{port}",
        TOKEN,
        recorder.on_event,
        recorder.on_gap,
        backoff_base=0.01,
        backoff_cap=0.02,
    )
    task = asyncio.create_task(client.run())
    await eventually(lambda: client.counters.reconnects >= 2, what="retries")
    assert (client.last_error or "").startswith("cannot connect: ClientConnectorError")
    await client.close()
    await asyncio.wait_for(task, 2)
    assert client.state is ConnectionState.CLOSED


async def test_a_connection_closed_before_hello_hints_at_the_token(
    server: FakeMattermost, start: Any
) -> None:
    async def slam(conn: ServerConn) -> None:
        await conn.ws.close()

    server.default = slam
    client, _ = start(failures_before_failed=2)
    await eventually(lambda: client.state is ConnectionState.FAILED, what="failed")
    assert (
        client.last_error
        == "the server closed the connection (code 1000) before hello (was the token rejected?)"
    )


async def test_callback_errors_are_logged_and_the_stream_goes_on(
    server: FakeMattermost, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(conn: ServerConn) -> None:
        await conn.hello("c1")
        await conn.posted(1)
        await conn.posted(2)

    server.scripts = [script]
    seen: list[int] = []

    async def on_event(raw: dict[str, Any]) -> None:
        seen.append(raw["seq"])
        if raw["seq"] == 1:
            raise RuntimeError("handler bug")

    async def on_gap() -> None:
        raise AssertionError("no gap expected")

    client = WebSocketClient(server.url, TOKEN, on_event, on_gap)
    task = asyncio.create_task(client.run())
    await eventually(lambda: seen == [0, 1, 2], what="all events")
    await client.close()
    await asyncio.wait_for(task, 2)
    assert "on_event failed for websocket event 'posted' seq 1" in caplog.text
    assert "handler bug" in caplog.text  # the traceback is logged
    assert len(server.conns) == 1


async def test_close_returns_promptly_in_every_phase(server: FakeMattermost) -> None:
    async def noop(raw: dict[str, Any]) -> None:
        pass

    async def gap() -> None:
        pass

    # connected: a clean close frame
    client = WebSocketClient(server.url, TOKEN, noop, gap)
    task = asyncio.create_task(client.run())
    await client.connected.wait()
    await client.close()
    await asyncio.wait_for(task, 1)
    await server.conns[0].closed.wait()
    assert server.conns[0].close_code == 1000
    assert client.state is ConnectionState.CLOSED
    assert not client.connected.is_set()

    # waiting out a long backoff
    server.refuse_status = [503]
    client = WebSocketClient(
        server.url, TOKEN, noop, gap, backoff_base=60, backoff_cap=60, rng=random.Random(1)
    )
    task = asyncio.create_task(client.run())
    await eventually(lambda: client.state is ConnectionState.RECONNECTING, what="backing off")
    await client.close()
    await asyncio.wait_for(task, 1)

    # an upgrade the server sits on
    server.upgrade_delay = 30
    client = WebSocketClient(server.url, TOKEN, noop, gap)
    task = asyncio.create_task(client.run())
    await eventually(lambda: len(server.upgrades) == 3, what="upgrade pending")
    await client.close()
    await asyncio.wait_for(task, 1)
    assert client.state is ConnectionState.CLOSED

    # close() before run(): run returns at once
    client = WebSocketClient(server.url, TOKEN, noop, gap)
    await client.close()
    await asyncio.wait_for(client.run(), 1)
    assert len(server.upgrades) == 3


async def test_a_slow_upgrade_times_out(server: FakeMattermost, start: Any) -> None:
    server.upgrade_delay = 30
    client, _ = start(connect_timeout=0.1)
    await eventually(lambda: client.last_error is not None, what="a timeout")
    assert client.last_error == "no answer to the upgrade within 0.1s"


async def test_run_twice_is_refused(server: FakeMattermost, start: Any) -> None:
    client, _ = start()
    await client.connected.wait()
    with pytest.raises(RuntimeError, match="already running"):
        await client.run()


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://chat.example.com", "ws://chat.example.com/api/v4/websocket"),
        ("https://chat.example.com/", "wss://chat.example.com/api/v4/websocket"),
        ("https://example.com/mattermost/?x=1#top", "wss://example.com/mattermost/api/v4/websocket"),
        ("http://127.0.0.1:8065", "ws://127.0.0.1:8065/api/v4/websocket"),
    ],
)
def test_websocket_url(base: str, expected: str) -> None:
    assert str(websocket_url(base)) == expected


@pytest.mark.parametrize(
    "base", ["chat.example.com", "ftp://chat.example.com", "ws://chat.example.com", "http://"]
)
def test_bad_urls_are_refused_clearly(base: str) -> None:
    with pytest.raises(ValueError, match=r"must look like https://chat\.example\.com"):
        websocket_url(base)


async def test_bad_arguments_are_refused_clearly() -> None:
    async def noop(raw: dict[str, Any]) -> None:
        pass

    async def gap() -> None:
        pass

    with pytest.raises(ValueError, match="token is empty"):
        WebSocketClient("http://x", "", noop, gap)
    with pytest.raises(ValueError, match="ping_interval must be positive"):
        WebSocketClient("http://x", TOKEN, noop, gap, ping_interval=0)
    with pytest.raises(ValueError, match="backoff_base <= backoff_cap"):
        WebSocketClient("http://x", TOKEN, noop, gap, backoff_base=5, backoff_cap=1)


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(7)
    for failures in range(60):
        ceiling = min(30.0, 0.5 * 2**failures)
        delays = [backoff_delay(failures, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > 0.8 * ceiling  # spread over the whole range, not a fixed step
        assert min(delays) < 0.2 * ceiling
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0  # no overflow for very long outages


async def test_cancelling_run_cleans_up(server: FakeMattermost) -> None:
    async def noop(raw: dict[str, Any]) -> None:
        pass

    async def gap() -> None:
        pass

    client = WebSocketClient(server.url, TOKEN, noop, gap)
    task = asyncio.create_task(client.run())
    await client.connected.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.state is ConnectionState.CLOSED
    assert not client.connected.is_set()
    await asyncio.wait_for(server.conns[0].closed.wait(), 2)


async def test_a_silent_connection_is_noticed_within_silence_timeout_whatever_the_ping_interval(
    server: FakeMattermost, start: Any
) -> None:
    server.answer_pings = False
    began = time.monotonic()
    client, _ = start(ping_interval=30.0, silence_timeout=0.4)
    first = await server.conn(0)
    await asyncio.wait_for(first.closed.wait(), 5)
    assert first.close_code == CLOSE_PING_TIMEOUT
    assert time.monotonic() - began < 5
    assert client.last_error == "no answer to a ping within 0.2s"
