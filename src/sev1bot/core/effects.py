"""What the core asks the adapters to do. Plain data: the core never performs I/O.

Posts are named by a logical :data:`PostRef`, not a Mattermost id, because the core runs before the posts
exist; the adapter records which post id each ref got and looks it up for later edits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast


@dataclass(frozen=True)
class StatusBoard:
    """The pinned status board of the incident channel."""


@dataclass(frozen=True)
class StageRoot:
    stage: int  # 1-based


@dataclass(frozen=True)
class ItemPost:
    key: str  # "stage.item"


@dataclass(frozen=True)
class BroadcastStart:
    """The start's post in a broadcast channel (named as in the playbook), edited as the incident moves."""

    channel: str


PostRef = StatusBoard | StageRoot | ItemPost | BroadcastStart
T = TypeVar("T")


@dataclass(frozen=True)
class CreateChannel:
    name: str
    display_name: str
    header: str
    purpose: str
    task: str | None = None  # a playbook BotTask: once the channel exists, report TaskDone(task)


@dataclass(frozen=True)
class SetHeader:
    header: str


@dataclass(frozen=True)
class Invite:
    usernames: tuple[str, ...]
    task: str | None = None  # a playbook BotTask: once done, report TaskDone(task, who was not invited)


@dataclass(frozen=True)
class Post:
    """A post in the incident channel, or with ``channel`` in that broadcast channel of the team (by name,
    resolved at delivery). ``ref`` names it for later edits; ``thread`` makes it a reply."""

    message: str
    ref: PostRef | None = None
    thread: PostRef | None = None
    pin: bool = False
    dedupe_key: str | None = None  # set for posts that must never be sent twice (e.g. "escalation:3")
    channel: str | None = None  # a broadcast channel's name; None for the incident channel


@dataclass(frozen=True)
class EditPost:
    ref: PostRef
    message: str


@dataclass(frozen=True)
class DirectMessage:
    """A direct message from the bot. ``message`` may link to the incident's posts with :func:`post_link`:
    the core does not know their ids, so delivery fills in the link to each of ``links``."""

    username: str
    message: str
    dedupe_key: str | None = None
    links: tuple[PostRef, ...] = ()


# A link the core cannot complete: ``[label](sev1bot-post:N)`` stands for a link to ``links[N]``. User text
# never holds one: every "](" in it is broken by text.neutralize.
_LINK_TARGET = "sev1bot-post:"
_PENDING_LINK = re.compile(r"\]\(" + _LINK_TARGET + r"(\d+)\)")
_BRACKETS = str.maketrans({"[": "\\[", "]": "\\]"})


def post_link(label: str, n: int = 0) -> str:
    """Markdown for a link labelled ``label`` to the post ``DirectMessage.links[n]``."""
    return f"[{label.translate(_BRACKETS)}]({_LINK_TARGET}{n})"


def fill_links(message: str, links: Sequence[PostRef], url_of: Callable[[PostRef], str]) -> str:
    """``message`` with each :func:`post_link` pointing at ``url_of`` its post (delivery knows the ids)."""

    def target(found: re.Match[str]) -> str:
        n = int(found.group(1))
        return f"]({url_of(links[n])})" if n < len(links) else found.group(0)

    return _PENDING_LINK.sub(target, message)


@dataclass(frozen=True)
class Schedule:
    key: str
    at: datetime


@dataclass(frozen=True)
class Cancel:
    key: str


Effect = CreateChannel | SetHeader | Invite | Post | EditPost | DirectMessage | Schedule | Cancel


def overwrites(effect: Effect) -> object | None:
    """What an effect replaces whole (a post's text, the channel header), so that a later effect with the
    same target makes it pointless; None for effects that add or schedule something."""
    if isinstance(effect, EditPost):
        return effect.ref
    if isinstance(effect, SetHeader):
        return SetHeader
    return None


def without_superseded(effects: Sequence[T], effect_of: Callable[[T], Effect] | None = None) -> list[T]:
    """``effects`` less those a later effect overwrites: the reactions of a batch edit the status board
    once, not once each. Everything else keeps its order. ``effect_of`` gets the effect out of something
    that carries one (an outbox entry)."""
    later: set[object] = set()
    kept: list[T] = []
    for item in reversed(effects):
        target = overwrites(effect_of(item) if effect_of is not None else cast(Effect, item))
        if target is not None:
            if target in later:
                continue
            later.add(target)
        kept.append(item)
    return kept[::-1]
