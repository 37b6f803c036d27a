"""Posts, reactions, pins and ephemeral posts: permission checks, state changes and the events they cause."""

from __future__ import annotations

import copy
import re
from typing import Any

from sev1bot.sandbox import bodies, errors, events, permissions
from sev1bot.sandbox.attachments import assign_action_ids, attachment_actions
from sev1bot.sandbox.config import SandboxConfig
from sev1bot.sandbox.ids import new_id, now_ms
from sev1bot.sandbox.models import (
    ActionCookie,
    Channel,
    Post,
    Reaction,
    User,
)
from sev1bot.sandbox.state import State

MAX_MESSAGE_RUNES = 16383
RESERVED_PROPS = (
    "from_webhook",
    "override_username",
    "webhook_display_name",
    "override_icon_url",
    "override_icon_emoji",
    "add_channel_member",
)
RETAIN_PROPS = ("from_webhook", "override_username", "override_icon_url")  # model.PostActionRetainPropKeys
_MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9.\-_]*)", re.IGNORECASE)
_EMOJI = re.compile(r"^[a-zA-Z0-9_+\-]{1,64}$")


class PostOps:
    def __init__(self, state: State, publisher: events.Publisher, config: SandboxConfig) -> None:
        self.state = state
        self.publisher = publisher
        self.config = config

    # creating
    def create_post(self, actor: User, body: dict[str, Any], set_online: bool = True) -> Post:
        channel_id = bodies.identifier(body, "channel_id")
        message = bodies.text(body, "message")
        root_id = bodies.identifier(body, "root_id", required=False)
        props = copy.deepcopy(bodies.mapping(body, "props"))
        pending_post_id = bodies.text(body, "pending_post_id")
        file_ids = bodies.strings(body.get("file_ids") or [], "file_ids")
        channel = self.state.channels.get(channel_id)
        if channel is None or not (
            actor.is_system_admin or permissions.is_channel_member(self.state, actor, channel)
        ):
            raise errors.permission_denied(actor.id, "create_post")
        if pending_post_id:
            existing = self.state.pending_post(pending_post_id)
            if existing and permissions.can_read_channel(
                self.state, actor, self.state.channel(self.state.posts[existing].channel_id)
            ):
                return self.state.posts[existing]
        if len(message) > MAX_MESSAGE_RUNES:
            raise errors.AppError(
                400,
                "model.post.is_valid.msg.app_error",
                "Invalid Message.",
                f"message has {len(message)} characters",
            )
        if root_id:
            self._check_root(root_id, channel)
        for key in RESERVED_PROPS:
            props.pop(key, None)
        post = Post(channel_id=channel.id, user_id=actor.id, message=message, root_id=root_id, props=props)
        post.pending_post_id = pending_post_id
        post.file_ids = file_ids
        self.store_post(post, channel, actor, set_online)
        if pending_post_id:
            self.state.remember_pending(pending_post_id, post.id, self.config.pending_post_ttl)
        return post

    def _check_root(self, root_id: str, channel: Channel) -> None:
        root = self.state.posts.get(root_id)
        if root is None or root.delete_at or root.root_id:
            raise errors.AppError(
                400,
                "api.post.create_post.root_id.app_error",
                "Invalid RootId parameter.",
                f"root_id={root_id}",
            )
        if root.channel_id != channel.id:
            raise errors.AppError(
                500,
                "api.post.create_post.channel_root_id.app_error",
                "Invalid ChannelId for RootId parameter.",
            )

    def store_post(self, post: Post, channel: Channel, sender: User, set_online: bool = True) -> Post:
        """Save a post made by anyone (users, commands, system messages) and broadcast ``posted``."""
        if sender.is_bot:
            post.props["from_bot"] = "true"
        assign_action_ids(post.props)
        self.state.add_post(post)
        mentioned = self._mentions(post, channel, sender)
        self.publisher.publish(events.posted(self.state, post, channel, sender, set_online, mentioned))
        return post

    def system_post(
        self,
        channel: Channel,
        actor: User,
        post_type: str,
        message: str,
        props: dict[str, Any],
        root_id: str = "",
    ) -> Post:
        post = Post(
            channel_id=channel.id,
            user_id=actor.id,
            message=message,
            type=post_type,
            props=props,
            root_id=root_id,
        )
        self.state.add_post(post)
        self.publisher.publish(events.posted(self.state, post, channel, actor, True, []))
        return post

    def _mentions(self, post: Post, channel: Channel, sender: User) -> list[str]:
        members = set(self.state.member_ids(channel.id)) - {sender.id}
        if channel.type == "D":
            return sorted(members)
        mentioned: set[str] = set()
        for raw in _MENTION.findall(post.message):
            name = raw.lower()
            if name in {"channel", "all", "here"}:
                mentioned |= members
                continue
            while name:
                user = self.state.find_user_by_name(name)
                if user is not None:
                    if user.id in members:
                        mentioned.add(user.id)
                    break
                if name[-1] not in ".-_":
                    break
                name = name[:-1]
        return sorted(mentioned)

    # reading
    def get_post(self, actor: User, post_id: str) -> Post:
        post = self.state.post(post_id)
        permissions.require_read(self.state, actor, self.state.channel(post.channel_id))
        return post

    def thread(self, actor: User, post_id: str) -> dict[str, Any]:
        post = self.get_post(actor, post_id)
        root_id = post.root_id or post.id
        return self.state.post_list(self.state.thread(root_id))

    def channel_posts(
        self, actor: User, channel_id: str, page: int, per_page: int, since: int | None
    ) -> dict[str, Any]:
        channel = self.state.channel(channel_id)
        permissions.require_read(self.state, actor, channel)
        if since is not None:
            changed = [
                p for p in self.state.posts_in(channel_id, include_deleted=True) if p.update_at > since
            ]
            return self.state.post_list(changed)
        newest_first = list(reversed(self.state.posts_in(channel_id)))
        window = newest_first[page * per_page : (page + 1) * per_page]
        roots = {p.root_id for p in window if p.root_id} - {p.id for p in window}
        extra = [self.state.posts[r] for r in roots if r in self.state.posts]
        return self.state.post_list(window[::-1], extra)

    # changing
    def patch_post(self, actor: User, post_id: str, body: dict[str, Any]) -> Post:
        post = self.state.post(post_id)
        permissions.require_post_owner_or(self.state, actor, post, "edit_post", "edit_others_posts")
        if post.type.startswith("system_"):
            raise errors.AppError(
                400, "api.post.update_post.system_message.app_error", "Unable to update system message."
            )
        message = bodies.text(body, "message", post.message)
        props = copy.deepcopy(bodies.mapping(body, "props")) if body.get("props") is not None else post.props
        pinned = bodies.flag(body, "is_pinned", post.is_pinned)
        return self.update_post(post, message, props, pinned)

    def update_post(self, post: Post, message: str, props: dict[str, Any], pinned: bool) -> Post:
        """Store new content and broadcast ``post_edited`` (used by edits, pins and button updates)."""
        if len(message) > MAX_MESSAGE_RUNES:
            raise errors.AppError(400, "model.post.is_valid.msg.app_error", "Invalid Message.")
        now = now_ms()
        if message != post.message:
            post.edit_at = now
        post.message, post.props, post.is_pinned, post.update_at = message, props, pinned, now
        assign_action_ids(post.props)
        self.publisher.publish(events.post_edited(self.state, post))
        return post

    def set_pinned(self, actor: User, post_id: str, pinned: bool) -> None:
        post = self.state.post(post_id)
        permissions.require_read(self.state, actor, self.state.channel(post.channel_id))
        self.update_post(post, post.message, post.props, pinned)

    def delete_post(self, actor: User, post_id: str) -> None:
        post = self.state.post(post_id)
        permissions.require_post_owner_or(self.state, actor, post, "delete_post", "delete_others_posts")
        now = now_ms()
        for victim in [post, *(self.state.posts[r] for r in self.state.thread_replies.get(post.id, []))]:
            if not victim.delete_at:
                victim.delete_at = victim.update_at = now
        post.props["deleteBy"] = actor.id
        self.publisher.publish(events.post_deleted(self.state, post, actor.id))

    # reactions
    def save_reaction(self, actor: User, body: dict[str, Any]) -> Reaction:
        user_id = bodies.identifier(body, "user_id")
        post_id = bodies.identifier(body, "post_id")
        emoji = bodies.text(body, "emoji_name")
        if not _EMOJI.match(emoji):
            raise errors.AppError(
                400,
                "model.reaction.is_valid.emoji_name.app_error",
                "Invalid emoji name.",
                f"emoji_name={emoji}",
            )
        if user_id != actor.id:
            raise errors.AppError(
                403,
                "api.reaction.save_reaction.user_id.app_error",
                "You cannot save reaction for the other user.",
            )
        post = self.state.posts.get(post_id)
        channel = self.state.channels.get(post.channel_id) if post and not post.delete_at else None
        if post is None or channel is None:
            raise errors.permission_denied(actor.id, "add_reaction")
        permissions.require_channel_member(self.state, actor, channel, "add_reaction")
        reactions = self.state.reactions.setdefault(post.id, {})
        saved = reactions.setdefault((actor.id, emoji), Reaction(actor.id, post.id, emoji, channel.id))
        post.update_at = now_ms()
        self.publisher.publish(events.reaction(saved, added=True))
        return saved

    def delete_reaction(self, actor: User, user_id: str, post_id: str, emoji: str) -> None:
        if user_id != actor.id and not actor.is_system_admin:
            raise errors.permission_denied(actor.id, "remove_others_reactions")
        post = self.state.post(post_id)
        permissions.require_channel_member(
            self.state, actor, self.state.channel(post.channel_id), "remove_reaction"
        )
        removed = self.state.reactions.get(post.id, {}).pop((user_id, emoji), None)
        if removed is not None:
            post.update_at = now_ms()
            self.publisher.publish(events.reaction(removed, added=False))

    def list_reactions(self, actor: User, post_id: str) -> list[Reaction]:
        return self.state.reactions_for(self.get_post(actor, post_id).id)

    # ephemeral
    def create_ephemeral(self, actor: User, body: dict[str, Any]) -> dict[str, Any]:
        user_id = bodies.identifier(body, "user_id")
        post_body = bodies.require_object(body.get("post"), "post")
        channel_id = bodies.identifier(post_body, "channel_id")
        permissions.require_system_admin(actor, "create_post_ephemeral")
        post = Post(channel_id=channel_id, user_id=actor.id, message=bodies.text(post_body, "message"))
        post.props = copy.deepcopy(bodies.mapping(post_body, "props"))
        post.root_id = bodies.text(post_body, "root_id")
        return self.send_ephemeral(user_id, post)

    def send_ephemeral(self, user_id: str, post: Post) -> dict[str, Any]:
        """``SendEphemeralPost``: not stored; buttons carry a sealed cookie instead."""
        post.type = "system_ephemeral"
        assign_action_ids(post.props)
        body = post.to_api([], 0, 0)
        originals = attachment_actions(post.props)
        for original, shown in zip(originals, attachment_actions(body["props"]), strict=True):
            if isinstance(original.get("integration"), dict):
                shown["cookie"] = self._seal_cookie(post, original)
        self.publisher.publish(events.ephemeral_message(body, user_id))
        return body

    def _seal_cookie(self, post: Post, action: dict[str, Any]) -> str:
        token = new_id() + new_id()
        self.state.action_cookies[token] = ActionCookie(
            post_id=post.id,
            root_post_id=post.root_id or post.id,
            channel_id=post.channel_id,
            action_type=str(action.get("type") or ""),
            data_source=str(action.get("data_source") or ""),
            integration=copy.deepcopy(action["integration"]),
            retain_props={k: post.props[k] for k in RETAIN_PROPS if k in post.props},
            remove_props=[k for k in RETAIN_PROPS if k not in post.props],
        )
        return token
