"""The durable store: incidents, post mapping, sent-once log, leases, in SQLite or PostgreSQL."""

from __future__ import annotations

from sev1bot.store.engine import DEFAULT_URL
from sev1bot.store.errors import (
    ChannelIdTaken,
    ChannelNameTaken,
    Conflict,
    IncidentExists,
    IncidentNotFound,
    IncidentUnreadable,
    NewerSchema,
    NotMigrated,
    StoreError,
    StoreUnavailable,
)
from sev1bot.store.outbox import OutboxEntry
from sev1bot.store.refs import ref_from_str, ref_to_str
from sev1bot.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "ChannelIdTaken",
    "ChannelNameTaken",
    "Conflict",
    "IncidentExists",
    "IncidentNotFound",
    "IncidentUnreadable",
    "NewerSchema",
    "NotMigrated",
    "OutboxEntry",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "ref_from_str",
    "ref_to_str",
]
