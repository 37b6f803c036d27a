"""Running custom slash commands as the server does: execution, answers and ``response_url``.

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
from urllib.parse import urlencode

from sev1bot.sandbox import bodies, errors, permissions
from sev1bot.sandbox.ids import is_valid_id, now_ms
from sev1bot.sandbox.models import Command, CommandHook, Post, User
from sev1bot.sandbox.ops_posts import PostOps
from sev1bot.sandbox.outbound import Outbound, OutboundError, OutboundReply, trigger_ids
from sev1bot.sandbox.state import State

log = logging.getLogger(__name__)

_SLACK_LINK = re.compile(r"<([^<>|]+)\|([^<>|]+)>")
_SLACK_SPECIAL = re.compile(r"<!(channel|here|all)>")
_SLACK_USER = re.compile(r"<@([a-z0-9]{26})>")
_SPACE = re.compile(r"\s")
_MENTION = re.compile(r"\B@([A-Za-z0-9][A-Za-z0-9.\-_:]*)")
_CHANNEL_MENTION = re.compile(r"\B~([a-z0-9\-_]+)")


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
