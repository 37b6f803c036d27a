"""Alembic migrations, run by :func:`sev1bot.store.migrate.upgrade` (no alembic.ini needed)."""
