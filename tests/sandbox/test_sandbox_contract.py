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
from sev1bot.sandbox.contract import SPEC_HOST, ContractChecker, IndexedPathFinder, spec_of
from sev1bot.sandbox.frames import EVENTS
from sev1bot.sandbox.required import REQUIRED
from testkit import unavailable

People = Callable[[str], Awaitable[ApiClient]]
CHANNEL_PATH = f"/api/v4/channels/{'c' * 26}"


@pytest.fixture
def checker(openapi_contract: OpenAPI | None) -> ContractChecker:
    if openapi_contract is None:
        unavailable("../shared/mattermost/openapi-v4.yaml is absent", check="OpenAPI contract checks")
    return ContractChecker(openapi_contract)


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def test_the_spec_is_available_so_every_sandbox_test_is_contract_checked(
    openapi_contract: OpenAPI | None,
) -> None:
    if openapi_contract is None:
        unavailable("../shared/mattermost/openapi-v4.yaml is absent", check="OpenAPI contract checks")
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


# -- presence, websocket frames and error ids -----------------------------------------------------------


async def test_a_post_without_a_field_the_server_always_sends_is_a_violation(
    checker: ContractChecker, sandbox: Sandbox, people: People
) -> None:
    bot = await people("sev1bot")
    town = sandbox.channel("town-square")
    post = (await bot.post("/api/v4/posts", {"channel_id": town.id, "message": "hi"})).json(201)
    request = make_mocked_request("GET", f"/api/v4/posts/{post['id']}")
    checked = checker.check_request(request, b"")
    assert checked is not None
    checker.check_response(request, checked, json_response(post))
    assert checker.violations == []
    del post["original_id"]
    checker.check_response(request, checked, json_response(post))
    assert len(checker.violations) == 1
    assert checker.violations[0].problem.endswith("'original_id' is a required property")


def test_request_bodies_keep_the_spec_rules_clients_send_partial_objects(checker: ContractChecker) -> None:
    body = json.dumps({"user_id": "u" * 26, "post_id": "p" * 26, "emoji_name": "eyes"}).encode()
    request = make_mocked_request("POST", "/api/v4/reactions", headers={"Content-Type": "application/json"})
    assert checker.check_request(request, body) is not None
    assert checker.violations == []


def test_the_overlay_names_schemas_the_spec_has_and_only_fields_of_the_server_struct(
    openapi_contract: OpenAPI | None,
) -> None:
    if openapi_contract is None:
        unavailable("../shared/mattermost/openapi-v4.yaml is absent", check="OpenAPI contract checks")
    schemas = spec_of(openapi_contract)["components"]["schemas"]
    for name, required in REQUIRED.items():
        assert set(schemas[name]["required"]) >= set(required.fields), name
        assert "required" not in schemas[f"{name}_AsSent"] or name not in {"Reaction", "Command"}
        assert not set(required.fields) & set(required.left_out), name
        assert required.source.startswith("server/") and required.source.endswith(".go"), name


BROADCAST = {"omit_users": None, "user_id": "", "channel_id": "c", "team_id": "", "connection_id": "",
             "omit_connection_id": ""}  # fmt: skip


def frame(event: str, data: dict[str, object]) -> str:
    return json.dumps({"event": event, "data": data, "broadcast": BROADCAST, "seq": 3})


def test_a_websocket_event_with_a_renamed_or_missing_field_is_a_violation(checker: ContractChecker) -> None:
    reaction = {"user_id": "u", "post_id": "p", "emoji_name": "eyes", "create_at": 1, "update_at": 1,
                "delete_at": 0, "remote_id": "", "channel_id": "c"}  # fmt: skip
    checker.check_frame(frame("reaction_added", {"reaction": json.dumps(reaction)}))
    checker.check_frame(frame("user_added", {"user_id": "u", "team_id": "t"}))
    assert checker.violations == []
    checker.check_frame(frame("user_added", {"userId": "u", "team_id": "t"}))
    checker.check_frame(frame("reaction_added", {"reaction": json.dumps({**reaction, "emoji_name": None})}))
    checker.check_frame(frame("mystery_event", {}))
    checker.check_frame(json.dumps({"event": "hello", "data": {}, "seq": 0}))
    problems = [v.problem for v in checker.violations]
    assert "user_added: 'user_id' is a required property" in problems
    assert "reaction_added: data.reaction (Reaction)['emoji_name']: None for not nullable" in problems
    assert "event 'mystery_event' has no shape in frames.EVENTS" in problems
    assert "envelope: 'broadcast' is a required property" in problems
    assert {v.side for v in checker.violations} == {"frame"}


def test_replies_carry_only_known_error_ids(checker: ContractChecker) -> None:
    error = {"message": "m", "detailed_error": "", "status_code": 400}
    checker.check_frame(json.dumps({"status": "OK", "seq_reply": 1}))
    checker.check_frame(
        json.dumps(
            {
                "status": "FAIL",
                "seq_reply": 2,
                "error": {**error, "id": "api.web_socket_router.bad_seq.app_error"},
            }
        )
    )
    assert checker.violations == []
    checker.check_frame(
        json.dumps({"status": "FAIL", "seq_reply": 3, "error": {**error, "id": "api.ws.bad"}})
    )
    assert [v.problem for v in checker.violations] == [
        "reply error id 'api.ws.bad' is not in error_ids.ERROR_IDS"
    ]


def test_every_event_the_sandbox_builds_has_a_shape() -> None:
    from sev1bot.sandbox import events

    built = {name for name in dir(events) if not name.startswith("_")}
    for name in ("hello", "posted", "post_edited", "post_deleted", "user_added", "channel_created",
                 "channel_updated", "direct_added", "ephemeral_message", "typing"):  # fmt: skip
        assert name in built and name in EVENTS, name
    assert {"reaction_added", "reaction_removed"} <= set(EVENTS)


def test_an_error_id_outside_the_table_is_a_violation_unless_a_test_injected_it(
    checker: ContractChecker,
) -> None:
    request = make_mocked_request("GET", f"/api/v4/posts/{'p' * 26}")
    checked = checker.check_request(request, b"")
    assert checked is not None
    body = {"message": "m", "request_id": "r", "status_code": 404}
    checker.check_response(
        request, checked, json_response({**body, "id": "app.post.get.app_error", "detailed_error": ""}, 404)
    )
    checker.check_response(
        request,
        checked,
        json_response({**body, "id": "sandbox.down", "detailed_error": "injected by the sandbox"}, 404),
    )
    assert checker.violations == []
    checker.check_response(
        request,
        checked,
        json_response({**body, "id": "app.post.missing.app_error", "detailed_error": ""}, 404),
    )
    assert [v.problem for v in checker.violations] == [
        "error id 'app.post.missing.app_error' is not in error_ids.ERROR_IDS (ids the server really uses)"
    ]
