"""The contract checker itself: it catches what breaks the spec and lets through where the server wins."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_core import OpenAPI
from openapi_core.templating.paths.finders import APICallPathFinder

from sev1bot.sandbox.app import Sandbox
from sev1bot.sandbox.client import ApiClient
from sev1bot.sandbox.contract import SPEC_HOST, ContractChecker, IndexedPathFinder

People = Callable[[str], Awaitable[ApiClient]]
CHANNEL_PATH = f"/api/v4/channels/{'c' * 26}"


@pytest.fixture
def checker(openapi_contract: OpenAPI | None) -> ContractChecker:
    if openapi_contract is None:
        pytest.skip("../shared/mattermost/openapi-v4.yaml is absent: OpenAPI contract checks are skipped")
    return ContractChecker(openapi_contract)


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def test_the_spec_is_available_so_every_sandbox_test_is_contract_checked(
    openapi_contract: OpenAPI | None,
) -> None:
    if openapi_contract is None:
        pytest.skip("../shared/mattermost/openapi-v4.yaml is absent: OpenAPI contract checks are skipped")
    assert "/api/v4/posts" in openapi_contract.spec["paths"]


def test_a_response_of_the_wrong_shape_is_a_violation(checker: ContractChecker) -> None:
    request = make_mocked_request("GET", CHANNEL_PATH)
    checked = checker.check_request(request, b"")
    assert checked is not None and checker.violations == []
    checker.check_response(request, checked, json_response({"id": 5, "create_at": "yesterday"}))
    assert len(checker.violations) == 1 and checker.violations[0].side == "response"
    assert "not of type" in checker.violations[0].problem


def test_undocumented_error_statuses_must_still_be_app_errors(checker: ContractChecker) -> None:
    request = make_mocked_request("GET", f"/api/v4/posts/{'p' * 26}")  # GetPost documents no 404
    checked = checker.check_request(request, b"")
    assert checked is not None
    app_error = {
        "id": "app.post.get.app_error",
        "message": "m",
        "detailed_error": "",
        "request_id": "r",
        "status_code": 404,
    }
    checker.check_response(request, checked, json_response(app_error, 404))
    assert checker.violations == []
    checker.check_response(request, checked, web.Response(status=404, text="404 page not found"))
    assert [v.problem[:15] for v in checker.violations] == ["not an AppError"]


def test_unknown_routes_and_bad_bodies_are_request_violations(checker: ContractChecker) -> None:
    assert checker.check_request(make_mocked_request("GET", "/api/v4/nowhere"), b"") is None
    body = json.dumps({"channel_id": "c" * 26}).encode()
    post = make_mocked_request("POST", "/api/v4/posts", headers={"Content-Type": "application/json"})
    assert checker.check_request(post, body) is not None
    problems = [v.problem for v in checker.violations]
    assert "Path not found" in problems[0] and "message" in problems[1]


def test_exempt_paths() -> None:
    assert ContractChecker.exempt("/api/v4/websocket") and ContractChecker.exempt("/hooks/commands/x")
    assert ContractChecker.exempt("/sandbox/admin/restart") and not ContractChecker.exempt("/api/v4/posts")


async def test_where_the_server_wins_the_patched_spec_agrees(sandbox: Sandbox, people: People) -> None:
    """Batch add-member answers an array; patch-post props is an object; cookie auth has no bearer."""
    bot = await people("sev1bot")
    town = sandbox.channel("town-square").id
    channel = (
        await bot.post(
            "/api/v4/channels", {"team_id": sandbox.team.id, "name": "cc", "display_name": "C", "type": "O"}
        )
    ).json(201)
    (
        await bot.post(f"/api/v4/channels/{channel['id']}/members", {"user_ids": [sandbox.users["bob"].id]})
    ).json(201)
    post = (await bot.post("/api/v4/posts", {"channel_id": town, "message": "x"})).json(201)
    (await bot.put(f"/api/v4/posts/{post['id']}/patch", {"props": {"a": {"b": 1}}})).json(200)
    async with ApiClient(sandbox.url) as browser:
        (
            await browser.get("/api/v4/users/me", headers={"Cookie": f"MMAUTHTOKEN={sandbox.tokens['bob']}"})
        ).json(200)
        (await browser.get("/api/v4/system/ping")).json(200)
    assert sandbox.contract is None or sandbox.contract.violations == []


@pytest.mark.contract_bad_requests
async def test_bad_requests_are_recorded_but_allowed_when_marked(sandbox: Sandbox, people: People) -> None:
    bob = await people("bob")
    assert (await bob.post("/api/v4/posts", {"channel_id": sandbox.channel("town-square").id})).status == 201
    if sandbox.contract is not None:
        assert [v.side for v in sandbox.contract.violations] == ["request"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v4/users/me"),
        ("get", "/api/v4/users/username/ian.tien"),
        ("post", "/api/v4/users/usernames"),
        ("post", "/api/v4/posts/ephemeral"),
        ("post", f"/api/v4/posts/{'p' * 26}/actions/{'a' * 26}"),
        ("get", f"/api/v4/teams/{'t' * 26}/channels/name/war-room"),
        ("delete", f"/api/v4/users/{'u' * 26}/posts/{'p' * 26}/reactions/white_check_mark"),
    ],
)
def test_the_indexed_path_finder_agrees_with_openapi_core(
    openapi_contract: OpenAPI | None, method: str, path: str
) -> None:
    if openapi_contract is None:
        pytest.skip("../shared/mattermost/openapi-v4.yaml is absent: OpenAPI contract checks are skipped")
    url = f"{SPEC_HOST}{path}"
    fast = IndexedPathFinder(openapi_contract.spec).find(method, url)
    stock = APICallPathFinder(openapi_contract.spec).find(method, url)
    assert fast.path_result == stock.path_result and fast.server_result == stock.server_result
