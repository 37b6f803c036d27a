"""What only the leader does: follow the websocket, fire timers, deliver what any replica committed.

Elected, it rebuilds the timers from the store, connects the websocket, catches up with the reactions and
the channel members it missed (``ReactionFollower``, ``Welcomes``) and starts polling the outbox (another
replica's commands commit effects that only the leader delivers); from that loop it also forgets, once an
hour, the slash-command requests older than a day (kept to refuse replays). Demoted, it drops all of that.
Every replica serves slash commands and clicks either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sev1bot.mattermost.errors import MattermostError
from sev1bot.mattermost.ws import ConnectionState, OnEvent, OnGap, RawEvent, WebSocketClient
from sev1bot.service.executor import Executor
from sev1bot.service.leader import Leadership
from sev1bot.service.reaction_follower import ReactionFollower
from sev1bot.service.spine import Spine
from sev1bot.service.timers import Timers
from sev1bot.service.welcomes import Welcomes
from sev1bot.store.errors import StoreError
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

OUTBOX_POLL = 0.5  # seconds: how soon the leader delivers what another replica committed
REQUESTS_KEPT = timedelta(days=1)  # a slash-command request is refused as a replay for this long
PRUNE_EVERY = 3600.0  # seconds between two clean-ups of the requests seen
WebSocketFactory = Callable[[OnEvent, OnGap], WebSocketClient]


class LeaderDuties:
    def __init__(
        self,
        *,
        leadership: Leadership,
        store: Store,
        executor: Executor,
        timers: Timers,
        spine: Spine,
        follower: ReactionFollower,
        welcomes: Welcomes,
        websocket: WebSocketFactory,
    ) -> None:
        self.leadership = leadership
        self.store = store
        self.executor = executor
        self.timers = timers
        self.spine = spine
        self.follower = follower
        self.welcomes = welcomes
        self._websocket = websocket
        self.ws: WebSocketClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pruned_at: float | None = None  # time.monotonic() of the last clean-up

    async def elected(self) -> None:
        self.executor.forget()  # another leader may have posted meanwhile
        for incident_id, key, due in await self.store.run(self.store.pending_timers):
            self.timers.schedule(incident_id, key, due)
        self.ws = self._websocket(self._on_event, self._catch_up)
        self._tasks = [
            asyncio.create_task(self.ws.run(), name="websocket"),
            asyncio.create_task(self._outbox_loop(), name="outbox"),
        ]
        await self.ws.connected.wait()
        await self._catch_up()

    async def _on_event(self, raw: RawEvent) -> None:
        await self.follower.on_event(raw)
        await self.welcomes.on_event(raw)

    async def _catch_up(self) -> None:
        """What the websocket may have missed: reactions, then people who joined incident channels."""
        await self.follower.catch_up()
        await self.welcomes.catch_up()

    async def demoted(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.timers.cancel_all()

    async def on_timer(self, incident_id: str, key: str) -> None:
        """Fire a timer, if this replica leads: it asks the database (the fence), as a leader deposed
        without noticing yet would act on a timer the new leader fires too."""
        if self.leadership.is_leader and await self.leadership.still_leader():
            await self.spine.on_timer(incident_id, key)
        else:
            log.info("timer %s of incident %s not fired here: this replica no longer leads", key, incident_id)

    async def _outbox_loop(self) -> None:
        while True:
            for step in (self.executor.drain_all, self._prune_requests):
                try:
                    await step()
                except (MattermostError, StoreError) as exc:
                    log.warning("%s", exc)
            if self.follower.behind:
                await self.follower.catch_up()
            if self.welcomes.behind:
                await self.welcomes.catch_up()
            await asyncio.sleep(OUTBOX_POLL)

    async def _prune_requests(self) -> None:
        """Forget requests seen more than a day ago; at most once an hour, the first time at once."""
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        gone = await self.store.run(self.store.prune_requests, self.store.clock() - REQUESTS_KEPT)
        if gone:
            log.info("forgot %d slash-command requests seen over a day ago", gone)

    def readiness(self) -> dict[str, Any]:
        ws = self.ws.state.value if self.ws else "off"
        role = "leader" if self.leadership.is_leader else "follower"
        caught_up = self.follower.caught_up and self.welcomes.caught_up
        ready = role == "follower" or (ws == ConnectionState.CONNECTED.value and caught_up)
        database = self.store.write_problem  # None, or why it refuses writes ("... is read-only: ...")
        return {
            "ready": ready and database is None,
            "role": role,
            "websocket": ws,
            "caught_up": caught_up,
            "database": database or "ok",
        }
