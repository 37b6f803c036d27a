"""Typed Mattermost websocket events, parsed from the raw envelopes that :mod:`.ws` delivers.

Pure: no I/O. Mattermost nests some payloads as JSON *strings* inside the JSON envelope (``posted``'s
``data.post`` and ``data.mentions``, ``reaction_added``'s ``data.reaction``); they are decoded here so
the rest of the bot only sees models. Shapes follow ``shared/mattermost/PROTOCOL.md``.

:func:`parse_event` returns ``None`` for events the bot does not use and raises :class:`EventParseError`
(never anything else) for a known event whose payload is malformed, naming the event and the field;
:func:`parse_or_skip` logs that in one line and returns ``None``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

log = logging.getLogger(__name__)

_MAX_MESSAGE = 300


class EventParseError(ValueError):
    """A known websocket event whose payload does not have the shape Mattermost sends."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Broadcast(_Model):
    """Who the server sent the event to; ``channel_id`` is how channel-scoped events name their channel."""

    omit_users: dict[str, bool] | None = None
    user_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    connection_id: str = ""
    omit_connection_id: str = ""


class Post(_Model):
    id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    root_id: str = ""
    message: str = ""
    type: str = ""
    props: dict[str, Any] = Field(default_factory=dict)
    file_ids: list[str] = Field(default_factory=list)
    is_pinned: bool = False
    create_at: int = 0
    update_at: int = 0
    edit_at: int = 0
    delete_at: int = 0
    # REST answers (post lists, a post) carry the post's reactions here; websocket events usually do not.
    metadata: PostMetadata = Field(default_factory=lambda: PostMetadata())

    @property
    def reactions(self) -> tuple[Reaction, ...]:
        return self.metadata.reactions

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("props", "file_ids", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        # The server omits empty props/file_ids; other producers send null for them.
        if value is None:
            return {} if info.field_name == "props" else []
        return value


class Reaction(_Model):
    user_id: str = Field(min_length=1)
    post_id: str = Field(min_length=1)
    emoji_name: str = Field(min_length=1)
    channel_id: str = ""  # older servers leave it out; then it is taken from the broadcast
    create_at: int = 0
    update_at: int = 0
    delete_at: int = 0
    remote_id: str = ""


class PostMetadata(_Model):
    reactions: tuple[Reaction, ...] = ()

    @field_validator("reactions", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return () if value is None else value


Post.model_rebuild()


class _Event(_Model):
    name: ClassVar[str]
    seq: int | None = Field(default=None, strict=True)
    broadcast: Broadcast = Field(default_factory=Broadcast)


class Hello(_Event):
    name: ClassVar[str] = "hello"
    connection_id: str = Field(min_length=1)
    server_version: str = ""


class Posted(_Event):
    name: ClassVar[str] = "posted"
    post: Post
    channel_type: str = ""
    channel_name: str = ""
    channel_display_name: str = ""
    sender_name: str = ""
    team_id: str = ""
    set_online: bool = False
    mentions: tuple[str, ...] = ()  # user ids; only present when the receiver is mentioned


class PostEdited(_Event):
    name: ClassVar[str] = "post_edited"
    post: Post


class PostDeleted(_Event):
    name: ClassVar[str] = "post_deleted"
    post: Post


class ReactionAdded(_Event):
    name: ClassVar[str] = "reaction_added"
    reaction: Reaction


class ReactionRemoved(_Event):
    name: ClassVar[str] = "reaction_removed"
    reaction: Reaction


class UserAdded(_Event):
    name: ClassVar[str] = "user_added"
    user_id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    team_id: str = ""


class ChannelCreated(_Event):
    name: ClassVar[str] = "channel_created"
    channel_id: str = Field(min_length=1)
    team_id: str = ""


Event = (
    Hello | Posted | PostEdited | PostDeleted | ReactionAdded | ReactionRemoved | UserAdded | ChannelCreated
)


def _present(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The keys that are there, so that a missing one is reported as missing rather than as null."""
    return {key: data[key] for key in keys if key in data}


def _decode_json_string(event: str, field: str, value: Any) -> Any:
    """Decode a payload that Mattermost sends as a JSON string inside the envelope."""
    if value is None:
        raise EventParseError(f"{event}: data.{field} is missing (Mattermost sends it as a JSON string)")
    if not isinstance(value, str):
        raise EventParseError(f"{event}: data.{field} must be a JSON string, got a {type(value).__name__}")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise EventParseError(f"{event}: data.{field} is not valid JSON ({reason})") from None


def _decode_object(event: str, field: str, value: Any) -> dict[str, Any]:
    decoded = _decode_json_string(event, field, value)
    if not isinstance(decoded, dict):
        got = type(decoded).__name__
        raise EventParseError(f"{event}: data.{field} must encode a JSON object, got {got}")
    return decoded


def _post_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"post": _decode_object(event, "post", data.get("post"))}


_POSTED_PLAIN = (
    "channel_type",
    "channel_name",
    "channel_display_name",
    "sender_name",
    "team_id",
    "set_online",
)


def _posted_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    fields = _present(data, *_POSTED_PLAIN)
    fields.update(_post_fields(event, data))
    if "mentions" in data:
        mentions = _decode_json_string(event, "mentions", data["mentions"])
        if not isinstance(mentions, list):
            raise EventParseError(f"{event}: data.mentions must encode a JSON array of user ids")
        fields["mentions"] = mentions
    return fields


def _reaction_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"reaction": _decode_object(event, "reaction", data.get("reaction"))}


def _user_added_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    fields = _present(data, "user_id", "team_id")
    if "user_id" not in data and "user" in data:  # some servers send the user (or its id) instead
        user = data["user"]
        fields["user_id"] = user.get("id") if isinstance(user, Mapping) else user
    return fields


def _channel_created_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return _present(data, "channel_id", "team_id")


def _hello_fields(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return _present(data, "connection_id", "server_version")


_Fields = Callable[[str, Mapping[str, Any]], dict[str, Any]]
_PARSERS: dict[str, tuple[type[_Event], _Fields]] = {
    "hello": (Hello, _hello_fields),
    "posted": (Posted, _posted_fields),
    "post_edited": (PostEdited, _post_fields),
    "post_deleted": (PostDeleted, _post_fields),
    "reaction_added": (ReactionAdded, _reaction_fields),
    "reaction_removed": (ReactionRemoved, _reaction_fields),
    "user_added": (UserAdded, _user_added_fields),
    "channel_created": (ChannelCreated, _channel_created_fields),
}
EVENT_NAMES = frozenset(_PARSERS)


def _describe(error: ValidationError) -> str:
    """The first problem as 'field.path: message', without echoing the offending value."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = error.error_count() - 1
    return f"{where}: {first['msg']}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _located(name: str, cls: type[_Event], problem: str) -> str:
    """Say where the field lives on the wire: in the envelope, or (mostly) under ``data``."""
    field = problem.split(":", 1)[0].split(".", 1)[0]
    if field in {"seq", "broadcast"}:
        prefix = ""
    elif cls is UserAdded and field == "channel_id":
        prefix = "broadcast."  # user_added names its channel only in the broadcast
    else:
        prefix = "data."
    return f"{name}: {prefix}{problem}"[:_MAX_MESSAGE]


def parse_event(raw: Mapping[str, Any]) -> Event | None:
    """Turn one websocket envelope into a typed event; None for events the bot ignores."""
    if not isinstance(raw, Mapping):
        raise EventParseError(f"a websocket event must be a JSON object, got {type(raw).__name__}")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise EventParseError("websocket envelope has no 'event' name (a reply? those carry seq_reply)")
    entry = _PARSERS.get(name)
    if entry is None:
        log.debug("ignoring websocket event %r", name[:64])
        return None
    cls, fields_of = entry
    data = raw.get("data")
    if not isinstance(data, Mapping):
        got = "missing" if data is None else f"a {type(data).__name__}"
        raise EventParseError(f"{name}: 'data' must be a JSON object, got {got}")
    fields = fields_of(name, data)
    if "seq" in raw:
        fields["seq"] = raw["seq"]
    broadcast = raw.get("broadcast")
    if broadcast is not None:
        fields["broadcast"] = broadcast
    if cls is UserAdded and isinstance(broadcast, Mapping) and "channel_id" in broadcast:
        fields["channel_id"] = broadcast["channel_id"]
    try:
        event = cls.model_validate(fields)
    except ValidationError as exc:
        raise EventParseError(_located(name, cls, _describe(exc))) from None
    if isinstance(event, ReactionAdded | ReactionRemoved) and not event.reaction.channel_id:
        reaction = event.reaction.model_copy(update={"channel_id": event.broadcast.channel_id})
        event = event.model_copy(update={"reaction": reaction})
    return cast("Event", event)  # cls is always one of the Event members


def parse_or_skip(raw: Mapping[str, Any]) -> Event | None:
    """:func:`parse_event` for a caller that must read on: a malformed event is logged in one line (which
    event, which field) and skipped, as None. One bad frame must not cost the events after it."""
    try:
        return parse_event(raw)
    except EventParseError as exc:
        log.warning("skipping a malformed websocket event (seq %.20r): %s", raw.get("seq"), exc)
        return None
