"""Which event the reactions on an item post call for: the rule behind checking items by emoji.

Pure. The adapter tracks the reactions on each item post and passes what the post carries right after a
reaction arrived (``trigger``), or during reconciliation what it carries now (no trigger). Deciding from
the whole post rather than from the event alone makes duplicate and out-of-order events converge on the
state that clean delivery gives.

- A check mark beats a skip mark; the item is checked by whoever's reaction arrived, else by whoever
  reacted first.
- Live, removing the last mark reopens the item however it was checked (or skips it if a skip mark is
  left). In reconciliation only what a reaction did is undone: an item checked by command stays checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sev1bot.core.events import Event, ItemChecked, ItemSkipped, ItemUnchecked
from sev1bot.core.state import BOT_ACTOR, ItemState, ItemStatus
from sev1bot.playbook.schema import Playbook


@dataclass(frozen=True)
class Mark:
    """A person's reaction on an item post: who, which emoji, when (milliseconds)."""

    username: str
    emoji: str
    at: int = 0


@dataclass(frozen=True)
class Trigger:
    """The reaction that arrived, and whether it was added or removed."""

    mark: Mark
    added: bool


def reaction_event(
    item: ItemState, playbook: Playbook, marks: Sequence[Mark], trigger: Trigger | None
) -> Event | None:
    """The event that brings ``item`` in line with ``marks`` (people's reactions only), or None."""
    checks = [m for m in marks if m.emoji in playbook.reactions.check]
    skips = [m for m in marks if m.emoji in playbook.reactions.skip]
    # Undo only what reactions did, unless a person just took a mark away.
    undo = item.via == "reaction" or (trigger is not None and not trigger.added)
    if checks and item.status is not ItemStatus.DONE:
        return ItemChecked(_actor(checks, trigger), item.key, via="reaction")
    if checks:
        return None
    if skips and (item.status is ItemStatus.OPEN or (item.status is ItemStatus.DONE and undo)):
        return ItemSkipped(_actor(skips, trigger), item.key, via="reaction")
    if not skips and item.status is not ItemStatus.OPEN and undo:
        who = trigger.mark.username if trigger is not None else BOT_ACTOR
        return ItemUnchecked(who, item.key, via="reaction")
    return None


def _actor(marks: list[Mark], trigger: Trigger | None) -> str:
    """Who did it: the person whose reaction arrived, else whoever reacted first."""
    if trigger is not None and trigger.added and any(m.username == trigger.mark.username for m in marks):
        return trigger.mark.username
    return min(marks, key=lambda m: m.at).username
