"""Bad input and security, end to end: the real bot behind the sandbox, asserting on what the server stored.

Covers forged slash commands (wrong token), malformed commands, hostile text, who may change an incident,
signed button contexts (forged and replayed clicks through the server's actions endpoint) and secrets in
DEBUG logs of a ``sev1bot run`` subprocess.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, react, running_bot, slash
from mattermostautodriver.exceptions import NotEnoughPermissions, UnknownMattermostError
from procs import BotProcess
from scenario import (
    bot_posts,
    command_form,
    command_token,
    incident_channel,
    is_checked,
    item_post,
    post_command,
    start_incident,
    until,
)
from sqlalchemy import create_engine, select

from sev1bot.core.state import IncidentState, IncidentStatus, ItemStatus
from sev1bot.core.text import BIDI_CONTROLS
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.mattermost.signing import sign
from sev1bot.sandbox.app import Sandbox
from sev1bot.store.store import Store
from sev1bot.store.tables import requests
from store_peek import incident_ids

pytestmark = pytest.mark.e2e
FAILED_RESPONSE = (500, "api.command.execute_command.failed_resp.app_error")  # the integration's error status

LIVE_MENTION = re.compile(r"(?<![\w\u200d])@(all|channel|here)(?![\w-])", re.IGNORECASE)
LINK = re.compile(r"\]\(|\]\[|\]:")


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    return fast_playbook(tmp_path / "playbooks", escalate_after="1h", repeat_every="1h")


def stored(running: RunningBot) -> list[IncidentState]:
    """Every stored incident, whatever its status."""
    store = running.bot.store
    return [state for state in map(store.load, incident_ids(store)) if state is not None]


# -- slash commands: token, usage, hostile text ---------------------------------------------------------


async def test_a_wrong_command_token_is_refused_with_401_and_changes_nothing(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    assert bot.bot.url is not None
    token = command_token(sandbox)
    posts_before = len(sandbox.posts_in(channel_id))
    cases = [
        command_form(sandbox, "alice", channel_id, "check 1.1", "not-the-token"),  # both wrong
        command_form(sandbox, "alice", channel_id, "check 1.1", ""),  # missing
    ]
    for form in cases:
        status, body = await post_command(bot.bot.url, form)
        assert status == 401 and body["error"] == "unauthorized", body
    town = sandbox.channel("town-square").id
    forged_start = command_form(sandbox, "alice", town, 'start "Evil Corp"', token)
    status, _ = await post_command(
        bot.bot.url, forged_start, header_token="wrong"
    )  # field right, header wrong
    assert status == 401
    status, _ = await post_command(bot.bot.url, {**forged_start, "token": "wrong"}, header_token=token)
    assert status == 401

    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.OPEN
    assert [c.name for c in sandbox.state.channels.values() if "evil" in c.name] == []
    assert len(sandbox.posts_in(channel_id)) == posts_before
    # The right token still works: the refusals were about the token, nothing else.
    status, body = await post_command(
        bot.bot.url, command_form(sandbox, "alice", channel_id, "check 1.1", token)
    )
    assert status == 200 and body["text"].startswith("Done"), body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frobnicate 1.1", "frobnicate"),
        ("chek 1.1", "check"),  # did you mean
        ("check", "Usage"),
        ("check banana", "stage.item"),
        ("check 9.1", "8 stages"),
        ("check 1.99", "stage 1 has 4 items"),
        ("assign 1.1 @no such user", "Usage"),
        ("assign 1.1 @bad!name", "not a username"),
        ("owner @all", "channel-wide mention"),
        ("owner @ghost", "no user `@ghost`"),  # well formed, but nobody has that name
        ("assign 1.1 ghost", "no user `@ghost`"),
        ("owner", "Usage"),
        ("update", "Usage"),
    ],
)
async def test_bad_commands_get_a_short_usage_message_and_change_nothing(
    sandbox: Sandbox, humans: Humans, bot: RunningBot, text: str, expected: str
) -> None:
    channel_id = await start_incident(sandbox, humans)
    posts_before = len(sandbox.posts_in(channel_id))
    answer = await slash(humans, "alice", channel_id, text)
    reply = answer["text"]
    assert expected in reply, reply
    assert len(reply) < 300 and not reply.startswith("Done"), reply
    (state,) = stored(bot)
    assert all(item.status is ItemStatus.OPEN and item.assignee is None for item in state.items.values())
    assert state.owner == "alice" and len(state.timeline) == 1
    assert len(sandbox.posts_in(channel_id)) == posts_before


HOSTILE_CUSTOMER = "@all Acme](http://evil.example) Corp @here"
HOSTILE_TEXT = (
    "@channel <!channel> deploy now [click here](http://evil.example/phish) ![pixel](http://evil.example/t.png)\n"
    "[ref]: http://evil.example \u202egnp.exe\u202c \u200f\u2066x\u2069 bell\x07 nul\x00 esc\x1b[31m red "
    "@HERE @All"
)


def assert_defused(text: str, where: str) -> None:
    assert not LIVE_MENTION.search(text), (where, text[:300])
    assert not LINK.search(text), (where, text[:300])
    assert not set(text) & BIDI_CONTROLS, (where, text[:300])
    controls = [ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]
    assert not controls, (where, controls)


async def test_hostile_text_is_neutralised_before_it_is_posted(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    town = sandbox.channel("town-square").id
    for customer in ("Acme\x07\x1b[2J", "Acme \u202eproC"):  # control and bidi characters in a name
        refused = await slash(humans, "alice", town, f'start "{customer}" down')
        assert "control characters" in refused["text"], refused
    answer = await slash(humans, "alice", town, f'start "{HOSTILE_CUSTOMER}" {HOSTILE_TEXT}')
    assert "Started" in answer["text"], answer
    channel_id = await until(lambda: _with_checklist(sandbox), 20, "the checklist")
    for command in (f"update {HOSTILE_TEXT}", f"resolve {HOSTILE_TEXT}"):
        answer = await slash(humans, "alice", channel_id, command)
        assert answer["text"].startswith("Done"), answer
    await until(lambda: any("Resolved" in p.message for p in bot_posts(sandbox, channel_id)), 10, "resolved")
    await bot.bot.idle()

    channel = sandbox.state.channel(channel_id)
    for where, text in [
        ("display name", channel.display_name),
        ("header", channel.header),
        ("purpose", channel.purpose),
    ]:
        assert_defused(text, where)
    posts = bot_posts(sandbox, channel_id)
    for post in posts:
        assert_defused(post.message, f"post {post.message[:30]!r}")
    assert any("evil.example/phish" in p.message for p in posts), "the text is kept, only defused"
    assert any("deploy now" in p.message for p in posts if "**Update** from" in p.message)
    assert not any(p.type == "" and "@" in p.message and p.user_id != sandbox.bot.id for p in posts)


async def test_look_alike_customer_names_are_refused_and_names_the_bot_printed_can_be_pasted_back(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    town = sandbox.channel("town-square").id
    # Each of these looks like "Acme Corp" in /sev1 list and in the channel's display name.
    for customer in (
        "Acme\u200bCorp",
        "Acme \u200dCorp",
        "\ufeffAcme Corp",
        "Acme Cor\u2060p",
        "Acme\u3164Corp",
    ):
        refused = await slash(humans, "alice", town, f'start "{customer}" down')
        assert "invisible characters" in refused["text"], (customer, refused)
    assert stored(bot) == []

    channel_id = await start_incident(sandbox, humans)
    await until(lambda: _quiet_names(sandbox, channel_id) - {"alice"}, 10, "a role holder named on the board")
    # Copy a name from the board exactly as it is shown there (with the invisible joiner that stops a ping).
    name = sorted(_quiet_names(sandbox, channel_id) - {"alice"})[0]
    pasted = "@\u200d" + name
    answer = await slash(humans, "alice", channel_id, f"owner {pasted}")
    assert answer["text"].startswith("Done"), answer
    (state,) = stored(bot)
    assert state.owner == name


def _quiet_names(sandbox: Sandbox, channel_id: str) -> set[str]:
    """Usernames the bot wrote without pinging (``@`` + zero-width joiner + name) in the channel."""
    return {
        name
        for p in bot_posts(sandbox, channel_id)
        for name in re.findall(r"@\u200d([a-z0-9._-]+)", p.message)
    }


def _with_checklist(sandbox: Sandbox) -> str | None:
    channel = incident_channel(sandbox)
    return channel.id if channel and len(bot_posts(sandbox, channel.id)) >= 49 else None


async def test_oversized_and_binary_text_is_refused_or_cut(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    # A whole maximum-size post (16383 characters, Mattermost's limit) as an update: refused, with the reason.
    answer = await slash(humans, "alice", channel_id, "update " + "A" * 16_000)
    assert len(answer["text"]) < 300 and not answer["text"].startswith("Done"), answer["text"][:300]
    # 100k characters never reach the handler (the endpoint caps bodies at 64 KiB) and nothing is posted.
    posts_before = len(sandbox.posts_in(channel_id))
    with pytest.raises(UnknownMattermostError) as caught:
        await slash(humans, "alice", channel_id, "update " + "\u202e@all " * 20_000)
    # The server reports the bot's 413 as its own 500 (the integration answered with an error status).
    refused = caught.value
    assert (refused.status_code, refused.error_id) == FAILED_RESPONSE
    assert str(refused) == "Command with a trigger of 'sev1' returned response 413."
    answer = await slash(humans, "alice", channel_id, "update long but fine " + "word " * 700)
    assert answer["text"].startswith("Done"), answer
    await until(lambda: len(sandbox.posts_in(channel_id)) > posts_before, 10, "the update post")
    update = [p for p in bot_posts(sandbox, channel_id) if "**Update** from" in p.message]
    assert len(update) == 1 and len(update[0].message) <= 4200
    assert all(len(p.message) <= 16383 for p in sandbox.posts_in(channel_id))
    # The bot is unharmed.
    assert (await slash(humans, "alice", channel_id, "check 1.1"))["text"].startswith("Done")


# -- who may change an incident -------------------------------------------------------------------------


async def test_only_channel_members_can_change_the_incident(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    # The server itself refuses a slash command in a private channel one is not in ...
    with pytest.raises(NotEnoughPermissions):
        await slash(humans, "carol", channel_id, "check 1.1")
    # ... and the bot refuses one that claims to come from a non-member (a forged or stale request).
    assert bot.bot.url is not None
    form = command_form(sandbox, "carol", channel_id, "check 1.1", command_token(sandbox))
    status, body = await post_command(bot.bot.url, form)
    assert status == 200 and "Only members of this incident channel" in body["text"], body
    # Reactions from non-members cannot happen (no read access), so items stay as they were.
    with pytest.raises(NotEnoughPermissions):
        await react(humans, "carol", item_post(sandbox, channel_id, "1.2").id, "white_check_mark")
    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.OPEN and state.items["1.2"].status is ItemStatus.OPEN


async def test_a_user_id_that_is_not_a_mattermost_id_is_refused(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    """``../../users/me`` as the user id would make the membership check ask about the bot itself. Button
    clicks (signed with the bot's key, so they pass the signature check) get the same check."""
    channel_id = await start_incident(sandbox, humans)
    assert bot.bot.url is not None
    bad_ids = ("../../users/me", "me", sandbox.users["alice"].id.upper(), sandbox.users["alice"].id + "x")
    for user_id in bad_ids:
        form = {**command_form(sandbox, "alice", channel_id, "check 1.1", command_token(sandbox))}
        form["user_id"] = user_id
        status, body = await post_command(bot.bot.url, form)
        assert (status, body["error"]) == (400, "bad_command"), (user_id, body)
        assert "user_id" in body["message"]
    context = sign({"do": "x"}, bot.bot.settings.signing_secret, 600, now=time.time())
    async with aiohttp.ClientSession() as session:
        for user_id in bad_ids:
            click = {"user_id": user_id, "channel_id": channel_id, "post_id": "p" * 26, "context": context}
            async with session.post(bot.bot.url + "/mattermost/action", json=click) as response:
                body = await response.json()
            assert (response.status, body["error"]) == (400, "bad_action"), (user_id, body)
            assert "user_id" in body["message"]
    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.OPEN


async def test_a_command_form_with_a_field_given_twice_is_refused(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    """The server sends each field once. A form with two ``user_id`` (or two ``text``) fields, as a proxy
    or a forger could make, is ambiguous: the bot refuses it rather than pick one."""
    channel_id = await start_incident(sandbox, humans)
    assert bot.bot.url is not None
    token = command_token(sandbox)
    form = command_form(sandbox, "alice", channel_id, "check 1.1", token)
    twice = {"user_id": sandbox.users["carol"].id, "text": "resolve by a second text field"}
    async with aiohttp.ClientSession() as session:
        for name, other in twice.items():
            pairs = [*form.items(), (name, other)]
            async with session.post(
                f"{bot.bot.url}/mattermost/command", data=pairs, headers={"Authorization": f"Token {token}"}
            ) as response:
                body = await response.json()
            assert (response.status, body["error"]) == (400, "bad_command"), (name, body)
            assert f"fields given more than once: {name}" in body["message"], body
        # The same form without the repeat runs, so the refusal was about the repeat alone.
        async with session.post(
            f"{bot.bot.url}/mattermost/command", data=form, headers={"Authorization": f"Token {token}"}
        ) as response:
            assert response.status == 200 and (await response.json())["text"].startswith("Done"), response
    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.DONE and state.status.value == "active"
    assert [e.kind for e in state.timeline].count("checked") == 1


async def test_a_replayed_command_request_runs_once(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    """The same signed form twice (same trigger id), as a retrying proxy or someone replaying a captured
    request would send it: the replay is answered without running, so it cannot undo what happened since."""
    channel_id = await start_incident(sandbox, humans)
    assert bot.bot.url is not None
    form = command_form(sandbox, "alice", channel_id, "check 1.1", command_token(sandbox))
    form["trigger_id"] = "dHJpZ2dlci1pZC0x"
    status, first = await post_command(bot.bot.url, form)
    assert status == 200 and first["text"].startswith("Done"), first
    assert (await slash(humans, "alice", channel_id, "uncheck 1.1"))["text"].startswith("Done")

    status, again = await post_command(bot.bot.url, form)
    assert status == 200 and again["text"].startswith("Already done"), again
    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.OPEN
    assert [e.kind for e in state.timeline] == ["started", "checked", "unchecked"], state.timeline
    # Another trigger id is another request, even with the same text.
    status, other = await post_command(bot.bot.url, {**form, "trigger_id": "dHJpZ2dlci1pZC0y"})
    assert status == 200 and other["text"].startswith("Done"), other
    (state,) = stored(bot)
    assert state.items["1.1"].status is ItemStatus.DONE


async def test_the_actor_is_the_user_of_user_id_not_user_name(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    """A request (with the command token) whose ``user_name`` says alice, the owner, but whose ``user_id``
    is bob's acts as bob: it cannot resolve, and what it checks is checked by bob."""
    channel_id = await start_incident(sandbox, humans)
    assert bot.bot.url is not None
    assert (await slash(humans, "alice", channel_id, "assign 2.1 @bob"))["text"].startswith("Done")
    await until(lambda: sandbox.state.channel_member(channel_id, sandbox.users["bob"].id), 10, "bob invited")
    token = command_token(sandbox)

    def as_bob_named_alice(text: str) -> dict[str, str]:
        return {**command_form(sandbox, "alice", channel_id, text, token), "user_id": sandbox.users["bob"].id}

    status, body = await post_command(bot.bot.url, as_bob_named_alice("resolve fixed"))
    assert status == 200 and body["text"].startswith("Only the owner (@alice)"), body
    status, body = await post_command(bot.bot.url, as_bob_named_alice("check 2.1"))
    assert status == 200 and body["text"].startswith("Done"), body
    # A well-formed id of nobody on the server acts as nobody.
    nobody = {**as_bob_named_alice("check 2.2"), "user_id": "n0b0dy" + "0" * 20}
    status, body = await post_command(bot.bot.url, nobody)
    assert status == 200 and "does not know the user" in body["text"], body

    (state,) = stored(bot)
    assert state.status is IncidentStatus.ACTIVE
    assert state.items["2.1"].status is ItemStatus.DONE and state.items["2.2"].status is ItemStatus.OPEN
    assert [e.actor for e in state.timeline if e.kind == "checked"] == ["bob"], state.timeline
    await until(lambda: is_checked(sandbox, channel_id, "2.1", "bob"), 10, "2.1 shown as checked by bob")


async def test_requests_seen_over_a_day_ago_are_forgotten(
    sandbox: Sandbox, tmp_path: Path, playbook_dir: Path
) -> None:
    """The replay record does not grow for ever: the leader prunes requests older than a day."""
    url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
    now = datetime.now(UTC)
    with Store(url) as store:
        store.migrate()
        assert not store.seen_request("command:old", now - timedelta(days=2))
        assert not store.seen_request("command:recent", now - timedelta(hours=23))

    def seen() -> set[str]:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return set(conn.scalars(select(requests.c.request_id)))
        finally:
            engine.dispose()

    async with running_bot(bot_env(sandbox, url, playbook_dir, free_port())):
        await until(lambda: seen() == {"command:recent"}, 10, "the old request to be forgotten")


async def test_resolve_and_owner_are_limited_to_the_owner_and_the_playbook_roles(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    channel_id = await start_incident(sandbox, humans)
    assert (await slash(humans, "alice", channel_id, "assign 2.1 @bob"))["text"].startswith("Done")
    await until(lambda: sandbox.state.channel_member(channel_id, sandbox.users["bob"].id), 10, "bob invited")

    # bob is a member (he can check items) but neither the owner nor a lead.
    assert (await slash(humans, "bob", channel_id, "check 2.1"))["text"].startswith("Done")
    for text in ("resolve fixed", "owner @bob"):
        reply = (await slash(humans, "bob", channel_id, text))["text"]
        assert reply.startswith("Only the owner (@alice) or the DE lead or the CSM lead or the TAM lead"), (
            reply
        )
    # A lead may hand over ownership; then the former owner may no longer resolve, the new one may.
    assert (await slash(humans, "jason.blais", channel_id, "owner @stu.doherty"))["text"].startswith("Done")
    assert (await slash(humans, "alice", channel_id, "resolve fixed"))["text"].startswith("Only the owner")
    assert (await slash(humans, "bob", channel_id, "resolve fixed"))["text"].startswith("Only the owner")
    assert (await slash(humans, "stu.doherty", channel_id, "resolve fixed"))["text"].startswith("Done")
    assert (await slash(humans, "bob", channel_id, "reopen"))["text"].startswith("Only the owner")

    (state,) = stored(bot)
    assert state.owner == "stu.doherty" and state.status is IncidentStatus.RESOLVED
    assert [e.actor for e in state.timeline if e.kind in {"owner", "resolved"}] == [
        "jason.blais",
        "stu.doherty",
    ]
    assert is_checked(sandbox, channel_id, "2.1", "bob")


# -- signed button contexts through the server's actions endpoint --------------------------------------


async def test_forged_expired_and_replayed_clicks_are_refused(sandbox: Sandbox, bot: RunningBot) -> None:
    assert bot.bot.url is not None
    action_url = bot.bot.url + "/mattermost/action"
    secret = bot.bot.settings.signing_secret
    town = sandbox.channel("town-square")

    def button(context: Any) -> dict[str, Any]:
        action = {"id": "go", "name": "Go", "integration": {"url": action_url, "context": context}}
        return {"attachments": [{"text": "Click", "actions": [action]}]}

    async with (
        MattermostAPI(sandbox.url, sandbox.tokens["sev1bot"]) as as_bot,
        MattermostAPI(sandbox.url, sandbox.tokens["alice"]) as as_alice,
        sandbox.client("carol") as carol,
    ):
        genuine = await as_bot.create_post(
            town.id, "signed", props=button(sign({"do": "x"}, secret, 600, now=time.time()))
        )
        forged_contexts = [
            {"do": "x"},  # unsigned
            sign({"do": "x"}, "an-attackers-own-secret-123", 600, now=time.time()),  # signed with another key
            {**sign({"do": "x"}, secret, 600, now=time.time()), "data": {"do": "y"}},  # signed, then changed
            sign({"do": "x"}, secret, 600, now=0),  # long expired
        ]
        forged = [await as_alice.create_post(town.id, "forged", props=button(c)) for c in forged_contexts]

        for post in forged:
            reply = await carol.post(f"/api/v4/posts/{post.id}/actions/go", {})
            assert reply.status == 400, reply.json(None)
            assert reply.json(None)["id"] == "api.post.do_action.action_integration.app_error"

        first = await carol.post(f"/api/v4/posts/{genuine.id}/actions/go", {})
        assert first.json(200)["status"] == "OK"
        again = await carol.post(f"/api/v4/posts/{genuine.id}/actions/go", {})
        assert again.status == 400, "a replayed click is refused"


async def test_malformed_clicks_are_a_400_and_a_flood_of_them_barely_touches_the_log(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Unauthenticated garbage (NaN or Infinity as the expiry, 20,000 nested brackets, deep context data)
    is a 400, never a 500 with a traceback; a thousand of them leave a few short warnings."""
    assert bot.bot.url is not None
    action_url = bot.bot.url + "/mattermost/action"

    def click(exp: str = "1", data: str = "{}") -> bytes:
        context = f'{{"v": 1, "data": {data}, "exp": {exp}, "nonce": "n", "sig": "s"}}'
        return f'{{"user_id": "u", "context": {context}}}'.encode()

    bodies = [click(exp) for exp in ("NaN", "Infinity", "-Infinity")]
    bodies.append(b"[" * 20_000 + b"]" * 20_000)
    bodies.append(click(data="[" * 900 + "]" * 900))  # parses, but is deeper than the signature check walks
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> int:
            headers = {"Content-Type": "application/json"}
            async with session.post(action_url, data=body, headers=headers) as response:
                return response.status

        for body in bodies:
            assert await post(body) == 400, body[:80]
        statuses = await asyncio.gather(*(post(bodies[i % len(bodies)]) for i in range(1000)))
    assert set(statuses) == {400}
    noisy = [r for r in caplog.records if r.levelno > logging.WARNING or r.exc_info]
    assert not noisy, [r.getMessage()[:200] for r in noisy]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 5, warnings
    assert all(len(w) < 200 for w in warnings), warnings


# -- secrets never appear in logs -----------------------------------------------------------------------


async def test_secrets_never_appear_in_debug_logs(sandbox: Sandbox, humans: Humans, tmp_path: Path) -> None:
    signing = "a-signing-secret-for-the-log-test-0123456789"
    playbooks = fast_playbook(tmp_path / "playbooks", "2s", "2s")
    env = bot_env(
        sandbox,
        f"sqlite:///{tmp_path / 'bot.db'}",
        playbooks,
        free_port(),
        SEV1BOT_LOG_LEVEL="DEBUG",
        SEV1BOT_SIGNING_SECRET=signing,
    )
    bot = BotProcess("bot", env, tmp_path / "bot.log")
    bot.start()
    try:
        await bot.wait_healthy(30, role="leader")
        channel_id = await start_incident(sandbox, humans)
        token = command_token(sandbox)
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.1").id, "white_check_mark")
        assert (await slash(humans, "alice", channel_id, "check 1.2"))["text"].startswith("Done")
        status, _ = await post_command(
            bot.url, command_form(sandbox, "alice", channel_id, "status", "wrong-token")
        )
        assert status == 401
        await until(lambda: is_checked(sandbox, channel_id, "1.1"), 10, "1.1 checked")
        await until(
            lambda: len([p for p in bot_posts(sandbox, channel_id) if "has been open" in p.message]),
            10,
            "a ping",
        )
    finally:
        await bot.stop()
    output = bot.output()
    assert output.count("[debug") > 5, "the log really is at DEBUG"
    secrets = {
        "MATTERMOST_TOKEN": sandbox.tokens["sev1bot"],
        "command token": token,
        "SEV1BOT_SIGNING_SECRET": signing,
        "a user's token": sandbox.tokens["alice"],
    }
    leaked = [name for name, value in secrets.items() if value in output]
    assert not leaked, f"{leaked} found in the log"


async def test_a_database_password_is_not_shown_when_the_database_is_unreachable(tmp_path: Path) -> None:
    password = "pw-that-must-not-leak-7f3a9c"
    port = free_port()  # nothing listens there
    env = {
        "MATTERMOST_URL": "http://127.0.0.1:9",
        "MATTERMOST_TOKEN": "tok-that-must-not-leak-12345",
        "MATTERMOST_TEAM": "mme",
        "SEV1BOT_PUBLIC_URL": "http://127.0.0.1:8080",
        "SEV1BOT_LISTEN": f"127.0.0.1:{free_port()}",
        "SEV1BOT_PLAYBOOKS": str(fast_playbook(tmp_path / "playbooks")),
        "SEV1BOT_DATABASE_URL": f"postgresql+psycopg://sev1bot:{password}@127.0.0.1:{port}/sev1bot",
        "SEV1BOT_LOG_LEVEL": "DEBUG",
    }
    bot = BotProcess("bot", env, tmp_path / "bot.log")
    bot.start()
    assert bot.proc is not None
    code = await asyncio.to_thread(bot.proc.wait, 30)
    await bot.stop()
    output = bot.output()
    assert code == 1, output
    assert f"127.0.0.1:{port}" in output and "unavailable" in output, output  # says what is wrong
    assert password not in output and "tok-that-must-not-leak" not in output, output
