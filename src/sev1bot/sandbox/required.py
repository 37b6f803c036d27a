"""Which fields the real server always sends: a ``required`` overlay on the official spec's schemas.

The spec names required fields for 7 of its 168 schemas and for none of those the bot and the sandbox
exchange, so a response missing a field passes it. The server's model says what it always writes: a Go
struct field whose JSON tag has no ``omitempty`` is encoded on every response. Each entry below lists such
fields of the named struct (mattermost/mattermost at the file given), and the contract checker adds them as
``required`` to the spec schema of the same name, for responses only (request bodies keep the spec's rules:
clients send partial objects). Non-``omitempty`` fields that are not required here are in ``left_out``,
each with the reason. To extend: add the schema with its struct's fields, and say why for any left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Required:
    source: str  # file in mattermost/mattermost that declares the struct
    struct: str
    fields: tuple[str, ...]
    left_out: dict[str, str] = field(default_factory=dict)


_NULL_BUT_SPEC_SAYS_STRING = "the server sends null when unset; the spec types it as a plain string"
_NEWER_THAN_SPEC = "added after the spec this project checks against (v11.1); the sandbox does not send it"

REQUIRED: dict[str, Required] = {
    "Post": Required(
        "server/public/model/post.go",
        "Post",
        (
            "id", "create_at", "update_at", "edit_at", "delete_at", "is_pinned", "user_id", "channel_id",
            "root_id", "original_id", "message", "type", "props", "hashtags", "pending_post_id",
            "reply_count", "last_reply_at", "participants",
        ),
        {"file_ids": "a nil StringArray is written as null, which the spec's array type refuses"},
    ),
    "Channel": Required(
        "server/public/model/channel.go",
        "Channel",
        (
            "id", "create_at", "update_at", "delete_at", "team_id", "type", "display_name", "name", "header",
            "purpose", "last_post_at", "total_msg_count", "extra_update_at", "creator_id", "scheme_id",
            "props", "group_constrained", "shared", "total_msg_count_root", "last_root_post_at",
        ),
        {
            name: _NEWER_THAN_SPEC
            for name in (
                "autotranslation", "policy_id", "banner_info", "policy_enforced", "policy_is_active",
                "default_category_name", "managed_category_name", "discoverable",
            )
        },
    ),
    "ChannelMember": Required(
        "server/public/model/channel_member.go",
        "ChannelMember",
        (
            "channel_id", "user_id", "roles", "last_viewed_at", "msg_count", "mention_count",
            "mention_count_root", "urgent_mention_count", "msg_count_root", "notify_props",
            "last_update_at", "scheme_guest", "scheme_user", "scheme_admin", "explicit_roles",
        ),
    ),
    "User": Required(
        "server/public/model/user.go",
        "User",
        (
            "id", "delete_at", "username", "auth_service", "email", "nickname", "first_name", "last_name",
            "position", "roles", "locale", "timezone", "disable_welcome_email",
        ),
    ),
    "Team": Required(
        "server/public/model/team.go",
        "Team",
        (
            "id", "create_at", "update_at", "delete_at", "display_name", "name", "description", "email",
            "type", "company_name", "allowed_domains", "invite_id", "allow_open_invite", "scheme_id",
            "group_constrained", "cloud_limits_archived",
        ),
        {"policy_id": _NULL_BUT_SPEC_SAYS_STRING},
    ),
    "TeamMember": Required(
        "server/public/model/team_member.go",
        "TeamMember",
        (
            "team_id", "user_id", "roles", "delete_at", "scheme_guest", "scheme_user", "scheme_admin",
            "explicit_roles",
        ),
    ),
    "Reaction": Required(
        "server/public/model/reaction.go",
        "Reaction",
        (
            "user_id", "post_id", "emoji_name", "create_at", "update_at", "delete_at", "remote_id",
            "channel_id",
        ),
    ),
    "Command": Required(
        "server/public/model/command.go",
        "Command",
        (
            "id", "token", "create_at", "update_at", "delete_at", "creator_id", "team_id", "trigger",
            "method", "username", "icon_url", "auto_complete", "auto_complete_desc", "auto_complete_hint",
            "display_name", "description", "url", "plugin_id",
        ),
    ),
    "CommandResponse": Required(
        "server/public/model/command_response.go",
        "CommandResponse",
        (
            "response_type", "text", "username", "channel_id", "icon_url", "type", "props", "goto_location",
            "trigger_id", "skip_slack_parsing", "attachments", "extra_responses",
        ),
    ),
    "AppError": Required(
        "server/public/model/utils.go",
        "AppError",
        ("id", "message", "detailed_error"),
        {
            "request_id": "omitempty in the struct (the checker still demands it of every error body)",
            "status_code": "omitempty in the struct (the checker still demands it of every error body)",
        },
    ),
}  # fmt: skip
