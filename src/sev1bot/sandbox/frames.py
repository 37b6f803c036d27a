"""What every websocket frame the sandbox sends must look like: the envelope, and each event's data.

From ../shared/mattermost/PROTOCOL.md and the server (public/model/websocket_message.go for the envelope and
the replies; the ``Publish`` call of each event under channels/app for its data). Posts, reactions and
channels travel as JSON *strings* inside ``data``; those are decoded and checked against the same schemas
(with the ``required`` overlay) as the REST responses. An event with no entry here is itself a violation:
to send a new event, describe it in ``EVENTS`` first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from openapi_schema_validator import OAS30Validator

from sev1bot.sandbox.error_ids import ERROR_IDS


def _strings(*names: str) -> dict[str, Any]:
    return {name: {"type": "string"} for name in names}


def _data(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


@dataclass(frozen=True)
class EventShape:
    data: dict[str, Any]
    embedded: dict[str, str] = field(default_factory=dict)  # data field -> spec schema of its JSON string
    objects: dict[str, str] = field(default_factory=dict)  # data field -> spec schema of the object itself


_JSON = {"type": "string"}  # a JSON document in a string, checked through ``embedded``

EVENTS: dict[str, EventShape] = {
    "hello": EventShape(_data(_strings("server_version", "connection_id"), _strings("server_hostname"))),
    "posted": EventShape(
        _data(
            {
                **_strings("channel_display_name", "channel_name", "channel_type", "sender_name", "team_id"),
                "post": _JSON,
                "set_online": {"type": "boolean"},
            },
            {"mentions": _JSON},
        ),
        {"post": "Post"},
    ),
    "post_edited": EventShape(_data({"post": _JSON}), {"post": "Post"}),
    "post_deleted": EventShape(_data({"post": _JSON}, _strings("delete_by")), {"post": "Post"}),
    "ephemeral_message": EventShape(_data({"post": _JSON}), {"post": "Post"}),
    "reaction_added": EventShape(_data({"reaction": _JSON}), {"reaction": "Reaction"}),
    "reaction_removed": EventShape(_data({"reaction": _JSON}), {"reaction": "Reaction"}),
    "user_added": EventShape(_data(_strings("user_id", "team_id"))),
    "user_updated": EventShape(_data({"user": {"type": "object"}}), objects={"user": "User"}),
    "channel_created": EventShape(_data(_strings("channel_id", "team_id"))),
    "channel_updated": EventShape(_data({"channel": _JSON}), {"channel": "Channel"}),
    "direct_added": EventShape(_data(_strings("creator_id", "teammate_id"))),
    "typing": EventShape(_data(_strings("parent_id", "user_id"))),
}

_BROADCAST = {
    "type": "object",
    "required": ["omit_users", "user_id", "channel_id", "team_id", "connection_id", "omit_connection_id"],
    "properties": {
        "omit_users": {"type": "object", "nullable": True},
        **_strings("user_id", "channel_id", "team_id", "connection_id", "omit_connection_id"),
    },
}
ENVELOPE = {
    "type": "object",
    "required": ["event", "data", "broadcast", "seq"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "object"},
        "broadcast": _BROADCAST,
        "seq": {"type": "integer", "minimum": 0},
    },
}
REPLY = {
    "type": "object",
    "required": ["status", "seq_reply"],
    "properties": {
        "status": {"enum": ["OK", "FAIL"]},
        "seq_reply": {"type": "integer"},
        "data": {"type": "object"},
        "error": {
            "type": "object",
            "required": ["id", "message", "detailed_error", "status_code"],
            "properties": {**_strings("id", "message", "detailed_error"), "status_code": {"type": "integer"}},
        },
    },
}


class FrameChecker:
    """Checks frames against ``ENVELOPE``/``REPLY``, ``EVENTS`` and the spec's (overlaid) schemas."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._components = spec["components"]
        self._validators: dict[str, OAS30Validator] = {}

    def _schema(self, name: str) -> OAS30Validator:
        if name not in self._validators:
            root = {"$ref": f"#/components/schemas/{name}", "components": self._components}
            self._validators[name] = OAS30Validator(root)
        return self._validators[name]

    def problems(self, text: str) -> Iterator[str]:
        try:
            frame = json.loads(text)
        except json.JSONDecodeError as exc:
            yield f"not JSON ({exc}): {text[:200]!r}"
            return
        if isinstance(frame, dict) and "seq_reply" in frame:
            yield from _reply_problems(frame)
            return
        problems = list(_errors("envelope", OAS30Validator(ENVELOPE), frame))
        if problems:
            yield from problems
            return
        name, data = frame["event"], frame["data"]
        shape = EVENTS.get(name)
        if shape is None:
            yield f"event {name!r} has no shape in frames.EVENTS"
            return
        yield from _errors(name, OAS30Validator(shape.data), data)
        for key, schema in shape.embedded.items():
            if isinstance(data.get(key), str):
                try:
                    inner = json.loads(data[key])
                except json.JSONDecodeError as exc:
                    yield f"{name}: data.{key} is not a JSON string ({exc})"
                    continue
                yield from _errors(f"{name}: data.{key} ({schema})", self._schema(schema), inner)
        for key, schema in shape.objects.items():
            if key in data:
                yield from _errors(f"{name}: data.{key} ({schema})", self._schema(schema), data[key])


def _errors(where: str, validator: OAS30Validator, value: Any) -> Iterator[str]:
    for error in validator.iter_errors(value):
        path = "".join(f"[{p!r}]" for p in error.absolute_path)
        yield f"{where}{path}: {error.message}"


def _reply_problems(frame: dict[str, Any]) -> Iterator[str]:
    yield from _errors("reply", OAS30Validator(REPLY), frame)
    error = frame.get("error")
    if isinstance(error, dict) and error.get("id") not in ERROR_IDS:
        yield f"reply error id {error.get('id')!r} is not in error_ids.ERROR_IDS"
