"""Writing down delivered effects: what a pass delivered, in order, in as few transactions as is safe.

Each delivered effect used to cost its own transaction (record the post, forget the outbox entry) before
the next request could start: with a thread hop, 1-2 ms per post, more than the post itself on a fast
server (docs/performance.md). ``Acks`` collects them instead and writes them together: at the end of a
delivery pass (``settle``), or as soon as the oldest unwritten one is ``flush_after`` seconds old, so that
a long pass (a slow or rate-limited server) never leaves much unwritten.

What a crash can cost: effects delivered but not yet written down are delivered again. An edit repeats
harmlessly; a repeated create carries the same ``pending_post_id``, which the server recognises for a
while (30 s on Mattermost) and answers with the post it already made. Later than that, the next leader
looks such creates up on the server by the delivery key in their props before sending them again
(``recovery``), so they are not posted twice either. At-most-once sends (pings, reminders) are claimed
before they are sent and written down at once, as before. A failed write stops the pass at the next
``check``.

Given the leader's fence, each write also checks it, in the same transaction: a long pass whose leader was
deposed stops at the next ``check`` without a query of its own (what it delivered is written down anyway).
"""

from __future__ import annotations

import asyncio
import time

from sev1bot.store.errors import Fenced
from sev1bot.store.leases import Fence
from sev1bot.store.outbox import Delivered
from sev1bot.store.store import Store

FLUSH_AFTER = 0.2  # seconds


class Acks:
    def __init__(self, store: Store, *, flush_after: float = FLUSH_AFTER, fence: Fence | None = None) -> None:
        self._store = store
        self._flush_after = flush_after
        self._fence = fence
        self._stale: str | None = None  # why the fence is stale, as a write found out
        self._queue: list[Delivered] = []
        self._oldest: float | None = None  # when the oldest unwritten item was added (monotonic)
        self._writer: asyncio.Task[None] | None = None

    def add(self, done: Delivered) -> None:
        """Queue ``done``; start writing if the oldest queued item has waited long enough, or at once for
        an at-most-once send (a ping, a reminder): which post it became is part of its record, and such
        posts are few."""
        self._check_writes()
        self._queue.append(done)
        now = time.monotonic()
        if self._oldest is None:
            self._oldest = now
        if self._writer is None and (done.sent is not None or now - self._oldest >= self._flush_after):
            self._writer = asyncio.create_task(self._write())

    def check(self) -> None:
        """Raise the error of a write that failed, or Fenced once a write found the fence stale, so that
        delivery stops."""
        self._check_writes()
        if self._stale is not None:
            raise Fenced(self._stale)

    def _check_writes(self) -> None:
        writer = self._writer
        if writer is not None and writer.done():
            self._writer = None
            writer.result()

    async def settle(self) -> None:
        """Write everything queued; raise the first write error."""
        while self._writer is not None or self._queue:
            if self._writer is None:
                self._writer = asyncio.create_task(self._write())
            writer = self._writer
            await asyncio.wait({writer})
            if self._writer is writer:
                self._writer = None
            writer.result()

    async def _write(self) -> None:
        while self._queue:
            taken, self._queue, self._oldest = self._queue, [], None
            try:
                stale = await self._store.run(self._store.delivered, taken, self._fence)
            except BaseException:
                self._queue = taken + self._queue  # not written: a later settle may try again
                self._oldest = time.monotonic()
                raise
            self._stale = self._stale or stale
