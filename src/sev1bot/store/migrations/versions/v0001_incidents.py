"""Incidents with their items, timeline, post mapping, timers and sent-once log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("playbook_id", sa.Text(), nullable=False),
        sa.Column("playbook_json", sa.Text(), nullable=False),
        sa.Column("channel_name", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=True),
        sa.Column("customer", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("reporter", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.Column("escalations_sent", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("status IN ('active', 'resolved')", name="ck_incidents_status"),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("channel_name", name="uq_incidents_channel_name"),
        sa.UniqueConstraint("channel_id", name="uq_incidents_channel_id"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "items",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("by", sa.Text(), nullable=True),
        sa.Column("at", UTC_DATETIME, nullable=True),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'done', 'skipped')", name="ck_items_status"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_items_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "key", name="pk_items"),
    )
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_timeline_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_timeline"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_timeline_incident_id_seq"),
    )
    op.create_table(
        "posts",
        sa.Column("post_id", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_posts_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", name="pk_posts"),
        sa.UniqueConstraint("incident_id", "ref", name="uq_posts_incident_id_ref"),
    )
    op.create_table(
        "timers",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("due_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_timers_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "key", name="pk_timers"),
    )
    op.create_table(
        "sent",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=False),
        sa.Column("post_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_sent_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "key", name="pk_sent"),
    )


def downgrade() -> None:
    for table in ("sent", "timers", "posts", "timeline", "items"):
        op.drop_table(table)
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
