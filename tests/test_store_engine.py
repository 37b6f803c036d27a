"""Database URLs, SQLite connection settings, and the errors a caller can act on."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select

from pg import ADMIN_CONNINFO
from sev1bot.core.times import require_utc
from sev1bot.store import Store, StoreUnavailable
from sev1bot.store.engine import make_engine, parse_url
from sev1bot.store.errors import StoreReadOnly, StoreUnusable
from sev1bot.store.tables import leases
from store_samples import incident, playbook


def test_urls_are_normalised_and_checked() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.db").drivername == "sqlite+pysqlite"
    with pytest.raises(ValueError, match="not a URL"):
        parse_url("sev1bot.db")
    with pytest.raises(ValueError, match=r"unsupported backend or driver 'mysql\+pymysql'") as info:
        parse_url("mysql+pymysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="unsupported"):
        parse_url("postgresql+psycopg2://u@h/db")


def test_store_url_hides_the_password() -> None:
    store = Store("postgresql://sev:hunter2@127.0.0.1/sev1bot")
    assert "hunter2" not in store.url and store.backend == "postgresql"
    store.close()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout=7)
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 7000
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL: no fsync per commit under WAL
    finally:
        engine.dispose()


def test_in_memory_sqlite_works_across_calls() -> None:
    with Store("sqlite://") as store:
        store.migrate()
        store.create_incident(incident(), playbook())
        assert store.load("inc-1") == incident()


def test_unreachable_postgres_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bind, note it, close
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Store(f"postgresql+psycopg://sev:secret@127.0.0.1:{port}/nope") as store:
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}") as info:
            store.load("inc-1")
        assert "secret" not in str(info.value)
        with pytest.raises(StoreUnavailable):
            store.migrate()


def test_unopenable_sqlite_file_is_store_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with Store(url) as store, pytest.raises(StoreUnavailable) as info:
        store.load("inc-1")
    assert f"directory {tmp_path / 'missing-dir'} does not exist" in str(info.value)


def test_a_writer_holding_the_lock_too_long_is_store_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with Store(url) as holder, Store(url, busy_timeout=0.1) as waiter:
        holder.migrate()
        with holder._tx(write=True):
            with pytest.raises(StoreUnavailable, match="locked"):
                waiter.seen_request("r1")
            assert waiter.load("inc-1") is None  # readers are not blocked by the writer (WAL)
        assert not waiter.seen_request("r1")  # and once the writer is done, it goes through


def _pg_read_only(db_url: str, on: bool) -> None:
    """Make the database read-only for new sessions (as a read-only role or a standby would be)."""
    name = db_url.rsplit("/", 1)[1]
    setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(name)) + sql.SQL(setting))


def written_down(store: Store) -> str | None:
    """``store.write_problem`` read afresh (mypy would keep it narrowed across the writes in between)."""
    return store.write_problem


def test_a_database_that_refuses_writes_is_read_only_and_says_why(db_url: str) -> None:
    with Store(db_url) as store:
        store.migrate()
        assert store.write_problem is None
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        read_only_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        _pg_read_only(db_url, True)
        read_only_url = db_url
    with Store(read_only_url) as store:
        store.migrate()  # the schema is there: nothing to write
        assert store.write_problem is not None and "is read-only" in store.write_problem
        where = path if db_url.startswith("sqlite") else db_url.rsplit("/", 1)[1]
        assert where in store.write_problem
        with pytest.raises(StoreReadOnly, match="read-only"):
            store.seen_request("r1")
        assert store.load("inc-1") is None  # reads still work
        if db_url.startswith("sqlite"):
            return
        _pg_read_only(db_url, False)  # fixed: the next write finds out, on a fresh connection
        assert store.check_writable() is None
        assert written_down(store) is None
        assert not store.seen_request("r1")


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite file\n" * 400)


def _malformed(path: Path) -> None:
    with Store(f"sqlite:///{path}") as store:
        store.migrate()
    with path.open("r+b") as f:
        f.seek(100)
        f.write(bytes(range(256)) * ((path.stat().st_size - 100) // 256))


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_not_a_database, "is not an SQLite database"),
        (_malformed, "is corrupt: database disk image is malformed"),
        (Path.mkdir, "cannot be opened: it is a directory"),
    ],
)
def test_an_unusable_sqlite_file_is_named_with_the_cause(tmp_path: Path, make: object, says: str) -> None:
    path = tmp_path / "x.db"
    make(path)  # type: ignore[operator]
    with Store(f"sqlite:///{path}") as store, pytest.raises(StoreUnusable) as info:
        store.migrate()
    assert str(info.value).startswith(f"database file {path} {says}"), info.value


def test_require_utc() -> None:
    assert require_utc(datetime(2024, 1, 1, tzinfo=UTC), "x").tzinfo is UTC
    with pytest.raises(ValueError, match="where: naive datetime 2024-01-01T00:00:00"):
        require_utc(datetime(2024, 1, 1), "where")


def test_a_transaction_left_open_by_a_stopped_process_does_not_hold_the_lease_for_ever(pg_url: str) -> None:
    """A replica stopped (SIGSTOP, a hung VM) in the middle of renewing its lease keeps the lease row
    locked; the server ends a transaction that sits idle, so that another replica can take over. (SQLite:
    one process, or a busy timeout, see test_a_writer_holding_the_lock_too_long_is_store_unavailable.)"""
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    ttl = timedelta(seconds=6)
    with Store(pg_url) as stopped, Store(pg_url) as other, ThreadPoolExecutor(1) as pool:
        stopped.migrate()
        assert stopped.acquire_lease("leader", "a", ttl, t0) == 1
        with pytest.raises(StoreUnavailable), stopped._tx(write=True) as conn:
            conn.execute(select(leases).with_for_update())  # renewing ... and the process stops here
            taking = pool.submit(other.acquire_lease, "leader", "b", ttl, t0 + timedelta(minutes=1))
            assert taking.result(timeout=60) == 2  # a give-up limit: without the setting it waits for ever
        assert stopped.acquire_lease("leader", "a", ttl, t0 + timedelta(minutes=1)) is None  # b holds it
