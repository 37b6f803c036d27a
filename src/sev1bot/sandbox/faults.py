"""Fault injection and the request log: fail or slow down matching requests, count what clients asked.

Patterns are a method (``"*"`` for any) and a path glob (``fnmatch``, e.g. ``/api/v4/posts*``). The
sandbox's own ``/sandbox/admin`` routes are never faulted nor logged.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sev1bot.sandbox import errors
from sev1bot.sandbox.ratelimit import ADMIN_PREFIX

log = logging.getLogger(__name__)


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    at: float  # epoch seconds when the request arrived
    duration: float  # seconds until the answer was ready


@dataclass
class _Rule:
    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        return self.method in {"*", method.upper()} and fnmatch.fnmatchcase(path, self.path)


@dataclass
class FailRule(_Rule):
    status: int
    remaining: int
    error_id: str
    message: str


@dataclass
class DelayRule(_Rule):
    seconds: float
    after: bool  # delay the answer after handling (the request takes effect) instead of before


class Faults:
    def __init__(self) -> None:
        self.failures: list[FailRule] = []
        self.delays: list[DelayRule] = []
        self.log: list[RequestRecord] = []

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 500,
        count: int = 1,
        error_id: str = "sandbox.fault_injected.app_error",
        message: str = "Injected failure.",
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and an AppError body."""
        if not 400 <= status <= 599 or count < 1:
            raise ValueError(f"status must be 400-599 and count >= 1 (got {status}, {count})")
        self.failures.append(FailRule(method.upper(), path, status, count, error_id, message))

    def delay(self, method: str, path: str, seconds: float, after: bool = False) -> None:
        """Hold matching requests for ``seconds`` (before handling them, or after when ``after``)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (got {seconds})")
        self.delays.append(DelayRule(method.upper(), path, seconds, after))

    def clear(self) -> None:
        self.failures.clear()
        self.delays.clear()

    def count(self, method: str = "*", path: str = "*", status: int | None = None) -> int:
        """How many logged requests match (same patterns as the rules)."""
        rule = _Rule(method.upper(), path)
        return sum(1 for r in self.log if rule.matches(r.method, r.path) and status in {None, r.status})

    def delay_for(self, method: str, path: str, after: bool) -> float:
        return sum(d.seconds for d in self.delays if d.after == after and d.matches(method, path))

    def take_failure(self, method: str, path: str) -> FailRule | None:
        for rule in self.failures:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.failures.remove(rule)
                return rule
        return None


def request_log_middleware(faults: Faults) -> Middleware:
    @web.middleware
    async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        started, at = time.monotonic(), time.time()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            faults.log.append(
                RequestRecord(request.method, request.path, status, at, time.monotonic() - started)
            )

    return request_log


def fault_middleware(faults: Faults) -> Middleware:
    """Sits inside the AppError middleware: injected failures are rendered like real ones."""

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        method, path = request.method, request.path
        if wait := faults.delay_for(method, path, after=False):
            await asyncio.sleep(wait)
        rule = faults.take_failure(method, path)
        if rule is not None:
            log.info("injecting %s into %s %s", rule.status, method, path)
            raise errors.AppError(rule.status, rule.error_id, rule.message, errors.INJECTED_DETAIL)
        response = await handler(request)
        if wait := faults.delay_for(method, path, after=True):
            await asyncio.sleep(wait)
        return response

    return inject
