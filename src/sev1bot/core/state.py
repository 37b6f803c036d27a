"""The state of one incident, as the pure core sees it and the store keeps it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

BOT_ACTOR = "sev1bot"  # the actor of what the bot does by itself (pings, reminders, reopening)


class ItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"


class ItemState(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    status: ItemStatus = ItemStatus.OPEN
    by: str | None = None  # username of whoever last checked or skipped it
    at: datetime | None = None
    assignee: str | None = None
    via: str | None = None  # how it was closed: "command" or "reaction"


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str  # username, or BOT_ACTOR for the bot's own acts
    # started, checked, unchecked, skipped, assigned, owner, update, resolved, reopened, escalated, reminder,
    # reply (to the customer), eta, since
    kind: str
    text: str


class CustomerReply(BaseModel):
    """A reply to the customer, recorded when an item marked ``customer_update`` is checked."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    by: str  # who checked the item
    item: str  # its key, "stage.item"


class Eta(BaseModel):
    """An anticipated resolution time, as given with ``/sev1 eta``."""

    model_config = ConfigDict(frozen=True)

    given_at: datetime
    by: str
    eta: datetime


class IncidentState(BaseModel):
    """Everything the core needs to decide. Times are timezone-aware UTC."""

    model_config = ConfigDict(frozen=True)

    id: str
    playbook_id: str
    channel_name: str  # chosen by the adapter (unique on the team) and carried in Started
    customer: str
    summary: str = ""
    owner: str
    reporter: str
    status: IncidentStatus = IncidentStatus.ACTIVE
    started_at: datetime
    resolved_at: datetime | None = None
    items: dict[str, ItemState] = Field(default_factory=dict)
    timeline: tuple[TimelineEntry, ...] = ()
    escalations_sent: int = 0
    timers: dict[str, datetime] = Field(default_factory=dict, description="Pending timers: key -> due time.")
    # The customer clock: when the outage really began if someone said (/sev1 since), the replies to the
    # customer and every ETA given, the current one last. The two lists only grow.
    outage_started_at: datetime | None = None
    customer_replies: tuple[CustomerReply, ...] = ()
    etas: tuple[Eta, ...] = ()

    @property
    def followers(self) -> tuple[str, ...]:
        """Who follows the incident (``/sev1 follow``), in the order they started: read from the timeline's
        ``follow`` and ``unfollow`` entries, whose text starts with the follower's username."""
        found: dict[str, None] = {}
        for entry in self.timeline:
            if entry.kind == "follow":
                found[entry.text.split(" ", 1)[0]] = None
            elif entry.kind == "unfollow":
                found.pop(entry.text.split(" ", 1)[0], None)
        return tuple(found)

    @property
    def outage_start(self) -> datetime:
        """When the outage began: as said with ``/sev1 since``, else when the incident was started."""
        return self.outage_started_at or self.started_at
