"""The server's AppError: the JSON body of every API error, with the ids and wording the server uses."""

from __future__ import annotations

from typing import Any

INJECTED_DETAIL = "injected by the sandbox"  # the detailed_error of a failure a test injected


class AppError(Exception):
    """An API error; rendered as ``{id, message, detailed_error, request_id, status_code}``."""

    def __init__(self, status: int, error_id: str, message: str, detailed: str = "") -> None:
        super().__init__(f"{status} {error_id}: {message}")
        self.status = status
        self.error_id = error_id
        self.message = message
        self.detailed = detailed

    def to_json(self, request_id: str) -> dict[str, Any]:
        return {
            "id": self.error_id,
            "message": self.message,
            "detailed_error": self.detailed,
            "request_id": request_id,
            "status_code": self.status,
        }


def session_expired(detail: str = "") -> AppError:
    return AppError(
        401,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
        detail,
    )


def permission_denied(user_id: str, permission: str) -> AppError:
    return AppError(
        403,
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
        f"userId={user_id}, permission={permission}",
    )


def invalid_body_param(name: str, detail: str = "") -> AppError:
    return AppError(
        400, "api.context.invalid_body_param.app_error", f"Invalid or missing {name} in request body.", detail
    )


def invalid_url_param(name: str) -> AppError:
    return AppError(
        400, "api.context.invalid_url_param.app_error", f"Invalid or missing {name} parameter in request URL."
    )


def client_config_format() -> AppError:
    return AppError(
        501,
        "api.config.client.old_format.app_error",
        "New format for the client configuration is not supported yet. "
        "Please specify format=old in the query string.",
    )


def bad_json(detail: str) -> AppError:
    return AppError(
        400, "api.context.invalid_body_param.app_error", "Invalid or missing body in request body.", detail
    )


def route_not_found(path: str) -> AppError:
    return AppError(
        404,
        "api.context.404.app_error",
        "Sorry, we could not find the page.",
        f"There doesn't appear to be an api call for the url='{path}'.",
    )


def user_not_found(detail: str = "") -> AppError:
    return AppError(404, "app.user.missing_account.const", "Unable to find the user.", detail)


def username_not_found(username: str) -> AppError:
    """``GetUserByUsername``: a name no account has (not MissingAccountError, unlike a lookup by id)."""
    message = (
        "Unable to find an existing account matching your username for this team. "
        "This team may require an invite from the team owner to join."
    )
    return AppError(404, "app.user.get_by_username.app_error", message, f"username={username}")


def team_not_found(detail: str = "") -> AppError:
    return AppError(
        404, "app.team.get_by_name.missing.app_error", "Unable to find the existing team.", detail
    )


def channel_not_found(detail: str = "") -> AppError:
    return AppError(404, "app.channel.get.existing.app_error", "Unable to find the existing channel.", detail)


def post_not_found(detail: str = "") -> AppError:
    return AppError(404, "app.post.get.app_error", "Unable to get the post.", detail)


def command_not_found(detail: str = "") -> AppError:
    """``Context.SetCommandNotFoundError`` (web/context.go): the server reuses a store id here."""
    return AppError(404, "store.sql_command.save.get.app_error", "Unable to get the command.", detail)
