"""Wake-ups at due times, on APScheduler's AsyncIOScheduler.

APScheduler only wakes the bot; the store holds the durable truth (``IncidentState.timers`` and the
``sent`` table), so jobs live in memory and are rebuilt from the database at start-up. Every job calls one
callback with ids only, and job ids are deterministic, so scheduling the same timer twice replaces it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

TimerCallback = Callable[[str, str], Awaitable[None]]


def job_id(incident_id: str, key: str) -> str:
    return f"{incident_id}|{key}"


class Timers:
    def __init__(self) -> None:
        self._callback: TimerCallback | None = None
        self._scheduler = AsyncIOScheduler(
            timezone="UTC",
            # A timer that is late (the bot was down or busy) still fires, once: the core turns it into a
            # single catch-up ping.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self, callback: TimerCallback) -> None:
        """Start waking ``callback(incident_id, key)`` at each timer's due time."""
        self._callback = callback
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, incident_id: str, key: str, at: datetime) -> None:
        self._scheduler.add_job(
            self._fire,
            trigger=DateTrigger(run_date=at),
            args=(incident_id, key),
            id=job_id(incident_id, key),
            replace_existing=True,
        )
        log.debug("timer %s for incident %s due at %s", key, incident_id, at.isoformat())

    async def _fire(self, incident_id: str, key: str) -> None:
        if self._callback is not None:
            await self._callback(incident_id, key)

    def cancel(self, incident_id: str, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id(incident_id, key))

    def cancel_all(self) -> None:
        self._scheduler.remove_all_jobs()
