"""Leader election over the store: of several replicas, exactly one acts on websocket events and timers.

A lease row in the database names the holder until it expires; the holder renews it every ``renew_every``
seconds. The fence number grows whenever the holder changes, so a deposed leader that wakes up late can tell
before it acts: ``leading`` is the fence to show the store (which refuses to hand out outbox batches against
a stale one), ``still_leader`` asks the database (before acting on a timer). A replica that cannot renew in
time steps down by itself, before another can take over: a takeover needs the lease to expire first.

A database that refuses the renewal (down, read-only) is logged once when it starts and once when it ends,
not at every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sev1bot.store.errors import StoreError
from sev1bot.store.leases import Fence
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

LEASE = "leader"


class Duties(Protocol):
    """What the leader takes up when elected and drops when it steps down."""

    async def elected(self) -> None: ...

    async def demoted(self) -> None: ...


class Leadership:
    def __init__(
        self,
        store: Store,
        holder: str,
        *,
        clock: Callable[[], datetime],
        ttl: float = 6.0,
        renew_every: float = 1.5,
    ) -> None:
        if renew_every * 2 >= ttl:
            raise ValueError("renew_every must be well under the lease ttl")
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.renew_every = renew_every
        self.clock = clock
        self.fence: int | None = None
        self._renewed_at = 0.0
        self._failed = 0  # renewals in a row that the database refused

    @property
    def is_leader(self) -> bool:
        return self.fence is not None and time.monotonic() - self._renewed_at < self.ttl - self.renew_every

    def leading(self) -> Fence | None:
        """The fence to act under while this replica leads (renewed in time); None otherwise."""
        if self.fence is None or not self.is_leader:
            return None
        return Fence(LEASE, self.fence)

    async def still_leader(self) -> bool:
        """Check with the database that nobody took over (the fence is unchanged)."""
        if self.fence is None:
            return False
        try:
            return await self.store.run(self.store.check_fence, LEASE, self.fence)
        except StoreError:
            return self.is_leader

    async def run(self, stop: asyncio.Event, duties: Duties) -> None:
        """Hold or seek the lease until ``stop`` is set; ``duties`` are taken up while leading."""
        try:
            while not stop.is_set():
                await self._tick(duties)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_every)
        finally:
            if self.fence is not None:
                await self._step_down(duties, "shutting down", expected=True)
                try:
                    await self.store.run(self.store.release_lease, LEASE, self.holder)
                except StoreError as exc:
                    log.warning("could not release the leader lease: %s", exc)

    async def _tick(self, duties: Duties) -> None:
        try:
            fence = await self.store.run(
                self.store.acquire_lease, LEASE, self.holder, timedelta(seconds=self.ttl), self.clock()
            )
        except StoreError as exc:
            self._refused(exc)
            if self.fence is not None and not self.is_leader:
                await self._step_down(duties, "the lease could not be renewed and is about to expire")
            return
        if self._failed:
            log.info("leader lease can be renewed again (%d attempts in a row failed)", self._failed)
            self._failed = 0
        if fence is None:
            if self.fence is not None:
                await self._step_down(duties, "another replica holds the lease")
            return
        self._renewed_at = time.monotonic()
        if self.fence != fence:
            was_leader = self.fence is not None
            self.fence = fence
            if not was_leader:
                log.info("this replica (%s) is now the leader (fence %d)", self.holder, fence)
                await duties.elected()

    def _refused(self, exc: StoreError) -> None:
        """Log the first refused renewal of a run of them; the rest only at DEBUG (one every few seconds)."""
        self._failed += 1
        if self._failed == 1:
            log.warning(
                "leader lease not renewed: %s (retrying every %gs; logged again when it works)",
                exc,
                self.renew_every,
            )
        else:
            log.debug("leader lease still not renewed (attempt %d): %s", self._failed, exc)

    async def _step_down(self, duties: Duties, why: str, *, expected: bool = False) -> None:
        level = logging.INFO if expected else logging.WARNING
        log.log(level, "this replica (%s) is no longer the leader: %s", self.holder, why)
        self.fence = None
        await duties.demoted()
