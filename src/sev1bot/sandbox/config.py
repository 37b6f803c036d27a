"""Knobs of the sandbox, defaulting to the real server's values (shorter ones are for tests)."""

from __future__ import annotations

from dataclasses import dataclass

SERVER_VERSION = "11.1.0"
BUILD_NUMBER = "sandbox"
VERSION_ID = f"{SERVER_VERSION}.{BUILD_NUMBER}.0.false"  # X-Version-Id / hello server_version format


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    ping_interval: float = 60.0  # the server pings every 60 s ...
    read_deadline: float = 100.0  # ... and drops a connection silent for 100 s
    unauthenticated_timeout: float = 5.0  # a socket that never authenticates is dropped after 5 s
    inactive_connection_ttl: float = 300.0  # how long a dropped connection stays resumable
    dead_queue_size: int = 128  # events kept per connection for replay
    send_queue_size: int = 256  # events queued for a connection; beyond this the connection is dropped
    integration_timeout: float = 30.0  # OutgoingIntegrationRequestsTimeout: slash commands and buttons
    pending_post_ttl: float = 30.0  # how long a pending_post_id is remembered for de-duplication
    command_hook_ttl: float = 30 * 60.0  # response_url lifetime
    command_hook_max_uses: int = 5  # response_url uses
    admin_token: str = ""  # token for /sandbox/admin/*; generated when empty
    # AllowedUntrustedInternalConnections: None calls any integration URL (as if the operator listed the
    # bot's host); a tuple refuses loopback/private addresses whose host is not in it, as the server does.
    allowed_internal_hosts: tuple[str, ...] | None = None
    # ServiceSettings.CollapsedThreads: "always_on" (the server's default), "default_on", "default_off" or
    # "disabled"; clients read it from GET /api/v4/config/client?format=old.
    collapsed_threads: str = "always_on"
