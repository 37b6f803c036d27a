"""``sev1bot run`` on a database it cannot use: read-only, corrupt or unreadable (issue 12, item 8).

A database the bot can read but not write must not pass for ready: /readyz answers 503 and says why, and
comes back once the database is writable again. One it cannot read at all stops the bot at start-up with
one line naming the file and the cause, in text and in JSON logging alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path

import pytest
from harness import bot_env, eventually, free_port
from procs import ROOT, BotProcess, _get_json, child_env

from sev1bot.sandbox.app import Sandbox
from sev1bot.store import Store
from sev1bot.store.migrate import head_revision
from testkit import SandboxStarter

pytestmark = pytest.mark.e2e
RENEWAL_REFUSED = "leader lease not renewed: "
RENEWALS_REFUSED = "leader lease still not renewed (attempt"  # each after the first, at DEBUG


def migrated(path: Path) -> Path:
    with Store(f"sqlite:///{path}") as store:
        store.migrate()
    return path


@contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """Make the file read-only as its owner would see it: chmod, or for root (whom chmod does not stop)
    the immutable attribute. Restored afterwards."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("root on a file system without the immutable attribute: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


async def readyz(bot: BotProcess) -> tuple[int, dict[str, object] | None]:
    body = await asyncio.to_thread(_get_json, f"{bot.url}/readyz")
    status = 200 if body and body.get("status") == "ok" else 503
    return status, body


async def not_ready_because_read_only(bot: BotProcess) -> dict[str, object] | None:
    if not bot.alive():
        raise AssertionError(f"the bot exited:\n{bot.tail()}")
    status, body = await readyz(bot)
    if status == 503 and body and "read-only" in str(body.get("database", "")):
        return body
    return None


@pytest.mark.parametrize("how", ["file", "url"])
async def test_a_database_the_bot_cannot_write_is_not_ready_and_says_why(
    tmp_path: Path, how: str, start_sandbox: SandboxStarter
) -> None:
    db = migrated(tmp_path / "db.sqlite")
    url = f"sqlite:///file:{db}?mode=ro&uri=true" if how == "url" else f"sqlite:///{db}"
    with read_only_file(db) if how == "file" else nullcontext():
        async with start_sandbox() as sandbox:
            # At DEBUG, where each renewal refused after the first is logged.
            env = bot_env(sandbox, url, ROOT / "playbooks", free_port(), SEV1BOT_LOG_LEVEL="DEBUG")
            bot = BotProcess("bot", env, tmp_path / "bot.log")
            bot.start()
            try:
                body = await eventually(
                    lambda: not_ready_because_read_only(bot), 20, "/readyz to say read-only"
                )
                assert body["ready"] is False, body
                assert str(db) in str(body["database"]), body
                # Not a blip: it stays not ready while the database stays read-only. Every lease renewal is
                # a write that would find it writable again: wait for two more of them.
                refused = bot.output().count(RENEWALS_REFUSED)
                await eventually(
                    lambda: bot.output().count(RENEWALS_REFUSED) >= refused + 2, 20, "two more lease renewals"
                )
                assert await not_ready_because_read_only(bot), await readyz(bot)
                assert "Traceback" not in bot.output()
            finally:
                await bot.stop()


async def test_a_database_that_becomes_writable_again_makes_the_bot_ready(
    tmp_path: Path, start_sandbox: SandboxStarter
) -> None:
    db = migrated(tmp_path / "db.sqlite")
    async with start_sandbox() as sandbox:
        env = bot_env(sandbox, f"sqlite:///{db}", ROOT / "playbooks", free_port())
        bot = BotProcess("bot", env, tmp_path / "bot.log")
        with read_only_file(db):
            bot.start()
            try:
                await eventually(lambda: not_ready_because_read_only(bot), 20, "/readyz to say read-only")
            except BaseException:
                await bot.stop()
                raise
        try:

            async def ready() -> bool:
                status, body = await readyz(bot)
                return status == 200 and body is not None and body.get("role") == "leader"

            await eventually(ready, 15, "the bot to be ready once the file is writable")
        finally:
            await bot.stop()


REFUSED = "leader lease not renewed"  # the warning, once per run of refused renewals
STILL_REFUSED = "leader lease still not renewed"  # each later attempt, at DEBUG
RENEWED = "leader lease can be renewed again"


async def test_refused_lease_renewals_are_logged_once_when_they_start_and_once_when_they_end(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The lease is retried every 1.5 s; a read-only database used to log a warning at every attempt."""
    db = migrated(tmp_path / "db.sqlite")
    env = bot_env(sandbox, f"sqlite:///{db}", ROOT / "playbooks", free_port(), SEV1BOT_LOG_LEVEL="DEBUG")
    bot = BotProcess("bot", env, tmp_path / "bot.log")

    def attempts() -> int:
        out = bot.output()
        return out.count(REFUSED) + out.count(STILL_REFUSED)

    with read_only_file(db):
        bot.start()
        try:
            await eventually(lambda: attempts() >= 4, 30, "four refused lease renewals")
        except BaseException:
            await bot.stop()
            raise
    try:

        async def leads() -> bool:
            status, body = await readyz(bot)
            return status == 200 and body is not None and body.get("role") == "leader"

        await eventually(leads, 15, "the bot to lead once the file is writable")
        out = bot.output()
        warnings = [line for line in out.splitlines() if REFUSED in line]
        assert len(warnings) == 1, "\n".join(warnings)
        assert "read-only" in warnings[0] and "warning" in warnings[0], warnings[0]
        assert out.count(RENEWED) == 1, bot.tail()
    finally:
        await bot.stop()


def run_cli(env: dict[str, str], *flags: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "sev1bot.cli", *flags, "run"],
        env=child_env(env), cwd=ROOT, capture_output=True, timeout=30,
    )  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).decode()


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite file\n" * 400)
    return path


def malformed(tmp_path: Path) -> Path:
    """A real sev1bot database whose pages after the header were overwritten."""
    path = migrated(tmp_path / "malformed.db")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(100)
        f.write(bytes(range(256)) * ((size - 100) // 256))
    return path


def newer_schema(tmp_path: Path) -> Path:
    """A database a newer sev1bot migrated: at a revision this version has no script for."""
    path = migrated(tmp_path / "newer.db")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    return path


def a_directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.db"
    path.mkdir()
    return path


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (not_a_database, "not an SQLite database"),
        (malformed, "malformed"),
        (a_directory, "is a directory"),
    ],
    ids=["not-a-database", "malformed", "directory"],
)
async def test_an_unusable_database_stops_the_bot_with_one_line_naming_the_file_and_the_cause(
    tmp_path: Path, make: object, cause: str, log_json: bool, start_sandbox: SandboxStarter
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    async with start_sandbox() as sandbox:
        env = bot_env(sandbox, f"sqlite:///{path}", ROOT / "playbooks", free_port())
        code, out = await asyncio.to_thread(run_cli, env, *(["--log-json"] if log_json else []))
    lines = [line for line in out.splitlines() if line.strip()]
    assert code != 0, out
    assert len(lines) == 1, out
    line = lines[0]
    if log_json:
        record = json.loads(line)
        assert record["level"] == "error", record
        line = record["event"]
    assert str(path) in line and cause in line, line
    assert "Traceback" not in out


async def test_a_database_a_newer_sev1bot_migrated_stops_the_bot_with_one_line_naming_the_revision(
    tmp_path: Path, start_sandbox: SandboxStarter
) -> None:
    path = newer_schema(tmp_path)
    async with start_sandbox() as sandbox:
        env = bot_env(sandbox, f"sqlite:///{path}", ROOT / "playbooks", free_port())
        code, out = await asyncio.to_thread(run_cli, env, "--log-json")
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 1, out
    (stopped,) = [r for r in records if r["level"] not in ("debug", "info")]  # Alembic says hello at info
    assert stopped["level"] == "error", stopped
    assert stopped["event"] == (
        f"sev1bot stopped: database file {path} is at schema revision '0099', which this sev1bot does "
        f"not know (its newest is '{head_revision()}'): a newer sev1bot migrated it. Run that version, or "
        "restore a backup from before the upgrade."
    )
    assert "Traceback" not in out
    with closing(sqlite3.connect(path)) as conn:  # left as it was
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
