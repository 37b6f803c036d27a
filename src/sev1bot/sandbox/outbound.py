"""Requests the server makes to integrations (slash commands, buttons), with its timeout and URL rules."""

from __future__ import annotations

import base64
import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.ids import new_id, now_ms

log = logging.getLogger(__name__)


class OutboundError(Exception):
    """The integration could not be reached, timed out, or its address is not allowed."""


@dataclass
class OutboundReply:
    status: int
    content_type: str
    body: bytes


def trigger_ids(user_id: str) -> tuple[str, str]:
    """(what the client gets, what the integration gets): a plain id, and a signed, encoded trigger id."""
    client_id = new_id()
    signed = base64.b64encode(f"{client_id}:{user_id}:{now_ms()}:sandbox-signature".encode()).decode()
    return client_id, signed


def _internal(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


class Outbound:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_url(self, url: str) -> None:
        """``AllowedUntrustedInternalConnections``, when the sandbox is configured to enforce it."""
        allowed = self.config.allowed_internal_hosts
        host = urlsplit(url).hostname or ""
        if allowed is not None and _internal(host) and host not in allowed:
            raise OutboundError(
                f"address forbidden, you may need to set AllowedUntrustedInternalConnections to allow {host}"
            )

    async def send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None = None, params: str = ""
    ) -> OutboundReply:
        self.check_url(url)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        if params:
            url = f"{url}{'&' if urlsplit(url).query else '?'}{params}"
        timeout = aiohttp.ClientTimeout(total=self.config.integration_timeout)
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as reply:
                body = await reply.read()
                return OutboundReply(reply.status, reply.headers.get("Content-Type", ""), body)
        except TimeoutError:
            log.info("integration request to %s timed out after %.1f s", url, self.config.integration_timeout)
            raise OutboundError(f"timed out after {self.config.integration_timeout} s") from None
        except aiohttp.ClientError as exc:
            raise OutboundError(str(exc)) from None
