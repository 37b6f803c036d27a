"""Work in order per key, concurrently across keys: how websocket events leave the socket's read loop.

The websocket client awaits each event's handler before it reads the next frame. Handling a reaction
takes a REST call and a few database transactions, so the bot used to handle one reaction at a time, and
at 50 reactions per second the backlog grew without end (see docs/performance.md). Reactions on different
posts are independent (the store serialises changes to one incident), so each post gets a lane: its events
run one after the other in arrival order, while other lanes run alongside, at most ``limit`` at once.

Backpressure stays: once ``max_pending`` pieces of work are queued, ``submit`` waits for one to finish, so
the websocket stops reading and the server's own limits apply, rather than memory growing without end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


class Lanes:
    def __init__(self, *, limit: int = 32, max_pending: int = 5000) -> None:
        if limit < 1 or max_pending < 1:
            raise ValueError(f"limit and max_pending must be at least 1, got {limit} and {max_pending}")
        self._slots = asyncio.Semaphore(limit)
        self._max_pending = max_pending
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def submit(self, key: str, work: Work) -> None:
        """Queue ``work`` behind earlier work of ``key``; returns at once unless too much is queued."""
        while len(self._tasks) >= self._max_pending:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._run(self._tails.get(key), work))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    async def _run(self, previous: asyncio.Task[None] | None, work: Work) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # in order; how the previous work ended is its own business
        async with self._slots:
            await work()

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("work for %s failed", key, exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until everything queued so far (and queued meanwhile) has run."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
