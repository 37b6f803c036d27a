"""Every post exactly once, whatever the gap between a crash and the restart (issue 12, item 3).

The server forgets a ``pending_post_id`` 30 s after the post was made, so a bot killed while posting the
checklist and restarted later than that must find out by itself which of its unrecorded posts the server
already has. The sandbox is told to forget instead of the test waiting 35 s (``expire_pending_posts``).
The normal path must not pay for that: no channel reads while nothing went wrong.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

import pytest
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, react, slash
from procs import BotProcess
from scenario import (
    ITEMS,
    assert_checklist_once,
    bot_posts,
    checklist_posted,
    dms_to,
    incident_channel,
    is_checked,
    item_key,
    item_posts,
    pings,
    until,
)

from sev1bot.core.effects import ItemPost
from sev1bot.mattermost.rest import DELIVERY_PROP
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from sev1bot.store.store import Store
from store_peek import active_posts

pytestmark = pytest.mark.e2e

POSTS = "/api/v4/posts"
LISTS = "/api/v4/channels/*/posts"


def recorded(db_url: str) -> tuple[str, dict[str, str], int]:
    """(incident id, item key -> the post the bot's database names for it, undelivered outbox rows)."""
    with Store(db_url) as store:
        (incident,) = store.active_incidents()
        posts = active_posts(store, incident.id)
        pending = len(store.outbox_batch(incident.id, 1000).entries)
    items = {ref.key: post_id for ref, post_id in posts.items() if isinstance(ref, ItemPost)}
    return incident.id, items, pending


async def test_sigkill_while_the_checklist_is_posted_then_a_restart_more_than_30_s_later(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
    playbooks = fast_playbook(tmp_path / "playbooks", "1h", "1h")
    bot = BotProcess("bot", bot_env(sandbox, db_url, playbooks, free_port()), tmp_path / "bot.log")
    bot.start()
    try:
        await bot.wait_healthy(role="leader")
        sandbox.faults.delay("POST", POSTS, 0.05)  # the checklist takes a couple of seconds to post
        answer = await slash(humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" db down')
        assert "Started Sev 1 incident" in answer["text"], answer
        channel = await until(lambda: incident_channel(sandbox), 20, "the incident channel")
        await until(lambda: len(item_posts(sandbox, channel.id)) >= 6, 20, "the first items")
        # From now on the server makes each post and never answers: the bot is killed with posts made that
        # it has not heard of, as when it dies between the server's work and its own bookkeeping.
        sandbox.faults.delay("POST", POSTS, 30.0, after=True)
        answered = {p.id for p in bot_posts(sandbox, channel.id)}

        def unanswered() -> list[Post]:
            return [p for p in bot_posts(sandbox, channel.id) if p.id not in answered]

        await until(lambda: len(unanswered()) >= 3, 20, "posts made but not answered (one per thread)")
        bot.kill()
        made = unanswered()
        _, items_before, pending = await asyncio.to_thread(recorded, db_url)
        held = {key: p.id for p in made if (key := item_key(p)) is not None}
        assert held and not set(held.values()) & set(items_before.values()), "the bot never recorded them"
        assert pending > 0 and len(item_posts(sandbox, channel.id)) < ITEMS, "killed half way"

        sandbox.faults.clear()
        assert sandbox.expire_pending_posts() > 0  # the restart comes more than 30 s later
        bot.start()
        back = time.monotonic()
        await bot.wait_healthy(within=30, role="leader")
        leading = time.monotonic() - back
        await checklist_posted(sandbox)

        async def delivered() -> bool:
            return (await asyncio.to_thread(recorded, db_url))[2] == 0

        await until(delivered, 20, "the outbox delivered")
        print(f"restart to leading {leading:.1f}s, to the whole checklist {time.monotonic() - back:.1f}s")
        print(f"{len(made)} posts made but unanswered before the kill ({len(held)} items), each adopted")
        assert_checklist_once(sandbox, channel.id)  # nothing twice, the unanswered posts included
        _, items_after, _ = await asyncio.to_thread(recorded, db_url)
        assert {key: items_after[key] for key in held} == held, "the posts made before the kill were adopted"
        keys = [p.props.get(DELIVERY_PROP) for p in bot_posts(sandbox, channel.id)]
        assert all(keys) and len(set(keys)) == len(keys), "every post names its own outbox row"

        # Reactions on the posts that survived the crash count.
        for post_id in held.values():
            await react(humans, "stu.doherty", post_id, "white_check_mark")
        for key in held:
            await until(partial(is_checked, sandbox, channel.id, key, "stu.doherty"), 10, f"{key} done")
    finally:
        await bot.stop()


async def test_the_normal_path_reads_no_channel_and_every_post_keeps_its_key(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    answer = await slash(
        humans, "alice", sandbox.channel("town-square").id, 'start "Acme Corp" checkout is down'
    )
    assert "Started Sev 1 incident" in answer["text"], answer
    channel_id = await checklist_posted(sandbox)
    items = item_posts(sandbox, channel_id)
    for key in ("1.1", "2.1"):  # edits of the item posts and of the board
        await react(humans, "stu.doherty", items[key].id, "white_check_mark")
    assert (await slash(humans, "alice", channel_id, "update DBA joined"))["text"].startswith("Done")
    for key in ("1.1", "2.1"):
        await until(partial(is_checked, sandbox, channel_id, key, "stu.doherty"), 10, f"{key} done")
    await until(lambda: pings(sandbox, channel_id) and dms_to(sandbox, "ian.tien"), 15, "a ping and its DM")
    await bot.bot.idle()

    posts = [*bot_posts(sandbox, channel_id), *dms_to(sandbox, "ian.tien")]
    keys = [p.props.get(DELIVERY_PROP) for p in posts]
    assert all(keys) and len(set(keys)) == len(keys), "every post, edited or not, carries its own key"
    assert any(p.edit_at for p in posts), "some were edited"
    assert sandbox.count_requests("GET", LISTS) == 0, "nothing went wrong: no lookup"
