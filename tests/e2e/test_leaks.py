"""Nothing leaves by a side door: a token in a server's error text is masked in the log (text and JSON), and a
late answer to a slash command goes to the configured server, whatever host the request's response_url names.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from harness import Humans, RunningBot, bot_env, fast_playbook, free_port, slash
from procs import BotProcess
from scenario import command_form, command_token, incident_channel, start_incident, until

from sev1bot.mattermost.inbound import WORKING_TEXT
from sev1bot.sandbox.app import Sandbox

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
async def test_a_token_in_a_server_error_is_masked_in_the_log(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, log_json: bool
) -> None:
    """A proxy or server that echoes the Authorization header into its error text: the bot logs the error
    (that is how an operator finds out), with the token masked."""
    token = sandbox.tokens["sev1bot"]
    env = bot_env(
        sandbox, f"sqlite:///{tmp_path / 'bot.db'}", fast_playbook(tmp_path / "playbooks"), free_port()
    )
    bot = BotProcess("bot", env, tmp_path / "bot.log", args=("--log-json",) if log_json else ())
    bot.start()
    try:
        await bot.wait_healthy(30, role="leader")
        # Not retried at once (a 400): the delivery pass fails and is logged with its traceback; the outbox
        # delivers the rest on its next round.
        sandbox.faults.fail_next("POST", "/api/v4/posts", status=400, message=f"upstream echoed {token}")
        channel_id = await start_incident(sandbox, humans)
        sandbox.faults.fail_next(
            "GET",
            f"/api/v4/channels/{channel_id}/members/*",
            status=400,  # not retried: the command fails and says so; the log says why
            message=f"upstream echoed {token}",
        )
        answer = await slash(humans, "alice", channel_id, "check 1.3")
        assert "went wrong" in answer["text"].lower() or "try again" in answer["text"].lower(), answer
    finally:
        await bot.stop()
    output = bot.output()
    assert "upstream echoed" in output, "the errors were logged"
    assert "Traceback" in output or '"exception"' in output, (
        "the failed delivery was logged with its traceback"
    )
    assert token not in output
    if log_json:
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert any("upstream echoed" in json.dumps(record) for record in records)


async def test_a_late_answer_goes_to_the_configured_server_not_the_host_response_url_names(
    sandbox: Sandbox, humans: Humans, bot: RunningBot
) -> None:
    """With the command token (leaked, or a proxy rewriting requests), a response_url on another host must not
    make the bot send there: it keeps only the hook path and sends it to MATTERMOST_URL."""
    elsewhere: list[str] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(request.path)
        return web.json_response({})

    attacker = web.Application()
    attacker.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(attacker)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    attacker_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        channel_id = await start_incident(sandbox, humans)
        assert incident_channel(sandbox) is not None
        # The membership check of a command in the incident channel takes longer than the 2.5 s the bot
        # has to answer: it acknowledges at once and sends the real answer later, to the response_url.
        sandbox.faults.delay("GET", f"/api/v4/channels/{channel_id}/members/*", 3.0)
        hook = "h" * 26
        form = {
            **command_form(sandbox, "alice", channel_id, "status", command_token(sandbox)),
            "response_url": f"{attacker_url}/hooks/commands/{hook}",
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{bot.bot.url}/mattermost/command",
                data=form,
                headers={"Authorization": f"Token {form['token']}"},
            ) as response,
        ):
            assert response.status == 200
            assert (await response.json())["text"] == WORKING_TEXT
        await until(
            lambda: sandbox.faults.count("POST", f"/hooks/commands/{hook}") == 1,
            15,
            "the late answer at the configured server",
        )
    finally:
        await runner.cleanup()
    assert elsewhere == [], "the bot sent to a host it was not configured with"
