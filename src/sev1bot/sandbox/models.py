"""The sandbox's records and their JSON as the server sends it to clients.

Field names, defaults and nesting follow the server's model package; fields the server sends as null but
the official spec types as plain strings are left out, so that responses satisfy both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sev1bot.sandbox.attachments import client_props
from sev1bot.sandbox.ids import new_id, now_ms

_USER_NOTIFY_PROPS = {
    "channel": "true",
    "comments": "never",
    "desktop": "mention",
    "desktop_sound": "true",
    "email": "true",
    "first_name": "false",
    "mention_keys": "",
    "push": "mention",
    "push_status": "away",
}
_CHANNEL_NOTIFY_PROPS = {
    "desktop": "default",
    "email": "default",
    "ignore_channel_mentions": "default",
    "mark_unread": "all",
    "push": "default",
}


@dataclass
class User:
    username: str
    id: str = field(default_factory=new_id)
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    nickname: str = ""
    position: str = ""
    roles: str = "system_user"
    is_bot: bool = False
    bot_description: str = ""
    create_at: int = field(default_factory=now_ms)
    update_at: int = 0  # 0: never updated (the API shows create_at)
    delete_at: int = 0  # when deactivated; 0 while active

    @property
    def is_system_admin(self) -> bool:
        return "system_admin" in self.roles.split()

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.update_at or self.create_at,
            "delete_at": self.delete_at,
            "username": self.username,
            "auth_data": "",
            "auth_service": "",
            "email": self.email,
            "email_verified": True,
            "nickname": self.nickname,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "position": self.position,
            "roles": self.roles,
            "notify_props": dict(_USER_NOTIFY_PROPS),
            "last_password_update": self.create_at,
            "locale": "en",
            "timezone": {"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"},
            "disable_welcome_email": False,
        }
        if self.is_bot:
            body["is_bot"] = True
            body["bot_description"] = self.bot_description
        return body


@dataclass
class Team:
    name: str
    display_name: str
    id: str = field(default_factory=new_id)
    invite_id: str = field(default_factory=new_id)
    allow_open_invite: bool = True
    create_at: int = field(default_factory=now_ms)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.create_at,
            "delete_at": 0,
            "display_name": self.display_name,
            "name": self.name,
            "description": "",
            "email": "",
            "type": "O" if self.allow_open_invite else "I",
            "company_name": "",
            "allowed_domains": "",
            "invite_id": self.invite_id,
            "allow_open_invite": self.allow_open_invite,
            "scheme_id": None,
            "group_constrained": None,
            "cloud_limits_archived": False,
        }


@dataclass
class TeamMember:
    team_id: str
    user_id: str
    admin: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "user_id": self.user_id,
            "roles": "team_user team_admin" if self.admin else "team_user",
            "delete_at": 0,
            "scheme_guest": False,
            "scheme_user": True,
            "scheme_admin": self.admin,
            "explicit_roles": "",
        }


@dataclass
class Channel:
    team_id: str  # "" for direct channels
    type: str  # O, P or D
    name: str
    display_name: str
    creator_id: str
    header: str = ""
    purpose: str = ""
    id: str = field(default_factory=new_id)
    create_at: int = field(default_factory=now_ms)
    update_at: int = 0
    delete_at: int = 0
    last_post_at: int = 0
    last_root_post_at: int = 0
    total_msg_count: int = 0
    total_msg_count_root: int = 0

    def __post_init__(self) -> None:
        self.update_at = self.update_at or self.create_at
        self.last_post_at = self.last_post_at or self.create_at
        self.last_root_post_at = self.last_root_post_at or self.create_at

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.update_at,
            "delete_at": self.delete_at,
            "team_id": self.team_id,
            "type": self.type,
            "display_name": self.display_name,
            "name": self.name,
            "header": self.header,
            "purpose": self.purpose,
            "last_post_at": self.last_post_at,
            "total_msg_count": self.total_msg_count,
            "extra_update_at": 0,
            "creator_id": self.creator_id,
            "scheme_id": None,
            "props": None,
            "group_constrained": None,
            "shared": None,
            "total_msg_count_root": self.total_msg_count_root,
            "last_root_post_at": self.last_root_post_at,
        }


@dataclass
class ChannelMember:
    channel_id: str
    user_id: str
    admin: bool = False
    last_update_at: int = field(default_factory=now_ms)

    def to_api(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "roles": "channel_user channel_admin" if self.admin else "channel_user",
            "last_viewed_at": 0,
            "msg_count": 0,
            "mention_count": 0,
            "mention_count_root": 0,
            "urgent_mention_count": 0,
            "msg_count_root": 0,
            "notify_props": dict(_CHANNEL_NOTIFY_PROPS),
            "last_update_at": self.last_update_at,
            "scheme_guest": False,
            "scheme_user": True,
            "scheme_admin": self.admin,
            "explicit_roles": "",
        }


@dataclass
class Post:
    channel_id: str
    user_id: str
    message: str
    root_id: str = ""
    type: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    pending_post_id: str = ""
    file_ids: list[str] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    create_at: int = field(default_factory=now_ms)
    update_at: int = 0
    edit_at: int = 0
    delete_at: int = 0
    is_pinned: bool = False

    def __post_init__(self) -> None:
        self.update_at = self.update_at or self.create_at

    def to_api(self, reactions: list[dict[str, Any]], reply_count: int, last_reply_at: int) -> dict[str, Any]:
        """The post as clients see it: integration URLs and contexts of buttons removed."""
        body: dict[str, Any] = {
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.update_at,
            "edit_at": self.edit_at,
            "delete_at": self.delete_at,
            "is_pinned": self.is_pinned,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "root_id": self.root_id,
            "original_id": "",
            "message": self.message,
            "type": self.type,
            "props": client_props(self.props),
            "hashtags": "",
            "pending_post_id": self.pending_post_id,
            "reply_count": reply_count,
            "last_reply_at": last_reply_at,
            "participants": None,
            "metadata": {"reactions": reactions} if reactions else {},
        }
        if self.file_ids:
            body["file_ids"] = list(self.file_ids)
        if reactions:
            body["has_reactions"] = True
        return body


@dataclass
class Reaction:
    user_id: str
    post_id: str
    emoji_name: str
    channel_id: str
    create_at: int = field(default_factory=now_ms)

    def to_api(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "post_id": self.post_id,
            "emoji_name": self.emoji_name,
            "create_at": self.create_at,
            "update_at": self.create_at,
            "delete_at": 0,
            "remote_id": "",
            "channel_id": self.channel_id,
        }


@dataclass
class Command:
    team_id: str
    trigger: str
    url: str
    method: str
    creator_id: str
    display_name: str = ""
    description: str = ""
    username: str = ""
    icon_url: str = ""
    auto_complete: bool = False
    auto_complete_desc: str = ""
    auto_complete_hint: str = ""
    id: str = field(default_factory=new_id)
    token: str = field(default_factory=new_id)
    create_at: int = field(default_factory=now_ms)
    update_at: int = 0
    delete_at: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "token": self.token,
            "create_at": self.create_at,
            "update_at": self.update_at or self.create_at,
            "delete_at": self.delete_at,
            "creator_id": self.creator_id,
            "team_id": self.team_id,
            "trigger": self.trigger,
            "method": self.method,
            "username": self.username,
            "icon_url": self.icon_url,
            "auto_complete": self.auto_complete,
            "auto_complete_desc": self.auto_complete_desc,
            "auto_complete_hint": self.auto_complete_hint,
            "display_name": self.display_name,
            "description": self.description,
            "url": self.url,
            "plugin_id": "",
        }


@dataclass
class CommandHook:
    """A ``response_url``: lets the integration answer a slash command later, a few times."""

    command_id: str
    user_id: str
    channel_id: str
    root_id: str = ""
    id: str = field(default_factory=new_id)
    create_at: int = field(default_factory=now_ms)
    uses: int = 0


@dataclass
class ActionCookie:
    """What the server seals into the ``cookie`` of a button on a post it does not store (ephemeral)."""

    post_id: str
    root_post_id: str
    channel_id: str
    action_type: str
    data_source: str
    integration: dict[str, Any]
    retain_props: dict[str, Any]
    remove_props: list[str]
