"""Records the bot cannot read (issue 13): an outbox row, an incident's playbook snapshot.

Each is damage the database can hold (a hand edit, a cut write, a newer version's row after a rollback). The
bot names it once in its log and leaves it in place for a person; it never stops the rest: the incident's
other effects, the other incidents, later commands and reactions.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from harness import Humans, bot_env, eventually, fast_playbook, free_port, react, running_bot, slash
from scenario import ITEMS, bot_posts, is_checked, item_post, item_posts
from sqlalchemy import create_engine, insert, update
from sqlalchemy.sql import Executable

from sev1bot.core.times import utcnow
from sev1bot.sandbox.app import Sandbox
from sev1bot.service.command_front import UNREADABLE
from sev1bot.store import Store
from sev1bot.store.tables import incidents, outbox

pytestmark = pytest.mark.e2e
CHECK = "white_check_mark"


async def start(sandbox: Sandbox, humans: Humans, customer: str) -> str:
    """Start an incident for ``customer`` and wait for its whole checklist; return its channel's id."""
    answer = await slash(humans, "alice", sandbox.channel("town-square").id, f'start "{customer}" is down')
    assert "Started Sev 1 incident" in answer.get("text", ""), answer
    slug = customer.lower().replace(" ", "-")

    def ready() -> str | None:
        for channel in sandbox.state.channels.values():
            if channel.name.endswith(slug) and len(item_posts(sandbox, channel.id)) == ITEMS:
                return channel.id
        return None

    return await eventually(ready, 20, f"the checklist of the {customer} incident")


def incident_id_of(db_url: str, channel_id: str) -> str:
    with Store(db_url) as store:
        found = store.incident_by_channel_id(channel_id)
    assert found is not None, channel_id
    return found.id


def write(db_url: str, statement: Executable) -> None:
    """Change the database behind the bot's back, as a damaged disk or a hand edit would."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def errors_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR]


async def test_an_unreadable_outbox_row_is_named_once_and_skipped_and_delivery_goes_on(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")
    async with running_bot(bot_env(sandbox, db_url, playbooks, free_port())) as running:
        acme = await start(sandbox, humans, "Acme Corp")
        incident_id = incident_id_of(db_url, acme)
        # Ahead of everything the incident decides next: a row no version of the bot could read.
        write(db_url, insert(outbox).values(incident_id=incident_id, effect="{cut sh", created_at=utcnow()))
        answer = await slash(humans, "alice", acme, "update DBA joined the call")
        assert answer["text"].startswith("Done"), answer

        def posted(channel_id: str, text: str) -> bool:
            return any(text in p.message for p in bot_posts(sandbox, channel_id))

        await eventually(lambda: posted(acme, "DBA joined the call"), 10, "the update after the bad row")
        # The other incidents, and later changes to this one, go on as well.
        globex = await start(sandbox, humans, "Globex")
        assert (await slash(humans, "alice", acme, "check 1.1"))["text"].startswith("Done")
        await eventually(lambda: is_checked(sandbox, acme, "1.1", "alice"), 10, "1.1 checked")
        assert not running.task.done()
    (named,) = errors_from(caplog, "sev1bot.store.outbox")
    assert f"of incident {incident_id} does not hold an effect this version understands" in named, named
    assert "skipped; it stays in the outbox table" in named
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR], "no traceback"
    assert globex != acme


async def test_an_incident_whose_playbook_snapshot_cannot_be_read_is_refused_and_the_others_go_on(
    sandbox: Sandbox, humans: Humans, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = bot_env(sandbox, db_url, fast_playbook(tmp_path / "pb", "1h", "1h"), free_port())
    async with running_bot(env):
        acme = await start(sandbox, humans, "Acme Corp")
        globex = await start(sandbox, humans, "Globex")
    damaged = incident_id_of(db_url, acme)
    write(db_url, update(incidents).where(incidents.c.id == damaged).values(playbook_json='{"id": 7}'))

    async with running_bot(env) as running:  # a restart finds it: nothing of it is cached
        for command in ("check 1.1", "status"):
            refused = await slash(humans, "alice", acme, command)
            assert refused["text"] == UNREADABLE, (command, refused)
        before = item_post(sandbox, acme, "1.2").message
        await react(humans, "stu.doherty", item_post(sandbox, acme, "1.2").id, CHECK)
        # The barrier: a reaction after it, on the other incident, which the bot takes in order.
        await react(humans, "stu.doherty", item_post(sandbox, globex, "1.2").id, CHECK)
        await eventually(lambda: is_checked(sandbox, globex, "1.2", "stu.doherty"), 10, "1.2 of Globex")
        assert item_post(sandbox, acme, "1.2").message == before
        assert (await slash(humans, "alice", globex, "check 1.1"))["text"].startswith("Done")
        listing = await slash(humans, "alice", sandbox.channel("town-square").id, "list")
        assert "Acme Corp" in listing["text"] and "Globex" in listing["text"]
        assert not running.task.done()
    (named,) = errors_from(caplog, "sev1bot.store.store")
    assert named.startswith(
        f"incident {damaged!r} cannot be used: its stored playbook snapshot cannot be read"
    )
    refusals = errors_from(caplog, "sev1bot.service.command_front")
    assert len(refusals) == 2 and all(damaged in line for line in refusals), refusals
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR], "no traceback"
