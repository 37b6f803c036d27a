"""Sample data for the store tests: a small playbook and an incident that uses every field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sev1bot.core.state import (
    CustomerReply,
    Eta,
    IncidentState,
    IncidentStatus,
    ItemState,
    ItemStatus,
    TimelineEntry,
)
from sev1bot.playbook.schema import Playbook

T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def playbook(title: str = "Sev 1") -> Playbook:
    return Playbook.model_validate(
        {
            "id": "sev1",
            "title": title,
            "roles": {"ceo": {"title": "CEO", "username": "ceo"}},
            "invite": ["ceo"],
            "escalation": {"after": "90m", "repeat_every": "1h", "notify": ["ceo"]},
            "deadlines": [{"id": "rca", "title": "RCA", "item": "2.1", "business_days": 3}],
            "resolution": {"items": ["1.2"]},
            "stages": [
                {
                    "title": "Respond",
                    "items": [{"title": "Open channel"}, {"title": "Mitigate", "id": "mitigate"}],
                },
                {"title": "Follow up", "items": [{"title": "Write RCA", "customer_update": True}]},
            ],
        }
    )


def incident(n: int = 1, **changes: object) -> IncidentState:
    """An incident using every field, with times given in a non-UTC zone (the store must normalise them)."""
    base = IncidentState(
        id=f"inc-{n}",
        playbook_id="sev1",
        channel_name=f"sev1-acme-{n}",
        customer="Acme",
        summary="Checkout is down",
        owner="alice",
        reporter="bob",
        status=IncidentStatus.ACTIVE,
        started_at=T0.astimezone(CET),
        resolved_at=None,
        items={
            "1.1": ItemState(key="1.1", status=ItemStatus.DONE, by="alice", at=T0 + timedelta(minutes=1)),
            "1.2": ItemState(key="1.2", assignee="carol"),
            "1.3": ItemState(key="1.3", status=ItemStatus.DONE, by="bob", at=T0, via="reaction"),
            "2.1": ItemState(key="2.1", status=ItemStatus.SKIPPED, by="bob", at=T0 + timedelta(minutes=2)),
        },
        timeline=(
            TimelineEntry(at=T0, actor="bob", kind="started", text="Sev 1 for Acme: Checkout is down"),
            TimelineEntry(
                at=T0 + timedelta(minutes=1), actor="alice", kind="checked", text="1.1 Open channel"
            ),
        ),
        escalations_sent=0,
        timers={"escalation": T0 + timedelta(minutes=90), "reminder:2.1": T0 + timedelta(days=1)},
        outage_started_at=(T0 - timedelta(minutes=40)).astimezone(CET),
        customer_replies=(
            CustomerReply(at=(T0 + timedelta(minutes=3)).astimezone(CET), by="bob", item="2.1"),
        ),
        etas=(
            Eta(given_at=T0.astimezone(CET), by="alice", eta=(T0 + timedelta(hours=3)).astimezone(CET)),
            Eta(given_at=T0 + timedelta(minutes=4), by="bob", eta=T0 + timedelta(hours=4)),
        ),
    )
    return base.model_copy(update=changes)


def entry(text: str, minutes: int = 5, kind: str = "update") -> TimelineEntry:
    return TimelineEntry(at=T0 + timedelta(minutes=minutes), actor="alice", kind=kind, text=text)
