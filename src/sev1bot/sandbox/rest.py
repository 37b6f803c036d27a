"""API v4 routes for users, teams and channels (posts are in rest_posts, commands in rest_commands)."""

from __future__ import annotations

from aiohttp import web

from sev1bot.sandbox import bodies, errors, permissions
from sev1bot.sandbox.config import BUILD_NUMBER, SERVER_VERSION
from sev1bot.sandbox.httpio import authenticate, json_response, path_id, query_int, read_json, read_object
from sev1bot.sandbox.ids import is_valid_id
from sev1bot.sandbox.models import User
from sev1bot.sandbox.wiring import services

API = "/api/v4"
DEFAULT_PER_PAGE = 60
MAX_PER_PAGE = 200


def who(request: web.Request) -> User:
    return authenticate(request, services(request).state)


async def ping(request: web.Request) -> web.Response:
    return json_response({"status": "OK", "ActiveSearchBackend": "database"})


async def get_client_config(request: web.Request) -> web.Response:
    """The part of the configuration clients read: the server answers 501 unless ``format=old``, and
    every value is a string."""
    fmt = request.query.get("format", "")
    if not fmt:
        raise errors.client_config_format()
    if fmt != "old":
        raise errors.AppError(
            400, "api.context.invalid_param.app_error", "Invalid format parameter.", "format"
        )
    config = services(request).config
    return json_response(
        {
            "Version": SERVER_VERSION,
            "BuildNumber": BUILD_NUMBER,
            "SiteName": "Mattermost",
            "CollapsedThreads": config.collapsed_threads,
            "ThreadAutoFollow": "true",
            "EnablePostUsernameOverride": "false",
            "EnableReliableWebSockets": "true",
        }
    )


async def get_user(request: web.Request) -> web.Response:
    me = who(request)
    user_id = request.match_info.get("user_id", "me")
    if user_id == "me":
        return json_response(me.to_api())
    if not is_valid_id(user_id):
        raise errors.invalid_url_param("user_id")
    return json_response(services(request).state.user(user_id).to_api())


async def get_user_by_username(request: web.Request) -> web.Response:
    who(request)
    return json_response(services(request).state.user_by_name(request.match_info["username"]).to_api())


async def get_users_by_usernames(request: web.Request) -> web.Response:
    who(request)
    names = bodies.strings(await read_json(request), "usernames")
    state = services(request).state
    found = (state.find_user_by_name(name) for name in names)
    return json_response([u.to_api() for u in found if u is not None])


async def get_users_by_ids(request: web.Request) -> web.Response:
    who(request)
    ids = bodies.strings(await read_json(request), "user_ids")
    state = services(request).state
    return json_response([state.users[i].to_api() for i in ids if i in state.users])


async def get_user_teams(request: web.Request) -> web.Response:
    me = who(request)
    user_id = request.match_info["user_id"]
    user_id = me.id if user_id == "me" else user_id
    if user_id != me.id and not me.is_system_admin:
        raise errors.permission_denied(me.id, "edit_other_users")
    state = services(request).state
    return json_response([state.teams[t].to_api() for t in state.user_team_ids(user_id)])


async def get_team(request: web.Request) -> web.Response:
    me = who(request)
    state = services(request).state
    team = state.team(path_id(request, "team_id"))
    if not team.allow_open_invite:
        permissions.require_team_member(state, me, team.id)
    return json_response(team.to_api())


async def get_team_by_name(request: web.Request) -> web.Response:
    me = who(request)
    state = services(request).state
    team = state.find_team_by_name(request.match_info["name"])
    if team is None or (not team.allow_open_invite and not permissions.is_team_member(state, me, team.id)):
        raise errors.team_not_found(f"name={request.match_info['name']}")
    return json_response(team.to_api())


async def get_team_members(request: web.Request) -> web.Response:
    me = who(request)
    state = services(request).state
    team = state.team(path_id(request, "team_id"))
    permissions.require_team_member(state, me, team.id)
    page = query_int(request, "page", 0)
    per_page = query_int(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    members = list(state.team_members[team.id].values())[page * per_page : (page + 1) * per_page]
    return json_response([m.to_api() for m in members])


async def get_team_member(request: web.Request) -> web.Response:
    me = who(request)
    state = services(request).state
    team = state.team(path_id(request, "team_id"))
    permissions.require_team_member(state, me, team.id)
    member = state.team_member(team.id, path_id(request, "user_id"))
    if member is None:
        raise errors.AppError(
            404, "app.team.get_member.missing.app_error", "No team member found for that user ID and team ID."
        )
    return json_response(member.to_api())


async def create_channel(request: web.Request) -> web.Response:
    me = who(request)
    channel = services(request).channels.create_channel(me, await read_object(request, "channel"))
    return json_response(channel.to_api(), status=201)


async def get_channel(request: web.Request) -> web.Response:
    me = who(request)
    channel = services(request).channels.get_channel(me, path_id(request, "channel_id"))
    return json_response(channel.to_api())


async def get_channel_by_name(request: web.Request) -> web.Response:
    me = who(request)
    team_id = path_id(request, "team_id")
    channel = services(request).channels.channel_by_name(me, team_id, request.match_info["channel_name"])
    return json_response(channel.to_api())


async def patch_channel(request: web.Request) -> web.Response:
    me = who(request)
    body = await read_object(request, "channel")
    channel = services(request).channels.patch_channel(me, path_id(request, "channel_id"), body)
    return json_response(channel.to_api())


async def add_channel_members(request: web.Request) -> web.Response:
    """``{user_id}`` answers one ChannelMember; ``{user_ids: [...]}`` answers an array (real server)."""
    me = who(request)
    channel_id = path_id(request, "channel_id")
    body = await read_object(request, "user_id or user_ids")
    post_root_id = bodies.identifier(body, "post_root_id", required=False)
    if body.get("user_ids") is not None:
        user_ids = bodies.strings(body["user_ids"], "user_ids")
        if not 1 <= len(user_ids) <= 1000 or not all(is_valid_id(u) for u in user_ids):
            raise errors.invalid_body_param("user_ids")
        members = services(request).channels.add_members(me, channel_id, user_ids, post_root_id)
        return json_response([m.to_api() for m in members], status=201)
    user_id = body.get("user_id")
    if not is_valid_id(user_id):
        raise errors.invalid_body_param("user_id or user_ids")
    assert isinstance(user_id, str)
    members = services(request).channels.add_members(me, channel_id, [user_id], post_root_id)
    return json_response(members[0].to_api(), status=201)


async def get_channel_members(request: web.Request) -> web.Response:
    me = who(request)
    page = query_int(request, "page", 0)
    per_page = query_int(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    members = services(request).channels.list_members(me, path_id(request, "channel_id"), page, per_page)
    return json_response([m.to_api() for m in members])


async def get_channel_member(request: web.Request) -> web.Response:
    me = who(request)
    svc = services(request)
    channel = svc.channels.get_channel(me, path_id(request, "channel_id"))
    member = svc.state.channel_member(channel.id, path_id(request, "user_id"))
    if member is None:
        raise errors.AppError(
            404,
            "app.channel.get_member.missing.app_error",
            "No channel member found for that user ID and channel ID.",
        )
    return json_response(member.to_api())


async def create_direct_channel(request: web.Request) -> web.Response:
    me = who(request)
    user_ids = bodies.strings(await read_json(request), "user_ids")
    channel = services(request).channels.create_direct(me, user_ids)
    return json_response(channel.to_api(), status=201)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API}/system/ping", ping)
    r.add_get(f"{API}/config/client", get_client_config)
    r.add_get(f"{API}/users/username/{{username}}", get_user_by_username)
    r.add_post(f"{API}/users/usernames", get_users_by_usernames)
    r.add_post(f"{API}/users/ids", get_users_by_ids)
    r.add_get(f"{API}/users/{{user_id}}/teams", get_user_teams)
    r.add_get(f"{API}/users/{{user_id}}", get_user)
    r.add_get(f"{API}/teams/name/{{name}}", get_team_by_name)
    r.add_get(f"{API}/teams/{{team_id}}", get_team)
    r.add_get(f"{API}/teams/{{team_id}}/members", get_team_members)
    r.add_get(f"{API}/teams/{{team_id}}/members/{{user_id}}", get_team_member)
    r.add_get(f"{API}/teams/{{team_id}}/channels/name/{{channel_name}}", get_channel_by_name)
    r.add_post(f"{API}/channels", create_channel)
    r.add_post(f"{API}/channels/direct", create_direct_channel)
    r.add_get(f"{API}/channels/{{channel_id}}", get_channel)
    r.add_put(f"{API}/channels/{{channel_id}}/patch", patch_channel)
    r.add_get(f"{API}/channels/{{channel_id}}/members", get_channel_members)
    r.add_post(f"{API}/channels/{{channel_id}}/members", add_channel_members)
    r.add_get(f"{API}/channels/{{channel_id}}/members/{{user_id}}", get_channel_member)
