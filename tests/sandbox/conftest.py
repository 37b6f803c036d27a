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

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from mattermostautodriver import AsyncTypedDriver

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient


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
