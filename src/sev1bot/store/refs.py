"""Post refs as text for the ``posts`` table: ``board``, ``stage:2``, ``item:2.3``, ``broadcast:<name>``."""

from __future__ import annotations

import re

from sev1bot.core.effects import BroadcastStart, ItemPost, PostRef, StageRoot, StatusBoard

_STAGE = re.compile(r"^stage:([1-9][0-9]*)$")
_ITEM = re.compile(r"^item:([1-9][0-9]*\.[1-9][0-9]*)$")
_BROADCAST = re.compile(r"^broadcast:([a-z0-9][a-z0-9_-]{0,63})$")


def ref_to_str(ref: PostRef) -> str:
    match ref:
        case StatusBoard():
            return "board"
        case StageRoot(stage=stage) if type(stage) is int and stage >= 1:
            return f"stage:{stage}"
        case ItemPost(key=key) if _ITEM.match(f"item:{key}"):
            return f"item:{key}"
        case BroadcastStart(channel=channel) if _BROADCAST.match(f"broadcast:{channel}"):
            return f"broadcast:{channel}"
    raise ValueError(f"not a storable post ref: {ref!r} (stages count from 1, item keys look like '2.3')")


def ref_from_str(text: str) -> PostRef:
    if text == "board":
        return StatusBoard()
    if stage := _STAGE.match(text):
        return StageRoot(int(stage.group(1)))
    if item := _ITEM.match(text):
        return ItemPost(item.group(1))
    if broadcast := _BROADCAST.match(text):
        return BroadcastStart(broadcast.group(1))
    raise ValueError(f"not a post ref: {text!r}; expected 'board', 'stage:<n>' or 'item:<stage>.<item>'")
