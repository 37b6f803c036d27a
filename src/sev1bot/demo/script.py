"""The scripted Sev 1: what the responders do, each through the calls their Mattermost app makes.

People act with ``mattermostautodriver``'s ``AsyncTypedDriver``: ``POST /commands/execute`` for ``/sev1``,
``POST /reactions`` to react, ``POST /posts`` to write. Between actions the script waits for what a person
would wait for, as seen by :class:`~sev1bot.demo.observer.Watcher` (alice's app), never for the bot's
internals.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from mattermostautodriver import AsyncTypedDriver

from sev1bot.demo.observer import Watcher
from sev1bot.demo.playbook import Timings
from sev1bot.demo.screen import Screen, emojize
from sev1bot.mattermost.events import Post

log = logging.getLogger(__name__)

CUSTOMER = "Acme Corp"
SUMMARY = "Logins take over 30 s for every user"
PEOPLE = ("alice", "bob", "carol", "brent.fox", "stu.doherty", "jason.blais", "ian.tien")
WAIT = 20.0  # seconds to wait for the bot's answer to any one action before giving up


@dataclass
class Responders:
    """One logged-in app per person, created on first use."""

    host: str
    port: int
    team_id: str
    tokens: dict[str, str]
    user_ids: dict[str, str]
    screen: Screen
    drivers: dict[str, AsyncTypedDriver] = field(default_factory=dict)
    commands: int = 0
    reactions: int = 0

    async def app(self, username: str) -> AsyncTypedDriver:
        if username not in self.drivers:
            driver = AsyncTypedDriver(
                {"url": self.host, "port": self.port, "scheme": "http", "token": self.tokens[username]}
            )
            await driver.login()
            self.drivers[username] = driver
        return self.drivers[username]

    async def slash(self, username: str, channel_id: str, where: str, text: str) -> str:
        """Type ``/sev1 <text>``; returns the answer only this person sees."""
        self.screen.action(username, f"in {where}:", f"/sev1 {text}")
        driver = await self.app(username)
        body = {"channel_id": channel_id, "team_id": self.team_id, "command": f"/sev1 {text}"}
        answer: dict[str, Any] = await driver.client.post("/api/v4/commands/execute", body)
        self.commands += 1
        reply = str(answer.get("text") or "")
        if reply:
            self.screen.reply(username, reply)
        return reply

    async def react(self, username: str, post: Post, emoji: str, label: str) -> None:
        self.screen.action(username, f"reacts {emojize(f':{emoji}:')} to", label)
        driver = await self.app(username)
        body = {"user_id": self.user_ids[username], "post_id": post.id, "emoji_name": emoji}
        await driver.client.post("/api/v4/reactions", body)
        self.reactions += 1

    async def add(self, username: str, channel_id: str, where: str, others: list[str]) -> None:
        self.screen.action(username, f"adds {' '.join('@' + o for o in others)} to", where)
        driver = await self.app(username)
        body = {"user_ids": [self.user_ids[other] for other in others]}
        await driver.client.post(f"/api/v4/channels/{channel_id}/members", body)

    async def say(self, username: str, channel_id: str, where: str, message: str) -> None:
        self.screen.action(username, f"in {where}:", message)
        driver = await self.app(username)
        await driver.client.post("/api/v4/posts", {"channel_id": channel_id, "message": message})

    async def close(self) -> None:
        for driver in self.drivers.values():
            await driver.close()


@dataclass
class Scenario:
    people: Responders
    alice: Watcher  # follows the incident channel
    ceo: Watcher  # follows the CEO's direct messages
    timings: Timings
    town_square_id: str

    async def pause(self, factor: float = 1.0) -> None:
        await asyncio.sleep(self.timings.pause * factor)

    def channel(self) -> str:
        assert self.alice.incident is not None
        return self.alice.incident.id

    def members(self) -> list[str]:
        return self.alice.incident.members if self.alice.incident else []

    def where(self) -> str:
        assert self.alice.incident is not None
        return f"~{self.alice.incident.name}"

    async def item(self, key: str) -> Post:
        post = await self.alice.until(lambda: self.alice.item(key), WAIT, f"the post of item {key}")
        assert isinstance(post, Post)
        return post

    async def react_and_see(self, username: str, key: str, emoji: str, expect: str) -> None:
        """React on an item's post, then wait until alice sees the item's post say ``expect``."""
        post = await self.item(key)
        title = post.message.split("\n", 1)[0].replace("**", "")
        await self.people.react(username, post, emoji, title)
        await self.alice.until(
            lambda: expect in self.alice.item_text(key), WAIT, f"item {key} to show {expect!r}"
        )
        await self.pause()

    async def play(self) -> None:
        await self.open_incident()
        await self.first_response()
        await self.escalation()
        await self.resolution()
        await self.follow_ups()

    async def open_incident(self) -> None:
        """@alice starts the incident from town square, waits for the checklist and brings in her team."""
        people, alice = self.people, self.alice
        await people.slash("alice", self.town_square_id, "~town-square", f'start "{CUSTOMER}" {SUMMARY}')
        await alice.until(lambda: alice.incident, WAIT, "the incident channel")
        size = alice.checklist_size
        await alice.until(lambda: len(alice.of_kind("item")) >= size, WAIT, f"the checklist's {size} items")
        await self.pause()
        await people.add("alice", self.channel(), self.where(), ["bob", "carol"])
        await alice.until(lambda: "carol" in self.members(), WAIT, "@bob and @carol to join")

    async def first_response(self) -> None:
        """The team works the checklist: reactions, an assignment, a chat line and a status update."""
        people, alice = self.people, self.alice
        # The bot checks what it did itself: the channel, then the leads in it.
        by_bot = ["1.1", "1.2"]
        await alice.until(
            lambda: all("done by @sev1bot" in alice.item_text(key) for key in by_bot),
            WAIT,
            "1.1 and 1.2 checked by the bot",
        )
        await self.react_and_see("bob", "1.3", "heavy_check_mark", "done by @bob")
        await people.slash("alice", self.channel(), self.where(), "assign 2.1 @carol")
        await alice.until(lambda: "@carol" in alice.item_text("2.1"), WAIT, "2.1 assigned to @carol")
        await self.pause()
        await people.say(
            "bob", self.channel(), self.where(), "Grafana: API p99 34 s, DB CPU at 98% since 13:40"
        )
        await self.react_and_see("bob", "2.2", "white_check_mark", "done by @bob")
        await self.react_and_see("bob", "2.4", "fast_forward", "skipped by @bob")
        await people.slash(
            "alice",
            self.channel(),
            self.where(),
            "update Slow queries on the Posts table; the customer's DBA is on the call.",
        )
        await alice.until(lambda: alice.of_kind("update"), WAIT, "the status update")
        await self.pause()

    async def escalation(self) -> None:
        """The escalation timer pings the CEO, who checks his item; @carol finishes hers."""
        alice = self.alice
        within = self.timings.escalate_after + WAIT
        await alice.until(lambda: alice.of_kind("ping"), within, "the CEO escalation ping")
        await self.ceo.until(lambda: self.ceo.pinged_by_dm, WAIT, "the CEO's direct message")
        await alice.until(
            lambda: "CEO must be looped in" in alice.item_text("1.4"),
            WAIT,
            "1.4 to carry the escalation rule",
        )
        await self.pause()
        await self.react_and_see("ian.tien", "1.4", "white_check_mark", "done by @ian.tien")
        await self.react_and_see("carol", "2.1", "white_check_mark", "done by @carol")

    async def resolution(self) -> None:
        await self.people.slash(
            "jason.blais", self.channel(), self.where(), "resolve Fixed by dot release 10.11.2"
        )
        await self.alice.until(lambda: self.alice.of_kind("resolution"), WAIT, "the resolution")
        await self.pause()

    async def follow_ups(self) -> None:
        """Follow-up deadlines: wait for the retrospective's "due soon" reminder, then do it."""
        s, alice = self.timings, self.alice
        await alice.until(
            lambda: any("Complete incident retrospective" in p.message for p in alice.of_kind("reminder")),
            s.deadlines[1] + WAIT,
            "the retrospective's reminder",
        )
        await self.react_and_see("alice", "8.1", "white_check_mark", "done by @alice")
        await alice.until(
            lambda: any(
                "Send completed incident summary" in p.message and "overdue" in p.message
                for p in alice.of_kind("reminder")
            ),
            s.deadlines[-1] + WAIT,
            "the last deadline to fall due",
        )
        await self.pause()
