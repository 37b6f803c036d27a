"""What every inbound path calls: start an incident, apply an event, fire a timer, deliver the effects.

Every change goes the same way: load the incident with a lock, decide (the core), commit the new state with
its effects (the outbox) in one transaction, answer, then deliver the effects in the background
(``executor``). Only the leader delivers; on a follower the effects wait in the outbox for the leader.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from sev1bot.background import Background
from sev1bot.core.business_days import BusinessCalendar
from sev1bot.core.decide import Decision, decide, start
from sev1bot.core.events import Event, Started, TimerDue
from sev1bot.core.naming import NAME_TRIES, channel_name, with_suffix
from sev1bot.core.state import IncidentState
from sev1bot.core.times import Clock
from sev1bot.mattermost.directory import Team
from sev1bot.mattermost.errors import MattermostError
from sev1bot.playbook.schema import Playbook
from sev1bot.service.executor import Executor
from sev1bot.service.timers import Timers
from sev1bot.store.errors import ChannelNameTaken, IncidentNotFound, IncidentUnreadable, StoreUnavailable
from sev1bot.store.store import Store

log = logging.getLogger(__name__)

Step = Callable[[IncidentState, Playbook], Decision]
TIMER_RETRY = timedelta(seconds=5)


class Spine:
    def __init__(
        self,
        *,
        store: Store,
        executor: Executor,
        timers: Timers,
        team: Team,
        calendar: BusinessCalendar,
        clock: Clock,
        can_deliver: Callable[[], bool],
    ) -> None:
        self.store = store
        self.executor = executor
        self.timers = timers
        self.team = team
        self.calendar = calendar
        self.clock = clock
        self.can_deliver = can_deliver  # only the leader delivers; others leave the outbox to it
        self.deliveries = Background("background delivery")

    async def start(
        self, actor: str, customer: str, summary: str, playbook: Playbook
    ) -> IncidentState | None:
        """Open an incident under the first channel name nobody uses; None if every name is taken."""
        now = self.clock()
        base = channel_name(now, customer, self.calendar.timezone)
        for n in range(1, NAME_TRIES + 1):
            name = base if n == 1 else with_suffix(base, n)
            if await self.store.run(self.store.channel_name_taken, name):
                continue
            if await self.team.channel_exists(name):
                continue
            incident_id = secrets.token_hex(6)
            decision = start(
                Started(incident_id, actor, customer, name, summary), playbook, now, self.calendar
            )
            try:
                await self.store.run(self.store.create_incident, decision.state, playbook, decision.effects)
            except ChannelNameTaken:
                continue
            self.deliver(incident_id)
            return decision.state
        return None

    async def apply(self, incident_id: str, event: Event) -> Decision | None:
        """Decide and commit one event with its effects, then deliver them. CoreError reaches the caller."""
        now = self.clock()

        def step(state: IncidentState, playbook: Playbook) -> Decision:
            return decide(state, event, playbook, now, self.calendar)

        return await self.apply_step(incident_id, step, what=type(event).__name__)

    async def apply_step(self, incident_id: str, step: Step, *, what: str) -> Decision | None:
        """Commit what ``step`` decides for the locked incident, then deliver; None if there is no such
        incident (``what`` names the dropped change in the log)."""
        try:
            decision = await self.store.run(self.store.apply, incident_id, step)
        except IncidentNotFound:
            log.warning("%s for unknown incident %s dropped", what, incident_id)
            return None
        if decision.effects:
            self.deliver(incident_id)
        return decision

    async def on_timer(self, incident_id: str, key: str) -> None:
        try:
            await self.apply(incident_id, TimerDue(key))
        except (StoreUnavailable, MattermostError) as exc:
            # The timer stays in the state; the next start-up or retry sweep fires it again (the core
            # dedupes), so an outage delays a ping but never loses it.
            log.warning("timer %s of incident %s failed: %s; retrying in 5 s", key, incident_id, exc)
            self.timers.schedule(incident_id, key, self.clock() + TIMER_RETRY)
        except IncidentUnreadable as exc:  # retrying cannot help; the timer stays in the stored state
            log.error("timer %s not fired: %s", key, exc)

    def deliver(self, incident_id: str) -> None:
        if self.can_deliver():
            self.deliveries.spawn(self.executor.drain(incident_id))
