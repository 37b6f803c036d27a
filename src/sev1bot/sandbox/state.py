"""The in-memory model: users, teams, channels, posts, reactions, commands and sessions, with lookups.

Lookups that the API exposes raise the server's 404 AppErrors; ``find_*`` variants return None. This
module knows nothing of permissions, HTTP or websockets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sev1bot.sandbox import errors
from sev1bot.sandbox.ids import new_id, now_ms
from sev1bot.sandbox.models import (
    ActionCookie,
    Channel,
    ChannelMember,
    Command,
    CommandHook,
    Post,
    Reaction,
    Team,
    TeamMember,
    User,
)


def direct_channel_name(user_a: str, user_b: str) -> str:
    """The server names a DM channel after its two user ids, sorted, joined by ``__``."""
    first, second = sorted((user_a, user_b))
    return f"{first}__{second}"


class State:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.team_members: dict[str, dict[str, TeamMember]] = {}
        self.channels: dict[str, Channel] = {}
        self.channel_members: dict[str, dict[str, ChannelMember]] = {}
        self.posts: dict[str, Post] = {}
        self.channel_posts: dict[str, list[str]] = {}
        self.thread_replies: dict[str, list[str]] = {}
        self.reactions: dict[str, dict[tuple[str, str], Reaction]] = {}
        self.commands: dict[str, Command] = {}
        self.command_hooks: dict[str, CommandHook] = {}
        self.tokens: dict[str, str] = {}
        self.action_cookies: dict[str, ActionCookie] = {}
        self._pending_posts: dict[str, tuple[str, float]] = {}

    # users and sessions
    def add_user(self, user: User) -> User:
        if self.find_user_by_name(user.username) is not None:
            raise ValueError(f"username {user.username!r} is already taken")
        self.users[user.id] = user
        return user

    def user(self, user_id: str) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise errors.user_not_found(f"user_id={user_id}")
        return found

    def find_user_by_name(self, username: str) -> User | None:
        wanted = username.lower()
        return next((u for u in self.users.values() if u.username == wanted), None)

    def user_by_name(self, username: str) -> User:
        found = self.find_user_by_name(username)
        if found is None:
            raise errors.username_not_found(username)
        return found

    def add_token(self, user_id: str, token: str = "") -> str:
        token = token or new_id()
        self.tokens[token] = user_id
        return token

    def user_for_token(self, token: str) -> User | None:
        """The token's user, or None: unknown token, or a deactivated user (the server revokes their
        sessions, and a personal access token of an inactive user makes no session)."""
        user_id = self.tokens.get(token)
        user = self.users.get(user_id) if user_id else None
        return user if user is not None and not user.delete_at else None

    def set_active(self, user_id: str, active: bool) -> User:
        """``App.UpdateActive``: stamp update_at, set or clear delete_at."""
        user = self.user(user_id)
        user.update_at = now_ms()
        user.delete_at = 0 if active else user.update_at
        return user

    # teams
    def add_team(self, team: Team) -> Team:
        if self.find_team_by_name(team.name) is not None:
            raise ValueError(f"team name {team.name!r} is already taken")
        self.teams[team.id] = team
        self.team_members[team.id] = {}
        return team

    def team(self, team_id: str) -> Team:
        found = self.teams.get(team_id)
        if found is None:
            raise errors.AppError(
                404, "app.team.get.find.app_error", "Unable to find the existing team.", f"team_id={team_id}"
            )
        return found

    def find_team_by_name(self, name: str) -> Team | None:
        return next((t for t in self.teams.values() if t.name == name), None)

    def add_team_member(self, team_id: str, user_id: str, admin: bool = False) -> TeamMember:
        member = TeamMember(team_id=team_id, user_id=user_id, admin=admin)
        self.team_members[team_id][user_id] = member
        return member

    def team_member(self, team_id: str, user_id: str) -> TeamMember | None:
        return self.team_members.get(team_id, {}).get(user_id)

    def user_team_ids(self, user_id: str) -> list[str]:
        return [team_id for team_id, members in self.team_members.items() if user_id in members]

    # channels
    def add_channel(self, channel: Channel) -> Channel:
        self.channels[channel.id] = channel
        self.channel_members[channel.id] = {}
        self.channel_posts[channel.id] = []
        return channel

    def channel(self, channel_id: str) -> Channel:
        found = self.channels.get(channel_id)
        if found is None:
            raise errors.channel_not_found(f"channel_id={channel_id}")
        return found

    def find_channel_by_name(self, team_id: str, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.team_id == team_id and c.name == name), None)

    def add_channel_member(self, channel_id: str, user_id: str, admin: bool = False) -> ChannelMember:
        member = ChannelMember(channel_id=channel_id, user_id=user_id, admin=admin)
        self.channel_members[channel_id][user_id] = member
        return member

    def channel_member(self, channel_id: str, user_id: str) -> ChannelMember | None:
        return self.channel_members.get(channel_id, {}).get(user_id)

    def member_ids(self, channel_id: str) -> list[str]:
        return list(self.channel_members.get(channel_id, {}))

    # posts
    def add_post(self, post: Post) -> Post:
        self.posts[post.id] = post
        self.channel_posts[post.channel_id].append(post.id)
        if post.root_id:
            self.thread_replies.setdefault(post.root_id, []).append(post.id)
        channel = self.channels[post.channel_id]
        channel.last_post_at = post.create_at
        channel.total_msg_count += 1
        if not post.root_id:
            channel.last_root_post_at = post.create_at
            channel.total_msg_count_root += 1
        return post

    def post(self, post_id: str, include_deleted: bool = False) -> Post:
        found = self.posts.get(post_id)
        if found is None or (found.delete_at and not include_deleted):
            raise errors.post_not_found(f"post_id={post_id}")
        return found

    def posts_in(self, channel_id: str, include_deleted: bool = False) -> list[Post]:
        """The channel's posts, oldest first."""
        posts = (self.posts[post_id] for post_id in self.channel_posts.get(channel_id, []))
        return [p for p in posts if include_deleted or not p.delete_at]

    def thread(self, root_id: str) -> list[Post]:
        """The root post and its live replies, oldest first."""
        replies = (self.posts[post_id] for post_id in self.thread_replies.get(root_id, []))
        return [self.posts[root_id], *(p for p in replies if not p.delete_at)]

    def reactions_for(self, post_id: str) -> list[Reaction]:
        return sorted(self.reactions.get(post_id, {}).values(), key=lambda r: r.create_at)

    def post_json(self, post: Post) -> dict[str, Any]:
        root_id = post.root_id or post.id
        replies = [self.posts[p] for p in self.thread_replies.get(root_id, []) if not self.posts[p].delete_at]
        last_reply_at = max((p.create_at for p in replies), default=0)
        reactions = [r.to_api() for r in self.reactions_for(post.id)]
        return post.to_api(reactions, len(replies), last_reply_at)

    def post_list(self, posts: Sequence[Post], extra: Sequence[Post] = ()) -> dict[str, Any]:
        """A PostList: ``order`` newest first; ``extra`` posts (thread roots) appear only in ``posts``."""
        # ``posts`` come oldest first; posts made in the same millisecond keep that order (newest first).
        ordered = sorted(reversed(posts), key=lambda p: p.create_at, reverse=True)
        everything = {p.id: self.post_json(p) for p in [*extra, *ordered]}
        return {
            "order": [p.id for p in ordered],
            "posts": everything,
            "next_post_id": "",
            "prev_post_id": "",
            "has_next": False,
            "first_inaccessible_post_time": 0,
        }

    def remember_pending(self, pending_post_id: str, post_id: str, ttl: float) -> None:
        self._pending_posts[pending_post_id] = (post_id, time.monotonic() + ttl)

    def pending_post(self, pending_post_id: str) -> str | None:
        """The post created recently for this pending_post_id, if still remembered."""
        entry = self._pending_posts.get(pending_post_id)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._pending_posts[pending_post_id]
            return None
        return entry[0]

    def expire_pending_posts(self) -> int:
        """Forget every remembered pending_post_id now, as ``pending_post_ttl`` seconds without a retry
        would; how many there were."""
        count = len(self._pending_posts)
        self._pending_posts.clear()
        return count

    def forget_caches(self) -> None:
        """What a server restart loses: in-memory caches, not stored data."""
        self._pending_posts.clear()

    # commands
    def team_commands(self, team_id: str) -> list[Command]:
        return [c for c in self.commands.values() if c.team_id == team_id and not c.delete_at]

    def command(self, command_id: str) -> Command:
        found = self.commands.get(command_id)
        if found is None or found.delete_at:
            raise errors.command_not_found(f"command_id={command_id}")
        return found
