"""One queue per incident, one worker per queue, one bound over them all.

Work for an incident is done in the order it arrived, a batch at a time (whatever queued up while the last
batch was being handled); incidents are worked on side by side. At most ``bound`` items wait in all: then
``put`` waits until a worker has taken some, which is how back-pressure reaches whoever calls ``put`` (the
websocket reader, which then stops reading, so the server's own limits apply).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sev1bot.background import Background

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[str, list[T]], Awaitable[None]]


class IncidentQueues(Generic[T]):
    def __init__(self, handle: Handler[T], *, bound: int, what: str) -> None:
        self._handle = handle
        self._what = what
        self.bound = bound
        self._queued: dict[str, list[T]] = {}  # incident id -> items waiting, in arrival order
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._running = Background(what)
        self.waiting = 0  # items queued and not yet taken, over every incident
        self._room = asyncio.Event()
        self._room.set()

    async def put(self, incident_id: str, items: list[T]) -> None:
        """Queue ``items`` for the incident; first wait while ``bound`` items are waiting."""
        while self.waiting >= self.bound:
            await self._room.wait()
        self._queued.setdefault(incident_id, []).extend(items)
        self.waiting += len(items)
        if self.waiting >= self.bound:
            self._room.clear()
        if incident_id not in self._workers:
            self._workers[incident_id] = self._running.spawn(self._work(incident_id))

    async def _work(self, incident_id: str) -> None:
        try:
            while batch := self._queued.pop(incident_id, None):
                self.waiting -= len(batch)
                if self.waiting < self.bound:
                    self._room.set()
                try:
                    await self._handle(incident_id, batch)
                except Exception:  # a bug in one batch must not strand the batches queued behind it
                    log.exception("%s: a batch of incident %s failed", self._what, incident_id)
        finally:
            del self._workers[incident_id]

    async def idle(self) -> None:
        """Wait until every item queued so far (and meanwhile) has been handled."""
        await self._running.idle()
