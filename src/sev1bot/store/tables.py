"""The schema, as SQLAlchemy Core tables. Migrations must produce exactly this (a test compares them).

Constraint names follow one convention so that migrations on PostgreSQL and SQLite name things alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

from sev1bot.store.utc import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _incident_fk() -> Column[str]:
    return Column("incident_id", Text, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)


incidents = Table(
    "incidents",
    metadata,
    Column("id", Text, primary_key=True),
    Column("playbook_id", Text, nullable=False),
    Column("playbook_json", Text, nullable=False),  # snapshot taken at start: the checklist a run keeps
    Column("channel_name", Text, nullable=False, unique=True),
    Column("channel_id", Text, nullable=True, unique=True),
    Column("customer", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("reporter", Text, nullable=False),
    Column("status", Text, nullable=False, index=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("escalations_sent", Integer, nullable=False),
    Column("outage_started_at", UTCDateTime, nullable=True),  # /sev1 since; NULL: at started_at
    Column("version", Integer, nullable=False),  # bumped by every save (see statecache.py)
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'resolved')", name="status"),
)

items = Table(
    "items",
    metadata,
    _incident_fk(),
    Column("key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("by", Text, nullable=True),
    Column("at", UTCDateTime, nullable=True),
    Column("assignee", Text, nullable=True),
    Column("via", Text, nullable=True),
    PrimaryKeyConstraint("incident_id", "key"),
    CheckConstraint("status IN ('open', 'done', 'skipped')", name="status"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _incident_fk(),
    Column("seq", Integer, nullable=False),  # position in IncidentState.timeline, from 0
    Column("at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    UniqueConstraint("incident_id", "seq"),
)

# The customer clock's two lists, append-only like the timeline: row ``seq`` is entry ``seq`` of the state's
# tuple (IncidentState.customer_replies, IncidentState.etas).
customer_replies = Table(
    "customer_replies",
    metadata,
    _incident_fk(),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("by", Text, nullable=False),
    Column("item", Text, nullable=False),
    PrimaryKeyConstraint("incident_id", "seq"),
)

etas = Table(
    "etas",
    metadata,
    _incident_fk(),
    Column("seq", Integer, nullable=False),
    Column("given_at", UTCDateTime, nullable=False),
    Column("by", Text, nullable=False),
    Column("eta", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("incident_id", "seq"),
)

posts = Table(
    "posts",
    metadata,
    Column("post_id", Text, primary_key=True),
    _incident_fk(),
    Column("ref", Text, nullable=False),  # refs.ref_to_str(PostRef)
    UniqueConstraint("incident_id", "ref"),
)

timers = Table(
    "timers",
    metadata,
    _incident_fk(),
    Column("key", Text, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("incident_id", "key"),
)

sent = Table(
    "sent",
    metadata,
    _incident_fk(),
    Column("key", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),  # when it was claimed
    Column("post_id", Text, nullable=True),  # set once the send succeeded
    PrimaryKeyConstraint("incident_id", "key"),  # the uniqueness that makes a ping go out at most once
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=True),  # NULL once released
    Column("fence", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index(None, "seen_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # delivery order, and a stable retry id
    _incident_fk(),
    Column("effect", Text, nullable=False),  # sev1bot.core.codec.dump_effect
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "incident_id", "id"),
)
