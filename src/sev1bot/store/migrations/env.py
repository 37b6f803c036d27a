"""Alembic environment: runs on the connection that sev1bot.store.migrate hands over (online mode only)."""

from __future__ import annotations

from alembic import context

from sev1bot.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "sev1bot migrations run through sev1bot.store.migrate (Store.migrate()), not the alembic command line"
    )

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
