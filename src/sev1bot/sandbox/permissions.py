"""Who may do what, with the server's default roles (system_user, team_user/team_admin, channel_user).

Each ``require_*`` raises the server's 403 AppError naming the missing permission. System admins may do
everything; the other rules are the defaults of a fresh server:
- reading a channel: its members, and for public channels every member of its team;
- posting, reacting, running slash commands, managing members and properties: channel members only;
- managing slash commands: team and system admins; ephemeral posts through the API: system admins.
"""

from __future__ import annotations

from sev1bot.sandbox import errors
from sev1bot.sandbox.models import Channel, Post, User
from sev1bot.sandbox.state import State


def is_team_member(state: State, user: User, team_id: str) -> bool:
    return user.is_system_admin or state.team_member(team_id, user.id) is not None


def is_team_admin(state: State, user: User, team_id: str) -> bool:
    member = state.team_member(team_id, user.id)
    return user.is_system_admin or (member is not None and member.admin)


def is_channel_member(state: State, user: User, channel: Channel) -> bool:
    return state.channel_member(channel.id, user.id) is not None


def can_read_channel(state: State, user: User, channel: Channel) -> bool:
    if user.is_system_admin or is_channel_member(state, user, channel):
        return True
    return channel.type == "O" and state.team_member(channel.team_id, user.id) is not None


def require_team_member(state: State, user: User, team_id: str, permission: str = "view_team") -> None:
    if not is_team_member(state, user, team_id):
        raise errors.permission_denied(user.id, permission)


def require_team_admin(state: State, user: User, team_id: str, permission: str) -> None:
    if not is_team_admin(state, user, team_id):
        raise errors.permission_denied(user.id, permission)


def require_read(state: State, user: User, channel: Channel) -> None:
    if not can_read_channel(state, user, channel):
        raise errors.permission_denied(user.id, "read_channel")


def require_channel_member(state: State, user: User, channel: Channel, permission: str) -> None:
    if not (user.is_system_admin or is_channel_member(state, user, channel)):
        raise errors.permission_denied(user.id, permission)


def require_post_owner_or(state: State, user: User, post: Post, own: str, others: str) -> None:
    """Own posts need ``own`` (a channel permission); other people's need ``others`` (team admins)."""
    channel = state.channel(post.channel_id)
    if post.user_id == user.id:
        require_channel_member(state, user, channel, own)
    elif not (user.is_system_admin or (channel.team_id and is_team_admin(state, user, channel.team_id))):
        raise errors.permission_denied(user.id, others)


def require_system_admin(user: User, permission: str) -> None:
    if not user.is_system_admin:
        raise errors.permission_denied(user.id, permission)
