"""Engines for the two supported backends, with the connection settings the store relies on.

SQLite: WAL (readers never block the writer) with synchronous=NORMAL, foreign keys on, a busy timeout, and
SQLAlchemy rather than the sqlite3 module emits BEGIN, so that write transactions can say ``BEGIN IMMEDIATE``:
the write lock is taken up front and two processes on one file queue up instead of failing or losing an
update half way.
PostgreSQL: psycopg 3, pre-ping so a restarted server costs one retry rather than an error.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from sev1bot.store.errors import NotMigrated, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///sev1bot.db"
WRITE = "sev1bot_write"  # execution option: this transaction writes (BEGIN IMMEDIATE on SQLite)


def parse_url(url: str | URL) -> URL:
    """Parse and normalise a database URL; raise ValueError saying what is wrong (password never shown)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "database URL is not a URL; write e.g. sqlite:///sev1bot.db or postgresql+psycopg://user@host/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in {"postgresql", "postgres"} and driver in {"", "psycopg"}:
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in {"", "pysqlite"}:
        return parsed.set(drivername="sqlite+pysqlite")
    shown = parsed.render_as_string(hide_password=True)
    raise ValueError(
        f"database URL {shown}: unsupported backend or driver {parsed.drivername!r}; "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
    )


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in {None, "", ":memory:"}


def make_engine(url: str | URL, *, busy_timeout: float = 30.0) -> Engine:
    """Create the engine for ``url``; ``busy_timeout`` (seconds) is how long a writer waits for a lock."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout}}
    if is_memory(parsed):
        # One shared connection, or every checkout would see its own empty database.
        kwargs = {"connect_args": {"check_same_thread": False}, "poolclass": StaticPool}
    engine = create_engine(parsed, **kwargs)
    _configure_sqlite(engine, busy_ms=int(busy_timeout * 1000), wal=not is_memory(parsed))
    return engine


@contextmanager
def driver_errors(url: str) -> Iterator[None]:
    """Turn driver errors a caller can act on into NotMigrated or StoreUnavailable (``url`` for messages)."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        message = str(exc.orig).strip()
        # SQLite says "no such table"; PostgreSQL raises undefined_table (SQLSTATE 42P01).
        if "no such table" in message or getattr(exc.orig, "sqlstate", None) == "42P01":
            raise NotMigrated(
                f"database {url} lacks (part of) the sev1bot schema: run Store.migrate()"
            ) from exc
        if isinstance(exc, ProgrammingError):
            raise
        log.warning("database %s unavailable: %s", url, message)
        raise StoreUnavailable(f"database {url} unavailable: {message}") from exc
    except (InterfaceError, PoolTimeout, DisconnectionError) as exc:
        log.warning("database %s unavailable: %s", url, exc)
        raise StoreUnavailable(f"database {url} unavailable: {exc}") from exc


def _configure_sqlite(engine: Engine, *, busy_ms: int, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                _enable_wal(cursor, deadline=time.monotonic() + busy_ms / 1000)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(cursor: Any, *, deadline: float) -> None:
    """Switch the file to WAL (persistent, so usually already done). The switch needs an exclusive lock and
    SQLite does not wait on the busy timeout for it: a second process opening a new file at the same moment
    gets "database is locked" at once, so retry until the deadline."""
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    if mode != "wal":
        log.warning("SQLite refused WAL mode (got %s); readers will wait for writers", mode)
        return
    # In WAL mode NORMAL cannot corrupt the file; it syncs at checkpoints instead of at every commit, so
    # a power cut (not a crash of the bot) can lose the last commits. FULL cost an fsync per transaction,
    # several per reaction (docs/performance.md). Production durability is PostgreSQL's job.
    cursor.execute("PRAGMA synchronous = NORMAL")


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], *, on: Sequence[str]) -> bool:
    """INSERT that does nothing if a row with the same ``on`` columns exists; True if a row was inserted.

    Uniqueness is decided by the database in one statement, so racing callers cannot both win. RETURNING
    tells whether a row went in (``rowcount`` is not reliable for INSERT across drivers).
    """
    dialect = conn.dialect.name
    first = table.c[on[0]]
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=list(on))
        return conn.execute(pg_stmt.returning(first)).first() is not None
    if dialect == "sqlite":
        lite_stmt = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=list(on))
        return conn.execute(lite_stmt.returning(first)).first() is not None
    raise ValueError(f"unsupported dialect {dialect}")  # pragma: no cover - parse_url lets only these through
