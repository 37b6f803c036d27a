"""Engines for the two supported backends, with the connection settings the store relies on.

SQLite: WAL (readers never block the writer) with synchronous=NORMAL, foreign keys on, a busy timeout, and
SQLAlchemy rather than the sqlite3 module emits BEGIN, so that write transactions can say ``BEGIN IMMEDIATE``:
the write lock is taken up front and two processes on one file queue up instead of failing or losing an
update half way.
PostgreSQL: psycopg 3, pre-ping so a restarted server costs one retry rather than an error, and an idle
transaction timeout: a process stopped in the middle of a transaction (SIGSTOP, a hung VM) would otherwise
keep its row locks, the leader lease's among them, and no other replica could take over until it ran again.
The store's transactions never wait on anything between their statements, so one that sits idle for
``IDLE_IN_TRANSACTION`` seconds belongs to a process that stopped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from sev1bot.store.errors import NotMigrated, StoreError, StoreReadOnly, StoreUnavailable, StoreUnusable

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///sev1bot.db"
WRITE = "sev1bot_write"  # execution option: this transaction writes (BEGIN IMMEDIATE on SQLite)
IDLE_IN_TRANSACTION = 5  # seconds (PostgreSQL): well under the 6 s leader lease, far above any real gap


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
        engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        event.listen(engine, "connect", _configure_postgres)
        return engine
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout}}
    if is_memory(parsed):
        # One shared connection, or every checkout would see its own empty database.
        kwargs = {"connect_args": {"check_same_thread": False}, "poolclass": StaticPool}
    engine = create_engine(parsed, **kwargs)
    _configure_sqlite(engine, busy_ms=int(busy_timeout * 1000), wal=not is_memory(parsed))
    return engine


def describe(url: URL) -> str:
    """How messages name the database: the SQLite file as an absolute path, else the URL (no password)."""
    path = sqlite_path(url)
    if path is not None:
        return f"database file {path}"
    return f"database {url.render_as_string(hide_password=True)}"


def sqlite_path(url: URL) -> str | None:
    """The absolute path of an SQLite file URL (``file:`` URIs included); None for memory or PostgreSQL."""
    if url.get_backend_name() != "sqlite" or is_memory(url) or url.database is None:
        return None
    path = url.database
    if str(url.query.get("uri", "")).lower() in {"true", "1"} and path.startswith("file:"):
        path = path.removeprefix("file:")
        path = "/" + path.removeprefix("//").lstrip("/") if path.startswith("//") else path
    return os.path.abspath(path)


@contextmanager
def driver_errors(where: str, path: str | None = None, *, quiet: bool = False) -> Iterator[None]:
    """Turn driver errors a caller can act on into the store's errors (errors.py). ``where`` names the
    database in messages (see :func:`describe`), ``path`` is the SQLite file if any. A database that is merely
    unavailable is logged here unless ``quiet``; the rest is for the caller to report."""
    try:
        yield
    except DBAPIError as exc:
        problem = _classify(exc, where, path)
        if problem is None:
            raise
        if type(problem) is StoreUnavailable and not quiet:
            log.warning("%s", problem)
        raise problem from exc
    except (PoolTimeout, DisconnectionError) as exc:
        if not quiet:
            log.warning("%s unavailable: %s", where, exc)
        raise StoreUnavailable(f"{where} unavailable: {exc}") from exc


def _classify(exc: DBAPIError, where: str, path: str | None) -> StoreError | None:
    """The store error for a driver error, or None for one the caller must see as is (a bug, a constraint)."""
    orig = exc.orig
    message = str(orig).strip()
    sqlite_error = str(getattr(orig, "sqlite_errorname", "") or "")  # e.g. SQLITE_READONLY_DIRECTORY
    sqlstate = getattr(orig, "sqlstate", None)
    # SQLite says "no such table"; PostgreSQL raises undefined_table (SQLSTATE 42P01).
    if "no such table" in message or sqlstate == "42P01":
        return NotMigrated(f"{where} lacks (part of) the sev1bot schema: run Store.migrate()")
    if sqlite_error.startswith("SQLITE_READONLY") or sqlstate in _PG_READ_ONLY:
        return StoreReadOnly(f"{where} is read-only: {message}")
    if sqlite_error.startswith("SQLITE_NOTADB"):
        return StoreUnusable(f"{where} is not an SQLite database (or is encrypted): {message}")
    if sqlite_error.startswith("SQLITE_CORRUPT"):
        return StoreUnusable(f"{where} is corrupt: {message}")
    if sqlite_error.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreUnusable(f"{where} cannot be opened: {_why_unopenable(path) or message}")
    if isinstance(exc, OperationalError | InterfaceError) or sqlstate == _PG_IDLE_TIMEOUT:
        return StoreUnavailable(f"{where} unavailable: {message}")
    return None


# read_only_sql_transaction (a read-only role or server), insufficient_privilege (no INSERT/UPDATE grant)
_PG_READ_ONLY = frozenset({"25006", "42501"})
_PG_IDLE_TIMEOUT = "25P03"  # idle_in_transaction_session_timeout ended the session: this process had stopped


def _why_unopenable(path: str | None) -> str | None:
    """What the file system says about an SQLite file that cannot be opened; SQLite only says "unable to
    open database file"."""
    if path is None:
        return None
    file, parent = Path(path), Path(path).parent
    if file.is_dir():
        return "it is a directory"
    if not parent.is_dir():
        return f"directory {parent} does not exist"
    if file.exists() and not os.access(file, os.R_OK):
        return "permission denied (cannot read it)"
    if not file.exists() and not os.access(parent, os.W_OK):
        return f"it does not exist and directory {parent} is not writable"
    return None


def _configure_postgres(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION * 1000}")
    dbapi_connection.commit()


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
