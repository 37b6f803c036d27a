"""A plain HTTP client for tests that act as a person against the sandbox (or any Mattermost server).

It returns every answer as ``Reply(status, headers, body)`` instead of raising, so tests can assert on
error responses. ``body`` is the decoded JSON, or the text when the answer is not JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    def json(self, status: int | None = None) -> Any:
        """The body, after checking the status when one is given (the message shows the body)."""
        if status is not None and self.status != status:
            raise AssertionError(f"expected HTTP {status}, got {self.status}: {self.body!r}")
        return self.body


class ApiClient:
    """``async with ApiClient(url, token) as alice: await alice.get("/api/v4/users/me")``."""

    def __init__(self, base_url: str, token: str = "", headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.extra_headers = headers or {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        sent = {**self.extra_headers, **(headers or {})}
        if self.token and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base_url + path, data=data, headers=sent, params=params
        ) as response:
            raw = await response.read()
            content_type = response.headers.get("Content-Type", "")
            decoded: Any = raw.decode("utf-8", errors="replace")
            if content_type.split(";")[0].strip() == "application/json" and raw:
                decoded = json.loads(raw)
            return Reply(response.status, response.headers, decoded)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("PUT", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)


class EventStream:
    """A websocket as a plain client sees it: ``await stream.next_event("posted")``.

    ``frames`` keeps everything received (events and replies) for assertions on ordering and ``seq``.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.ws = ws
        self._session = session
        self.frames: list[dict[str, Any]] = []
        self._barriers = 0

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        token: str = "",
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> EventStream:
        session = aiohttp.ClientSession()
        sent = dict(headers or {})
        if token:
            sent.setdefault("Authorization", f"Bearer {token}")
        try:
            ws = await session.ws_connect(ws_url, headers=sent, params=query, autoping=True)
        except BaseException:
            await session.close()
            raise
        return cls(ws, session)

    async def close(self) -> None:
        await self.ws.close()
        await self._session.close()

    async def send(self, action: str, seq: int, data: dict[str, Any] | None = None) -> None:
        frame: dict[str, Any] = {"action": action, "seq": seq}
        if data is not None:
            frame["data"] = data
        await self.ws.send_json(frame)

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        """The next JSON frame; raises ConnectionError when the socket ends instead."""
        message = await self.ws.receive(timeout=within)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket ended: {message.type.name} (close code {self.ws.close_code})")
        frame: dict[str, Any] = json.loads(message.data)
        self.frames.append(frame)
        return frame

    async def next_event(self, name: str, within: float = 5.0) -> dict[str, Any]:
        """Skip frames until an event called ``name`` arrives."""
        while True:
            frame = await self.receive(within)
            if frame.get("event") == name:
                return frame

    async def settle(self, within: float = 5.0) -> list[dict[str, Any]]:
        """Every frame the server queued for this socket before now, and nothing later: a ping goes out, and
        what arrives before its reply is returned (the reply itself is consumed). The barrier for "nothing
        else was sent", with no time window to guess."""
        self._barriers += 1
        seq = 1_000_000 + self._barriers  # clear of the seqs tests send themselves
        await self.send("ping", seq)
        got: list[dict[str, Any]] = []
        while (frame := await self.receive(within)).get("seq_reply") != seq:
            got.append(frame)
        self.frames.pop()  # the barrier's own reply
        return got

    async def quiet(self, seconds: float = 0.2) -> list[dict[str, Any]]:
        """Frames that arrive within ``seconds``. Prefer :meth:`settle`: a quiet window proves nothing on a
        loaded machine."""
        got: list[dict[str, Any]] = []
        try:
            while True:
                got.append(await self.receive(seconds))
        except TimeoutError:
            return got
