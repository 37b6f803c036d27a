"""How soon a failing incident's delivery is tried again, and the one message when it keeps failing.

A pass that fails makes its incident wait before the outbox sweep tries it again: 0.5 s, then twice as long
after each failure in a row, at most 60 s. New work for the incident (a command, a reaction) still tries at
once: people act at their own pace, not a fixed one, and a success ends the wait. After ``STUCK_AFTER``
failures in a row the reporter and the owner get a DM, once, saying what failed and what to do; the bot
keeps trying at the capped pace.

The pace is kept in memory, on purpose: after a restart the first try comes at once (a restart is often the
fix) and the pace is learned again within seconds. That the people were told must survive a restart, or a
bot restarting in a loop would tell them every time: it is a claim in the store's ``sent`` table, per stuck
outbox entry and person. A DM that fails releases its claim and is tried again at the next failure, so at
the retry pace too, never in a loop of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sev1bot.core import render
from sev1bot.mattermost.directory import Team, UserDirectory
from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.rest import MattermostAPI
from sev1bot.store.outbox import Delivered, OutboxEntry
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

FIRST_WAIT = 0.5  # seconds before the sweep tries an incident again after its first failure
MAX_WAIT = 60.0  # ... doubling after each failure in a row, up to this
STUCK_AFTER = 5  # failures in a row before the reporter and the owner are told


@dataclass
class _Failing:
    failures: int = 0  # in a row
    retry_at: float = 0.0  # monotonic seconds


class Pacing:
    """Per incident: failures in a row and when the sweep may try again."""

    def __init__(
        self,
        *,
        first: float = FIRST_WAIT,
        cap: float = MAX_WAIT,
        stuck_after: int = STUCK_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first, self.cap, self.stuck_after = first, cap, stuck_after
        self._clock = clock
        self._failing: dict[str, _Failing] = {}

    def due(self, incident_id: str) -> bool:
        """Whether the sweep may try the incident now."""
        failing = self._failing.get(incident_id)
        return failing is None or self._clock() >= failing.retry_at

    def failed(self, incident_id: str) -> tuple[int, float]:
        """Count a failed pass: (failures in a row, seconds until the sweep tries again)."""
        failing = self._failing.setdefault(incident_id, _Failing())
        failing.failures += 1
        wait = min(self.cap, self.first * 2.0 ** min(failing.failures - 1, 32))
        failing.retry_at = self._clock() + wait
        return failing.failures, wait

    def succeeded(self, incident_id: str) -> None:
        self._failing.pop(incident_id, None)


class StuckNotice:
    """The DM to the reporter and the owner when an incident's delivery keeps failing: at most once each
    per stuck outbox entry, ever."""

    def __init__(self, api: MattermostAPI, store: Store, users: UserDirectory, team: Team) -> None:
        self.api = api
        self.store = store
        self.users = users
        self.team = team

    async def tell(self, entry: OutboxEntry, error: BaseException, failures: int, cap: float) -> None:
        state = await self.store.run(self.store.load, entry.incident_id)
        if state is None:
            return
        message = render.delivery_stuck_dm(state, entry.effect, str(error), failures, timedelta(seconds=cap))
        for username in dict.fromkeys([state.reporter, state.owner]):
            await self._direct(entry, username, message)

    async def _direct(self, entry: OutboxEntry, username: str, message: str) -> None:
        incident_id, key = entry.incident_id, f"stuck:{entry.id}:{username}"
        if not await self.store.run(self.store.claim, incident_id, key):
            return  # told already (or being told)
        try:
            found, _ = await self.users.ids([username])
            if username not in found:
                log.warning("incident %s: cannot tell %s it is stuck: no such user", incident_id, username)
                return
            channel = await self.api.direct_channel(self.team.bot_user_id, found[username])
            post = await self.api.create_post(channel.id, message)
        except MattermostError as exc:
            await self.store.run(self.store.release, incident_id, key)
            log.warning("incident %s: could not tell %s it is stuck: %s", incident_id, username, exc)
            return
        await self.store.run(self.store.delivered, [Delivered(incident_id, sent=(key, post.id))])
        log.warning("incident %s: told %s that delivery keeps failing", incident_id, username)
