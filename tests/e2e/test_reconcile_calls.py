"""Catching up on missed reactions costs one request per incident, not one per item post.

The bot is stopped while people react, then started again on the same database: it must apply what it
missed from the channel's post list (posts carry their reactions) without asking for any post's
reactions. After a websocket gap the server could not replay, only posts changed since are fetched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Humans, bot_env, free_port, react, running_bot
from scenario import is_checked, is_skipped, item_post, start_incident, until

from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e


async def test_missed_reactions_are_read_from_the_post_list(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path
) -> None:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'sev1bot.db'}", playbook_dir, free_port())
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
    # While the bot is down: one item checked, one skipped.
    await react(humans, "stu.doherty", item_post(sandbox, channel_id, "2.2").id, "white_check_mark")
    await react(humans, "brent.fox", item_post(sandbox, channel_id, "3.1").id, "fast_forward")
    listed = sandbox.count_requests("GET", f"/api/v4/channels/{channel_id}/posts")
    asked = sandbox.count_requests("GET", "/api/v4/posts/*/reactions")

    async with running_bot(env):
        await until(
            lambda: is_checked(sandbox, channel_id, "2.2", "stu.doherty"), 10, "2.2 checked by stu.doherty"
        )
        await until(lambda: is_skipped(sandbox, channel_id, "3.1"), 10, "3.1 skipped")
        assert sandbox.count_requests("GET", f"/api/v4/channels/{channel_id}/posts") == listed + 1
        assert sandbox.count_requests("GET", "/api/v4/posts/*/reactions") == asked  # none per post

        # A gap the server cannot replay (it restarted): a reaction made meanwhile is caught up too.
        sandbox.restart()
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "4.1").id, "white_check_mark")
        await until(
            lambda: is_checked(sandbox, channel_id, "4.1", "stu.doherty"), 10, "4.1 checked after the gap"
        )
        assert sandbox.count_requests("GET", "/api/v4/posts/*/reactions") <= asked + 1  # the live event's
