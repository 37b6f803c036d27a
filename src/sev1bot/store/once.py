"""At-most-once bookkeeping: pings and reminders that must never go out twice, and retried requests.

A send is claimed *before* it happens (``claim``: one INSERT, the primary key decides the winner), marked
done with the post id afterwards (``complete``), or released when the send failed (``release``). A process
that dies between claim and send leaves the claim in place: the message is then lost rather than doubled,
which is the right side to err on for "@ceo, the incident is still open".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from sev1bot.core.times import require_utc
from sev1bot.store.engine import insert_ignore
from sev1bot.store.tables import requests, sent


def claim(conn: Connection, incident_id: str, key: str, now: datetime) -> bool:
    values = {"incident_id": incident_id, "key": key, "sent_at": require_utc(now, "claim now")}
    return insert_ignore(conn, sent, values, on=("incident_id", "key"))


def complete(conn: Connection, incident_id: str, key: str, post_id: str) -> None:
    done = conn.execute(
        update(sent).where(sent.c.incident_id == incident_id, sent.c.key == key).values(post_id=post_id)
    )
    if done.rowcount != 1:
        raise ValueError(f"complete(): {key!r} of incident {incident_id!r} was never claimed")


def release(conn: Connection, incident_id: str, key: str) -> bool:
    """Undo a claim whose send failed; a completed send stays recorded. True if a claim was removed."""
    gone = conn.execute(
        delete(sent).where(sent.c.incident_id == incident_id, sent.c.key == key, sent.c.post_id.is_(None))
    )
    return gone.rowcount == 1


def keys_with_prefix(conn: Connection, incident_ids: Sequence[str], prefix: str) -> dict[str, set[str]]:
    """Incident id -> the keys claimed for it that start with ``prefix`` (sent or being sent)."""
    found: dict[str, set[str]] = {incident_id: set() for incident_id in incident_ids}
    query = select(sent.c.incident_id, sent.c.key).where(
        sent.c.incident_id.in_(list(incident_ids)), sent.c.key.startswith(prefix, autoescape=True)
    )
    for row in conn.execute(query):
        found[row.incident_id].add(row.key)
    return found


def seen_request(conn: Connection, request_id: str, now: datetime) -> bool:
    values = {"request_id": request_id, "seen_at": require_utc(now, "seen_request now")}
    return not insert_ignore(conn, requests, values, on=("request_id",))


def prune_requests(conn: Connection, before: datetime) -> int:
    gone = conn.execute(
        delete(requests).where(requests.c.seen_at < require_utc(before, "prune_requests before"))
    )
    return gone.rowcount
