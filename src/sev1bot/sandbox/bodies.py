"""Fields of decoded JSON request bodies, refused the way the server does (400, naming the field)."""

from __future__ import annotations

from typing import Any

from sev1bot.sandbox import errors
from sev1bot.sandbox.ids import is_valid_id


def require_object(body: Any, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.invalid_body_param(name, "expected a JSON object")
    return body


def text(body: dict[str, Any], key: str, default: str = "") -> str:
    """An optional string field; null counts as absent, any other type is a 400."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise errors.invalid_body_param(key, f"{key} must be a string")
    return value


def identifier(body: dict[str, Any], key: str, required: bool = True) -> str:
    """A server id field (26 characters); an empty optional one is ``""``."""
    value = text(body, key)
    if (required or value) and not is_valid_id(value):
        raise errors.invalid_body_param(key)
    return value


def flag(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise errors.invalid_body_param(key, f"{key} must be a boolean")
    return value


def mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.invalid_body_param(key, f"{key} must be an object")
    return value


def strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid_body_param(name, f"{name} must be an array of strings")
    return list(value)
