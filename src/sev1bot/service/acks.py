"""Writing down delivered effects in the background, in order, while the next one is being delivered.

Each delivered effect used to cost its own transactions (record the post, forget the outbox entry) before
the next request could start: with the thread hop, 1-2 ms per post, more than the post itself on a fast
server (docs/performance.md). ``Acks`` writes them from a worker thread instead, one transaction at a time,
each taking everything delivered meanwhile (group commit), so the bookkeeping overlaps the next request.

What a crash can cost stays as before: effects delivered but not yet written down are delivered again,
and a repeated create is recognised by the server from its ``pending_post_id``. At most the writes in
flight are at stake, normally one or two effects. A failed write stops the batch at the next ``check``.
"""

from __future__ import annotations

import asyncio

from sev1bot.store.outbox import Delivered
from sev1bot.store.store import Store


class Acks:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[Delivered] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, done: Delivered) -> None:
        """Queue ``done`` for writing; writes start at once unless one is in flight."""
        self.check()
        self._queue.append(done)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def check(self) -> None:
        """Raise the error of a write that failed, so that delivery stops."""
        writer = self._writer
        if writer is not None and writer.done():
            self._writer = None
            writer.result()
            if self._queue:
                self._writer = asyncio.create_task(self._write())

    async def settle(self) -> None:
        """Wait until everything queued is written; raise the first write error."""
        while self._writer is not None:
            writer = self._writer
            await asyncio.wait({writer})
            if self._writer is writer:
                self._writer = None
            writer.result()
            if self._queue and self._writer is None:
                self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._queue:
            taken, self._queue = self._queue, []
            try:
                await self._store.run(self._store.delivered, taken)
            except BaseException:
                self._queue = taken + self._queue  # not written: a later settle may try again
                raise
