"""HTTP plumbing shared by the API routes: JSON in and out, tokens, query parameters.

Responses carry ``Content-Type: application/json`` exactly (no charset): the Python drivers compare the
header verbatim.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sev1bot.sandbox import errors
from sev1bot.sandbox.ids import is_valid_id
from sev1bot.sandbox.models import User
from sev1bot.sandbox.state import State

JSON = "application/json"
STATUS_OK = {"status": "OK"}


def json_response(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, status=status, headers={"Content-Type": JSON})


def error_response(error: errors.AppError, request_id: str) -> web.Response:
    return json_response(error.to_json(request_id), status=error.status)


async def read_json(request: web.Request) -> Any:
    """The decoded body; None when there is none. Malformed JSON is the server's 400."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.bad_json(str(exc)) from None


async def read_object(request: web.Request, name: str) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise errors.invalid_body_param(name, "expected a JSON object")
    return body


def token_of(request: web.Request) -> tuple[str, str]:
    """``ParseAuthTokenFromRequest``: (token, where). Cookie first, then the header, then the query."""
    cookie = request.cookies.get("MMAUTHTOKEN")
    if cookie:
        return cookie, "cookie"
    header = request.headers.get("Authorization", "")
    if len(header) > 6 and header[:6].upper() == "BEARER":
        return header[7:], "header"
    if len(header) > 5 and header[:5].lower() == "token":
        return header[6:], "header"
    query = request.query.get("access_token", "")
    if query:
        return query, "query"
    return "", ""


def csrf_ok(request: web.Request) -> bool:
    """A cookie session must prove it is not a cross-site request on anything but GET."""
    if request.method == "GET":
        return True
    csrf_cookie = request.cookies.get("MMCSRF", "")
    if csrf_cookie and request.headers.get("X-CSRF-Token") == csrf_cookie:
        return True
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def authenticate(request: web.Request, state: State) -> User:
    token, where = token_of(request)
    if not token:
        raise errors.session_expired("UserRequired")
    user = state.user_for_token(token)
    if user is None:
        raise errors.session_expired("token=<redacted>")
    if where == "cookie" and not csrf_ok(request):
        raise errors.session_expired("Appears to be a CSRF attempt")
    return user


def path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not is_valid_id(value):
        raise errors.invalid_url_param(name)
    return value


def query_int(request: web.Request, name: str, default: int, maximum: int | None = None) -> int:
    """Paging parameters the server's way: anything unparsable or negative means the default."""
    try:
        value = int(request.query.get(name, ""))
    except ValueError:
        return default
    if value < 0:
        return default
    return min(value, maximum) if maximum is not None else value
