"""The customer clock: when the outage really began, the replies to the customer, and every ETA given.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("outage_started_at", UTC_DATETIME, nullable=True))
    op.create_table(
        "customer_replies",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_customer_replies_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "seq", name="pk_customer_replies"),
    )
    op.create_table(
        "etas",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("given_at", UTC_DATETIME, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("eta", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_etas_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "seq", name="pk_etas"),
    )


def downgrade() -> None:
    op.drop_table("etas")
    op.drop_table("customer_replies")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("outage_started_at")
