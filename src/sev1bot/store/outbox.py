"""The outbox: the effects of a decision, committed in the same transaction as the state they came from.

Delivery (sev1bot.service.executor) reads them oldest first and deletes each once it took effect, so a crash
between deciding and delivering means a retry, never a lost post. ``id`` grows with insertion order and stays
the same across retries, which is what the executor derives its ``pending_post_id`` from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from sev1bot.core.codec import dump_effect, load_effect
from sev1bot.core.effects import DirectMessage, EditPost, Effect, Post, PostRef
from sev1bot.core.times import require_utc
from sev1bot.store.tables import outbox

log = logging.getLogger(__name__)

_ADD = insert(outbox)  # made once: see store/incidents.py
_FORGET = delete(outbox).where(outbox.c.id.in_(bindparam("b_ids", expanding=True)))
_PENDING = (
    select(outbox)
    .where(outbox.c.incident_id == bindparam("b_incident"))
    .order_by(outbox.c.id)
    .limit(bindparam("b_limit"))
)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    incident_id: str
    effect: Effect
    created_at: datetime


@dataclass
class Batch:
    """Undelivered effects of one incident, oldest first, with what delivering them needs (the executor
    keeps ``channel_id`` and ``posts`` current as it creates them)."""

    entries: list[OutboxEntry]
    channel_id: str | None
    posts: dict[PostRef, str]


@dataclass(frozen=True)
class Delivered:
    """What delivering effects left to write down: outbox entries to forget, the post a ref now names,
    the post that completed an at-most-once send (dedupe key, post id)."""

    incident_id: str
    entry_ids: tuple[int, ...] = ()
    post: tuple[PostRef, str] | None = None
    sent: tuple[str, str] | None = None


def enqueue(conn: Connection, incident_id: str, effects: Sequence[Effect], now: datetime) -> None:
    if not effects:
        return
    at = require_utc(now, "outbox now")
    rows = [
        {"incident_id": incident_id, "effect": dump_effect(effect), "created_at": at} for effect in effects
    ]
    conn.execute(_ADD, rows)


def pending(
    conn: Connection, incident_id: str, limit: int, unreadable: set[int] | None = None
) -> list[OutboxEntry]:
    """Up to ``limit`` readable entries, oldest first. One this version cannot read (corrupt, or written by
    a newer version) is logged once, added to ``unreadable`` and skipped from then on: it stays in the table
    for a person to look at, and the incident's other effects are delivered without it."""
    skip = set() if unreadable is None else unreadable
    entries: list[OutboxEntry] = []
    for row in conn.execute(_PENDING, {"b_incident": incident_id, "b_limit": limit + len(skip)}):
        if row.id in skip:
            continue
        try:
            effect = _load(row.id, incident_id, row.effect)
        except ValueError as exc:
            skip.add(int(row.id))
            log.error("%s; skipped; it stays in the outbox table", exc)
            continue
        entries.append(OutboxEntry(int(row.id), row.incident_id, effect, row.created_at))
    return entries[:limit]


def refs_of(entries: Sequence[OutboxEntry]) -> set[PostRef]:
    """The posts these effects create, edit, reply to or link to."""
    refs: set[PostRef] = set()
    for entry in entries:
        effect = entry.effect
        if isinstance(effect, EditPost):
            refs.add(effect.ref)
        elif isinstance(effect, Post):
            refs.update(ref for ref in (effect.ref, effect.thread) if ref is not None)
        elif isinstance(effect, DirectMessage):
            refs.update(effect.links)
    return refs


def done_many(conn: Connection, entry_ids: Sequence[int]) -> None:
    if entry_ids:
        conn.execute(_FORGET, {"b_ids": list(entry_ids)})


def incidents_with_pending(conn: Connection) -> list[str]:
    """Incidents with undelivered effects, the one waiting longest first."""
    query = select(outbox.c.incident_id).group_by(outbox.c.incident_id).order_by(func.min(outbox.c.id))
    return list(conn.execute(query).scalars())


def _load(entry_id: int, incident_id: str, text: str) -> Effect:
    try:
        return load_effect(text)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:200]
        raise ValueError(
            f"outbox entry {entry_id} of incident {incident_id} does not hold an effect this version "
            f"understands ({reason})"
        ) from exc
