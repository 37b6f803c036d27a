"""Shared fixtures: throwaway PostgreSQL databases, a migrated Store per backend, checked sandboxes.

PostgreSQL tests skip with the reason when no server is reachable, except under CI=true, where a
missing server is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from openapi_core import OpenAPI
from sqlalchemy import create_engine

from pg import Databases, server_problem
from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.contract import ContractChecker, load_contract
from sev1bot.store import Store
from sev1bot.store.tables import metadata
from testkit import CHECKS_OFF, SandboxStarter, checks_off, unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    problem = server_problem()
    if problem:
        unavailable(problem, check="PostgreSQL tests")
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
    url = str(request.getfixturevalue("pg_store_url"))
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
    """The official spec, parsed once per session; None (checks off, and said so) when ../shared is absent."""
    if not SPEC.is_file():
        checks_off("OpenAPI and websocket contract checks", f"the spec {SPEC.resolve()} is missing")
        return None
    return load_contract(SPEC.resolve())


@pytest.fixture
async def start_sandbox(
    request: pytest.FixtureRequest, openapi_contract: OpenAPI | None
) -> AsyncIterator[SandboxStarter]:
    """``async with start_sandbox(seed, **settings) as sb``: a sandbox for this test, contract-checked.

    The only way tests start a sandbox: every request, response and websocket frame of each one is checked
    against the spec, and any violation fails the test that caused it (after the test, with the list).
    """
    checkers: list[ContractChecker] = []

    @asynccontextmanager
    async def start(seed: Any = None, **settings: Any) -> AsyncIterator[Sandbox]:
        checker = ContractChecker(openapi_contract) if openapi_contract is not None else None
        if checker is not None:
            checkers.append(checker)
        async with Sandbox.running(seed, contract=checker, **settings) as sb:
            yield sb

    yield start
    bad_requests_expected = request.node.get_closest_marker("contract_bad_requests") is not None
    problems = [
        v for c in checkers for v in c.violations if not (bad_requests_expected and v.side == "request")
    ]
    if problems:
        listed = "\n".join(f"  {v}" for v in problems)
        pytest.fail(f"contract violations (spec {SPEC.name}):\n{listed}", pytrace=False)


@pytest.fixture
async def sandbox(start_sandbox: SandboxStarter) -> AsyncIterator[Sandbox]:
    """A running sandbox with the default seed, contract-checked (see ``start_sandbox``)."""
    async with start_sandbox() as sb:
        yield sb


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly which checks did not run: a green run without them proves less."""
    if not CHECKS_OFF:
        return
    terminalreporter.section("CHECKS THAT WERE OFF", sep="!", red=True, bold=True)
    for check, reason in CHECKS_OFF.items():
        terminalreporter.write_line(f"OFF: {check}: {reason}", red=True, bold=True)
    terminalreporter.write_line("(CI=true turns each of these into a failure)", red=True)
