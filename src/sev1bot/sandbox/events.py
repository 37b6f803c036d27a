"""Websocket events as the server builds them: event name, data and the ``broadcast`` scope.

Posts, reactions and channels travel as JSON *strings* inside ``data``, exactly like the server sends them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sev1bot.sandbox.config import VERSION_ID
from sev1bot.sandbox.models import Channel, Post, Reaction, User
from sev1bot.sandbox.state import State


def compact(value: Any) -> str:
    """JSON the way Go's encoder writes it: no spaces."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Broadcast:
    user_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    connection_id: str = ""
    omit_connection_id: str = ""
    omit_users: dict[str, bool] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "omit_users": self.omit_users,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "team_id": self.team_id,
            "connection_id": self.connection_id,
            "omit_connection_id": self.omit_connection_id,
        }


@dataclass
class Event:
    event: str
    data: dict[str, Any]
    broadcast: Broadcast
    mentions: list[str] = field(
        default_factory=list
    )  # receivers who get ``data.mentions`` (the add_mentions hook)

    def data_for(self, user_id: str) -> dict[str, Any]:
        if user_id in self.mentions:
            return {**self.data, "mentions": compact([user_id])}
        return self.data


def hello(user_id: str, connection_id: str) -> Event:
    data = {"server_version": VERSION_ID, "connection_id": connection_id, "server_hostname": "sandbox"}
    return Event("hello", data, Broadcast(user_id=user_id))


def posted(
    state: State, post: Post, channel: Channel, sender: User, set_online: bool, mentions: list[str]
) -> Event:
    override = post.props.get("override_username")
    data = {
        "channel_display_name": channel.display_name if channel.type != "D" else f"@{sender.username}",
        "channel_name": channel.name,
        "channel_type": channel.type,
        "post": compact(state.post_json(post)),
        "sender_name": override if isinstance(override, str) and override else f"@{sender.username}",
        "set_online": set_online,
        "team_id": channel.team_id,
    }
    return Event("posted", data, Broadcast(channel_id=channel.id), mentions=mentions)


def post_edited(state: State, post: Post) -> Event:
    return Event(
        "post_edited", {"post": compact(state.post_json(post))}, Broadcast(channel_id=post.channel_id)
    )


def post_deleted(state: State, post: Post, deleted_by: str) -> Event:
    data = {"post": compact(state.post_json(post)), "delete_by": deleted_by}
    return Event("post_deleted", data, Broadcast(channel_id=post.channel_id))


def reaction(reaction_: Reaction, added: bool) -> Event:
    name = "reaction_added" if added else "reaction_removed"
    return Event(name, {"reaction": compact(reaction_.to_api())}, Broadcast(channel_id=reaction_.channel_id))


def user_added(channel: Channel, user_id: str) -> Event:
    return Event(
        "user_added", {"user_id": user_id, "team_id": channel.team_id}, Broadcast(channel_id=channel.id)
    )


def channel_created(channel: Channel, creator_id: str) -> Event:
    """Sent to the creator only, as ``CreateChannelWithUser`` does."""
    data = {"channel_id": channel.id, "team_id": channel.team_id}
    return Event("channel_created", data, Broadcast(user_id=creator_id))


def channel_updated(channel: Channel) -> Event:
    return Event("channel_updated", {"channel": compact(channel.to_api())}, Broadcast(channel_id=channel.id))


def direct_added(channel: Channel, creator_id: str, teammate_id: str) -> Event:
    data = {"creator_id": creator_id, "teammate_id": teammate_id}
    return Event("direct_added", data, Broadcast(channel_id=channel.id))


def ephemeral_message(post_json: dict[str, Any], user_id: str) -> Event:
    data = {"post": compact(post_json)}
    return Event("ephemeral_message", data, Broadcast(user_id=user_id, channel_id=post_json["channel_id"]))


def user_updated(user: User) -> list[Event]:
    """``sendUpdatedUserEvent``: the user to everyone else (the server sends admins and the rest each a
    differently sanitized copy; the sandbox sanitizes nothing, so one event), and to the user themself."""
    data = {"user": user.to_api()}
    return [
        Event("user_updated", data, Broadcast(omit_users={user.id: True})),
        Event("user_updated", data, Broadcast(user_id=user.id)),
    ]


def typing(channel_id: str, parent_id: str, user_id: str) -> Event:
    data = {"parent_id": parent_id, "user_id": user_id}
    return Event("typing", data, Broadcast(channel_id=channel_id, omit_users={user_id: True}))


class Publisher(Protocol):
    """Where operations send events: the websocket hub."""

    def publish(self, event: Event) -> None: ...
