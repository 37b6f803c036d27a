"""PostgreSQL for tests: a throwaway database per test on the server at SEV1BOT_TEST_PG.

SEV1BOT_TEST_PG is a libpq conninfo for an existing database we may connect to with rights to create
databases (default: ``host=127.0.0.1 port=5432 user=postgres dbname=test``, trust auth).
"""

from __future__ import annotations

import os
import secrets

import psycopg
from psycopg import conninfo, sql

ADMIN_CONNINFO = os.environ.get("SEV1BOT_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def server_problem() -> str | None:
    """None if the server answers, else a sentence saying why not."""
    try:
        with psycopg.connect(ADMIN_CONNINFO, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not reachable at {ADMIN_CONNINFO!r} (set SEV1BOT_TEST_PG): {first_line}"
    return None


class Databases:
    """Creates uniquely named databases (prefix random per test session) and drops them again."""

    def __init__(self) -> None:
        self.prefix = f"sev1bot_test_{secrets.token_hex(4)}"
        self._count = 0
        self._live: set[str] = set()

    def create(self) -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._live.add(name)
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(ADMIN_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._live.discard(name)

    def drop_all(self) -> None:
        for name in sorted(self._live):
            self.drop(name)

    @staticmethod
    def url(name: str) -> str:
        """The SQLAlchemy URL of database ``name`` on the admin server."""
        params = conninfo.conninfo_to_dict(ADMIN_CONNINFO)
        user = params.get("user") or "postgres"
        password = f":{params['password']}" if params.get("password") else ""
        host = params.get("host") or "127.0.0.1"
        port = params.get("port") or 5432
        return f"postgresql+psycopg://{user}{password}@{host}:{port}/{name}"
