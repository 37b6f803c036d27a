"""The mapping between Mattermost post ids and the logical refs the core names posts by."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, delete, insert, or_, select

from sev1bot.core.effects import PostRef
from sev1bot.store.refs import ref_from_str, ref_to_str
from sev1bot.store.tables import posts


def record_posts(conn: Connection, records: Sequence[tuple[str, PostRef, str]]) -> None:
    """Map each ref to its post id, for many (incident id, ref, post id) at once, in that order, in three
    statements however many there are. A later record replaces an earlier post for the same ref (e.g. a
    re-posted board); recording the same again is harmless; a post already recorded as another ref is
    refused with ValueError."""
    if not records:
        return
    rows = [(incident_id, ref_to_str(ref), post_id) for incident_id, ref, post_id in records]
    query = select(posts).where(
        or_(
            posts.c.post_id.in_({r[2] for r in rows}),
            and_(posts.c.incident_id.in_({r[0] for r in rows}), posts.c.ref.in_({r[1] for r in rows})),
        )
    )
    owner_of: dict[str, tuple[str, str]] = {}  # post id -> (incident, ref), as each record leaves it
    post_of: dict[tuple[str, str], str] = {}
    for row in conn.execute(query):
        owner_of[row.post_id] = (row.incident_id, row.ref)
        post_of[(row.incident_id, row.ref)] = row.post_id
    touched: set[tuple[str, str]] = set()
    for incident_id, ref_text, post_id in rows:
        key = (incident_id, ref_text)
        owner = owner_of.get(post_id)
        if owner is not None and owner != key:
            raise ValueError(
                f"post {post_id!r} is already recorded as {owner[1]!r} of incident {owner[0]!r}; "
                f"it cannot also be {ref_text!r} of {incident_id!r}"
            )
        replaced = post_of.get(key)
        if replaced is not None and replaced != post_id:
            del owner_of[replaced]
        owner_of[post_id], post_of[key] = key, post_id
        touched.add(key)
    for incident_id in {key[0] for key in touched}:
        refs = [ref for owner, ref in touched if owner == incident_id]
        conn.execute(delete(posts).where(posts.c.incident_id == incident_id, posts.c.ref.in_(refs)))
    conn.execute(insert(posts), [{"post_id": post_of[k], "incident_id": k[0], "ref": k[1]} for k in touched])


def ref_for_post(conn: Connection, post_id: str) -> tuple[str, PostRef] | None:
    row = conn.execute(select(posts.c.incident_id, posts.c.ref).where(posts.c.post_id == post_id)).first()
    return None if row is None else (row.incident_id, ref_from_str(row.ref))


def posts_of_many(conn: Connection, incident_ids: Sequence[str]) -> dict[str, dict[PostRef, str]]:
    """Each incident's refs and their post ids, in one query."""
    found: dict[str, dict[PostRef, str]] = {incident_id: {} for incident_id in incident_ids}
    if incident_ids:
        query = select(posts.c.incident_id, posts.c.ref, posts.c.post_id).where(
            posts.c.incident_id.in_(incident_ids)
        )
        for row in conn.execute(query):
            found[row.incident_id][ref_from_str(row.ref)] = row.post_id
    return found


def posts_for(conn: Connection, incident_id: str, refs: Iterable[PostRef]) -> dict[PostRef, str]:
    """The post ids of those of ``refs`` that have one."""
    wanted = {ref_to_str(ref): ref for ref in refs}
    if not wanted:
        return {}
    query = select(posts.c.ref, posts.c.post_id).where(
        posts.c.incident_id == incident_id, posts.c.ref.in_(list(wanted))
    )
    return {wanted[row.ref]: row.post_id for row in conn.execute(query)}
