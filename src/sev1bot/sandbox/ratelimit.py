"""Rate limiting as the server does it when enabled: GCRA per remote address (the throttled library).

Off by default, as on self-hosted servers; when on, defaults to 10 requests/s with a burst of 100. Every
answer then carries ``X-RateLimit-Limit`` (burst + 1), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
(seconds until the bucket is full again, not an epoch); a refused request gets 429, ``Retry-After`` and
the plain-text body ``limit exceeded\\n``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

ADMIN_PREFIX = "/sandbox/admin"


@dataclass
class Decision:
    limited: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float  # -1 when not limited


class RateLimiter:
    def __init__(self) -> None:
        self.enabled = False
        self.per_sec = 10.0
        self.max_burst = 100
        self._tat: dict[str, float] = {}

    def configure(self, enabled: bool, per_sec: float = 10.0, max_burst: int = 100) -> None:
        if per_sec <= 0 or max_burst < 0:
            raise ValueError(f"per_sec must be > 0 and max_burst >= 0 (got {per_sec}, {max_burst})")
        self.enabled, self.per_sec, self.max_burst = enabled, per_sec, max_burst
        self._tat.clear()

    def reset(self) -> None:
        self._tat.clear()

    def take(self, key: str, now: float | None = None) -> Decision:
        """One request from ``key``: GCRA with emission interval 1/rate and tolerance interval*(burst+1)."""
        now = time.monotonic() if now is None else now
        interval = 1.0 / self.per_sec
        tolerance = interval * (self.max_burst + 1)
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval
        allow_at = new_tat - tolerance
        if now < allow_at:
            limited, retry_after, ttl = True, allow_at - now, tat - now
        else:
            limited, retry_after, ttl = False, -1.0, new_tat - now
            self._tat[key] = new_tat
        spare = tolerance - ttl
        remaining = int(spare / interval + 1e-9) if spare > -interval else 0
        return Decision(limited, self.max_burst + 1, max(remaining, 0), ttl, retry_after)


def rate_limit_middleware(limiter: RateLimiter) -> Middleware:
    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not limiter.enabled or request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        decision = limiter.take(request.remote or "")
        headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(decision.reset_after)),
        }
        if decision.limited:
            headers["Retry-After"] = str(math.ceil(decision.retry_after))
            headers["X-Content-Type-Options"] = "nosniff"
            return web.Response(status=429, text="limit exceeded\n", headers=headers, charset="utf-8")
        response = await handler(request)
        if not response.prepared:
            response.headers.update(headers)
        return response

    return rate_limit
