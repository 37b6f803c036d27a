"""The customer clock with the real bot: an ETA on the board and flagged once passed, the outage's real start
making the CEO ping go at once, a reply to the customer on the board and the owner reminded once per interval
(also across a restart, without duplicates), and each reply sent to the CEO once the CEO rule applies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Humans, bot_env, fast_playbook, free_port, react, running_bot, slash
from scenario import bot_posts, dms_but_welcomes, dms_to, item_post, pings, start_incident, until

from sev1bot.core import BusinessCalendar, render
from sev1bot.core.state import IncidentState
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.models import Post
from sev1bot.store.store import Store
from store_peek import sent_of

pytestmark = pytest.mark.e2e

ZWJ = "\u200d"  # the bot names people on its board and in DMs without notifying them: "@" + ZWJ + name
NEW_YORK = "America/New_York"
UTC_CAL = BusinessCalendar()


def board(sandbox: Sandbox, channel_id: str) -> str:
    (pinned,) = [p for p in bot_posts(sandbox, channel_id) if p.is_pinned]
    return sandbox.state.post(pinned.id).message


def said(sandbox: Sandbox, channel_id: str, text: str) -> list[Post]:
    """The bot's posts in the channel (not item posts nor the board) that contain ``text``."""
    posts = bot_posts(sandbox, channel_id)
    return [p for p in posts if text in p.message and not p.root_id and not p.is_pinned]


def the_incident(db_url: str) -> IncidentState:
    with Store(db_url) as store:
        (incident,) = store.active_incidents()
    return incident


def at(post: Post) -> datetime:
    return datetime.fromtimestamp(post.create_at / 1000, UTC)


async def done(humans: Humans, username: str, channel_id: str, text: str) -> str:
    answer: str = (await slash(humans, username, channel_id, text))["text"]
    assert answer.startswith("Done"), answer
    return answer


async def test_an_eta_read_in_the_bots_time_zone_is_on_the_board_and_flagged_once_passed(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")
    env = bot_env(sandbox, db_url, playbooks, free_port(), SEV1BOT_TIMEZONE=NEW_YORK)
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        assert "**ETA:** none given yet" in board(sandbox, channel_id)

        answer = await done(humans, "alice", channel_id, "eta 5s")
        assert answer.endswith(", in 5s."), answer
        await until(
            lambda: f"(given by @{ZWJ}alice)" in board(sandbox, channel_id), 10, "the ETA on the board"
        )
        assert ":warning:" not in board(sandbox, channel_id)

        def flagged() -> bool:
            return ":warning: **passed" in board(sandbox, channel_id)

        await until(flagged, 20, "the passed ETA flagged on the board")
        (passed,) = said(sandbox, channel_id, "has passed")
        assert passed.message.startswith("@alice :hourglass: **The ETA ")
        eta = the_incident(db_url).etas[-1].eta
        assert at(passed) >= eta, "flagged only once it had passed"

        # A new ETA, read in New York time: tomorrow there at 09:00.
        answer = await done(humans, "stu.doherty", channel_id, "eta tomorrow 09:00")
        tomorrow = (datetime.now(ZoneInfo(NEW_YORK)) + timedelta(days=1)).date()
        expected = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=ZoneInfo(NEW_YORK))
        assert " 09:00 E" in answer, answer  # EST or EDT
        await until(
            lambda: f"(given by @{ZWJ}stu.doherty; 1 earlier)" in board(sandbox, channel_id),
            10,
            "the new ETA",
        )
        history = [(e.by, e.eta) for e in the_incident(db_url).etas]
        assert history == [("alice", eta), ("stu.doherty", expected.astimezone(UTC))]
        assert len(said(sandbox, channel_id, "has passed")) == 1, (
            "one flag for the first ETA, none for the second"
        )

        refused = (await slash(humans, "alice", channel_id, "eta 45m ago"))["text"]
        assert refused.startswith("No ETA set: that is ") and "not in the future" in refused, refused
        refused = (await slash(humans, "alice", channel_id, "eta 17:3O"))["text"]
        assert "is not a time" in refused and "Usage: `/sev1 eta <time>`" in refused, refused
        assert len(the_incident(db_url).etas) == 2


async def test_since_past_the_hour_makes_the_ceo_ping_go_out_at_once(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")  # the real hour
    env = bot_env(sandbox, db_url, playbooks, free_port(), SEV1BOT_TIMEZONE=NEW_YORK)
    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        for text, why in (("since in 5m", "in the future"), ("since 8d", "more than 7 days ago")):
            refused = (await slash(humans, "alice", channel_id, text))["text"]
            assert refused.startswith("The outage start is unchanged: ") and why in refused, refused
        assert pings(sandbox, channel_id) == [] and dms_but_welcomes(sandbox, "ian.tien") == []

        # The outage began 90 minutes ago, said as a time of day in New York.
        began = (datetime.now(ZoneInfo(NEW_YORK)) - timedelta(minutes=90)).replace(second=0, microsecond=0)
        answer = await done(humans, "jason.blais", channel_id, f"since {began:%H:%M}")
        assert f"{began:%H:%M} E" in answer, answer

        (ping,) = await until(lambda: pings(sandbox, channel_id), 10, "the CEO ping, at once")
        assert "has been open for 1h 3" in ping.message and "as given with `/sev1 since`" in ping.message
        await until(lambda: len(dms_but_welcomes(sandbox, "ian.tien")) == 1, 10, "the CEO's DM")
        assert the_incident(db_url).outage_start == began.astimezone(UTC)
        await until(lambda: "**Outage began:** " in board(sandbox, channel_id), 10, "the start on the board")
        await until(lambda: "pinged 1 time" in board(sandbox, channel_id), 10, "the ping on the board")
        assert len(pings(sandbox, channel_id)) == 1


async def test_a_reply_is_on_the_board_and_the_owner_reminded_once_per_interval_also_across_a_restart(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    every = 2.0  # seconds
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h", customer_every="2s")
    env = bot_env(sandbox, db_url, playbooks, free_port())

    def sent(incident_id: str) -> dict[str, str]:
        """Every reminder the store recorded as sent: its key -> its post."""
        with Store(db_url) as store:
            return {k: v for k, v in sent_of(store, incident_id).items() if k.startswith("customer:") and v}

    def slots(incident_id: str) -> dict[int, str]:
        """Reminder slot j after the first reply (key customer:1:<j>) -> its post."""
        found = sent(incident_id).items()
        return {int(k.rsplit(":", 1)[1]): v for k, v in found if k.startswith("customer:1:")}

    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "1.4").id, "white_check_mark")

        def reply_on_board() -> bool:
            return "**Last reply to the customer:** " in board(sandbox, channel_id) and (
                f"by @{ZWJ}stu.doherty (1.4, " in board(sandbox, channel_id)
            )

        await until(reply_on_board, 10, "the reply on the board")
        incident = the_incident(db_url)
        (reply,) = incident.customer_replies
        assert (reply.by, reply.item) == ("stu.doherty", "1.4")
        await until(lambda: len(slots(incident.id)) >= 2, 15, "two reminders")
    # Down: the bot is gone for more than three intervals.
    before = slots(incident.id)
    last_before = max(before)
    back_at = reply.at + timedelta(seconds=every * (last_before + 3.5))
    await asyncio.sleep(max(0.0, (back_at - datetime.now(UTC)).total_seconds()))
    assert slots(incident.id) == before, "nobody reminds while the bot is down"

    def caught_up() -> int | None:
        return min((j for j in slots(incident.id) if j > last_before), default=None)

    async with running_bot(env):
        catch_up = await until(caught_up, 15, "the catch-up reminder")
        await until(lambda: catch_up + 2 in slots(incident.id), 15, "two reminders on time after it")
    found = slots(incident.id)
    assert sorted(before) == list(range(1, last_before + 1)), "once per interval, in order"
    assert catch_up >= last_before + 3, "slots passed while the bot was down"
    assert sorted(found) == [*range(1, last_before + 1), *range(catch_up, max(found) + 1)], "one catch-up"
    posted = {p.id: p for p in said(sandbox, channel_id, "is waiting")}
    assert set(posted) == set(sent(incident.id).values()), "each reminder posted is one the store recorded"
    for j in range(catch_up + 1, max(found) + 1):
        late = (at(posted[found[j]]) - (reply.at + timedelta(seconds=every * j))).total_seconds()
        assert -0.1 <= late <= 1.5, f"reminder {j} went {late:+.2f}s from its due time"
    first = posted[found[1]]
    assert first.message.startswith("@alice :hourglass_flowing_sand: **Acme Corp is waiting**: no reply")
    assert (
        f"(the last by @{ZWJ}stu.doherty)" in first.message and "check 3.6 once it is sent" in first.message
    )


async def test_once_the_ceo_rule_applies_each_reply_is_sent_to_the_ceo(
    sandbox: Sandbox, humans: Humans, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    playbooks = fast_playbook(tmp_path / "pb", escalate_after="1h", repeat_every="1h")
    env = bot_env(sandbox, db_url, playbooks, free_port())

    def replies_to_ceo() -> list[Post]:
        return [p for p in dms_to(sandbox, "ian.tien") if "**Reply to Acme Corp**" in p.message]

    async with running_bot(env):
        channel_id = await start_incident(sandbox, humans)
        await done(humans, "stu.doherty", channel_id, "check 1.4")  # minutes into the outage: no DM
        await done(humans, "alice", channel_id, "eta 3h")
        await done(humans, "alice", channel_id, "since 2h")  # past the hour: the CEO is pinged ...
        await until(lambda: pings(sandbox, channel_id), 10, "the CEO ping")
        await done(humans, "brent.fox", channel_id, "check 3.6")  # ... and in the loop of each reply
        (dm,) = await until(replies_to_ceo, 10, "the reply sent to the CEO")
        eta = the_incident(db_url).etas[-1].eta
        assert f"@{ZWJ}brent.fox checked 3.6 Reply to customer with update" in dm.message
        assert (
            f"the ETA is {eta:%H:%M} UTC" in dm.message
            or f"the ETA is {render.fmt_when(eta, UTC_CAL)}" in (dm.message)
        )
        assert "The outage has lasted 2h" in dm.message
        await react(humans, "stu.doherty", item_post(sandbox, channel_id, "4.6").id, "white_check_mark")
        await until(lambda: len(replies_to_ceo()) == 2, 10, "the second reply sent to the CEO")
        assert f"@{ZWJ}stu.doherty checked 4.6" in replies_to_ceo()[1].message
    assert len(the_incident(db_url).customer_replies) == 3
    assert len(replies_to_ceo()) == 2, "the reply before the hour was not sent"
