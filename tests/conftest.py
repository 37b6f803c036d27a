"""Shared fixtures: throwaway PostgreSQL databases and a migrated Store on each backend.

PostgreSQL tests skip with the reason when no server is reachable, except under CI=true, where a
missing server is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from openapi_core import OpenAPI
from sqlalchemy import create_engine

from pg import Databases, server_problem
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.contract import ContractChecker, load_contract
from sev1bot.store import Store
from sev1bot.store.tables import metadata


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail under CI=true."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    problem = server_problem()
    if problem:
        unavailable(problem)
    databases = Databases()
    yield databases
    databases.drop_all()


@pytest.fixture
def pg_url(pg_databases: Databases) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = pg_databases.create()
    yield pg_databases.url(name)
    pg_databases.drop(name)


@pytest.fixture(scope="session")
def pg_store_url(pg_databases: Databases) -> str:
    """One migrated PostgreSQL database per session; the ``store`` fixture empties it before each test."""
    url = pg_databases.url(pg_databases.create())
    with Store(url) as store:
        store.migrate()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sev1bot.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a migrated database holding no data: a new SQLite file, or the session's PostgreSQL database
    emptied (creating and migrating a PostgreSQL database per test would cost ~0.3 s each)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sev1bot.db'}"
        with Store(url) as store:
            store.migrate()
        return url
    url = request.getfixturevalue("pg_store_url")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")  # a leaked transaction fails, not hangs
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A Store on a migrated, empty database, on each backend."""
    with Store(store_url, busy_timeout=10) as opened:
        yield opened


# -- the sandbox, contract-checked: every request and response against the official OpenAPI spec -----------

SPEC = Path(__file__).parents[1] / "../shared/mattermost/openapi-v4.yaml"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "contract_bad_requests: sends requests the spec forbids on purpose (responses are still checked)",
    )


@pytest.fixture(scope="session")
def openapi_contract() -> OpenAPI | None:
    """The official spec, parsed once per session; None (checks skipped) when ../shared is absent."""
    if not SPEC.is_file():
        if under_ci():
            pytest.fail(
                f"the OpenAPI spec {SPEC.resolve()} is missing (CI=true: failing instead of skipping)"
            )
        return None
    return load_contract(SPEC.resolve())


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest, openapi_contract: OpenAPI | None) -> AsyncIterator[Sandbox]:
    checker = ContractChecker(openapi_contract) if openapi_contract is not None else None
    async with Sandbox.running(contract=checker) as sb:
        yield sb
    if checker is None:
        return
    bad_requests_expected = request.node.get_closest_marker("contract_bad_requests") is not None
    problems = [v for v in checker.violations if not (bad_requests_expected and v.side == "request")]
    if problems:
        listed = "\n".join(f"  {v}" for v in problems)
        pytest.fail(f"OpenAPI contract violations (spec {SPEC.name}):\n{listed}", pytrace=False)
