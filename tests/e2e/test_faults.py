"""Faults between the bot and Mattermost: each test injects one and asserts that nothing was lost.

The bot runs in-process (the same ``Bot`` that ``sev1bot run`` starts) against the sandbox over real
sockets; faults come from the sandbox's own controls (dropped websockets, restarts, rate limits, injected
5xx and slow answers) or from a proxy between the two (duplicated and reordered websocket events). The
escalation is set an hour out so that no ping interferes with what a test counts. docs/reliability.md
summarises what each test shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
from harness import (
    Humans,
    RunningBot,
    bot_env,
    eventually,
    fast_playbook,
    free_port,
    react,
    slash,
    unreact,
)
from mmproxy import Mode, TamperingProxy
from scenario import (
    ITEMS,
    assert_checklist_in_order,
    assert_checklist_once,
    checklist_posted,
    incident_channel,
    is_checked,
    is_skipped,
    item_post,
    item_posts,
    start_incident,
    until,
)
from sqlalchemy.engine import make_url
from tcpproxy import TcpProxy

from sev1bot.config import Settings
from sev1bot.core.state import IncidentState, ItemStatus
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.ws import WebSocketClient
from sev1bot.sandbox.app import Sandbox
from sev1bot.service.app import Bot, load_configured_playbooks
from testkit import SandboxStarter

pytestmark = pytest.mark.e2e

WS_PATH = "/api/v4/websocket"


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    return fast_playbook(tmp_path / "playbooks", escalate_after="1h", repeat_every="1h")


@asynccontextmanager
async def bot_running(env: dict[str, str], request_timeout: float | None = None) -> AsyncIterator[RunningBot]:
    """Like ``harness.running_bot``; ``request_timeout`` shortens the bot's REST timeout (default 15 s)."""
    settings = Settings.from_env(env)
    bot = Bot(settings, load_configured_playbooks(settings, env), lease_ttl=2.0)
    if request_timeout is not None:
        bot.api = MattermostAPI(
            settings.mattermost_url, settings.mattermost_token, request_timeout=request_timeout
        )
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    running = RunningBot(bot, task, stop)
    try:
        await eventually(lambda: _leading(bot, task), 15, "the bot to lead and connect its websocket")
        yield running
    finally:
        if not task.done():
            await running.shutdown()


async def _leading(bot: Bot, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
    return bot.leadership.is_leader and bot.ws is not None and bot.ws.connected.is_set()


def websocket(running: RunningBot) -> WebSocketClient:
    assert running.bot.ws is not None
    return running.bot.ws


async def idle(running: RunningBot) -> None:
    """Wait for the bot's background deliveries to finish."""
    await running.bot.idle()


async def incident(running: RunningBot) -> IncidentState:
    """The active incident as stored (in a thread: the database may sit behind a proxy on this loop)."""
    (state,) = await asyncio.to_thread(running.bot.store.active_incidents)
    return state


def checked(sandbox: Sandbox, channel_id: str, *keys: str) -> bool:
    return all(is_checked(sandbox, channel_id, key) for key in keys)


# -- 1. the websocket drops while a responder reacts ----------------------------------------------------


async def test_reactions_while_the_websocket_is_down_are_replayed_on_resume(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    ws = websocket(bot)
    sandbox.faults.delay("GET", WS_PATH, 1.0)  # hold the reconnect: the reactions land while it is down
    began = time.monotonic()
    assert sandbox.drop_websockets() == 1
    await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.1").id, "white_check_mark")
    await react(humans, "jason.blais", item_post(sandbox, channel_id, "2.1").id, "fast_forward")
    assert not ws.connected.is_set(), "the reactions were made while the bot was disconnected"
    sandbox.faults.clear()

    await until(lambda: checked(sandbox, channel_id, "1.1"), 10, "1.1 checked after the resume")
    await until(lambda: is_skipped(sandbox, channel_id, "2.1"), 10, "2.1 skipped after the resume")
    print(f"websocket drop -> reactions applied: {time.monotonic() - began:.1f}s")
    assert ws.counters.resumes >= 1 and ws.counters.gaps == 0, ws.counters  # replayed, not reconciled
    state = await incident(bot)
    assert state.items["1.1"].by == "stu.doherty" and state.items["2.1"].status is ItemStatus.SKIPPED


async def test_reactions_the_server_no_longer_has_are_reconciled(
    tmp_path: Path, playbook_dir: Path, start_sandbox: SandboxStarter
) -> None:
    # A server that forgets a dropped connection after 0.2 s: the resume is refused and the bot must
    # find the missed reactions itself.
    async with start_sandbox(inactive_connection_ttl=0.2) as sandbox:
        humans = Humans(sandbox)
        env = bot_env(sandbox, f"sqlite:///{tmp_path / 'bot.db'}", playbook_dir, free_port())
        async with bot_running(env) as running:
            channel_id = await start_incident(sandbox, humans)
            ws = websocket(running)
            sandbox.faults.delay("GET", WS_PATH, 1.0)
            sandbox.drop_websockets()
            await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.1").id, "white_check_mark")
            await react(humans, "brent.fox", item_post(sandbox, channel_id, "1.2").id, "heavy_check_mark")
            await asyncio.sleep(0.6)  # past the reconnect backoff: the attempt is held until long after 0.2 s
            sandbox.faults.clear()
            cleared = time.monotonic()
            await until(lambda: checked(sandbox, channel_id, "1.1", "1.2"), 10, "reconciled checks")
            print(
                f"resume refused -> reconciled: {time.monotonic() - cleared:.1f}s after the socket came back"
            )
            assert ws.counters.gaps >= 1, ws.counters
            state = await incident(running)
            assert (state.items["1.1"].by, state.items["1.2"].by) == ("stu.doherty", "brent.fox")
            assert {state.items[k].via for k in ("1.1", "1.2")} == {"reaction"}
        await humans.close()


# -- 2. the server restarts mid-incident while responders check items ----------------------------------


async def test_server_restart_while_responders_check_items(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    ws = websocket(bot)
    people = ["stu.doherty", "jason.blais", "brent.fox", "alice"]
    keys = [f"{stage}.{i}" for stage in (2, 3) for i in range(1, 6)]  # ten items

    async def check(n: int, key: str) -> None:
        post_id = item_post(sandbox, channel_id, key).id
        await react(humans, people[n % len(people)], post_id, "white_check_mark")

    await asyncio.gather(*(check(n, key) for n, key in enumerate(keys[:4])))
    began = time.monotonic()
    sandbox.faults.delay("GET", WS_PATH, 1.0)  # the restarted server takes a moment to accept sockets
    sandbox.restart()  # new connection ids, no replay buffer
    await asyncio.gather(*(check(n, key) for n, key in enumerate(keys[4:8], start=4)))
    sandbox.faults.clear()
    answer = await slash(humans, "alice", channel_id, f"check {keys[8]}")
    assert answer["text"].startswith("Done"), answer
    await check(9, keys[9])

    await until(lambda: checked(sandbox, channel_id, *keys), 15, "all ten checks applied")
    print(f"server restart -> all checks applied: {time.monotonic() - began:.1f}s")
    assert ws.counters.gaps >= 1, ws.counters
    state = await incident(bot)
    for n, key in enumerate(keys):
        expected = "alice" if n == 8 else people[n % len(people)]
        assert state.items[key].status is ItemStatus.DONE and state.items[key].by == expected, key
    board = _board(sandbox, channel_id)
    await until(lambda: "10/40" in sandbox.state.post(board).message, 5, "the board to count 10")
    assert_checklist_once(sandbox, channel_id)


def _board(sandbox: Sandbox, channel_id: str) -> str:
    return next(p.id for p in sandbox.posts_in(channel_id) if p.is_pinned)


# -- 4. rate limiting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_sec", "burst"), [pytest.param(10.0, 100, id="server-default"), pytest.param(10.0, 10, id="tight")]
)
async def test_rate_limited_start_posts_every_item_once_in_order(
    sandbox: Sandbox, humans: Humans, bot: RunningBot, per_sec: float, burst: int
) -> None:
    sandbox.set_rate_limit(True, per_sec=per_sec, max_burst=burst)
    began = time.monotonic()
    channel_id = await start_incident(sandbox, humans)
    await idle(bot)
    took = time.monotonic() - began
    limited = sandbox.count_requests(status=429)
    print(f"rate limit {per_sec}/s burst {burst}: checklist in {took:.1f}s, {limited} answers were 429")
    if burst < 100:
        assert limited > 0, "the tight limit was hit"
    assert_checklist_once(sandbox, channel_id)
    assert_checklist_in_order(sandbox, channel_id)


@pytest.mark.parametrize("collapsed", ["always_on", "default_on", "disabled"])
async def test_the_checklist_reads_in_order_however_the_server_shows_threads(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path, collapsed: str
) -> None:
    # always_on: stages go side by side, each thread in order; otherwise replies also show in the channel,
    # so every post is made in order (assert_checklist_in_order checks what readers would see).
    sandbox.config.collapsed_threads = collapsed
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'bot.db'}", playbook_dir, free_port())
    async with bot_running(env) as running:
        assert running.bot.parts is not None
        assert running.bot.parts.executor.threads_collapsed is (collapsed == "always_on")
        channel_id = await start_incident(sandbox, humans)
        await idle(running)
        assert_checklist_once(sandbox, channel_id)
        assert_checklist_in_order(sandbox, channel_id)


# -- 5. transient 5xx and timeouts on post creation -----------------------------------------------------


async def test_post_creation_5xx_and_timeouts_are_retried_without_duplicates(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path
) -> None:
    env = bot_env(sandbox, f"sqlite:///{tmp_path / 'bot.db'}", playbook_dir, free_port())
    async with bot_running(env, request_timeout=0.5) as running:
        sandbox.faults.fail_next("POST", "/api/v4/posts", 503, count=3)
        sandbox.faults.fail_next("POST", "/api/v4/posts", 500, count=2)
        # Then every answer comes too late: the post is created, but the bot's request times out.
        sandbox.faults.delay("POST", "/api/v4/posts", 1.0, after=True)
        town = sandbox.channel("town-square")
        answer = await slash(humans, "alice", town.id, 'start "Acme Corp" checkout is down')
        assert "Started" in answer["text"], answer
        # Five 5xx answers, then four attempts that time out, before the server answers in time again.
        await until(lambda: sandbox.count_requests("POST", "/api/v4/posts") >= 9, 20, "four timeouts")
        sandbox.faults.clear()
        cleared = time.monotonic()
        channel_id = await checklist_posted(sandbox, within=30)
        print(
            f"5xx and timeouts: checklist complete {time.monotonic() - cleared:.1f}s after the faults stopped"
        )
        await idle(running)
        sent = sandbox.count_requests("POST", "/api/v4/posts")
        failed = sandbox.count_requests("POST", "/api/v4/posts", status=503)
        failed += sandbox.count_requests("POST", "/api/v4/posts", status=500)
        print(f"5xx and timeouts: {sent} post requests for 49 posts, {failed} answered 5xx")
        assert failed == 5 and sent >= 49 + 5 + 3
        assert_checklist_once(sandbox, channel_id)
        assert_checklist_in_order(sandbox, channel_id)


async def test_a_burst_of_5xx_in_the_middle_of_the_checklist_loses_and_repeats_nothing(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    sandbox.faults.delay("POST", "/api/v4/posts", 0.05)  # slow enough to strike in the middle
    town = sandbox.channel("town-square")
    answer = await slash(humans, "alice", town.id, 'start "Acme Corp" checkout is down')
    assert "Started" in answer["text"], answer
    await until(
        lambda: (c := incident_channel(sandbox)) and len(item_posts(sandbox, c.id)) >= 10, 20, "10 items"
    )
    # Five failures in a row: more than one request's retries, so delivery stops half way and resumes.
    sandbox.faults.fail_next("POST", "/api/v4/posts", 502, count=5)
    await until(lambda: sandbox.count_requests("POST", "/api/v4/posts", status=502) == 5, 20, "the burst")
    sandbox.faults.clear()
    cleared = time.monotonic()
    channel_id = await checklist_posted(sandbox, within=30)
    print(f"5xx burst mid-checklist: complete {time.monotonic() - cleared:.1f}s after the burst")
    await idle(bot)
    assert_checklist_once(sandbox, channel_id)
    assert_checklist_in_order(sandbox, channel_id)


# -- 6. duplicate and out-of-order websocket events -----------------------------------------------------

# Each item ends with one person's reactions, so its final state does not depend on who reacted first.
SCRIPT: list[tuple[str, str, str, str]] = [
    ("add", "stu.doherty", "1.1", "white_check_mark"),
    ("add", "stu.doherty", "1.2", "white_check_mark"),
    ("remove", "stu.doherty", "1.2", "white_check_mark"),
    ("add", "jason.blais", "1.3", "fast_forward"),
    ("add", "jason.blais", "1.4", "fast_forward"),
    ("add", "jason.blais", "1.4", "white_check_mark"),
    ("add", "brent.fox", "2.1", "white_check_mark"),
    ("remove", "brent.fox", "2.1", "white_check_mark"),
    ("add", "brent.fox", "2.1", "ballot_box_with_check"),
    ("add", "alice", "2.2", "white_check_mark"),
    ("add", "alice", "2.2", "heavy_check_mark"),
    ("remove", "alice", "2.2", "white_check_mark"),
    ("add", "alice", "2.3", "fast_forward"),
    ("remove", "alice", "2.3", "fast_forward"),
]
TOUCHED = sorted({key for _, _, key, _ in SCRIPT})


async def run_script(sandbox: Sandbox, humans: Humans, channel_id: str) -> None:
    for action, who, key, emoji in SCRIPT:
        post_id = item_post(sandbox, channel_id, key).id
        await (react if action == "add" else unreact)(humans, who, post_id, emoji)


CLEAN_FINAL = {
    "1.1": ("done", "stu.doherty", "reaction"),
    "1.2": ("open", None, None),
    "1.3": ("skipped", "jason.blais", "reaction"),
    "1.4": ("done", "jason.blais", "reaction"),
    "2.1": ("done", "brent.fox", "reaction"),
    "2.2": ("done", "alice", "reaction"),
    "2.3": ("open", None, None),
}


def final_items(state: IncidentState) -> dict[str, tuple[str, str | None, str | None]]:
    return {k: (state.items[k].status.value, state.items[k].by, state.items[k].via) for k in TOUCHED}


async def settled(running: RunningBot) -> dict[str, tuple[str, str | None, str | None]] | None:
    items = final_items(await incident(running))
    assert items == CLEAN_FINAL, items
    return items


@pytest.mark.parametrize("mode", ["app", "wire"])
async def test_duplicate_and_out_of_order_events_end_in_the_clean_state(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path, mode: Mode
) -> None:
    results = {}
    town = sandbox.channel("town-square").id
    runs: tuple[tuple[str, Mode], ...] = (("clean", "clean"), ("tampered", mode))
    for run, tamper in runs:
        budget = 3 if tamper == "wire" else None
        async with TamperingProxy.running(sandbox.url, tamper, budget=budget) as proxy:
            env = bot_env(sandbox, f"sqlite:///{tmp_path / f'{run}.db'}", playbook_dir, free_port())
            env["MATTERMOST_URL"] = proxy.url
            async with bot_running(env) as running:
                answer = await slash(humans, "alice", town, f'start "Run {run}" x')
                assert "Started" in answer["text"], answer
                channel_id = await until(partial(channel_named, sandbox, f"run-{run}"), 20, "the checklist")
                await run_script(sandbox, humans, channel_id)
                # the barrier: every touched item in its final state (held-back and replayed events arrived);
                # a run that ends elsewhere times out showing the last state seen
                results[run] = await eventually(
                    lambda: settled(running), 20, f"the {run} run to reach the clean final state"
                )
                ws = websocket(running)
                if tamper == "wire":
                    assert ws.counters.protocol_errors >= 1, "the client noticed the bad seq numbers"
                if tamper != "clean":
                    assert proxy.swapped >= 2 and proxy.duplicated >= 4, (proxy.swapped, proxy.duplicated)
    assert results["tampered"] == results["clean"] == CLEAN_FINAL


def channel_named(sandbox: Sandbox, suffix: str) -> str | None:
    for channel in sandbox.state.channels.values():
        if channel.name.endswith(suffix) and len(item_posts(sandbox, channel.id)) >= ITEMS:
            return channel.id
    return None


# -- 7. the database is briefly unavailable -------------------------------------------------------------
#
# PostgreSQL here is shared with other tests, so it is never restarted: the bot reaches it through a TCP
# proxy that the test cuts (open connections reset, new ones refused) and restores, which is what the bot
# would see while its database server restarts, and nobody else notices.


@pytest.mark.parametrize("outage", [pytest.param(0.8, id="short"), pytest.param(4.0, id="long")])
async def test_database_outage_loses_no_accepted_command(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, playbook_dir: Path, pg_url: str, outage: float
) -> None:
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        db_url = url.set(port=proxy.port).render_as_string(hide_password=False)
        env = bot_env(sandbox, db_url, playbook_dir, free_port())
        async with bot_running(env) as running:
            channel_id = await start_incident(sandbox, humans)
            answer = await slash(humans, "alice", channel_id, "check 1.1")
            assert answer["text"].startswith("Done"), answer
            await proxy.cut()  # right after the command was accepted: its edits are not delivered yet
            cut_at = time.monotonic()

            refused = await slash(humans, "alice", channel_id, "check 1.2")
            assert "could not do that right now" in refused["text"], refused
            assert "Nothing was changed" in refused["text"], refused
            await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.3").id, "white_check_mark")
            await asyncio.sleep(max(0.0, outage - (time.monotonic() - cut_at)))
            await proxy.restore()
            restored = time.monotonic()

            await until(lambda: checked(sandbox, channel_id, "1.1", "1.3"), 15, "1.1 and 1.3 checked")
            applied = time.monotonic() - restored

            async def command_works() -> bool:
                reply = await slash(humans, "alice", channel_id, "check 2.1")
                return str(reply["text"]).startswith("Done")

            await eventually(command_works, 15, "commands to be accepted again")
            print(
                f"database outage {outage}s: accepted work applied {applied:.1f}s and commands accepted "
                f"again {time.monotonic() - restored:.1f}s after the database came back"
            )
            state = await incident(running)
            assert state.items["1.1"].status is ItemStatus.DONE and state.items["1.1"].via == "command"
            assert state.items["1.2"].status is ItemStatus.OPEN, "the refused command changed nothing"
            assert state.items["1.3"].by == "stu.doherty" and state.items["1.3"].via == "reaction"
            await until(lambda: checked(sandbox, channel_id, "2.1"), 10, "2.1 checked")
            await idle(running)
            assert_checklist_once(sandbox, channel_id)
            assert not is_checked(sandbox, channel_id, "1.2")
    finally:
        await proxy.close()
