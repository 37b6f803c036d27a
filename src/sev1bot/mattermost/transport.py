"""The driver's HTTP client on aiohttp: the driver's API and errors, aiohttp's speed.

mattermostautodriver talks httpx. Profiling the benchmark showed httpx costing about 1 ms of CPU per request
on this 2-core machine (its transport, httpcore on anyio with a pure-Python parser, and its client
machinery: request building, URL merging, cookie extraction), several times aiohttp's, and the bot makes
a request per post and four per reaction (docs/performance.md). Two pieces replace it:

* :class:`AiohttpClient`, given to the driver as its ``client_cls``: JSON requests (all the bot makes) go
  straight to an ``aiohttp.ClientSession``; error answers still go through the driver's own checks, so
  the same exceptions come out. Form and file uploads fall back to the driver's httpx path.
* :class:`AiohttpTransport`: that httpx path, with aiohttp underneath.

The contract with :func:`sev1bot.mattermost.rest.translate` is kept: a connection that never opened raises
``httpx.ConnectError``/``ConnectTimeout`` (the request surely was not sent), anything that fails after
that ``httpx.ReadError``/``ReadTimeout`` (it may have been). Bodies arrive undecoded and are decoded here.
"""

from __future__ import annotations

import json
import logging
import ssl
import zlib
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from mattermostautodriver.client import AsyncClient
from multidict import CIMultiDict, CIMultiDictProxy

log = logging.getLogger(__name__)

# Set by aiohttp itself from the URL and body; the request's copies would be sent twice or be wrong.
_SKIP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Sessions:
    """One lazily made aiohttp session (it must be made inside the running loop)."""

    def __init__(self, *, verify: bool = True, limit: int = 100) -> None:
        self._verify = verify
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._verify)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Any,
        body: bytes | None,
        limits: aiohttp.ClientTimeout,
        request: httpx.Request | None = None,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """(status, headers, undecoded body); aiohttp's errors as httpx's, naming ``request`` (made
        from method and URL only when needed: building one costs more than a fast request)."""
        try:
            async with self.get().request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=limits
            ) as response:
                return response.status, response.headers, await response.read()
        except aiohttp.ClientConnectorError as exc:  # includes certificate and DNS failures
            raise httpx.ConnectError(str(exc), request=request or httpx.Request(method, url)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            message = str(exc) or "connect timed out"
            raise httpx.ConnectTimeout(message, request=request or httpx.Request(method, url)) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            message = str(exc) or "timed out waiting for the answer"
            raise httpx.ReadTimeout(message, request=request or httpx.Request(method, url)) from exc
        except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise httpx.ReadError(message, request=request or httpx.Request(method, url)) from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over aiohttp."""

    def __init__(self, *, verify: bool = True, limit: int = 100, sessions: Sessions | None = None) -> None:
        self.sessions = sessions or Sessions(verify=verify, limit=limit)

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        return self.sessions._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP_HEADERS]
        body = await request.aread()
        timeout = _timeout(request.extensions.get("timeout"))
        status, reply_headers, content = await self.sessions.send(
            request.method, str(request.url), headers, body or None, timeout, request
        )
        return httpx.Response(
            status,
            headers=list(reply_headers.items()),
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        await self.sessions.close()


class _Reply:
    """A JSON answer, as much of a response as the driver's ``get``/``post``/``put``/``delete`` read."""

    __slots__ = ("_data", "headers", "status_code")

    def __init__(self, status: int, headers: Mapping[str, str], data: Any) -> None:
        self.status_code = status
        self.headers = headers
        self._data = data

    def json(self) -> Any:
        return self._data


class AiohttpClient(AsyncClient):  # type: ignore[misc]  # the driver is untyped
    """The driver's async client, sending JSON requests with aiohttp. Needs ``max_retries`` 0: retrying
    is the caller's business (see ``MattermostAPI._call``)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.sessions = Sessions(verify=options.get("verify", True))
        super().__init__({**options, "transport": AiohttpTransport(sessions=self.sessions)})

    async def make_request(
        self,
        method: str,
        endpoint: str,
        options: Any = None,
        params: Any = None,
        data: Any = None,
        files: Any = None,
        basepath: Any = None,
    ) -> Any:
        if data is not None or files is not None or basepath is not None or self._auth or self._max_retries:
            return await super().make_request(method, endpoint, options, params, data, files, basepath)
        url = self.url + endpoint
        query = _without_none(params)
        if query:
            url = str(httpx.URL(url, params=query))
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        body = None
        if method.lower() in ("post", "put") and options is not None:
            filtered = _without_none(options)
            body = json.dumps({} if filtered is None else filtered).encode()
            headers["Content-Type"] = "application/json"
        status, reply_headers, content = await self.sessions.send(
            method.upper(), url, headers, body, _timeout(self.request_timeout)
        )
        if reply_headers.get("Content-Encoding", "").lower() in ("gzip", "deflate"):
            content = zlib.decompress(content, zlib.MAX_WBITS | 32)  # gzip or zlib, by their header
            decoded = CIMultiDict(reply_headers)
            del decoded["Content-Encoding"]
            decoded["Content-Length"] = str(len(content))
            reply_headers = CIMultiDictProxy(decoded)
        if status >= 400 or reply_headers.get("Content-Type") != "application/json":
            request = httpx.Request(method.upper(), url)
            response = httpx.Response(
                status, headers=list(reply_headers.items()), content=content, request=request
            )
            if status >= 400:
                self._check_response(response)  # raises the driver's error for this answer
            return response
        return _Reply(status, reply_headers, json.loads(content) if content else None)

    async def close(self) -> None:
        await super().close()
        await self.sessions.close()


def _without_none(values: Any) -> Any:
    """The driver drops None values from query and body dicts (and sends {} when none is left)."""
    if not isinstance(values, dict):
        return values
    return {k: v for k, v in values.items() if v is not None} or None


def _timeout(spec: Any) -> aiohttp.ClientTimeout:
    """httpx's timeout, ``{"connect", "read", "write", "pool"}`` seconds or one number for all (None: no
    limit), as aiohttp's."""
    if isinstance(spec, int | float):
        return aiohttp.ClientTimeout(total=None, connect=spec, sock_connect=spec, sock_read=spec)
    if not isinstance(spec, dict):
        return aiohttp.ClientTimeout(total=None)
    return aiohttp.ClientTimeout(
        total=None, connect=spec.get("pool"), sock_connect=spec.get("connect"), sock_read=spec.get("read")
    )
