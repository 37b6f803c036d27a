"""Fixtures for tests against the sandbox server.

``sandbox``: a running Sandbox (default seed, free port on 127.0.0.1), fresh for each test, with every API
request and response checked against ../shared/mattermost/openapi-v4.yaml. A contract violation fails the
test that caused it; a test that sends spec-breaking requests on purpose is marked
``@pytest.mark.contract_bad_requests`` (its responses are still checked). Without the spec the checks are
skipped (see test_sandbox_contract.py), except under CI=true, where that is a failure.
``people``: ``await people("alice")`` gives an ApiClient acting as that seeded user (closed afterwards).
``driver``: ``await driver("alice")`` gives a logged-in mattermostautodriver AsyncTypedDriver.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from mattermostautodriver import AsyncTypedDriver
from openapi_core import OpenAPI

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient
from sev1bot.sandbox.contract import ContractChecker, load_contract

SPEC = Path(__file__).parents[2] / "../shared/mattermost/openapi-v4.yaml"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


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


@pytest.fixture
async def people(sandbox: Sandbox) -> AsyncIterator[Callable[[str], Awaitable[ApiClient]]]:
    made: list[ApiClient] = []

    async def make(username: str) -> ApiClient:
        client = sandbox.client(username)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def driver(sandbox: Sandbox) -> AsyncIterator[Callable[[str], Awaitable[AsyncTypedDriver]]]:
    made: list[AsyncTypedDriver] = []

    async def make(username: str) -> AsyncTypedDriver:
        options = {
            "url": "127.0.0.1",
            "port": sandbox.port,
            "scheme": "http",
            "token": sandbox.tokens[username],
        }
        made.append(AsyncTypedDriver(options))
        await made[-1].login()
        return made[-1]

    yield make
    for each in made:
        await each.close()
