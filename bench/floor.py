"""The floor of an incident start, in its own process as the bot is: ``python -m bench.floor``.

Reads one JSON plan from stdin (server URL, token, team, channel, member ids, posts in order), loads
everything it needs, prints ``ready``, waits for a line on stdin, then makes the minimum calls one after
the other: create the channel, add the members in one call, each post (stage roots before their items),
the pin. With ``--adapter`` it sends them through the bot's REST adapter instead of a bare aiohttp client;
with ``--side-by-side`` each stage's items go in order but stages alongside each other, as the bot posts
when the server shows every reader threads collapsed.
Prints ``done <calls>`` at the end. The parent times it from ``go`` to its websocket seeing the last post.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp


async def bare(plan: dict[str, Any], side_by_side: bool = False) -> int:
    calls = 0
    headers = {"Authorization": f"Bearer {plan['token']}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def send(path: str, body: Any = None) -> Any:
            nonlocal calls
            calls += 1
            async with http.post(plan["url"] + "/api/v4" + path, json=body) as resp:
                if resp.status >= 400:
                    raise RuntimeError(f"floor: POST {path}: HTTP {resp.status}: {await resp.text()}")
                return await resp.json()

        async with http.get(plan["url"] + "/api/v4/users/me") as warm:  # connection open, not counted
            await warm.read()
        await go()
        channel_id = (await send("/channels", plan["channel"]))["id"]
        await send(f"/channels/{channel_id}/members", {"user_ids": plan["members"]})
        ids: dict[int, str] = {}
        chains: dict[int, asyncio.Task[None]] = {}  # side by side: the last reply in flight per thread

        async def reply(n: int, post: dict[str, Any], before: asyncio.Task[None] | None) -> None:
            if before is not None:
                await before
            body = {"channel_id": channel_id, "message": post["message"], "root_id": ids[post["thread"]]}
            ids[n] = (await send("/posts", body))["id"]

        for n, post in enumerate(plan["posts"]):
            if side_by_side and post["thread"] is not None:
                chains[post["thread"]] = asyncio.create_task(reply(n, post, chains.get(post["thread"])))
                continue
            root = ids[post["thread"]] if post["thread"] is not None else ""
            made = await send(
                "/posts", {"channel_id": channel_id, "message": post["message"], "root_id": root}
            )
            ids[n] = made["id"]
            if post["pin"]:
                await send(f"/posts/{made['id']}/pin")
        await asyncio.gather(*chains.values())
    return calls


async def adapter(plan: dict[str, Any]) -> int:
    from sev1bot.mattermost.rest import MattermostAPI

    async with MattermostAPI(plan["url"], plan["token"]) as api:
        me = await api.me()  # warm: connection open, user known
        calls_before = api.calls
        await go()
        c = plan["channel"]
        channel = await api.create_channel(
            c["team_id"], c["name"], c["display_name"], header=c["header"], purpose=c["purpose"]
        )
        await api.add_members(channel.id, plan["members"])
        ids: list[str] = []
        for n, post in enumerate(plan["posts"]):
            root = ids[post["thread"]] if post["thread"] is not None else ""
            pending = f"{me.id}:{int(time.time() * 1000)}-{n}"
            made = await api.create_post(channel.id, post["message"], root_id=root, pending_post_id=pending)
            ids.append(made.id)
            if post["pin"]:
                await api.pin(made.id)
        return api.calls - calls_before


async def go() -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--adapter", action="store_true", help="send through sev1bot's REST adapter")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="post each thread's replies in order but threads alongside each other, as the bot does "
        "when the server shows threads collapsed",
    )
    args = parser.parse_args()
    plan = json.loads(sys.stdin.readline())
    calls = asyncio.run(adapter(plan) if args.adapter else bare(plan, args.side_by_side))
    print(f"done {calls}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
