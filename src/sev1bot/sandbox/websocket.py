"""``GET /api/v4/websocket``: authentication, resume, client actions, pings and the writer of a socket.

Faithful details: a bad token on the upgrade is an HTTP 401; a bad token in ``authentication_challenge``
(or a malformed frame) cuts the TCP connection without a close frame; unauthenticated sockets are cut after
5 s; on challenge success the server queues ``hello`` before the OK reply; a resume needs the upgrade
itself to be authenticated and sends no new hello.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from sev1bot.sandbox import errors, events
from sev1bot.sandbox.config import SERVER_VERSION, VERSION_ID
from sev1bot.sandbox.httpio import token_of
from sev1bot.sandbox.hub import Connection, Hub, Outgoing
from sev1bot.sandbox.ids import is_valid_id, new_id, now_ms
from sev1bot.sandbox.middleware import request_id
from sev1bot.sandbox.models import User
from sev1bot.sandbox.wiring import services

log = logging.getLogger(__name__)
HUB = web.AppKey("sandbox_hub", Hub)


def reply(seq: int, data: dict[str, Any] | None = None, error: errors.AppError | None = None) -> Outgoing:
    body: dict[str, Any] = {"status": "FAIL" if error else "OK", "seq_reply": seq}
    if data is not None:
        body["data"] = data
    if error is not None:
        body["error"] = {
            "id": error.error_id,
            "message": error.message,
            "detailed_error": "",
            "status_code": error.status,
        }
    return Outgoing("reply", text=json.dumps(body, separators=(",", ":")))


class Socket:
    """One upgraded HTTP connection; serves at most one Connection at a time."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> None:
        self.request = request
        self.ws = ws
        self.hub = hub
        self.config = hub.config
        self.connection: Connection | None = None
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def cut(self) -> None:
        """Close the TCP connection without a websocket close frame (clients see 1006)."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def attach(self, connection: Connection) -> None:
        self.connection = connection
        connection.wake = self._wakeup.set
        connection.drop = self.cut
        self.hub.register(connection)
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._wakeup.set()

    def detach(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        if self.connection is not None:
            self.connection.wake = lambda: None
            self.connection.drop = lambda: None
            self.connection.inactive_since = time.monotonic()

    async def _write_loop(self) -> None:
        assert self.connection is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while (frame := self.connection.next_frame()) is not None:
                if self.hub.check_frame is not None and frame not in self.connection.off_contract:
                    self.hub.check_frame(frame)
                try:
                    await self.ws.send_str(frame)
                except (ConnectionError, RuntimeError):
                    self.cut()
                    return

    def start_fresh(self, user: User, connection: Connection | None = None) -> None:
        connection = connection or Connection(user_id=user.id, config=self.config)
        connection.pending.appendleft(Outgoing("event", "hello", *_hello(user.id, connection.id)))
        self.attach(connection)

    def resume(self, user: User) -> bool:
        """Connect from the upgrade query; False when the query is malformed (the server then cuts)."""
        query = self.request.query
        connection_id = query.get("connection_id", "")
        if not connection_id:
            self.start_fresh(user)
            return True
        try:
            sequence = int(query.get("sequence_number", ""))
        except ValueError:
            return False
        if not is_valid_id(connection_id):
            return False
        connection = self.hub.take_inactive(user.id, connection_id)
        if connection is None:
            self.start_fresh(user)
        elif connection.resume_from(sequence):
            self.attach(connection)
        else:
            connection.dead.clear()
            connection.sequence = 0
            self.hub.rename(connection, new_id())
            self.start_fresh(user, connection)
        return True

    def handle(self, frame: dict[str, Any]) -> None:
        action, seq, data = frame.get("action"), frame.get("seq"), frame.get("data")
        data = data if isinstance(data, dict) else {}
        if action == "authentication_challenge" and isinstance(seq, int) and seq > 0:
            self._challenge(seq, data)
            return
        if self.connection is None:
            return  # replies to unauthenticated sockets are dropped, as the hub has no place to send them
        if not action:
            self._send(reply(_seq(seq), error=_ws_error("no_action", 400)))
        elif not isinstance(seq, int) or seq <= 0:
            self._send(reply(_seq(seq), error=_ws_error("bad_seq", 400)))
        elif action == "ping":
            pong = {"text": "pong", "version": SERVER_VERSION, "server_time": now_ms(), "node_id": ""}
            self._send(reply(seq, pong))
        elif action == "user_typing":
            self._typing(seq, data)
        elif action == "presence":
            self._send(reply(seq))
        else:
            self._send(reply(seq, error=_ws_error("bad_action", 500)))

    def _challenge(self, seq: int, data: dict[str, Any]) -> None:
        if self.connection is not None:
            return
        token = data.get("token")
        user = services(self.request).state.user_for_token(token) if isinstance(token, str) else None
        if user is None:
            log.debug("websocket authentication_challenge with a bad token; cutting the connection")
            self.cut()
            return
        self.start_fresh(user)
        self._send(reply(seq))

    def _typing(self, seq: int, data: dict[str, Any]) -> None:
        assert self.connection is not None
        channel_id = data.get("channel_id")
        state = services(self.request).state
        if isinstance(channel_id, str) and state.channel_member(channel_id, self.connection.user_id):
            parent_id = data.get("parent_id")
            typing = events.typing(
                channel_id, parent_id if isinstance(parent_id, str) else "", self.connection.user_id
            )
            typing.broadcast.omit_connection_id = self.connection.id
            self.hub.publish(typing)
        self._send(reply(seq))

    def _send(self, item: Outgoing) -> None:
        assert self.connection is not None
        self.connection.enqueue(item)

    async def ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.ping()

    async def cut_if_unauthenticated(self) -> None:
        await asyncio.sleep(self.config.unauthenticated_timeout)
        if self.connection is None:
            log.debug(
                "websocket did not authenticate within %.1f s; cutting it",
                self.config.unauthenticated_timeout,
            )
            self.cut()

    async def read_forever(self) -> None:
        while True:
            try:
                message = await self.ws.receive(timeout=self.config.read_deadline)
            except TimeoutError:
                self.cut()
                return
            if message.type == WSMsgType.PING:
                await self.ws.pong(message.data)
            elif message.type == WSMsgType.TEXT:
                try:
                    frame = json.loads(message.data)
                except json.JSONDecodeError:
                    self.cut()
                    return
                if isinstance(frame, dict):
                    self.handle(frame)
            elif message.type in {WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR}:
                return


def _hello(user_id: str, connection_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    event = events.hello(user_id, connection_id)
    return event.data, event.broadcast.to_json()


def _seq(value: object) -> int:
    return value if isinstance(value, int) else 0


_WS_ERRORS = {
    "no_action": ("api.web_socket_router.no_action.app_error", "No websocket action."),
    "bad_seq": ("api.web_socket_router.bad_seq.app_error", "Invalid sequence for WebSocket message."),
    "bad_action": ("api.web_socket_router.bad_action.app_error", "An invalid websocket action was used."),
}


def _ws_error(name: str, status: int) -> errors.AppError:
    error_id, message = _WS_ERRORS[name]
    return errors.AppError(status, error_id, message)


async def connect(request: web.Request) -> web.StreamResponse:
    state = services(request).state
    token, _ = token_of(request)
    user = state.user_for_token(token) if token else None
    if token and user is None:
        raise errors.session_expired("token=<redacted>")
    ws = web.WebSocketResponse(autoping=False, max_msg_size=8 * 1024 * 1024)
    ws.headers["X-Request-Id"] = request_id(request)
    ws.headers["X-Version-Id"] = VERSION_ID
    await ws.prepare(request)
    socket = Socket(request, ws, request.app[HUB])
    if user is not None and not socket.resume(user):
        socket.cut()
        return ws
    helpers = [asyncio.get_running_loop().create_task(socket.ping_forever())]
    if user is None:
        helpers.append(asyncio.get_running_loop().create_task(socket.cut_if_unauthenticated()))
    try:
        await socket.read_forever()
    finally:
        for helper in helpers:
            helper.cancel()
        socket.detach()
        if not ws.closed:
            socket.cut()
    return ws


def add_routes(app: web.Application, hub: Hub) -> None:
    app[HUB] = hub
    app.router.add_get("/api/v4/websocket", connect)
    app.router.add_get("/api/v4/websocket/", connect)
