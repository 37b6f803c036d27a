"""What can happen to an incident. Adapters turn commands, reactions and timers into these."""

from __future__ import annotations

from dataclasses import dataclass

from sev1bot.core.moments import Moment


@dataclass(frozen=True)
class Started:
    """A responder started an incident; the adapter has already picked its id and unique channel name."""

    incident_id: str
    actor: str
    customer: str
    channel_name: str
    summary: str = ""


@dataclass(frozen=True)
class ItemChecked:
    actor: str
    key: str
    via: str = "command"  # or "reaction": reconciliation only undoes what reactions did


@dataclass(frozen=True)
class ItemUnchecked:
    actor: str
    key: str
    via: str = "command"  # or "reaction": reconciliation only undoes what reactions did


@dataclass(frozen=True)
class ItemSkipped:
    actor: str
    key: str
    via: str = "command"  # or "reaction": reconciliation only undoes what reactions did


@dataclass(frozen=True)
class Assigned:
    actor: str
    key: str
    assignee: str


@dataclass(frozen=True)
class OwnerChanged:
    actor: str
    owner: str


@dataclass(frozen=True)
class FollowChanged:
    """``/sev1 follow`` or ``unfollow``: ``username`` starts or stops getting each update by DM."""

    actor: str
    username: str
    following: bool


@dataclass(frozen=True)
class StatusUpdate:
    actor: str
    text: str


@dataclass(frozen=True)
class Resolved:
    actor: str
    note: str = ""


@dataclass(frozen=True)
class Reopened:
    actor: str


@dataclass(frozen=True)
class EtaSet:
    """``/sev1 eta 17:30``: the anticipated resolution, as typed (the core reads it at its own now)."""

    actor: str
    when: Moment


@dataclass(frozen=True)
class OutageSince:
    """``/sev1 since 13:40``: when the outage really began, as typed."""

    actor: str
    when: Moment


@dataclass(frozen=True)
class TimerDue:
    key: str


@dataclass(frozen=True)
class ChannelNamed:
    """The incident's channel was created under ``name``, not the name announced at the start: a channel the
    bot did not create holds that one. ``link`` is the channel's address, for the reporter's message."""

    name: str
    link: str


@dataclass(frozen=True)
class TaskDone:
    """Delivery carried out something the bot does by itself (a playbook ``BotTask``, e.g. the channel
    exists); ``left_out`` names who could not be invited, for ``leads_invited``."""

    task: str
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberJoined:
    """Someone (a person, not a bot) is a member of the incident channel the bot has not welcomed yet."""

    username: str


ItemEvent = ItemChecked | ItemUnchecked | ItemSkipped  # one checklist item changes status

Event = (
    Started
    | ItemChecked
    | ItemUnchecked
    | ItemSkipped
    | Assigned
    | OwnerChanged
    | StatusUpdate
    | FollowChanged
    | Resolved
    | Reopened
    | EtaSet
    | OutageSince
    | TimerDue
    | ChannelNamed
    | TaskDone
    | MemberJoined
)
