"""Signed button contexts: the bot can trust a click's ``context`` because only it can have made it.

Mattermost hands a button's ``integration.context`` back to the bot unchanged on click (it strips it from
posts sent to clients), but anyone who can reach the bot's URL could POST a made-up click. So every context
the bot puts on a button is wrapped as ``{"v": 1, "data": ..., "exp": <unix s>, "nonce": ..., "sig": ...}``
with ``sig`` an HMAC-SHA256 over the canonical JSON of the other four fields.

The context makes a round trip through the server's Go ``map[string]any``: key order changes and every number
becomes a float64. The canonical form sorts keys, and :func:`sign` accepts only values that survive the trip
unchanged (strings, booleans, None, integers within +-2**53, and lists/objects of those), never floats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import SecretStr

VERSION = 1
_MAX_INT = 2**53
_FIELDS = frozenset({"v", "data", "exp", "nonce", "sig"})

Secret = str | bytes | SecretStr
Reason = Literal["malformed", "forged", "expired"]


class SignatureError(Exception):
    """A context that is not a valid signed context; ``reason`` is malformed, forged or expired."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class Verified:
    data: dict[str, Any]
    nonce: str
    expires_at: int


def sign(context: Mapping[str, Any], secret: Secret, ttl: float | timedelta, *, now: float) -> dict[str, Any]:
    """Wrap ``context`` for a button's ``integration.context``; valid for ``ttl`` (seconds or timedelta)
    from ``now`` (unix seconds)."""
    data = dict(context)
    _check_portable(data, "context")
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if seconds <= 0:
        raise ValueError("ttl must be positive")
    issued = now
    body: dict[str, Any] = {
        "v": VERSION,
        "data": data,
        "exp": int(issued + seconds),
        "nonce": secrets.token_urlsafe(16),
    }
    body["sig"] = _mac(body, secret)
    return body


def verify(context: Any, secret: Secret, now: float) -> Verified:
    """Check a context from a click at ``now`` (unix seconds); its data, or :class:`SignatureError`."""
    if not isinstance(context, Mapping) or set(context) != _FIELDS:
        raise SignatureError("malformed", "context is not a signed sev1bot context")
    data, exp, nonce, sig = context["data"], context["exp"], context["nonce"], context["sig"]
    if (
        context["v"] != VERSION
        or not isinstance(data, dict)
        or not isinstance(nonce, str)
        or not isinstance(sig, str)
        or isinstance(exp, bool)
        or not isinstance(exp, int | float)
        or (isinstance(exp, float) and not math.isfinite(exp))
        or exp != int(exp)
    ):
        raise SignatureError("malformed", "signed context has fields of the wrong type or version")
    body = {"v": VERSION, "data": data, "exp": int(exp), "nonce": nonce}
    try:
        expected = _mac(body, secret)
    except (TypeError, ValueError, RecursionError):
        raise SignatureError("malformed", "signed context data is not canonical JSON") from None
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise SignatureError("forged", "context signature does not match")
    if now > int(exp):
        raise SignatureError("expired", "this button has expired")
    return Verified(data=data, nonce=nonce, expires_at=int(exp))


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8; floats that are whole numbers written as integers (as Go does)."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def _mac(body: Mapping[str, Any], secret: Secret) -> str:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the signing secret is empty")
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def _check_portable(value: Any, where: str) -> None:
    """Reject values that would not survive Mattermost's JSON round trip unchanged."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise ValueError(f"{where}: integer {value} is too large to survive a round trip (max 2**53)")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_portable(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            _check_portable(item, f"{where}.{key}")
        return
    raise ValueError(f"{where}: {type(value).__name__} values are not allowed (use str, int, bool or None)")
