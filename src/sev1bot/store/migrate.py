"""Schema migrations with Alembic, configured in code: the scripts ship inside the package.

Two replicas starting at once do not race: on PostgreSQL the upgrade holds an advisory lock, on SQLite it
runs inside one ``BEGIN IMMEDIATE`` transaction (DDL is transactional on both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from sev1bot.store.engine import WRITE
from sev1bot.store.errors import NewerSchema

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "sev1bot.store:migrations"
_LOCK_KEY = 0x5E71B07  # pg_advisory_xact_lock key shared by every sev1bot process migrating one database


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our scripts; env.py runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migration scripts found in sev1bot.store.migrations")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", *, where: str = "the database") -> None:
    """Upgrade the database to ``revision`` in one transaction. NewerSchema, naming ``where`` and the
    revision, if a newer sev1bot migrated it past anything this version knows."""

    def step(config: Config) -> None:
        found = current_revision(config.attributes["connection"])
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if found is not None and found not in known:
            raise NewerSchema(
                f"{where} is at schema revision {found!r}, which this sev1bot does not know (its newest is "
                f"{head_revision()!r}): a newer sev1bot migrated it. Run that version, or restore a backup "
                "from before the upgrade."
            )
        command.upgrade(config, revision)

    _run(engine, step)


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, lambda config: command.downgrade(config, revision))


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            before = current_revision(connection)
            step(alembic_config(connection))
            after = current_revision(connection)
    if before != after:
        log.info("database schema migrated from %s to %s", before or "empty", after or "empty")
