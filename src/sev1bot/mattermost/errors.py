"""Errors of the Mattermost REST adapter, independent of the driver underneath.

``MattermostError`` -> ``BadRequest``, ``Unauthorized``, ``Forbidden``, ``NotFound``, ``RateLimited``,
``ServerError``, ``Unreachable``. Each carries the HTTP status (0 when no response came), the server's
error id (``store.sql_channel.save_channel.exists.app_error`` and the like) and the failed operation.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sev1bot.config import ConfigError


class MattermostError(Exception):
    """A Mattermost API call failed."""

    def __init__(
        self, message: str, *, status: int = 0, error_id: str = "", request_id: str = "", operation: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_id = error_id
        self.request_id = request_id
        self.operation = operation

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        status = (
            f" (HTTP {self.status}" + (f", {self.error_id})" if self.error_id else ")") if self.status else ""
        )
        return f"{where}{self.message}{status}"


class BadRequest(MattermostError):
    """400 (or another 4xx without its own class): the request is wrong; ``error_id`` says how."""


class Unauthorized(MattermostError):
    """401: the token is missing, wrong, revoked or expired."""


class Forbidden(MattermostError):
    """403: the bot account lacks a permission."""


class NotFound(MattermostError):
    """404: no such user, team, channel, post or command (or the bot may not see it)."""


class RateLimited(MattermostError):
    """429: the server's rate limiter refused the call; ``retry_after`` is in seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, operation: str = "") -> None:
        super().__init__(message, status=429, operation=operation)
        self.retry_after = retry_after


class ServerError(MattermostError):
    """5xx: the server (or a proxy in front of it) failed."""


class Unreachable(MattermostError):
    """No HTTP response: connection refused or reset, DNS failure, TLS failure or timeout.

    ``maybe_sent`` is False only when the request surely never reached the server (the connection failed).
    """

    def __init__(self, message: str, *, maybe_sent: bool, operation: str = "") -> None:
        super().__init__(message, operation=operation)
        self.maybe_sent = maybe_sent


class RegistrationError(ConfigError):
    """The slash command could not be registered; the message tells the operator what to change."""


def error_for_status(
    status: int, message: str, *, error_id: str = "", request_id: str = "", operation: str = ""
) -> MattermostError:
    """The error class for an HTTP status (429 is built by the caller, which knows the wait)."""
    cls: type[MattermostError]
    if status == 401:
        cls = Unauthorized
    elif status == 403:
        cls = Forbidden
    elif status == 404:
        cls = NotFound
    elif status >= 500:
        cls = ServerError
    elif 400 <= status < 500:
        cls = BadRequest
    else:
        cls = MattermostError
    return cls(message, status=status, error_id=error_id, request_id=request_id, operation=operation)


def registration_help(err: MattermostError, trigger: str, url: str) -> str:
    """What the operator must change when the server refuses to let the bot register its command."""
    if isinstance(err, Unauthorized):
        return f"Mattermost rejected MATTERMOST_TOKEN while registering /{trigger}: check the bot's token."
    lines = [f"Mattermost refused to register the /{trigger} slash command ({err}). Fix one of:"]
    if err.status == 501:
        lines.append(
            "  - enable custom slash commands: System Console > Integrations > Integration Management > "
            "Enable Custom Slash Commands "
            "(ServiceSettings.EnableCommands, MM_SERVICESETTINGS_ENABLECOMMANDS=true)"
        )
    else:
        lines.append(
            "  - let the bot manage slash commands on the team: make the bot account a team admin "
            "(System Console > User Management > Teams > <team> > Manage Members > Team Admin), or grant "
            "its role 'Manage Slash Commands' (System Console > User Management > Permissions); and check "
            "that ServiceSettings.EnableCommands is true"
        )
    lines.append(
        f"  - or create the command by hand (Integrations > Slash Commands > Add: trigger '{trigger}', "
        f"request URL {url}, method POST) and set SEV1BOT_COMMAND_TOKEN to its token"
    )
    hint = internal_host_hint(url)
    if hint:
        lines.append("  - also: " + hint)
    return "\n".join(lines)


def internal_host_hint(url: str) -> str | None:
    """A warning when Mattermost will refuse to call ``url`` because its host looks internal."""
    host = urlsplit(url).hostname or ""
    try:
        internal = not ipaddress.ip_address(host).is_global
    except ValueError:
        internal = "." not in host or host.endswith((".local", ".internal", ".localhost", ".svc", ".lan"))
    if not internal:
        return None
    return (
        f"Mattermost refuses to call {url} unless '{host}' is listed in "
        "ServiceSettings.AllowedUntrustedInternalConnections (System Console > Environment > Developer; "
        "MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS, space separated)"
    )
