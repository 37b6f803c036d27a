"""The API's outer layer: a request id and version header on every answer, and AppErrors as JSON.

Unknown routes (and known paths with another method) answer the server's 404 AppError, because the
server's catch-all route matches before any 405 could.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from sev1bot.sandbox import errors
from sev1bot.sandbox.config import VERSION_ID
from sev1bot.sandbox.httpio import error_response
from sev1bot.sandbox.ids import new_id

log = logging.getLogger(__name__)


REQUEST_ID = web.RequestKey("sandbox_request_id", str)


def request_id(request: web.Request) -> str:
    if REQUEST_ID not in request:
        request[REQUEST_ID] = new_id()
    return request[REQUEST_ID]


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request_id(request)
    try:
        response = await handler(request)
    except errors.AppError as exc:
        log.debug("%s %s -> %s %s", request.method, request.path, exc.status, exc.error_id)
        response = error_response(exc, rid)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        response = error_response(errors.route_not_found(request.path), rid)
    except web.HTTPException:
        raise
    except Exception as exc:  # a sandbox bug: a 500 AppError (never an HTML page) the contract flags
        log.exception("sandbox handler failed on %s %s", request.method, request.path)
        error = errors.AppError(
            500, "sandbox.unexpected.app_error", "An unexpected error occurred.", repr(exc)
        )
        response = error_response(error, rid)
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
        response.headers["X-Version-Id"] = VERSION_ID
    return response
