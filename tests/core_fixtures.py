"""Playbooks built in Python for the core tests, and a small driver that plays events through the core.

The playbook mirrors the seed "Playbook for MME Sev 1 Outages": 8 stages, a CEO role, customer_update items,
escalation after 1h repeating every 1h to the CEO, deadlines of 24h (monitoring) and 1/2/3 business days, and
resolution by command or by item 7.2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sev1bot.core import BusinessCalendar, Decision, decide, start
from sev1bot.core.effects import Cancel, DirectMessage, EditPost, Effect, Post, Schedule
from sev1bot.core.events import Event, Started, TimerDue
from sev1bot.core.state import IncidentState
from sev1bot.playbook.schema import Playbook
from testkit import unavailable

CUSTOMER_REPLY = "Reply to customer with update (CEO if MME Sev 1 > 1 hour)"
CEO_RULE = "MME Sev 1 outage >1 hour requires CEO looped into customer"


def item(
    title: str, description: str | None = None, *, reply: bool = False, slug: str | None = None
) -> dict[str, Any]:
    """One checklist item; no description means the seed's "Includes XXX" (details to be written)."""
    data: dict[str, Any] = {"title": title, "customer_update": reply}
    data |= {"description": description} if description else {"description_pending": True}
    return data | ({"id": slug} if slug else {})


def reply(title: str = CUSTOMER_REPLY) -> dict[str, Any]:
    return item(title, CEO_RULE, reply=True)


STAGES: list[tuple[str, list[dict[str, Any]]]] = [
    ("Escalation", [
        item("Create Incident Channel, run MME Sev1 Playbook", "Once escalated by CSM, TAM or CRE, run it"),
        item("Add CSM, TAM & DE to Incident Channel", "Add the CSM, TAM & DE leaders to the channel"),
        item("Start audio & screen share with customer", "Include a Mattermost engineer & customer DBA"),
        reply("Reply to customer (CEO if MME Sev 1 > 1 hour)"),
    ]),
    ("Data Gathering", [
        item("Share system information", "Includes relevant system configuration settings"),
        item("Share Grafana screenshots", "Include DB calls, API latency, Store latency"),
        item("Share output from support bundle", "Link to relevant docs"),
        item("Share output from slow query logs", "Link to relevant docs"),
        item("Pin data to channel", "Link to relevant docs"),
    ]),
    ("Data Review", [
        item("Review system configuration settings that may impact performance", "Includes typing timeout"),
        item("Review Grafana screenshots to identify potential issues"),
        item("Review support bundle output to identify potential issues"),
        item("Review slow query log output to identify potential issues"),
        item("Summary findings from data review"),
        reply(),
    ]),
    ("Code Investigation", [
        item("Identify areas of codebase with potential root cause"),
        item("Identify potential root cause based on the code"),
        item("Identify solution for root cause"),
        item("Submit PR for solution"),
        item("Deem whether verification of a fix is required for release candidate", "If yes, give QA steps"),
        reply(),
    ]),
    ("Release Preparation", [
        item("Merge PR to master branch"),
        item("Cherry pick PR to dot release branch"),
        item("Cut dot release candidate"),
        item("Verify fix in dot release candidate"),
        item("Cut dot release"),
        reply(),
    ]),
    ("Dot release deployment", [
        item("Send dot release binary to customer"),
        item("Upgrade customer's dev/staging environment with dot release"),
        item("Verify fix in customer's dev/staging environment"),
        item("Upgrade customer's production environment with dot release"),
        item("Verify fix in customer's production environment"),
        reply(),
    ]),
    ("Resolution", [
        item("Monitor fix in customer environment for 24 hours", slug="monitor-fix"),
        item("Receive confirmation from customer about issue resolution", slug="customer-confirmation"),
        reply("Reply to customer with update (CEO if MME Sev 1 > 1 hour)"),
    ]),
    ("Retrospective", [
        item("Complete incident retrospective within 1 business day from resolution", slug="retrospective"),
        item("Draft incident summary analysis within 2 business days from resolution", slug="draft-summary"),
        item("Send completed incident summary analysis with customer within 3 business days",
             slug="send-summary"),
        reply(),
    ]),
]  # fmt: skip


def seed_playbook_text() -> str:
    """The seed playbook from the reference folder beside the checkout (skipped if absent; fails in CI)."""
    path = Path(__file__).parents[1] / "../shared/seed/mme-sev1-playbook.md"
    if not path.is_file():
        reason = f"reference folder not found: {path.resolve()} (the seed playbook lives beside the checkout)"
        unavailable(reason, check="seed playbook checks")
    return path.read_text(encoding="utf-8")


def mme_data(**overrides: Any) -> dict[str, Any]:
    """The playbook as plain data (what the YAML would hold), so tests can vary one field."""
    data: dict[str, Any] = {
        "id": "mme-sev1",
        "title": "MME Sev 1 Outages",
        "roles": {
            "csm_lead": {"title": "CSM lead", "username": "brent"},
            "tam_lead": {"title": "TAM lead", "username": "stu"},
            "de_lead": {"title": "DE lead", "username": "jason"},
            "ceo": {"title": "CEO", "username": "ian"},
        },
        "invite": ["csm_lead", "tam_lead", "de_lead", "ceo"],
        "escalation": {"after": "1h", "repeat_every": "1h", "notify": ["ceo"]},
        "deadlines": [
            {
                "id": "monitor-fix",
                "title": "Monitor the fix for 24 hours",
                "item": "monitor-fix",
                "duration": "24h",
            },
            {"id": "retrospective", "title": "Incident retrospective", "item": "8.1", "business_days": 1},
            {
                "id": "draft-summary",
                "title": "Draft summary analysis",
                "item": "draft-summary",
                "business_days": 2,
            },
            {
                "id": "send-summary",
                "title": "Send summary analysis",
                "item": "send-summary",
                "business_days": 3,
            },
        ],
        "resolution": {"command": True, "items": ["customer-confirmation"]},
        "stages": [{"title": title, "items": items} for title, items in STAGES],
    }
    data.update(overrides)
    return data


def mme_playbook(**overrides: Any) -> Playbook:
    playbook = Playbook.model_validate(mme_data(**overrides))
    assert playbook.reference_problems() == []
    return playbook


PLAYBOOK = mme_playbook()
UTC_CAL = BusinessCalendar()
US_CAL = BusinessCalendar("America/New_York", "US")

# Friday 27 November 2026, the day after US Thanksgiving.
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
STARTED = Started(
    incident_id="inc1", actor="alice", customer="Acme Corp", channel_name="sev1-2026-11-27-acme-corp",
    summary="Login latency above 30s",
)  # fmt: skip


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@dataclass
class Run:
    """Plays events through the core like an adapter would.

    After each step it checks that ``state.timers`` equals the timers an adapter holds when it applies
    Schedule/Cancel and drops the jobs that fired."""

    playbook: Playbook = PLAYBOOK
    calendar: BusinessCalendar = UTC_CAL
    state: IncidentState | None = None
    pending: dict[str, datetime] = field(default_factory=dict)
    last: Decision | None = None

    def start(self, event: Started = STARTED, at: datetime = T0) -> Decision:
        decision = start(event, self.playbook, at, self.calendar)
        return self._took(decision)

    def do(self, event: Event, at: datetime) -> Decision:
        assert self.state is not None, "start the incident first"
        if isinstance(event, TimerDue) and event.key in self.pending and self.pending[event.key] <= at:
            del self.pending[event.key]  # the scheduler dropped the job it just ran
        return self._took(decide(self.state, event, self.playbook, at, self.calendar))

    def fire(self, key: str, at: datetime) -> Decision:
        return self.do(TimerDue(key), at)

    def _took(self, decision: Decision) -> Decision:
        for effect in decision.effects:
            if isinstance(effect, Schedule):
                self.pending[effect.key] = effect.at
            elif isinstance(effect, Cancel):
                self.pending.pop(effect.key, None)
        assert decision.state.timers == self.pending, "state.timers must mirror Schedule/Cancel"
        self.state, self.last = decision.state, decision
        return decision

    @property
    def s(self) -> IncidentState:
        assert self.state is not None
        return self.state


def of_type(effects: tuple[Effect, ...], kind: type[Any]) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]


def posts(effects: tuple[Effect, ...]) -> list[Post]:
    return of_type(effects, Post)


def edits(effects: tuple[Effect, ...]) -> dict[Any, str]:
    return {e.ref: e.message for e in of_type(effects, EditPost)}


def dms(effects: tuple[Effect, ...]) -> list[DirectMessage]:
    return of_type(effects, DirectMessage)


def schedules(effects: tuple[Effect, ...]) -> dict[str, datetime]:
    return {e.key: e.at for e in of_type(effects, Schedule)}


def cancels(effects: tuple[Effect, ...]) -> list[str]:
    return [e.key for e in of_type(effects, Cancel)]
