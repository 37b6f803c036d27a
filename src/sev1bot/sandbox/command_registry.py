"""Registering custom slash commands: the server's validation, trigger rules and permissions.

Only team (and system) admins may manage slash commands, as on a fresh server; a command another team
member cannot manage answers 404, so that its existence does not leak.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sev1bot.sandbox import bodies, errors, permissions
from sev1bot.sandbox.ids import is_valid_id, now_ms
from sev1bot.sandbox.models import Command, User
from sev1bot.sandbox.state import State

BUILT_IN_TRIGGERS = frozenset(
    {
        *("away", "code", "collapse", "dnd", "echo", "expand", "groupmsg", "header", "help", "invite"),
        *("invite_people", "join", "kick", "leave", "logout", "me", "msg", "mute", "offline", "online"),
        *("open", "purpose", "remove", "rename", "search", "settings", "shortcuts", "shrug", "status"),
    }
)


def _invalid(error_id: str, message: str) -> errors.AppError:
    return errors.AppError(400, error_id, message)


def validate(command: Command) -> None:
    """``Command.IsValid`` plus the trigger rules of ``createCommand``."""
    if not is_valid_id(command.team_id):
        raise _invalid("model.command.is_valid.team_id.app_error", "Invalid team ID.")
    if not 1 <= len(command.trigger) <= 128 or command.trigger.startswith("/") or " " in command.trigger:
        raise _invalid("model.command.is_valid.trigger.app_error", "Invalid trigger.")
    if len(command.url) > 1024 or not command.url:
        raise _invalid("model.command.is_valid.url.app_error", "Invalid URL.")
    parts = urlsplit(command.url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _invalid(
            "model.command.is_valid.url_http.app_error",
            "Invalid URL. Must be a valid URL and start with http:// or https://.",
        )
    if command.method not in {"P", "G"}:
        raise _invalid("model.command.is_valid.method.app_error", "Invalid Method.")
    if len(command.display_name) > 64:
        raise _invalid("model.command.is_valid.display_name.app_error", "Invalid title.")
    if len(command.description) > 128:
        raise _invalid("model.command.is_valid.description.app_error", "Invalid description.")


class CommandRegistry:
    def __init__(self, state: State) -> None:
        self.state = state

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
