"""Seeds (default, YAML, JSON, Python, broken ones) and the ``sev1bot sandbox`` command."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient
from sev1bot.sandbox.seed import Seed, SeedError, load_seed
from testkit import SandboxStarter

ROLE_HOLDERS = {"brent.fox", "stu.doherty", "jason.blais", "ian.tien"}


def test_default_seed_has_the_role_holders_responders_and_bot() -> None:
    seed = load_seed()
    assert {u.username for u in seed.users} == ROLE_HOLDERS | {"alice", "bob", "carol"}
    assert seed.bot.username == "sev1bot" and seed.bot.team_admin and not seed.bot.system_admin
    assert seed.team.name == "mme"


async def test_every_seeded_person_has_a_working_distinct_token(sandbox: Sandbox) -> None:
    assert len(set(sandbox.tokens.values())) == len(sandbox.tokens) == 8
    for username, token in sandbox.tokens.items():
        async with ApiClient(sandbox.url, token) as client:
            me = (await client.get("/api/v4/users/me")).json(200)
        assert me["username"] == username and me.get("is_bot", False) == (username == "sev1bot")
    assert sandbox.bot.is_bot and sandbox.state.team_member(sandbox.team.id, sandbox.bot.id).admin  # type: ignore[union-attr]


async def test_seed_from_yaml_json_and_python(tmp_path: Path, start_sandbox: SandboxStarter) -> None:
    data = {
        "team": {"name": "ops", "display_name": "Ops"},
        "users": [{"username": "dana", "token": "fixedtokenfordana000000000"}],
        "bot": {"username": "pager", "system_admin": True},
        "channels": [{"name": "general", "display_name": "General", "members": ["dana"]}],
    }
    (tmp_path / "seed.json").write_text(json.dumps(data))
    (tmp_path / "seed.yml").write_text("team: {name: ops, display_name: Ops}\nusers: [{username: dana}]\n")
    from_json = load_seed(tmp_path / "seed.json")
    assert load_seed(tmp_path / "seed.yml").users[0].username == "dana"
    async with start_sandbox(from_json) as sb:
        assert sb.tokens["dana"] == "fixedtokenfordana000000000" and sb.bot.username == "pager"
        assert sb.bot.is_system_admin and sb.state.member_ids(sb.channel("general").id) == [
            sb.users["dana"].id
        ]
    python_seed = Seed(team={"name": "py", "display_name": "Py"}, users=[{"username": "erin"}])
    async with start_sandbox(python_seed) as sb:
        assert set(sb.users) == {"erin", "sev1bot"} and sb.team.name == "py"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "team: {name: tm, display_name: T}\nusers: [{username: Bad Name}]\n",
            r"users\[0\]\.username: .*lowercase",
        ),
        (
            "team: {name: tm, display_name: T}\nusers: [{username: dana, colour: red}]\n",
            r"users\[0\]\.colour: Extra",
        ),
        ("users: []\n", r"team: Field required"),
        (
            "team: {name: tm, display_name: T}\nusers: []\n"
            "channels: [{name: c, display_name: C, members: [zed]}]\n",
            r"channel c: members zed are not seeded users",
        ),
        ("team: [\n", r"not valid YAML"),
        (
            "team: {name: tm, display_name: T}\nusers: [{username: dana}, {username: dana}]\n",
            r"duplicate username: dana",
        ),
    ],
)
async def test_bad_seeds_say_what_and_where(
    tmp_path: Path, text: str, message: str, start_sandbox: SandboxStarter
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SeedError, match=message) as problem:
        async with start_sandbox(path):
            pass
    assert str(path) in str(problem.value)


def test_a_missing_seed_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"missing\.yaml: cannot read the seed file"):
        load_seed(tmp_path / "missing.yaml")


async def _run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sev1bot.cli", "sandbox", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_the_cli_prints_url_team_and_tokens_and_stops_on_ctrl_c() -> None:
    process = await _run_cli("--host", "127.0.0.1", "--port", "0")
    assert process.stdout is not None
    printed: list[str] = []
    async with asyncio.timeout(20):
        while not printed or not printed[-1].startswith("Press Ctrl-C"):
            printed.append((await process.stdout.readline()).decode().rstrip())
    text = "\n".join(printed)
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
    token = re.search(r"^\s+alice\s+(\w{26})$", text, re.MULTILINE)
    assert url and token and "team: mme" in text and "sev1bot (bot)" in text and "admin token" in text
    async with ApiClient(url.group(1), token.group(1)) as alice:
        assert (await alice.get("/api/v4/users/me")).json(200)["username"] == "alice"
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(20):
        assert await process.wait() == 0


async def test_the_cli_refuses_a_bad_seed(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("users: []\n")
    process = await _run_cli("--port", "0", "--seed", str(tmp_path / "bad.yaml"))
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()
    assert process.returncode == 2 and b"team: Field required" in stderr
