"""Before sending again a post that nobody wrote down as sent, finding out whether the server has it.

Every post the bot makes carries the delivery key of its outbox row in ``props`` (``rest.DELIVERY_PROP``).
A create may reach the server without being written down: the process died before writing it, or the
attempt failed after the server had acted on it. Its ``pending_post_id`` makes a retry harmless for 30 s
only; after that the server makes the post again. So before such a create is sent again, its channel's
posts since the row was made are read, once per channel per delivery pass, and a post that carries the
row's key is adopted: recorded as the ref's post, as if the create had just answered.

Which rows are suspect is kept in memory (``Suspects``), with no extra write: rows made before this
process's current term as leader began (a dead process or another replica may have tried them), and rows
this process tried without writing down that they were delivered. Anything else goes straight out: the
normal path makes no extra request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sev1bot.core import effects as fx
from sev1bot.mattermost.events import Post
from sev1bot.mattermost.rest import DELIVERY_PROP, MattermostAPI
from sev1bot.store.outbox import OutboxEntry

# How far the server's clock may be behind the bot's: a post made for a row is looked for from the row's
# creation time less this.
CLOCK_SKEW = timedelta(minutes=5)


def delivery_key(entry: OutboxEntry) -> str:
    """Stable per outbox row. Row ids alone can repeat (SQLite reuses them once the outbox is empty); with
    the row's creation time they cannot."""
    return f"{int(entry.created_at.timestamp() * 1000)}-{entry.id}"


def _creates_post(entry: OutboxEntry) -> bool:
    return isinstance(entry.effect, fx.Post | fx.DirectMessage)


class Suspects:
    """The creates that may be on the server without the store knowing: what this process remembers."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._term_began: datetime | None = None  # None: not elected yet, every row is suspect
        self._attempted: set[str] = set()  # delivery keys tried and not (yet) written down as delivered

    def new_term(self) -> None:
        """This process leads from now: everything already in the outbox may have been tried elsewhere."""
        self._term_began = self._clock()
        self._attempted.clear()

    def among(self, entries: Iterable[OutboxEntry]) -> list[OutboxEntry]:
        began = self._term_began
        return [
            entry
            for entry in entries
            if _creates_post(entry)
            and (
                began is None
                or entry.created_at < began
                or (bool(self._attempted) and delivery_key(entry) in self._attempted)
            )
        ]

    def attempting(self, entry: OutboxEntry) -> None:
        if _creates_post(entry):
            self._attempted.add(delivery_key(entry))

    def settled(self, entries: Iterable[OutboxEntry]) -> None:
        """These were written down as delivered: gone from the outbox, never to be tried again."""
        self._attempted.difference_update(delivery_key(entry) for entry in entries)


class Lookup:
    """One delivery pass's look at what the server has: each channel read once, when a suspect create
    first needs it (replies to different threads may ask side by side). Without suspects it asks nothing."""

    def __init__(self, api: MattermostAPI, bot_user_id: str, suspects: Sequence[OutboxEntry]) -> None:
        self._api = api
        self._bot_user_id = bot_user_id
        self._keys = {delivery_key(entry) for entry in suspects}
        oldest = min((entry.created_at for entry in suspects), default=None)
        self._after = 0 if oldest is None else int((oldest - CLOCK_SKEW).timestamp() * 1000)
        self._channels: dict[str, asyncio.Task[dict[str, Post]]] = {}

    def suspects(self, entry: OutboxEntry) -> bool:
        return delivery_key(entry) in self._keys

    async def existing(self, channel_id: str, entry: OutboxEntry) -> Post | None:
        """The post the server already has for ``entry`` in that channel, if ``entry`` is suspect."""
        key = delivery_key(entry)
        if key not in self._keys:
            return None
        read = self._channels.get(channel_id)
        if read is None:
            read = self._channels[channel_id] = asyncio.ensure_future(self._read(channel_id))
        return (await read).get(key)

    async def _read(self, channel_id: str) -> dict[str, Post]:
        found: dict[str, Post] = {}
        for post in await self._api.posts_created_after(channel_id, self._after):
            key = post.props.get(DELIVERY_PROP)
            if post.user_id == self._bot_user_id and isinstance(key, str) and key in self._keys:
                found.setdefault(key, post)  # should an older bot have posted it twice: the first
        return found
