"""Effects to and from JSON, so the outbox can keep them in the database between decision and delivery."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any, cast

from sev1bot.core import effects as fx

_EFFECTS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        fx.CreateChannel,
        fx.SetHeader,
        fx.Invite,
        fx.Post,
        fx.EditPost,
        fx.DirectMessage,
        fx.Schedule,
        fx.Cancel,
    )
}
_REFS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (fx.StatusBoard, fx.StageRoot, fx.ItemPost, fx.BroadcastStart)
}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        body = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, **body}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    name = value["$type"]
    cls = _EFFECTS.get(name) or _REFS.get(name)
    if cls is None:
        raise ValueError(f"unknown effect type {name!r} in the outbox")
    return cls(**{k: _decode(v) for k, v in value.items() if k != "$type"})


def dump_effect(effect: fx.Effect) -> str:
    return json.dumps(_encode(effect), separators=(",", ":"), sort_keys=True)


def load_effect(text: str) -> fx.Effect:
    effect: Any = _decode(json.loads(text))
    if type(effect) not in _EFFECTS.values():
        raise ValueError("the outbox entry is not an effect")
    return cast(fx.Effect, effect)
