"""Routes for slash commands (registration, execution, ``/hooks/commands``) and button clicks."""

from __future__ import annotations

from aiohttp import web

from sev1bot.sandbox import errors
from sev1bot.sandbox.httpio import STATUS_OK, json_response, path_id, read_json, read_object
from sev1bot.sandbox.ids import is_valid_id
from sev1bot.sandbox.rest import API, who
from sev1bot.sandbox.wiring import services


async def create_command(request: web.Request) -> web.Response:
    me = who(request)
    command = services(request).registry.create(me, await read_object(request, "command"))
    return json_response(command.to_api(), status=201)


async def list_commands(request: web.Request) -> web.Response:
    me = who(request)
    team_id = request.query.get("team_id", "")
    if not is_valid_id(team_id):
        raise errors.invalid_url_param("team_id")
    custom_only = request.query.get("custom_only", "").lower() in {"true", "1", "t"}
    commands = services(request).registry.listing(me, team_id, custom_only)
    return json_response([c.to_api() for c in commands])


async def get_command(request: web.Request) -> web.Response:
    me = who(request)
    return json_response(services(request).registry.managed(me, path_id(request, "command_id")).to_api())


async def update_command(request: web.Request) -> web.Response:
    me = who(request)
    body = await read_object(request, "command")
    command = services(request).registry.update(me, path_id(request, "command_id"), body)
    return json_response(command.to_api())


async def delete_command(request: web.Request) -> web.Response:
    me = who(request)
    services(request).registry.delete(me, path_id(request, "command_id"))
    return json_response(STATUS_OK)


async def execute_command(request: web.Request) -> web.Response:
    me = who(request)
    svc = services(request)
    body = await read_object(request, "command_args")
    return json_response(await svc.commands.execute(me, body, svc.site_url))


async def command_hook(request: web.Request) -> web.Response:
    """A ``response_url``: no session needed; the id in the URL is the credential."""
    raw = await request.read()
    await services(request).commands.hook(
        request.match_info["hook_id"], request.headers.get("Content-Type", ""), raw
    )
    return web.Response(text="ok", content_type="text/plain")


async def do_post_action(request: web.Request) -> web.Response:
    me = who(request)
    try:
        body = await read_json(request)
    except errors.AppError:
        raise errors.invalid_body_param("action_request") from None
    if body is not None and not isinstance(body, dict):
        raise errors.invalid_body_param("action_request")
    post_id = path_id(request, "post_id")
    answer = await services(request).buttons.click(me, post_id, request.match_info["action_id"], body or {})
    return json_response(answer)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{API}/commands", create_command)
    r.add_get(f"{API}/commands", list_commands)
    r.add_post(f"{API}/commands/execute", execute_command)
    r.add_get(f"{API}/commands/{{command_id}}", get_command)
    r.add_put(f"{API}/commands/{{command_id}}", update_command)
    r.add_delete(f"{API}/commands/{{command_id}}", delete_command)
    r.add_post(f"{API}/posts/{{post_id}}/actions/{{action_id}}", do_post_action)
    r.add_post("/hooks/commands/{hook_id}", command_hook)
