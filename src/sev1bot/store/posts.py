"""The mapping between Mattermost post ids and the logical refs the core names posts by."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from sev1bot.core.effects import PostRef
from sev1bot.store.refs import ref_from_str, ref_to_str
from sev1bot.store.tables import posts


def record_post(conn: Connection, incident_id: str, ref: PostRef, post_id: str) -> None:
    """Map ``ref`` to ``post_id``, replacing an earlier post for the same ref (e.g. a re-posted board)."""
    ref_text = ref_to_str(ref)
    current = conn.execute(select(posts).where(posts.c.post_id == post_id)).first()
    if current is not None:
        if (current.incident_id, current.ref) == (incident_id, ref_text):
            return
        raise ValueError(
            f"post {post_id!r} is already recorded as {current.ref!r} of incident {current.incident_id!r}; "
            f"it cannot also be {ref_text!r} of {incident_id!r}"
        )
    conn.execute(delete(posts).where(posts.c.incident_id == incident_id, posts.c.ref == ref_text))
    conn.execute(insert(posts).values(post_id=post_id, incident_id=incident_id, ref=ref_text))


def post_id_for(conn: Connection, incident_id: str, ref: PostRef) -> str | None:
    query = select(posts.c.post_id).where(posts.c.incident_id == incident_id, posts.c.ref == ref_to_str(ref))
    return conn.execute(query).scalar()


def ref_for_post(conn: Connection, post_id: str) -> tuple[str, PostRef] | None:
    row = conn.execute(select(posts.c.incident_id, posts.c.ref).where(posts.c.post_id == post_id)).first()
    return None if row is None else (row.incident_id, ref_from_str(row.ref))


def posts_of(conn: Connection, incident_id: str) -> dict[PostRef, str]:
    rows = conn.execute(select(posts.c.ref, posts.c.post_id).where(posts.c.incident_id == incident_id)).all()
    return {ref_from_str(row.ref): row.post_id for row in rows}
