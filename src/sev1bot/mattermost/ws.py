"""The bot's Mattermost websocket: connect, keep alive, resume, and hand every event on in order.

Transport only (see STYLE.md, hikari's gateway shard): frames in, raw event dicts out through ``on_event``;
:mod:`.events` turns them into models. What this module guarantees the service:

* Events reach ``on_event`` in server order, each once, with ``seq`` 0, 1, 2... on a connection. A gap, a
  missing ``seq`` or a ``hello`` that is not ``seq`` 0 means frames were lost: the client closes (4001) and
  resumes with ``?connection_id=<id>&sequence_number=<last seq + 1>``, so the server replays what is missing.
* If the server answers a resume with a fresh ``hello``, it no longer had those events: ``on_gap()`` is
  awaited so the service reconciles from REST. Any hello after the first counts, even one reusing the old
  connection id: the stream restarted at seq 0 either way. The very first connect is *not* a gap: the
  service reconciles at start-up itself.
* Dead connections are noticed within ``silence_timeout`` (10 s): the client pings
  (``{"action": "ping", "seq": n}``) at once and every ``ping_interval`` but at least every
  ``silence_timeout / 2``; when ``pong_timeout`` (at most ``silence_timeout / 2``) passes with no frame at
  all it closes (4000, waiting at most :data:`CLOSE_TIMEOUT` for the server's close frame) and reconnects.
  A server that is stopped (SIGSTOP) or a network path that silently drops everything keeps the TCP
  connection open, so only this notices it.
* Failures are never swallowed: every lost connection is logged with its reason, ``state``/``last_error``
  change and ``on_state`` is awaited. A rejected token, or ``failures_before_failed`` attempts in a row
  without a working connection, make the state ``failed`` (logged at ERROR). The client keeps retrying at the
  capped backoff (full jitter) until :meth:`WebSocketClient.close`, so it recovers once the cause is fixed;
  a service that would rather stop can call ``close()`` from ``on_state``.
* While it waits out a backoff after the server could not be reached at all, the client asks the server's
  ``GET /api/v4/system/ping`` every ``probe_every`` (1 s); once that answers 200 it reconnects at once, so
  a server that comes back is used within about ``probe_every`` and not after the rest of a backoff of up
  to ``backoff_cap``. A server that answers but refuses (401, 503...) is not probed: it gets the backoff.

``on_event``/``on_gap`` are awaited inline, which is what keeps events ordered; make them quick (queue the
work) because pings and the server's keep-alive wait while they run. The token is sent in the upgrade
request's ``Authorization`` header only and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

RawEvent = dict[str, Any]
OnEvent = Callable[[RawEvent], Awaitable[None]]
OnGap = Callable[[], Awaitable[None]]
OnState = Callable[["ConnectionState", "str | None"], Awaitable[None]]

CLOSE_PING_TIMEOUT = 4000  # the codes Mattermost's own web client uses
CLOSE_RESYNC = 4001
CLOSE_TIMEOUT = 2.0  # seconds to wait for the server's close frame (aiohttp's default is 10)
SILENCE_TIMEOUT = 10.0  # a connection silent this long is noticed as dead


class ConnectionState(StrEnum):
    IDLE = "idle"  # run() not started
    CONNECTING = "connecting"  # first attempt
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"  # token rejected or repeated failures; still retrying
    CLOSED = "closed"  # close() was called


@dataclass
class Counters:
    """Running totals for tests and metrics."""

    connects: int = 0  # upgrades that succeeded
    reconnects: int = 0  # attempts after the first one
    resumes: int = 0  # resume attempts the server honoured (no new hello)
    gaps: int = 0  # resume attempts answered with a new hello: on_gap() was called
    events: int = 0  # events handed to on_event
    protocol_errors: int = 0  # bad seq, missing seq, misplaced hello: closed with 4001 to resync
    ping_timeouts: int = 0


@dataclass(frozen=True)
class _Outcome:
    """How one connection ended. ``confirmed``: it worked (hello, or an accepted resume) before ending."""

    confirmed: bool
    reason: str
    kind: str = "lost"  # lost | unreachable (no HTTP answer) | connect | auth | protocol | closed


def websocket_url(base_url: str) -> URL:
    """``https://chat.example.com/mm`` -> ``wss://chat.example.com/mm/api/v4/websocket``."""
    url = URL(base_url)
    if url.scheme not in {"http", "https"} or not url.host:
        shown = base_url if len(base_url) <= 80 else base_url[:77] + "..."
        raise ValueError(f"the Mattermost URL must look like https://chat.example.com, got {shown!r}")
    scheme = "wss" if url.scheme == "https" else "ws"
    path = url.path.rstrip("/") + "/api/v4/websocket"
    return url.with_scheme(scheme).with_path(path).with_query(None).with_fragment(None)


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**failures)]."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(failures, 32)))


def _check_token(token: str) -> None:
    if not token or token.strip() != token:
        raise ValueError("the websocket token is empty or has surrounding whitespace")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


class WebSocketClient:
    def __init__(
        self,
        url: str,
        token: str,
        on_event: OnEvent,
        on_gap: OnGap,
        *,
        on_state: OnState | None = None,
        ping_interval: float = 30.0,
        pong_timeout: float | None = None,
        silence_timeout: float = SILENCE_TIMEOUT,
        connect_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        probe_every: float = 1.0,
        failures_before_failed: int = 5,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        _check_token(token)
        _check_positive(
            ping_interval=ping_interval,
            silence_timeout=silence_timeout,
            connect_timeout=connect_timeout,
            probe_every=probe_every,
        )
        if failures_before_failed < 1:
            raise ValueError(f"failures_before_failed must be at least 1, got {failures_before_failed}")
        if not 0 < backoff_base <= backoff_cap:
            raise ValueError(f"need 0 < backoff_base <= backoff_cap, got {backoff_base} and {backoff_cap}")
        self.url = websocket_url(url)
        self._token = token
        self._on_event = on_event
        self._on_gap = on_gap
        self._on_state = on_state
        # Ping at least every half silence_timeout and wait at most that long for an answer: a connection
        # that goes silent just after a ping is then noticed within silence_timeout at the latest.
        self._ping_interval = min(ping_interval, silence_timeout / 2)
        self._pong_timeout = min(ping_interval if pong_timeout is None else pong_timeout, silence_timeout / 2)
        self._connect_timeout = connect_timeout
        self._probe_every = probe_every
        self._probe_url = URL(url).with_path(URL(url).path.rstrip("/") + "/api/v4/system/ping")
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._failures_before_failed = failures_before_failed
        self._session = session
        self._rng = rng or random.Random()

        self.state = ConnectionState.IDLE
        self.last_error: str | None = None
        self.connected = asyncio.Event()
        self.counters = Counters()
        self._connection_id: str | None = None
        self._next_seq = 0
        self._start_over = False  # the next connect asks for a new server connection instead of resuming
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._running = False
        self._closing = False
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        return f"<WebSocketClient {self.url} state={self.state.value}>"  # never the token

    @property
    def connection_id(self) -> str | None:
        return self._connection_id

    @property
    def last_seq(self) -> int | None:
        """The seq of the last event received on the current server connection."""
        return self._next_seq - 1 if self._connection_id is not None else None

    async def close(self) -> None:
        """Stop: close the connection and make :meth:`run` return. Safe to call from the callbacks."""
        self._closing = True
        self._stop.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        if not self._running:
            await self._set_state(ConnectionState.CLOSED, None)

    async def run(self) -> None:
        """Connect, and reconnect whenever the connection ends, until :meth:`close`."""
        if self._running:
            raise RuntimeError("WebSocketClient.run() is already running")
        self._running = True
        session = self._session or aiohttp.ClientSession()
        failures = 0
        try:
            while not self._closing:
                if self.counters.connects or failures:
                    self.counters.reconnects += 1
                else:
                    await self._set_state(ConnectionState.CONNECTING, None)
                outcome = await self._connect_once(session)
                if self._closing:
                    break  # type: ignore[unreachable]  # close() may set it during the await
                failures = 0 if outcome.confirmed and outcome.kind != "protocol" else failures + 1
                delay = backoff_delay(failures, self._backoff_base, self._backoff_cap, self._rng)
                await self._report(outcome, failures, delay)
                if outcome.kind == "unreachable":
                    await self._wait_for_server(session, delay)
                else:
                    await self._wait(delay)
        finally:
            self.connected.clear()
            if self._session is None:
                await session.close()
            self._running = False
            await self._set_state(ConnectionState.CLOSED, None)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if :meth:`close` is called; True if it was."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    async def _wait_for_server(self, session: aiohttp.ClientSession, delay: float) -> None:
        """Wait out ``delay``, but stop as soon as the server answers its ping endpoint again."""
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        while end - loop.time() > self._probe_every:
            if await self._wait(self._probe_every) or await self._server_answers(session):
                return
        await self._wait(max(end - loop.time(), 0.0))

    async def _server_answers(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(
                self._probe_url, timeout=aiohttp.ClientTimeout(total=self._probe_every)
            ) as resp:
                answered = resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False
        if answered:
            log.info("the server at %s answers again; reconnecting the websocket now", self.url)
        return answered

    async def _report(self, outcome: _Outcome, failures: int, delay: float) -> None:
        self.last_error = outcome.reason
        if outcome.kind == "auth" or failures >= self._failures_before_failed:
            log.error(
                "websocket to %s is failing: %s (%d attempt(s) in a row); retrying in %.1fs",
                self.url,
                outcome.reason,
                failures,
                delay,
            )
            await self._set_state(ConnectionState.FAILED, outcome.reason)
        else:
            log.warning("websocket to %s: %s; reconnecting in %.1fs", self.url, outcome.reason, delay)
            await self._set_state(ConnectionState.RECONNECTING, outcome.reason)

    async def _set_state(self, state: ConnectionState, reason: str | None) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                await self._on_state(state, reason)
            except Exception:
                log.exception("on_state callback failed for state %s", state.value)

    async def _connect_once(self, session: aiohttp.ClientSession) -> _Outcome:
        resuming = self._connection_id is not None and not self._start_over
        self._start_over = False
        params = {"connection_id": self._connection_id or "", "sequence_number": str(self._next_seq)}
        if not resuming:
            params = {"connection_id": "", "sequence_number": "0"}
        log.debug(
            "websocket connecting to %s (resume: %s, sequence_number %d)", self.url, resuming, self._next_seq
        )
        connect = asyncio.ensure_future(self._open(session, params))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                {connect, stopper}, timeout=self._connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:  # our own cancellation: do not leave the upgrade running
            connect.cancel()
            raise
        finally:
            stopper.cancel()
        if connect not in done:
            connect.cancel()
            await asyncio.wait({connect})
            if not connect.cancelled() and connect.exception() is None:
                await connect.result().close()
            if self._closing:
                return _Outcome(False, "closed by the client", "closed")
            return _Outcome(
                False, f"no answer to the upgrade within {self._connect_timeout:g}s", "unreachable"
            )
        try:
            ws = connect.result()
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in {401, 403}:
                return _Outcome(False, f"the server rejected the bot's token (HTTP {exc.status})", "auth")
            return _Outcome(False, f"the server refused the websocket upgrade (HTTP {exc.status})", "connect")
        except (aiohttp.ClientError, OSError) as exc:
            return _Outcome(False, f"cannot connect: {type(exc).__name__}: {exc}", "unreachable")
        self._ws = ws
        self.counters.connects += 1
        try:
            return await self._serve(ws, resuming)
        finally:
            self._ws = None
            self.connected.clear()
            if not ws.closed:
                await ws.close()

    async def _open(
        self, session: aiohttp.ClientSession, params: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        headers = {"Authorization": f"Bearer {self._token}"}
        return await session.ws_connect(
            self.url,
            params=params,
            headers=headers,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT),
        )

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, resuming: bool) -> _Outcome:  # noqa: C901  one read loop: ping, pong timeout and frame kinds together
        """Read one connection until it ends; ping on schedule; check seq; deliver events."""
        loop = asyncio.get_running_loop()
        conn = _Connection(resuming)
        next_ping = loop.time()
        awaiting_since: float | None = None
        while not self._closing:
            now = loop.time()
            if now >= next_ping:
                conn.action_seq += 1
                try:
                    await ws.send_str(json.dumps({"action": "ping", "seq": conn.action_seq}))
                except (aiohttp.ClientError, ConnectionError) as exc:
                    return _Outcome(
                        conn.confirmed, f"connection lost while sending a ping ({type(exc).__name__})"
                    )
                awaiting_since = now if awaiting_since is None else awaiting_since
                next_ping = now + self._ping_interval
            deadline = (
                next_ping if awaiting_since is None else min(next_ping, awaiting_since + self._pong_timeout)
            )
            try:
                msg = await ws.receive(timeout=max(deadline - loop.time(), 0.001))
            except TimeoutError:
                if awaiting_since is not None and loop.time() >= awaiting_since + self._pong_timeout:
                    self.counters.ping_timeouts += 1
                    await ws.close(code=CLOSE_PING_TIMEOUT)
                    return _Outcome(conn.confirmed, f"no answer to a ping within {self._pong_timeout:g}s")
                continue
            if msg.type is aiohttp.WSMsgType.TEXT:
                awaiting_since = None
                problem = await self._handle_text(msg.data, conn)
                if problem is not None:
                    self.counters.protocol_errors += 1
                    log.warning("websocket protocol error: %s; reconnecting to resync", problem)
                    await ws.close(code=CLOSE_RESYNC)
                    return _Outcome(conn.confirmed, problem, "protocol")
            elif msg.type is aiohttp.WSMsgType.BINARY:
                awaiting_since = None
                log.warning("ignoring a binary websocket frame (%d bytes)", len(msg.data))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return self._read_error(msg.data, conn)
            else:  # CLOSE, CLOSING, CLOSED
                if self._closing:
                    break  # type: ignore[unreachable]  # close() may set it during the await
                return _Outcome(conn.confirmed, self._describe_close(msg, conn))
        return _Outcome(conn.confirmed, "closed by the client", "closed")

    def _read_error(self, error: object, conn: _Connection) -> _Outcome:
        """A frame that could not be read. One too big to read would come back on every resume: start a new
        server connection instead, whose hello is a gap (``on_gap``: the service catches up over REST)."""
        if isinstance(error, aiohttp.WebSocketError) and error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            self._start_over = True
            return _Outcome(conn.confirmed, f"a frame too big to read ({error}); starting a new connection")
        return _Outcome(conn.confirmed, f"websocket error: {type(error).__name__}: {error}")

    @staticmethod
    def _describe_close(msg: aiohttp.WSMessage, conn: _Connection) -> str:
        if msg.type is aiohttp.WSMsgType.CLOSE:
            reason = f"the server closed the connection (code {msg.data})"
        else:
            reason = "the connection dropped without a close frame"
        if not conn.confirmed and not conn.resuming:
            reason += " before hello (was the token rejected?)"
        return reason

    async def _handle_text(self, text: str, conn: _Connection) -> str | None:  # noqa: C901  the protocol checks of a frame, in order
        """Handle one text frame; return a protocol problem that calls for a resync, else None."""
        try:
            frame = json.loads(text)
        except ValueError:
            log.warning("ignoring a websocket frame that is not JSON (%d characters)", len(text))
            return None
        if not isinstance(frame, dict):
            log.warning("ignoring a websocket frame that is not a JSON object")
            return None
        if frame.get("seq_reply"):
            if frame.get("status") != "OK":
                log.warning(
                    "the server answered action %.20r with status %.40r",
                    frame["seq_reply"],
                    frame.get("status"),
                )
            if conn.resuming:
                await self._confirm(conn, resumed=True)
            return None
        name = str(frame.get("event"))[:64]
        seq = frame.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return f"event {name!r} has no integer seq"
        if name == "hello":
            problem = await self._handle_hello(frame, seq, conn)
            if problem is not None:
                return problem
        elif self._connection_id is None:
            return f"event {name!r} arrived before hello"
        elif seq != self._next_seq:
            return f"expected seq {self._next_seq} but event {name!r} has seq {seq}: events were lost"
        else:
            self._next_seq = seq + 1
            await self._confirm(conn, resumed=conn.resuming)
        self.counters.events += 1
        try:
            await self._on_event(frame)
        except Exception:
            log.exception("on_event failed for websocket event %r seq %d", name, seq)
        return None

    async def _handle_hello(self, frame: RawEvent, seq: int, conn: _Connection) -> str | None:
        if seq != 0:
            return f"hello with seq {seq}; a hello must be seq 0"
        data = frame.get("data")
        connection_id = data.get("connection_id") if isinstance(data, dict) else None
        if not isinstance(connection_id, str) or not connection_id:
            return "hello without a connection_id"
        previous = self._connection_id
        self._connection_id = connection_id
        self._next_seq = 1
        if conn.counted_resume:  # the ping reply raced ahead of this hello: it was not a resume after all
            self.counters.resumes -= 1
            conn.counted_resume = False
        await self._confirm(conn, resumed=False)
        if previous is not None:
            # Resume refused (or the server restarted the stream): whatever happened since is unknown.
            self.counters.gaps += 1
            log.warning(
                "websocket: the server started a new connection (%s -> %s); events may have been missed",
                previous,
                connection_id,
            )
            try:
                await self._on_gap()
            except Exception:
                log.exception("on_gap callback failed")
        else:
            log.info("websocket connected to %s (connection %s)", self.url, connection_id)
        return None

    async def _confirm(self, conn: _Connection, *, resumed: bool) -> None:
        if conn.confirmed:
            return
        conn.confirmed = True
        if resumed:
            self.counters.resumes += 1
            conn.counted_resume = True
            log.info("websocket resumed connection %s from seq %d", self._connection_id, self._next_seq)
        self.connected.set()
        await self._set_state(ConnectionState.CONNECTED, None)


class _Connection:
    """Per-connection bookkeeping of :meth:`WebSocketClient._serve`."""

    def __init__(self, resuming: bool) -> None:
        self.resuming = resuming
        self.confirmed = False
        self.counted_resume = False
        self.action_seq = 0
