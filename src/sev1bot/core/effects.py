"""What the core asks the adapters to do. Plain data: the core never performs I/O.

Posts are named by a logical :data:`PostRef`, not a Mattermost id, because the core runs before the posts
exist; the adapter records which post id each ref got and looks it up for later edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StatusBoard:
    """The pinned status board of the incident channel."""


@dataclass(frozen=True)
class StageRoot:
    stage: int  # 1-based


@dataclass(frozen=True)
class ItemPost:
    key: str  # "stage.item"


PostRef = StatusBoard | StageRoot | ItemPost


@dataclass(frozen=True)
class CreateChannel:
    name: str
    display_name: str
    header: str
    purpose: str


@dataclass(frozen=True)
class SetHeader:
    header: str


@dataclass(frozen=True)
class Invite:
    usernames: tuple[str, ...]


@dataclass(frozen=True)
class Post:
    """A post in the incident channel. ``ref`` names it for later edits; ``thread`` makes it a reply."""

    message: str
    ref: PostRef | None = None
    thread: PostRef | None = None
    pin: bool = False
    dedupe_key: str | None = None  # set for posts that must never be sent twice (e.g. "escalation:3")


@dataclass(frozen=True)
class EditPost:
    ref: PostRef
    message: str


@dataclass(frozen=True)
class DirectMessage:
    username: str
    message: str
    dedupe_key: str | None = None


@dataclass(frozen=True)
class Schedule:
    key: str
    at: datetime


@dataclass(frozen=True)
class Cancel:
    key: str


Effect = CreateChannel | SetHeader | Invite | Post | EditPost | DirectMessage | Schedule | Cancel
