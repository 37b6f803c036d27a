"""Channels, their members and direct channels, with the system messages the server posts about them."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sev1bot.sandbox import bodies, errors, events, permissions
from sev1bot.sandbox.ids import is_valid_id, now_ms
from sev1bot.sandbox.models import Channel, ChannelMember, User
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.state import State, direct_channel_name

_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
MAX_BATCH = 1000


def _invalid(error_id: str, message: str, detail: str = "") -> errors.AppError:
    return errors.AppError(400, error_id, message, detail)


def validate_channel(channel: Channel) -> None:
    """``Channel.IsValid`` for the fields a client can set."""
    if not 1 <= len(channel.display_name) <= 64:
        raise _invalid(
            "model.channel.is_valid.display_name.app_error", "Invalid display name.", f"id={channel.id}"
        )
    if (
        len(channel.name) < 2
        or len(channel.name) > 64
        or not _NAME.match(channel.name)
        or "__" in channel.name
    ):
        raise _invalid(
            "model.channel.is_valid.2_or_more.app_error",
            "Name must be 2 or more lowercase alphanumeric characters.",
            f"name={channel.name}",
        )
    if channel.type not in {"O", "P"}:
        raise _invalid("model.channel.is_valid.type.app_error", "Invalid type.", f"type={channel.type}")
    if len(channel.header) > 1024:
        raise _invalid("model.channel.is_valid.header.app_error", "Invalid header.")
    if len(channel.purpose) > 250:
        raise _invalid("model.channel.is_valid.purpose.app_error", "Invalid purpose.")


class ChannelOps:
    def __init__(self, state: State, publisher: events.Publisher, posts: PostOps) -> None:
        self.state = state
        self.publisher = publisher
        self.posts = posts

    def create_channel(self, actor: User, body: dict[str, Any]) -> Channel:
        team_id = bodies.identifier(body, "team_id")
        kind = bodies.text(body, "type")
        if kind in {"D", "G"}:
            raise errors.AppError(
                400,
                "api.channel.create_channel.direct_channel.app_error",
                "Must use createDirectChannel API service for direct message channel creation.",
            )
        permission = "create_private_channel" if kind == "P" else "create_public_channel"
        permissions.require_team_member(self.state, actor, team_id, permission)
        channel = Channel(
            team_id=team_id,
            type=kind,
            name=bodies.text(body, "name"),
            display_name=bodies.text(body, "display_name"),
            creator_id=actor.id,
            header=bodies.text(body, "header"),
            purpose=bodies.text(body, "purpose"),
        )
        validate_channel(channel)
        if self.state.find_channel_by_name(team_id, channel.name) is not None:
            raise errors.AppError(
                400,
                "store.sql_channel.save_channel.exists.app_error",
                "A channel with that name already exists on the same team.",
                f"name={channel.name}",
            )
        self.state.add_channel(channel)
        self.state.add_channel_member(channel.id, actor.id, admin=True)
        self._join_message(channel, actor)
        self.publisher.publish(events.channel_created(channel, actor.id))
        return channel

    def get_channel(self, actor: User, channel_id: str) -> Channel:
        channel = self.state.channel(channel_id)
        permissions.require_read(self.state, actor, channel)
        return channel

    def channel_by_name(self, actor: User, team_id: str, name: str) -> Channel:
        channel = self.state.find_channel_by_name(team_id, name)
        if channel is None:
            raise errors.AppError(
                404,
                "app.channel.get_by_name.missing.app_error",
                "Channel does not exist.",
                f"teamId={team_id}, name={name}",
            )
        if channel.type == "O":
            permissions.require_team_member(self.state, actor, team_id, "read_public_channel")
        elif not permissions.can_read_channel(self.state, actor, channel):
            raise errors.AppError(
                404,
                "app.channel.get_by_name.missing.app_error",
                "Channel does not exist.",
                f"teamId={team_id}, name={name}",
            )
        return channel

    def patch_channel(self, actor: User, channel_id: str, body: dict[str, Any]) -> Channel:
        channel = self.state.channel(channel_id)
        if channel.type == "D":
            permissions.require_channel_member(self.state, actor, channel, "manage_channel_properties")
        else:
            kind = "private" if channel.type == "P" else "public"
            permissions.require_channel_member(
                self.state, actor, channel, f"manage_{kind}_channel_properties"
            )
        before = (channel.display_name, channel.header, channel.purpose)
        patched = dataclasses.replace(channel)
        patched.name = bodies.text(body, "name", channel.name)
        patched.display_name = bodies.text(body, "display_name", channel.display_name)
        patched.header = bodies.text(body, "header", channel.header)
        patched.purpose = bodies.text(body, "purpose", channel.purpose)
        if channel.type != "D":
            validate_channel(patched)
        clash = self.state.find_channel_by_name(channel.team_id, patched.name)
        if clash is not None and clash.id != channel.id:
            raise errors.AppError(
                400, "store.sql_channel.update.exists.app_error", "A channel with that handle already exists."
            )
        channel.name, channel.display_name = patched.name, patched.display_name
        channel.header, channel.purpose, channel.update_at = patched.header, patched.purpose, now_ms()
        self.publisher.publish(events.channel_updated(channel))
        self._change_messages(channel, actor, before)
        return channel

    def _change_messages(self, channel: Channel, actor: User, before: tuple[str, str, str]) -> None:
        old_name, old_header, old_purpose = before
        name = actor.username
        if channel.display_name != old_name:
            text = f"{name} updated the channel display name from: {old_name} to: {channel.display_name}"
            props = {"username": name, "old_displayname": old_name, "new_displayname": channel.display_name}
            self.posts.system_post(channel, actor, "system_displayname_change", text, props)
        for kind, old, new in (
            ("header", old_header, channel.header),
            ("purpose", old_purpose, channel.purpose),
        ):
            if new == old:
                continue
            if not old:
                text = f"{name} updated the channel {kind} to: {new}"
            elif not new:
                text = f"{name} removed the channel {kind} (was: {old})"
            else:
                text = f"{name} updated the channel {kind} from: {old} to: {new}"
            props = {"username": name, f"old_{kind}": old, f"new_{kind}": new}
            self.posts.system_post(channel, actor, f"system_{kind}_change", text, props)

    def add_members(
        self, actor: User, channel_id: str, user_ids: list[str], post_root_id: str = ""
    ) -> list[ChannelMember]:
        channel = self.state.channel(channel_id)
        if channel.type in {"D", "G"}:
            raise errors.AppError(
                400,
                "api.channel.add_user_to_channel.type.app_error",
                "Can not add user to this channel type.",
            )
        if post_root_id:
            root = self.state.posts.get(post_root_id)
            if root is None or root.channel_id != channel.id:
                raise errors.invalid_body_param("post_root_id")
        users = [self.state.user(user_id) for user_id in user_ids]
        for user in users:
            self._check_may_add(actor, channel, user)
        return [self._add_one(actor, channel, user, post_root_id) for user in users]

    def _check_may_add(self, actor: User, channel: Channel, user: User) -> None:
        kind = "private" if channel.type == "P" else "public"
        is_new = self.state.channel_member(channel.id, user.id) is None
        if user.id == actor.id and channel.type == "O":
            if is_new:
                permissions.require_team_member(self.state, actor, channel.team_id, "join_public_channels")
        elif user.id != actor.id or is_new:
            permissions.require_channel_member(self.state, actor, channel, f"manage_{kind}_channel_members")
        if is_new and user.delete_at:  # AddChannelMember: an existing member is returned before this check
            raise errors.AppError(
                403,
                "app.channel.add_member.deleted_user.app_error",
                "User is deactivated and cannot be added to the channel.",
            )
        if self.state.team_member(channel.team_id, user.id) is None:
            raise errors.AppError(
                403,
                "api.channel.add_user.to.channel.failed.app_error",
                "Failed to add user to channel.",
                f"user_id={user.id} is not a member of the team",
            )

    def _add_one(self, actor: User, channel: Channel, user: User, post_root_id: str) -> ChannelMember:
        existing = self.state.channel_member(channel.id, user.id)
        if existing is not None:
            return existing
        member = self.state.add_channel_member(channel.id, user.id)
        self.publisher.publish(events.user_added(channel, user.id))
        if user.id == actor.id:
            self._join_message(channel, user)
        else:
            text = f"@{user.username} added to the channel by @{actor.username}."
            props = {
                "userId": actor.id,
                "username": actor.username,
                "addedUserId": user.id,
                "addedUsername": user.username,
            }
            self.posts.system_post(channel, actor, "system_add_to_channel", text, props, post_root_id)
        return member

    def _join_message(self, channel: Channel, user: User) -> None:
        text = f"{user.username} joined the channel."
        self.posts.system_post(channel, user, "system_join_channel", text, {"username": user.username})

    def list_members(self, actor: User, channel_id: str, page: int, per_page: int) -> list[ChannelMember]:
        channel = self.state.channel(channel_id)
        permissions.require_read(self.state, actor, channel)
        members = list(self.state.channel_members[channel.id].values())
        return members[page * per_page : (page + 1) * per_page]

    def create_direct(self, actor: User, user_ids: list[str]) -> Channel:
        if len(user_ids) != 2 or not all(is_valid_id(u) for u in user_ids):
            raise errors.invalid_body_param("user_ids")
        if actor.id not in user_ids and not actor.is_system_admin:
            raise errors.permission_denied(actor.id, "manage_system")
        for user_id in user_ids:
            if user_id not in self.state.users:
                raise errors.AppError(
                    400,
                    "api.channel.create_direct_channel.invalid_user.app_error",
                    "Invalid user ID for direct channel creation.",
                    f"user_id={user_id}",
                )
        first, second = user_ids
        name = direct_channel_name(first, second)
        existing = self.state.find_channel_by_name("", name)
        if existing is not None:
            return existing
        channel = Channel(team_id="", type="D", name=name, display_name="", creator_id=actor.id)
        self.state.add_channel(channel)
        for user_id in dict.fromkeys(user_ids):
            self.state.add_channel_member(channel.id, user_id)
        teammate = second if first == actor.id else first
        self.publisher.publish(events.direct_added(channel, actor.id, teammate))
        return channel
