"""Reading and writing one IncidentState across its tables, on a connection the caller's transaction owns.

The row of ``incidents`` carries a ``version`` bumped on every save. The timeline is append-only: entry ``n``
of ``IncidentState.timeline`` is the row with ``seq = n``, and a save only inserts the entries past the last
stored one. A new state whose timeline is shorter than, or differs from, the one it replaces raises Conflict
rather than dropping entries. The customer clock's replies and ETAs are kept the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, insert, select, update

from sev1bot.core.state import (
    CustomerReply,
    Eta,
    IncidentState,
    IncidentStatus,
    ItemState,
    ItemStatus,
    TimelineEntry,
)
from sev1bot.core.times import require_utc
from sev1bot.playbook.schema import Playbook
from sev1bot.store.errors import Conflict, IncidentNotFound
from sev1bot.store.tables import customer_replies, etas, incidents, items, timeline, timers

# Statements made once: building and keying a statement cost SQLAlchemy more than running it, on the path
# every reaction takes. The values come with the parameters (the SET clause is made from their names).
_BUMP = (
    update(incidents)
    .where(incidents.c.id == bindparam("b_id"), incidents.c.version == bindparam("b_version"))
    .values(version=incidents.c.version + 1)
    .returning(incidents.c.version)
)
_SET_ITEM = update(items).where(
    items.c.incident_id == bindparam("b_incident"), items.c.key == bindparam("b_key")
)
_ADD_TIMELINE = insert(timeline)


def _aware(value: datetime | None, where: str) -> datetime | None:
    return None if value is None else require_utc(value, where)


def _scalar_row(state: IncidentState) -> dict[str, Any]:
    where = f"incident {state.id!r}"
    return {
        "channel_name": state.channel_name,
        "customer": state.customer,
        "summary": state.summary,
        "owner": state.owner,
        "reporter": state.reporter,
        "status": IncidentStatus(state.status).value,
        "started_at": _aware(state.started_at, f"{where} started_at"),
        "resolved_at": _aware(state.resolved_at, f"{where} resolved_at"),
        "escalations_sent": state.escalations_sent,
        "outage_started_at": _aware(state.outage_started_at, f"{where} outage_started_at"),
    }


def _item_rows(state: IncidentState) -> dict[str, dict[str, Any]]:
    return {key: _item_row(state, key, item) for key, item in state.items.items()}


def _item_row(state: IncidentState, key: str, item: ItemState) -> dict[str, Any]:
    if item.key != key:
        raise ValueError(f"incident {state.id!r}: items[{key!r}] holds the item with key {item.key!r}")
    return {
        "status": ItemStatus(item.status).value,
        "by": item.by,
        "at": _aware(item.at, f"incident {state.id!r} item {key} at"),
        "assignee": item.assignee,
        "via": item.via,
    }


def _timer_rows(state: IncidentState) -> dict[str, dict[str, Any]]:
    return {
        key: {"due_at": _aware(due, f"incident {state.id!r} timer {key!r}")}
        for key, due in state.timers.items()
    }


def _timeline_row(state: IncidentState, seq: int, entry: TimelineEntry) -> dict[str, Any]:
    at = require_utc(entry.at, f"incident {state.id!r} timeline entry {seq}")
    return {
        "incident_id": state.id,
        "seq": seq,
        "at": at,
        "actor": entry.actor,
        "kind": entry.kind,
        "text": entry.text,
    }


def _reply_row(state: IncidentState, seq: int, reply: CustomerReply) -> dict[str, Any]:
    at = require_utc(reply.at, f"incident {state.id!r} customer reply {seq}")
    return {"incident_id": state.id, "seq": seq, "at": at, "by": reply.by, "item": reply.item}


def _eta_row(state: IncidentState, seq: int, eta: Eta) -> dict[str, Any]:
    where = f"incident {state.id!r} ETA {seq}"
    return {
        "incident_id": state.id,
        "seq": seq,
        "given_at": require_utc(eta.given_at, f"{where} given_at"),
        "by": eta.by,
        "eta": require_utc(eta.eta, f"{where} eta"),
    }


def _appended(old: tuple[Any, ...], new: tuple[Any, ...], what: str, incident_id: str) -> range:
    """The positions of the entries ``new`` adds to ``old``; Conflict if it drops or changes any."""
    n = len(old)
    if len(new) < n or any(a is not b and a != b for a, b in zip(old, new[:n], strict=True)):
        raise Conflict(f"incident {incident_id!r}: the new state rewrites the {what}; it may only append")
    return range(n, len(new))


Rows = list[dict[str, Any]]


def _clock_rows(new: IncidentState, old: IncidentState | None = None) -> list[tuple[Table, Rows]]:
    """The rows of the customer replies and ETAs ``new`` adds to ``old`` (all of them without ``old``), by
    table; Conflict if it drops or changes one (the customer clock's lists only grow)."""
    found: list[tuple[Table, Rows]] = []
    replies_before = old.customer_replies if old is not None else ()
    if new.customer_replies is not replies_before:
        added = _appended(replies_before, new.customer_replies, "customer replies", new.id)
        found.append((customer_replies, [_reply_row(new, n, new.customer_replies[n]) for n in added]))
    etas_before = old.etas if old is not None else ()
    if new.etas is not etas_before:
        added = _appended(etas_before, new.etas, "ETAs", new.id)
        found.append((etas, [_eta_row(new, n, new.etas[n]) for n in added]))
    return [(table, rows) for table, rows in found if rows]


def insert_incident(conn: Connection, state: IncidentState, playbook: Playbook, now: datetime) -> None:
    if state.playbook_id != playbook.id:
        raise ValueError(
            f"incident {state.id!r} runs playbook {state.playbook_id!r} but was given {playbook.id!r}"
        )
    conn.execute(
        insert(incidents).values(
            id=state.id,
            playbook_id=state.playbook_id,
            playbook_json=playbook.model_dump_json(),
            version=1,
            created_at=now,
            **_scalar_row(state),
        )
    )
    _sync(conn, items, state.id, _item_rows(state))
    _sync(conn, timers, state.id, _timer_rows(state))
    rows = [_timeline_row(state, seq, entry) for seq, entry in enumerate(state.timeline)]
    if rows:
        conn.execute(insert(timeline), rows)
    for table, clock_rows in _clock_rows(state):
        conn.execute(insert(table), clock_rows)


def save_changes(conn: Connection, old: IncidentState, new: IncidentState, version: int) -> int:
    """Write ``new`` over ``old``, which is what is stored at ``version``, and return the new version.

    It writes only the rows that differ and reads none: the version check on the incident row guarantees
    the stored rows are ``old``'s (Conflict if not; the caller holds the row lock, so this is a safeguard).
    """
    if new.id != old.id:
        raise ValueError(f"incident {old.id!r}: cannot save incident {new.id!r} over it")
    n = len(old.timeline)
    kept = zip(old.timeline, new.timeline[:n], strict=True)
    if len(new.timeline) < n or any(a is not b and a != b for a, b in kept):
        raise Conflict(f"incident {new.id!r}: the new state rewrites the timeline; it may only append")
    clock = _clock_rows(new, old)  # before any write: it may refuse the state
    params = {"b_id": new.id, "b_version": version, **_scalar_row(new)}
    new_version = conn.execute(_BUMP, params).scalar()
    if new_version is None:
        found = conn.execute(select(incidents.c.version).where(incidents.c.id == new.id)).scalar()
        if found is None:
            raise IncidentNotFound(new.id)
        raise Conflict(f"incident {new.id!r} is at version {found}, not {version}: reload and retry")
    if new.items.keys() != old.items.keys():
        _apply_diff(conn, items, new.id, _item_rows(old), _item_rows(new))
    else:  # the usual case: a few items changed (the core copies only those it changes)
        changed = [
            {"b_incident": new.id, "b_key": key, **_item_row(new, key, item)}
            for key, item in new.items.items()
            if item is not old.items[key] and item != old.items[key]
        ]
        if changed:
            conn.execute(_SET_ITEM, changed)
    if new.timers != old.timers:
        _apply_diff(conn, timers, new.id, _timer_rows(old), _timer_rows(new))
    added = [_timeline_row(new, seq, new.timeline[seq]) for seq in range(n, len(new.timeline))]
    if added:
        conn.execute(_ADD_TIMELINE, added)
    for table, rows in clock:
        conn.execute(insert(table), rows)
    return int(new_version)


def _apply_diff(
    conn: Connection,
    table: Table,
    incident_id: str,
    before: Mapping[str, dict[str, Any]],
    after: Mapping[str, dict[str, Any]],
) -> None:
    """Change the incident's rows in ``table`` from ``before`` to ``after`` (key -> other columns)."""
    gone = [key for key in before if key not in after]
    if gone:
        conn.execute(delete(table).where(table.c.incident_id == incident_id, table.c.key.in_(gone)))
    added = [{"incident_id": incident_id, "key": k, **row} for k, row in after.items() if k not in before]
    if added:
        conn.execute(insert(table), added)
    for key, row in after.items():
        if key in before and before[key] != row:
            conn.execute(
                update(table).where(table.c.incident_id == incident_id, table.c.key == key).values(**row)
            )


def _sync(conn: Connection, table: Table, incident_id: str, desired: Mapping[str, dict[str, Any]]) -> None:
    """Make the incident's rows in ``table`` equal ``desired`` (key -> other columns), touching few rows."""
    columns = [table.c[name] for name in next(iter(desired.values()), {})]
    existing = {
        row.key: row._asdict()
        for row in conn.execute(select(table).where(table.c.incident_id == incident_id)).all()
    }
    gone = [key for key in existing if key not in desired]
    if gone:
        conn.execute(delete(table).where(table.c.incident_id == incident_id, table.c.key.in_(gone)))
    added = [
        {"incident_id": incident_id, "key": key, **row} for key, row in desired.items() if key not in existing
    ]
    if added:
        conn.execute(insert(table), added)
    for key, row in desired.items():
        old = existing.get(key)
        if old is not None and any(old[c.name] != row[c.name] for c in columns):
            conn.execute(
                update(table).where(table.c.incident_id == incident_id, table.c.key == key).values(**row)
            )


def _entry(row: Row[Any]) -> TimelineEntry:
    return TimelineEntry(at=row.at, actor=row.actor, kind=row.kind, text=row.text)


def load_incidents(
    conn: Connection, ids: Sequence[str] | None = None, *, where: Any = None, lock: bool = False
) -> list[tuple[IncidentState, int]]:
    """Load incidents (by id, or matching ``where``) with their versions, ordered by start time."""
    query = select(incidents).order_by(incidents.c.started_at, incidents.c.id)
    if ids is not None:
        query = query.where(incidents.c.id.in_(ids))
    if where is not None:
        query = query.where(where)
    if lock:
        query = query.with_for_update()
    heads = conn.execute(query).all()
    if not heads:
        return []
    found = [row.id for row in heads]
    item_rows = _grouped(conn.execute(select(items).where(items.c.incident_id.in_(found))))
    timer_rows = _grouped(
        conn.execute(
            select(timers).where(timers.c.incident_id.in_(found)).order_by(timers.c.due_at, timers.c.key)
        )
    )
    entry_rows = _grouped(
        conn.execute(select(timeline).where(timeline.c.incident_id.in_(found)).order_by(timeline.c.seq))
    )
    clock = _clock_of(conn, found)
    states = []
    for head in heads:
        state = IncidentState(
            id=head.id,
            playbook_id=head.playbook_id,
            channel_name=head.channel_name,
            customer=head.customer,
            summary=head.summary,
            owner=head.owner,
            reporter=head.reporter,
            status=IncidentStatus(head.status),
            started_at=head.started_at,
            resolved_at=head.resolved_at,
            escalations_sent=head.escalations_sent,
            items={
                row.key: ItemState(
                    key=row.key,
                    status=ItemStatus(row.status),
                    by=row.by,
                    at=row.at,
                    assignee=row.assignee,
                    via=row.via,
                )
                for row in sorted(item_rows[head.id], key=lambda row: _natural(row.key))
            },
            timeline=tuple(_entry(row) for row in entry_rows[head.id]),
            timers={row.key: row.due_at for row in timer_rows[head.id]},
            outage_started_at=head.outage_started_at,
            **clock[head.id],
        )
        states.append((state, int(head.version)))
    return states


_CLOCK_LISTS: tuple[tuple[Table, str, Callable[[Row[Any]], object]], ...] = (
    (customer_replies, "customer_replies", lambda r: CustomerReply(at=r.at, by=r.by, item=r.item)),
    (etas, "etas", lambda r: Eta(given_at=r.given_at, by=r.by, eta=r.eta)),
)


def _clock_of(conn: Connection, found: list[str]) -> defaultdict[str, dict[str, Any]]:
    """The customer replies and ETAs of the incidents ``found``, as IncidentState fields by incident id."""
    clock: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for table, field, entry in _CLOCK_LISTS:
        rows = conn.execute(select(table).where(table.c.incident_id.in_(found)).order_by(table.c.seq))
        for incident_id, group in _grouped(rows).items():
            clock[incident_id][field] = tuple(entry(row) for row in group)
    return clock


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key putting "2.10" after "2.9", the checklist order."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in key.split(".")]


def _grouped(rows: Iterable[Row[Any]]) -> defaultdict[str, list[Row[Any]]]:
    grouped: defaultdict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.incident_id].append(row)
    return grouped
