"""Read-only looks at what a Store holds, for tests, where the bot has no read of its own.

The bot writes through ``create_incident``, ``update``, ``apply``, ``delivered``, ``claim`` and ``release``
and reads through ``load``, ``outbox_batch``, ``post_route`` and ``active_with_posts``; tests do the same.
What none of those returns (an incident's version, the post an at-most-once send became, the ids of all
incidents) is read here straight from the tables, in a transaction of its own.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from sev1bot.core.effects import PostRef
from sev1bot.core.state import IncidentState, IncidentStatus
from sev1bot.store import Store
from sev1bot.store.tables import incidents, sent


def _read(store: Store) -> Connection:
    return store._engine.connect()


def version(store: Store, incident_id: str) -> int | None:
    """The incident's version: 1 when created, one more for every save that changed something."""
    with _read(store) as conn:
        found = conn.execute(select(incidents.c.version).where(incidents.c.id == incident_id)).scalar()
    return None if found is None else int(found)


def incident_ids(store: Store, status: IncidentStatus | None = None) -> list[str]:
    """Ids of the stored incidents (optionally only those with ``status``), in order of start."""
    query = select(incidents.c.id).order_by(incidents.c.started_at, incidents.c.id)
    if status is not None:
        query = query.where(incidents.c.status == IncidentStatus(status).value)
    with _read(store) as conn:
        return list(conn.execute(query).scalars())


def active_posts(store: Store, incident_id: str) -> dict[PostRef, str]:
    """The refs of an active incident and the posts they name, read as the bot does (active_with_posts)."""
    found = {state.id: refs for state, _, _, refs in store.active_with_posts()}
    return found[incident_id]


def sent_of(store: Store, incident_id: str) -> dict[str, str | None]:
    """The incident's at-most-once keys: claimed ones map to None, completed ones to the post they became."""
    query = select(sent.c.key, sent.c.post_id).where(sent.c.incident_id == incident_id)
    with _read(store) as conn:
        return {row.key: row.post_id for row in conn.execute(query)}


def incidents_stored(store: Store) -> list[IncidentState]:
    """Every stored incident, whatever its status, in order of start, read as the bot reads one (``load``)."""
    return [state for state in map(store.load, incident_ids(store)) if state is not None]
