"""Custom slash commands as the server runs them: registration, execution, answers and ``response_url``.

``execute`` POSTs the form the server sends (every field and header) to the command's URL and turns the
answer into posts exactly as ``HandleCommandResponse`` does: ``in_channel`` creates a post by the person
who ran the command (marked ``from_webhook``), ephemeral answers go over the websocket to that person
only, and a body that is not ``application/json`` becomes the reply text.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from sev1bot.sandbox import bodies, errors, permissions
from sev1bot.sandbox.ids import is_valid_id, now_ms
from sev1bot.sandbox.models import Command, CommandHook, Post, User
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.outbound import Outbound, OutboundError, OutboundReply, trigger_ids
from sev1bot.sandbox.state import State

log = logging.getLogger(__name__)

BUILT_IN_TRIGGERS = frozenset(
    {
        *("away", "code", "collapse", "dnd", "echo", "expand", "groupmsg", "header", "help", "invite"),
        *("invite_people", "join", "kick", "leave", "logout", "me", "msg", "mute", "offline", "online"),
        *("open", "purpose", "remove", "rename", "search", "settings", "shortcuts", "shrug", "status"),
    }
)
_SLACK_LINK = re.compile(r"<([^<>|]+)\|([^<>|]+)>")
_SLACK_SPECIAL = re.compile(r"<!(channel|here|all)>")
_SLACK_USER = re.compile(r"<@([a-z0-9]{26})>")
_SPACE = re.compile(r"\s")
_MENTION = re.compile(r"\B@([A-Za-z0-9][A-Za-z0-9.\-_:]*)")
_CHANNEL_MENTION = re.compile(r"\B~([a-z0-9\-_]+)")


def _invalid(field: str, message: str) -> errors.AppError:
    return errors.AppError(400, f"model.command.is_valid.{field}.app_error", message)


def validate(command: Command) -> None:
    """``Command.IsValid`` plus the trigger rules of ``createCommand``."""
    if not is_valid_id(command.team_id):
        raise _invalid("team_id", "Invalid team ID.")
    if not 1 <= len(command.trigger) <= 128 or command.trigger.startswith("/") or " " in command.trigger:
        raise _invalid("trigger", "Invalid trigger.")
    if len(command.url) > 1024 or not command.url:
        raise _invalid("url", "Invalid URL.")
    parts = urlsplit(command.url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _invalid("url_http", "Invalid URL. Must be a valid URL and start with http:// or https://.")
    if command.method not in {"P", "G"}:
        raise _invalid("method", "Invalid Method.")
    if len(command.display_name) > 64:
        raise _invalid("display_name", "Invalid title.")
    if len(command.description) > 128:
        raise _invalid("description", "Invalid description.")


def slack_to_markdown(text: str, state: State) -> str:
    """``ProcessSlackText``: Slack-style links and mentions become Mattermost markdown."""
    text = _SLACK_LINK.sub(r"[\2](\1)", text)
    text = _SLACK_SPECIAL.sub(r"@\1", text)

    def user(match: re.Match[str]) -> str:
        found = state.users.get(match.group(1))
        return f"@{found.username}" if found else match.group(0)

    return _SLACK_USER.sub(user, text)


class CommandOps:
    def __init__(self, state: State, posts: PostOps, outbound: Outbound) -> None:
        self.state = state
        self.posts = posts
        self.outbound = outbound

    # registration
    def create(self, actor: User, body: dict[str, Any]) -> Command:
        team_id = bodies.identifier(body, "team_id")
        permissions.require_team_admin(self.state, actor, team_id, "manage_slash_commands")
        command = self._from_body(body, team_id, actor.id)
        validate(command)
        self._check_unique(command)
        self.state.commands[command.id] = command
        return command

    def _from_body(self, body: dict[str, Any], team_id: str, creator_id: str) -> Command:
        return Command(
            team_id=team_id,
            trigger=bodies.text(body, "trigger").lower(),
            url=bodies.text(body, "url"),
            method=bodies.text(body, "method"),
            creator_id=creator_id,
            display_name=bodies.text(body, "display_name"),
            description=bodies.text(body, "description"),
            username=bodies.text(body, "username"),
            icon_url=bodies.text(body, "icon_url"),
            auto_complete=bodies.flag(body, "auto_complete"),
            auto_complete_desc=bodies.text(body, "auto_complete_desc"),
            auto_complete_hint=bodies.text(body, "auto_complete_hint"),
        )

    def _check_unique(self, command: Command) -> None:
        taken = command.trigger in BUILT_IN_TRIGGERS or any(
            c.trigger == command.trigger and c.id != command.id
            for c in self.state.team_commands(command.team_id)
        )
        if taken:
            raise errors.AppError(
                400,
                "api.command.duplicate_trigger.app_error",
                "This trigger word is already in use. Please choose another word.",
            )

    def listing(self, actor: User, team_id: str, custom_only: bool) -> list[Command]:
        permissions.require_team_member(self.state, actor, team_id)
        admin = permissions.is_team_admin(self.state, actor, team_id)
        if custom_only and not admin:
            raise errors.permission_denied(actor.id, "manage_slash_commands")
        commands = self.state.team_commands(team_id)
        return commands if admin else [c for c in commands if c.auto_complete]

    def managed(self, actor: User, command_id: str) -> Command:
        """A command the actor may manage; 404 otherwise, so as not to leak that it exists."""
        command = self.state.command(command_id)
        if not permissions.is_team_admin(self.state, actor, command.team_id):
            raise errors.command_not_found(f"command_id={command_id}")
        return command

    def update(self, actor: User, command_id: str, body: dict[str, Any]) -> Command:
        if body.get("id") != command_id:
            raise errors.invalid_body_param("command")
        old = self.managed(actor, command_id)
        if bodies.text(body, "team_id") != old.team_id:
            raise errors.AppError(
                400, "api.command.team_mismatch.app_error", "Unable to update command across teams."
            )
        new = self._from_body(body, old.team_id, old.creator_id)
        new.id, new.token, new.create_at, new.update_at = old.id, old.token, old.create_at, now_ms()
        validate(new)
        self._check_unique(new)
        self.state.commands[new.id] = new
        return new

    def delete(self, actor: User, command_id: str) -> None:
        self.managed(actor, command_id).delete_at = now_ms()

    # running
    async def execute(self, actor: User, body: dict[str, Any], site_url: str) -> dict[str, Any]:
        text = bodies.text(body, "command")
        channel_id = bodies.text(body, "channel_id")
        if len(text) <= 1 or not text.startswith("/") or not is_valid_id(channel_id):
            raise errors.AppError(
                400, "api.command.execute_command.start.app_error", "No command trigger found."
            )
        channel = self.state.channels.get(channel_id)
        if channel is None or not (
            actor.is_system_admin or permissions.is_channel_member(self.state, actor, channel)
        ):
            raise errors.permission_denied(actor.id, "use_slash_commands")
        team_id = channel.team_id or bodies.text(body, "team_id")
        space = _SPACE.search(text)
        trigger, message = (text[: space.start()], text[space.end() :]) if space else (text, "")
        trigger = trigger.lower()[1:]
        command = next((c for c in self.state.team_commands(team_id) if c.trigger == trigger), None)
        if command is None:
            raise errors.AppError(
                404,
                "api.command.execute_command.not_found.app_error",
                f"Command with a trigger of '/{trigger}' not found. To send a message beginning with \"/\", "
                "try adding an empty space at the beginning of the message.",
            )
        client_trigger_id, trigger_id = trigger_ids(actor.id)
        root_id = bodies.text(body, "root_id")
        hook = CommandHook(command_id=command.id, user_id=actor.id, channel_id=channel.id, root_id=root_id)
        self.state.command_hooks[hook.id] = hook
        form = [
            ("channel_id", channel.id),
            ("channel_name", channel.name),
            ("command", f"/{trigger}"),
            ("response_url", f"{site_url}/hooks/commands/{hook.id}"),
            ("root_id", root_id),
            ("team_domain", self.state.team(team_id).name),
            ("team_id", command.team_id),
            ("text", message),
            ("token", command.token),
            ("trigger_id", trigger_id),
            ("user_id", actor.id),
            ("user_name", actor.username),
            *self._mention_fields(message, team_id),
        ]
        reply = await self._call(command, form)
        response = self._parse_reply(reply, command)
        response["trigger_id"] = client_trigger_id
        self.handle_response(command, actor.id, channel.id, root_id, response)
        return response

    def _mention_fields(self, message: str, team_id: str) -> list[tuple[str, str]]:
        users = sorted({m.lower() for m in _MENTION.findall(message)})
        fields: list[tuple[str, str]] = []
        for name in users:
            user = self.state.find_user_by_name(name)
            if user is not None and self.state.team_member(team_id, user.id):
                fields += [("user_mentions", name), ("user_mentions_ids", user.id)]
        for name in sorted(set(_CHANNEL_MENTION.findall(message))):
            channel = self.state.find_channel_by_name(team_id, name)
            if channel is not None and channel.type == "O":
                fields += [("channel_mentions", name), ("channel_mentions_ids", channel.id)]
        return fields

    async def _call(self, command: Command, form: list[tuple[str, str]]) -> OutboundReply:
        headers = {"Accept": "application/json", "Authorization": f"Token {command.token}"}
        encoded = urlencode(form)
        try:
            if command.method == "G":
                return await self.outbound.send("GET", command.url, headers, params=encoded)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return await self.outbound.send("POST", command.url, headers, data=encoded.encode())
        except OutboundError as exc:
            raise self._failed(command, str(exc)) from None

    def _failed(self, command: Command, detail: str) -> errors.AppError:
        message = f"Command with a trigger of '{command.trigger}' failed."
        return errors.AppError(500, "api.command.execute_command.failed.app_error", message, detail)

    def _parse_reply(self, reply: OutboundReply, command: Command) -> dict[str, Any]:
        if reply.status != 200:
            message = f"Command with a trigger of '{command.trigger}' returned response {reply.status}."
            detail = reply.body.decode("utf-8", errors="replace")
            raise errors.AppError(500, "api.command.execute_command.failed_resp.app_error", message, detail)
        try:
            return parse_command_response(reply.content_type, reply.body)
        except ValueError as exc:
            raise self._failed(command, str(exc)) from None

    def handle_response(
        self, command: Command, user_id: str, channel_id: str, root_id: str, response: dict[str, Any]
    ) -> None:
        """``HandleCommandResponse``: the answer, then each extra response, become posts."""
        failed = False
        for each in [response, *(response.get("extra_responses") or [])]:
            try:
                self._response_post(user_id, channel_id, root_id, each)
            except errors.AppError as exc:
                log.debug("command response post failed: %s", exc)
                failed = True
        if failed:
            message = (
                f"Command '{command.trigger}' failed to post response. Please contact your administrator."
            )
            raise errors.AppError(500, "api.command.execute_command.create_post_failed.app_error", message)

    def _response_post(self, user_id: str, channel_id: str, root_id: str, response: dict[str, Any]) -> None:
        user = self.state.user(user_id)
        props = dict(response.get("props") or {})
        target = response.get("channel_id") or channel_id
        if target != channel_id and self.state.channel_member(target, user_id) is None:
            raise errors.AppError(
                403,
                "api.command.command_post.forbidden.app_error",
                "Specified user is not a member of specified channel.",
            )
        kind = str(response.get("type") or "")
        if kind.startswith("system_"):
            raise errors.AppError(400, "api.context.invalid_param.app_error", "Invalid post.type parameter.")
        text = str(response.get("text") or "")
        if not response.get("skip_slack_parsing"):
            text = slack_to_markdown(text, self.state)
        post = Post(channel_id=target, user_id=user.id, message=text, root_id=root_id, type=kind, props=props)
        post.props["from_webhook"] = "true"
        attachments = response.get("attachments")
        if attachments:
            post.type = "slack_attachment"
            post.props["attachments"] = attachments
        if response.get("response_type") == "in_channel":
            self.posts.store_post(post, self.state.channel(target), user)
        elif response.get("response_type") in (None, "", "ephemeral") and (text or attachments is not None):
            self.posts.send_ephemeral(user.id, post)

    async def hook(self, hook_id: str, content_type: str, raw: bytes) -> None:
        """``POST /hooks/commands/{id}``: a later answer to a slash command, through its response_url."""
        try:
            response = parse_command_response(content_type, raw)
        except ValueError as exc:
            raise errors.AppError(
                400, "web.command_webhook.parse.app_error", "Unable to parse incoming data.", str(exc)
            ) from None
        hook = self.state.command_hooks.get(hook_id)
        if hook is None:
            raise _hook_error(
                errors.AppError(404, "app.command_webhook.get.missing", "Unable to find the webhook.")
            )
        command = self.state.commands[hook.command_id]
        expired = now_ms() - hook.create_at > self.posts.config.command_hook_ttl * 1000
        if expired or hook.uses >= self.posts.config.command_hook_max_uses:
            raise _hook_error(errors.AppError(400, "app.command_webhook.try_use.invalid", "Invalid webhook."))
        hook.uses += 1
        try:
            self.handle_response(command, hook.user_id, hook.channel_id, hook.root_id, response)
        except errors.AppError as exc:
            raise _hook_error(exc) from None


def _hook_error(inner: errors.AppError) -> errors.AppError:
    return errors.AppError(
        inner.status,
        "web.command_webhook.general.app_error",
        "Unable to handle the command webhook.",
        inner.error_id,
    )


RESPONSE_FIELDS = {
    "response_type": "",
    "text": "",
    "username": "",
    "channel_id": "",
    "icon_url": "",
    "type": "",
    "props": None,
    "goto_location": "",
    "trigger_id": "",
    "skip_slack_parsing": False,
    "attachments": None,
    "extra_responses": None,
}


def parse_command_response(content_type: str, raw: bytes) -> dict[str, Any]:
    """``CommandResponseFromHTTPBody``: JSON when the type says so (else ValueError), otherwise the text."""
    if content_type.split(";")[0].strip() != "application/json":
        return {**RESPONSE_FIELDS, "text": raw.decode("utf-8", errors="replace")}
    try:
        decoded = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if decoded is None:
        decoded = {}
    if not isinstance(decoded, dict):
        raise ValueError("the command response must be a JSON object")
    return {**RESPONSE_FIELDS, **{k: v for k, v in decoded.items() if k in RESPONSE_FIELDS}}
