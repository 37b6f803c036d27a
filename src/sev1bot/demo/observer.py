"""A person following the incident in their Mattermost app: websocket events, REST when a channel is new.

``Watcher`` connects as one user, the way the web app does: it listens on the websocket for ``posted``,
``post_edited`` and ``user_added``, and when a channel it has not seen appears it reads the channel, its
members and its posts over REST. It finds the incident channel when the bot adds the user to it, and can
also show the user's direct messages. Everything it sees goes to the :class:`Screen`, and is kept so the
script can wait for what a person would wait for ("the checklist is there", "the CEO was pinged").
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mattermostautodriver import AsyncTypedDriver

from sev1bot.demo.screen import Screen, plain
from sev1bot.mattermost.events import (
    EventParseError,
    Post,
    Posted,
    PostEdited,
    UserAdded,
    parse_event,
)
from sev1bot.mattermost.ws import RawEvent, WebSocketClient

log = logging.getLogger(__name__)

INCIDENT_PREFIX = "sev1-"
_ITEM = re.compile(r"^\*\*(\d+\.\d+)\*\* (.*)$")
_STAGE = re.compile(r"^### (\d+ · .+?) — (.*)$")
_BOARD_LINES = ("**Status:**", "**Progress:**", "**Owner:**", "**Escalation:**", "**Last update**", "- **")
_QUIET_SYSTEM = ("system_add_to_channel", "system_join_channel")


@dataclass(frozen=True)
class _Panel:
    """How a bot post of one kind is shown in full: panel title and colour, and the milestone it marks."""

    title: str
    style: str = "blue"
    milestone: str = ""


_PANELS = {
    "board": _Panel("Status board", "cyan", "board"),
    "ping": _Panel("CEO ping (escalation)", "red", "ping"),
    "resolution": _Panel("Resolved", "green", "resolved"),
    "reminder": _Panel("Deadline reminder", "yellow", "reminder"),
    "update": _Panel("Status update"),
}


class DemoTimeout(Exception):
    """Something the script waited for did not appear in time."""


@dataclass
class Seen:
    post: Post
    kind: str  # board, stage, item, ping, resolution, reopen, update, reminder, human, system, other
    key: str = ""  # the item key ("1.3") or stage label ("1 · Escalation")


@dataclass
class IncidentChannel:
    id: str
    name: str
    display_name: str
    header: str
    members: list[str] = field(default_factory=list)


def classify(post: Post, by_bot: bool) -> Seen:
    """What a post of the incident channel is, judged by its shape as a reader would."""
    message, first = post.message, post.message.split("\n", 1)[0]
    if post.type:
        return Seen(post, "system")
    if not by_bot:
        return Seen(post, "human")
    item = _ITEM.match(first)
    if post.root_id and item:
        return Seen(post, "item", item.group(1))
    stage = _STAGE.match(first)
    if not post.root_id and stage:
        return Seen(post, "stage", stage.group(1))
    if first.startswith("### :rotating_light:"):
        return Seen(post, "board")
    kinds = [
        ("has been open for", "ping"),
        ("**Resolved**", "resolution"),
        ("**Reopened**", "reopen"),
        ("**Update** from", "update"),
        (":alarm_clock:", "reminder"),
        ("is overdue by", "reminder"),
    ]
    return Seen(post, next((kind for text, kind in kinds if text in message), "other"))


class Watcher:
    """One user's view. ``follow_incident``: show the incident channel; ``follow_dms``: show DMs to them."""

    def __init__(
        self,
        url: str,
        driver: AsyncTypedDriver,
        token: str,
        username: str,
        bot_username: str,
        screen: Screen,
        *,
        follow_incident: bool = True,
        follow_dms: bool = False,
        checklist_size: int = 0,
    ) -> None:
        self.driver = driver
        self.username = username
        self.bot_username = bot_username
        self.screen = screen
        self.follow_incident = follow_incident
        self.follow_dms = follow_dms
        self.checklist_size = checklist_size
        self.ws = WebSocketClient(url, token, self._on_event, self._on_gap)
        self.incident: IncidentChannel | None = None
        self.posts: dict[str, Seen] = {}
        self.dms: list[Post] = []
        self.events = 0
        self.milestones: dict[str, float] = {}
        self._channels: dict[str, tuple[str, str]] = {}  # id -> (type, name)
        self._names: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self, within: float = 10.0) -> None:
        self._task = asyncio.create_task(self.ws.run(), name=f"watch-{self.username}")
        try:
            await asyncio.wait_for(self.ws.connected.wait(), within)
        except TimeoutError:
            raise DemoTimeout(f"@{self.username}'s websocket did not connect within {within}s") from None

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    # -- what the script waits for ----------------------------------------------------------------------

    def of_kind(self, kind: str) -> list[Post]:
        return [seen.post for seen in self.posts.values() if seen.kind == kind]

    @property
    def pinged_by_dm(self) -> list[Post]:
        """The escalation pings among the DMs (others are welcomes and the like)."""
        return [post for post in self.dms if classify(post, by_bot=True).kind == "ping"]

    def item(self, key: str) -> Post | None:
        return next((s.post for s in self.posts.values() if s.kind == "item" and s.key == key), None)

    def item_text(self, key: str) -> str:
        """The current text of an item's post ("" until it is seen)."""
        post = self.item(key)
        return post.message if post is not None else ""

    async def until(self, check: Callable[[], Any], within: float, what: str) -> Any:
        """Wait until ``check()`` is truthy; DemoTimeout naming ``what`` after ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise DemoTimeout(f"timed out after {within:.0f}s waiting for {what}")

    # -- events ----------------------------------------------------------------------------------------

    async def _on_event(self, raw: RawEvent) -> None:
        self.events += 1
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            log.warning("@%s got an event the demo cannot read: %s", self.username, exc)
            return
        if isinstance(event, UserAdded):
            await self._on_user_added(event.channel_id, event.user_id)
        elif isinstance(event, Posted | PostEdited):
            await self._on_post(event.post, edited=isinstance(event, PostEdited))

    async def _on_gap(self) -> None:
        if self.incident is not None:
            await self._catch_up(self.incident.id)

    async def _on_user_added(self, channel_id: str, user_id: str) -> None:
        if not await self._is_incident(channel_id):
            return
        assert self.incident is not None
        name = await self._name(user_id)
        if name not in self.incident.members:
            self.incident.members.append(name)
            self.screen.member_added(name)

    async def _on_post(self, post: Post, edited: bool) -> None:
        kind, _ = await self._channel(post.channel_id)
        if kind == "D":
            await self._on_direct(post, edited)
        elif await self._is_incident(post.channel_id):
            await self._show(post)

    async def _on_direct(self, post: Post, edited: bool) -> None:
        sender = await self._name(post.user_id)
        if not self.follow_dms or edited or sender == self.username:
            return
        self.dms.append(post)
        if post in self.pinged_by_dm:  # the escalation's DM (not the welcome)
            self.milestones.setdefault("dm", self.screen.elapsed())
        self.screen.direct_message(sender, self.username, post.message)

    # -- the incident channel --------------------------------------------------------------------------

    async def _is_incident(self, channel_id: str) -> bool:
        if self.incident is not None:
            return self.incident.id == channel_id
        _, name = await self._channel(channel_id)
        if not (self.follow_incident and name.startswith(INCIDENT_PREFIX)):
            return False
        channel: dict[str, Any] = await self.driver.channels.get_channel(channel_id)
        self.incident = IncidentChannel(channel_id, name, channel["display_name"], channel.get("header", ""))
        self.milestones["channel"] = self.screen.elapsed()
        self.screen.channel(name, self.incident.display_name, self.incident.header, channel["type"] == "P")
        members: list[dict[str, Any]] = await self.driver.channels.get_channel_members(channel_id)
        self.incident.members = sorted([await self._name(m["user_id"]) for m in members])
        self.screen.members(self.incident.members)
        await self._catch_up(channel_id)
        return True

    async def _catch_up(self, channel_id: str) -> None:
        """Read the channel's posts over REST and show what the websocket has not brought yet."""
        listing: dict[str, Any] = await self.driver.posts.get_posts_for_channel(channel_id, per_page=200)
        posts = [Post.model_validate(listing["posts"][pid]) for pid in listing.get("order", [])]
        for post in sorted(posts, key=lambda p: p.create_at):
            await self._show(post)

    async def _show(self, post: Post) -> None:
        before = self.posts.get(post.id)
        if before is not None:
            if post.update_at <= before.post.update_at:
                return  # already seen this version (a REST catch-up overtook the event)
            seen = classify(post, before.kind not in ("human", "system"))
            self.posts[post.id] = seen
            self._show_edit(before, seen)
            return
        seen = classify(post, await self._name(post.user_id) == self.bot_username)
        self.posts[post.id] = seen
        self._show_new(seen)
        if post.is_pinned:
            self.screen.pinned("the status board" if seen.kind == "board" else plain(post.message[:60]))

    def _show_new(self, seen: Seen) -> None:
        post, screen = seen.post, self.screen
        panel = _PANELS.get(seen.kind)
        if panel is not None:
            if panel.milestone:
                self.milestones.setdefault(panel.milestone, screen.elapsed())
            screen.panel(panel.title, "sev1bot", post.message, style=panel.style)
            return
        match seen.kind:
            case "stage":
                screen.stage_root(post.message)
            case "item":
                screen.item(post.message)
                self._note_checklist_done()
            case "human":
                screen.human_post(self._names.get(post.user_id, "?"), post.message)
            case "system":
                if post.type not in _QUIET_SYSTEM:
                    screen.system_post(post.message)
            case _:
                screen.panel("Post", "sev1bot", post.message)

    def _note_checklist_done(self) -> None:
        """Once the last item post arrives: mark the milestone and say what was posted."""
        if len(self.of_kind("item")) == self.checklist_size:
            self.milestones.setdefault("checklist", self.screen.elapsed())
            stages = len(self.of_kind("stage"))
            self.screen.note(f"Checklist posted: {stages} stages, {self.checklist_size} items, one per post")

    def _show_edit(self, before: Seen, after: Seen) -> None:
        old, new = before.post, after.post
        if new.is_pinned and not old.is_pinned:
            self.screen.pinned("the status board" if after.kind == "board" else plain(new.message[:60]))
        if new.message == old.message:
            return
        added = [line for line in new.message.split("\n") if line and line not in old.message.split("\n")]
        if after.kind == "item":
            if any("done by" in line for line in added):
                self.milestones.setdefault("checked", self.screen.elapsed())
            shown = [line for line in added if not line.startswith("React with")]
            title = _ITEM.match(new.message.split("\n", 1)[0])
            label = f"{after.key} {title.group(2) if title else ''}"
            self.screen.edited(label, " · ".join(shown) or "open again")
        elif after.kind == "stage":
            stage = _STAGE.match(new.message.split("\n", 1)[0])
            if stage:
                self.screen.edited(stage.group(1), stage.group(2), dim=True)
        elif after.kind == "board":
            shown = [line for line in added if line.startswith(_BOARD_LINES)]
            for line in shown:
                self.screen.edited("status board", line, dim=True)
        else:
            self.screen.edited(plain(new.message.split("\n", 1)[0])[:60], " · ".join(added))

    # -- lookups, cached as the app does ---------------------------------------------------------------

    async def _channel(self, channel_id: str) -> tuple[str, str]:
        if channel_id not in self._channels:
            channel: dict[str, Any] = await self.driver.channels.get_channel(channel_id)
            self._channels[channel_id] = (channel["type"], channel["name"])
        return self._channels[channel_id]

    async def _name(self, user_id: str) -> str:
        if user_id not in self._names:
            users: list[dict[str, Any]] = await self.driver.users.get_users_by_ids([user_id])
            for user in users:
                self._names[user["id"]] = user["username"]
        return self._names.get(user_id, user_id)
