"""Identifiers and clocks shaped like the Mattermost server's.

Server ids (users, posts, tokens, connection ids...) are 16 random bytes in base32 with the alphabet of
``model.NewId``: 26 lowercase characters. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

import base64
import os
import time

_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MATTERMOST = "ybndrfg8ejkmcpqxot1uwisza345h769"
_TO_MATTERMOST = str.maketrans(_STANDARD, _MATTERMOST)


def new_id() -> str:
    """A fresh 26-character id, as ``model.NewId()`` makes them."""
    return base64.b32encode(os.urandom(16)).decode("ascii")[:26].translate(_TO_MATTERMOST)


def is_valid_id(value: object) -> bool:
    """``model.IsValidId``: 26 letters or digits."""
    return isinstance(value, str) and len(value) == 26 and value.isalnum() and value.isascii()


def now_ms() -> int:
    return int(time.time() * 1000)
