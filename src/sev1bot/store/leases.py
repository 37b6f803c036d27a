"""Named leases for leader election, with fencing tokens.

The fence grows by one every time the lease changes hands, so a leader that stalled past its lease and
wakes up holds a smaller fence than its successor: ``check_fence`` lets a write refuse the stale one, and
``stale`` says why a :class:`Fence` no longer entitles its holder to act (the store's delivery reads refuse
it). Expiry is judged against the ``now`` the caller passes, never the database clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from sev1bot.core.times import require_utc
from sev1bot.store.engine import insert_ignore
from sev1bot.store.tables import leases


@dataclass(frozen=True)
class Fence:
    """What a holder shows to act as the lease's holder: the lease's name and the fence it was granted."""

    lease: str
    token: int


def acquire(conn: Connection, name: str, holder: str, ttl: timedelta, now: datetime) -> int | None:
    """Take or renew the lease; return its fence, or None while someone else holds it."""
    if ttl <= timedelta(0):
        raise ValueError(f"lease {name!r}: ttl must be positive, got {ttl}")
    now = require_utc(now, f"lease {name!r} now")
    expires = now + ttl
    if insert_ignore(
        conn, leases, {"name": name, "holder": holder, "fence": 1, "expires_at": expires}, on=("name",)
    ):
        return 1
    row = conn.execute(select(leases).where(leases.c.name == name).with_for_update()).one()
    if row.holder == holder:
        fence = int(row.fence)  # renewal: nobody held it in between, the fence stays
    elif row.holder is None or row.expires_at <= now:
        fence = int(row.fence) + 1
    else:
        return None
    conn.execute(
        update(leases).where(leases.c.name == name).values(holder=holder, fence=fence, expires_at=expires)
    )
    return fence


def release(conn: Connection, name: str, holder: str) -> bool:
    """Give the lease up if ``holder`` has it (so a successor need not wait for expiry)."""
    done = conn.execute(
        update(leases).where(leases.c.name == name, leases.c.holder == holder).values(holder=None)
    )
    return done.rowcount == 1


def check_fence(conn: Connection, name: str, fence: int) -> bool:
    """True while ``fence`` is the newest one issued for the lease and the lease is not released."""
    row = conn.execute(select(leases.c.holder, leases.c.fence).where(leases.c.name == name)).first()
    return row is not None and row.holder is not None and int(row.fence) == fence


def stale(conn: Connection, fence: Fence, now: datetime) -> str | None:
    """Why ``fence`` no longer entitles its holder to act at ``now`` (released, taken over, run out), or
    None while it does."""
    query = select(leases.c.holder, leases.c.fence, leases.c.expires_at).where(leases.c.name == fence.lease)
    row = conn.execute(query).first()
    if row is None or row.holder is None:
        return f"the {fence.lease!r} lease is released"
    if int(row.fence) != fence.token:
        return f"another replica holds the {fence.lease!r} lease now (fence {row.fence}, ours {fence.token})"
    if row.expires_at <= require_utc(now, f"lease {fence.lease!r} now"):
        return f"the {fence.lease!r} lease ran out at {row.expires_at.isoformat()} and was not renewed"
    return None
