"""``sev1bot sandbox [--host H] [--port P] [--seed FILE]``: run the sandbox until Ctrl-C.

Prints where it listens, the team, every user's token and the admin token, so a person or the bot can
connect straight away.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.seed import SeedError, load_seed


def banner(sandbox: Sandbox) -> str:
    width = max(len(name) for name in sandbox.tokens) + 6
    lines = [
        f"Mattermost sandbox listening on {sandbox.url}  (websocket {sandbox.ws_url})",
        f"team: {sandbox.team.name}  (id {sandbox.team.id})",
        "tokens (Authorization: Bearer <token>):",
    ]
    for name, token in sandbox.tokens.items():
        label = f"{name} (bot)" if name == sandbox.bot.username else name
        label += " (deactivated)" if sandbox.users[name].delete_at else ""
        lines.append(f"  {label:<{width}} {token}")
    lines += [
        f"admin token (for {sandbox.url}/sandbox/admin): {sandbox.admin_token}",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


async def serve(host: str, port: int, seed: str | None, out: TextIO = sys.stdout) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)
    async with Sandbox.running(load_seed(seed), host=host, port=port) as sandbox:
        print(banner(sandbox), file=out, flush=True)
        await stop.wait()
    print("sandbox stopped", file=out, flush=True)


def main(host: str, port: int, seed: str | None) -> int:
    try:
        asyncio.run(serve(host, port, seed))
    except SeedError as exc:
        print(f"sev1bot sandbox: bad seed:\n{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sev1bot sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
