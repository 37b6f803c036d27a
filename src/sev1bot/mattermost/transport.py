"""An httpx transport that sends requests with aiohttp: the driver's API, aiohttp's speed.

mattermostautodriver talks httpx. httpx's own transport (httpcore on anyio, with a pure-Python HTTP parser)
costs about 1.6 ms of CPU per request on a small server CPU, four times aiohttp's, and the bot makes several
requests per reaction; see docs/performance.md. The driver accepts any httpx transport, so this one hands
each request to an ``aiohttp.ClientSession`` (keep-alive pool, C parser) and gives httpx back the raw bytes.

The contract with :func:`sev1bot.mattermost.rest.translate` is kept: a connection that never opened raises
``httpx.ConnectError``/``ConnectTimeout`` (the request surely was not sent), anything that fails after
that raises ``httpx.ReadError``/``ReadTimeout`` (it may have been). Bodies are passed through undecoded
(httpx decodes what it asked for), and httpx's per-request timeouts are honoured.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import aiohttp
import httpx

log = logging.getLogger(__name__)

# Set by aiohttp itself from the URL and body; the request's copies would be sent twice or be wrong.
_SKIP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, verify: bool = True, limit: int = 100) -> None:
        self._verify = verify
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._verify)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP_HEADERS]
        body = await request.aread()
        timeout = _timeout(request.extensions.get("timeout"))
        try:
            async with self._client().request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                content = await response.read()
                return httpx.Response(
                    response.status,
                    headers=list(response.raw_headers),
                    content=content,
                    request=request,
                    extensions={"http_version": b"HTTP/1.1"},
                )
        except aiohttp.ClientConnectorError as exc:  # includes certificate and DNS failures
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out waiting for the answer", request=request) from exc
        except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _timeout(spec: Any) -> aiohttp.ClientTimeout:
    """httpx's ``{"connect", "read", "write", "pool"}`` seconds (None: no limit) as aiohttp's timeout."""
    if not isinstance(spec, dict):
        return aiohttp.ClientTimeout(total=None)
    return aiohttp.ClientTimeout(
        total=None, connect=spec.get("pool"), sock_connect=spec.get("connect"), sock_read=spec.get("read")
    )
