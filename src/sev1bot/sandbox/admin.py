"""``/sandbox/admin/*``: the sandbox's own control routes (a real server has none of these).

Protected by the sandbox's admin token (``Authorization: Bearer <admin token>``); never rate limited,
faulted, logged or contract-checked. Each route mirrors a method of the Python API on ``Sandbox``.
"""

from __future__ import annotations

import hmac
from typing import Any, Protocol

from aiohttp import web

from sev1bot.sandbox import bodies, errors
from sev1bot.sandbox.faults import Faults
from sev1bot.sandbox.httpio import STATUS_OK, json_response, read_json
from sev1bot.sandbox.models import User
from sev1bot.sandbox.ratelimit import ADMIN_PREFIX, RateLimiter


class Controls(Protocol):
    faults: Faults
    rate_limiter: RateLimiter
    admin_token: str

    def drop_websockets(self) -> int: ...
    def restart(self) -> None: ...
    def expire_pending_posts(self) -> int: ...
    def set_rate_limit(self, enabled: bool, per_sec: float = 10.0, max_burst: int = 100) -> None: ...
    def set_active(self, username: str, active: bool) -> User: ...
    def describe(self) -> dict[str, Any]: ...


CONTROLS = web.AppKey("sandbox_controls", Controls)


def _controls(request: web.Request) -> Controls:
    controls = request.app[CONTROLS]
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {controls.admin_token}".encode()):
        raise errors.AppError(
            401, "sandbox.admin.unauthorized", "The sandbox admin token is missing or wrong."
        )
    return controls


async def _body(request: web.Request) -> dict[str, Any]:
    return bodies.require_object(await read_json(request) or {}, "admin request")


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.invalid_body_param(key, f"{key} must be a number")
    return float(value)


def _pattern(body: dict[str, Any]) -> tuple[str, str]:
    method, path = bodies.text(body, "method", "*"), bodies.text(body, "path")
    if not path:
        raise errors.invalid_body_param("path", "give a path glob such as /api/v4/posts*")
    return method, path


async def describe(request: web.Request) -> web.Response:
    return json_response(_controls(request).describe())


async def requests(request: web.Request) -> web.Response:
    records = _controls(request).faults.log
    return json_response({"requests": [r.__dict__ for r in records]})


async def clear_requests(request: web.Request) -> web.Response:
    _controls(request).faults.log.clear()
    return json_response(STATUS_OK)


async def fail(request: web.Request) -> web.Response:
    controls, body = _controls(request), await _body(request)
    method, path = _pattern(body)
    try:
        controls.faults.fail_next(
            method,
            path,
            status=int(_number(body, "status", 500)),
            count=int(_number(body, "count", 1)),
            error_id=bodies.text(body, "error_id", "sandbox.fault_injected.app_error"),
            message=bodies.text(body, "message", "Injected failure."),
        )
    except ValueError as exc:
        raise errors.invalid_body_param("fault", str(exc)) from None
    return json_response(STATUS_OK)


async def delay(request: web.Request) -> web.Response:
    controls, body = _controls(request), await _body(request)
    method, path = _pattern(body)
    try:
        controls.faults.delay(method, path, _number(body, "seconds", 0), after=bodies.flag(body, "after"))
    except ValueError as exc:
        raise errors.invalid_body_param("seconds", str(exc)) from None
    return json_response(STATUS_OK)


async def clear_faults(request: web.Request) -> web.Response:
    _controls(request).faults.clear()
    return json_response(STATUS_OK)


async def drop_websockets(request: web.Request) -> web.Response:
    return json_response({"dropped": _controls(request).drop_websockets()})


async def restart(request: web.Request) -> web.Response:
    _controls(request).restart()
    return json_response(STATUS_OK)


async def expire_pending_posts(request: web.Request) -> web.Response:
    """Skip the 30 s after which the server forgets each ``pending_post_id``; answers how many it forgot."""
    return json_response({"expired": _controls(request).expire_pending_posts()})


async def rate_limit(request: web.Request) -> web.Response:
    controls, body = _controls(request), await _body(request)
    try:
        controls.set_rate_limit(
            bodies.flag(body, "enabled", True),
            per_sec=_number(body, "per_sec", 10),
            max_burst=int(_number(body, "max_burst", 100)),
        )
    except ValueError as exc:
        raise errors.invalid_body_param("rate limit", str(exc)) from None
    limiter = controls.rate_limiter
    return json_response(
        {"enabled": limiter.enabled, "per_sec": limiter.per_sec, "max_burst": limiter.max_burst}
    )


async def user_active(request: web.Request) -> web.Response:
    """``{"active": false}`` deactivates the user, ``true`` reactivates them; answers the user."""
    controls, body = _controls(request), await _body(request)
    active = body.get("active")
    if not isinstance(active, bool):
        raise errors.invalid_body_param("active", "active must be true or false")
    return json_response(controls.set_active(request.match_info["username"], active).to_api())


def add_routes(app: web.Application, controls: Controls) -> None:
    app[CONTROLS] = controls
    r = app.router
    r.add_get(f"{ADMIN_PREFIX}", describe)
    r.add_get(f"{ADMIN_PREFIX}/requests", requests)
    r.add_delete(f"{ADMIN_PREFIX}/requests", clear_requests)
    r.add_post(f"{ADMIN_PREFIX}/faults/fail", fail)
    r.add_post(f"{ADMIN_PREFIX}/faults/delay", delay)
    r.add_delete(f"{ADMIN_PREFIX}/faults", clear_faults)
    r.add_post(f"{ADMIN_PREFIX}/websockets/drop", drop_websockets)
    r.add_post(f"{ADMIN_PREFIX}/restart", restart)
    r.add_post(f"{ADMIN_PREFIX}/pending-posts/expire", expire_pending_posts)
    r.add_put(f"{ADMIN_PREFIX}/ratelimit", rate_limit)
    r.add_put(f"{ADMIN_PREFIX}/users/{{username}}/active", user_active)
