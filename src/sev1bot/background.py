"""Background tasks that fail alone: each failure is logged, and never cancels or hides the others.

``asyncio.TaskGroup`` cancels every task when one fails, which would let a failed delivery stop the others;
bare ``create_task`` loses the error unless someone awaits it. ``Background`` keeps a reference to each task
(so none is garbage-collected mid-flight), logs what each raised, and can wait until all are done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    def __init__(self, what: str) -> None:
        self._what = what  # says in the log whose task failed, e.g. "delivery"
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed: %s", self._what, exc, exc_info=exc)

    async def idle(self) -> None:
        """Wait until every task spawned so far (and spawned meanwhile) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, grace: float) -> None:
        """Give the tasks ``grace`` seconds to finish, then cancel the rest and wait for them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
