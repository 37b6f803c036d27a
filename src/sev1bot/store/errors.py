"""Errors the store raises that a caller can act on. Anything else is a bug and propagates as is."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error below."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or is too busy right now (locked, connection lost): retry later."""


class StoreReadOnly(StoreUnavailable):
    """The database can be read but refuses writes: a read-only file or directory, a ``mode=ro`` URL, a
    read-only transaction or role, a missing privilege. Nothing can be saved until someone fixes it."""


class StoreUnusable(StoreUnavailable):
    """The database cannot be opened or read at all: not a database, corrupt, a directory, no permission.
    Retrying will not help; someone must fix or replace it."""


class Fenced(StoreError):
    """The caller's lease fence is stale (another replica took over, or the lease ran out): a deposed
    leader must not act. Nothing was read or written; the new leader does the work."""


class NotMigrated(StoreError):
    """The database has no (or an old) schema: run ``Store.migrate()`` first."""


class NewerSchema(StoreError):
    """The database was migrated by a newer sev1bot: this version does not know its schema, and must not
    guess (a downgrade needs the newer version's scripts)."""


class IncidentNotFound(StoreError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident with id {incident_id!r}")
        self.incident_id = incident_id


class IncidentUnreadable(StoreError):
    """An incident whose stored playbook snapshot this version cannot read (a damaged row, or one a newer
    version wrote): it cannot be changed until someone repairs it. Other incidents are not affected."""

    def __init__(self, incident_id: str, reason: str) -> None:
        super().__init__(
            f"incident {incident_id!r} cannot be used: its stored playbook snapshot cannot be read "
            f"({reason}); it is left alone until someone repairs that row"
        )
        self.incident_id = incident_id


class IncidentExists(StoreError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"an incident with id {incident_id!r} already exists")
        self.incident_id = incident_id


class ChannelNameTaken(StoreError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(f"channel name {channel_name!r} is already used by another incident")
        self.channel_name = channel_name


class ChannelIdTaken(StoreError):
    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel id {channel_id!r} is already bound to another incident")
        self.channel_id = channel_id


class Conflict(StoreError):
    """Someone else saved the incident since it was loaded: reload and decide again."""
