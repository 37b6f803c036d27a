"""API v4 routes for posts, threads, pins, reactions and ephemeral posts."""

from __future__ import annotations

from aiohttp import web

from sev1bot.sandbox import errors
from sev1bot.sandbox.httpio import STATUS_OK, json_response, path_id, query_int, read_object
from sev1bot.sandbox.rest import API, DEFAULT_PER_PAGE, MAX_PER_PAGE, who
from sev1bot.sandbox.wiring import services


async def create_post(request: web.Request) -> web.Response:
    me = who(request)
    body = await read_object(request, "post")
    set_online = request.query.get("set_online", "true").lower() != "false"
    svc = services(request)
    post = svc.posts.create_post(me, body, set_online)
    return json_response(svc.state.post_json(post), status=201)


async def get_post(request: web.Request) -> web.Response:
    me = who(request)
    svc = services(request)
    return json_response(svc.state.post_json(svc.posts.get_post(me, path_id(request, "post_id"))))


async def delete_post(request: web.Request) -> web.Response:
    me = who(request)
    services(request).posts.delete_post(me, path_id(request, "post_id"))
    return json_response(STATUS_OK)


async def patch_post(request: web.Request) -> web.Response:
    me = who(request)
    body = await read_object(request, "post")
    svc = services(request)
    post = svc.posts.patch_post(me, path_id(request, "post_id"), body)
    return json_response(svc.state.post_json(post))


async def get_thread(request: web.Request) -> web.Response:
    me = who(request)
    return json_response(services(request).posts.thread(me, path_id(request, "post_id")))


async def get_channel_posts(request: web.Request) -> web.Response:
    me = who(request)
    page = query_int(request, "page", 0)
    per_page = query_int(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    since = query_int(request, "since", 0)
    posts = services(request).posts.channel_posts(
        me, path_id(request, "channel_id"), page, per_page, since or None
    )
    return json_response(posts)


async def create_ephemeral(request: web.Request) -> web.Response:
    me = who(request)
    body = await read_object(request, "ephemeral post")
    return json_response(services(request).posts.create_ephemeral(me, body), status=201)


async def pin(request: web.Request) -> web.Response:
    me = who(request)
    services(request).posts.set_pinned(me, path_id(request, "post_id"), True)
    return json_response(STATUS_OK)


async def unpin(request: web.Request) -> web.Response:
    me = who(request)
    services(request).posts.set_pinned(me, path_id(request, "post_id"), False)
    return json_response(STATUS_OK)


async def save_reaction(request: web.Request) -> web.Response:
    me = who(request)
    reaction = services(request).posts.save_reaction(me, await read_object(request, "reaction"))
    return json_response(reaction.to_api(), status=201)


async def delete_reaction(request: web.Request) -> web.Response:
    me = who(request)
    user_id = request.match_info["user_id"]
    user_id = me.id if user_id == "me" else path_id(request, "user_id")
    emoji = request.match_info["emoji_name"]
    if not emoji:
        raise errors.invalid_url_param("emoji_name")
    services(request).posts.delete_reaction(me, user_id, path_id(request, "post_id"), emoji)
    return json_response(STATUS_OK)


async def get_reactions(request: web.Request) -> web.Response:
    me = who(request)
    reactions = services(request).posts.list_reactions(me, path_id(request, "post_id"))
    return json_response([r.to_api() for r in reactions])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{API}/posts", create_post)
    r.add_post(f"{API}/posts/ephemeral", create_ephemeral)
    r.add_get(f"{API}/posts/{{post_id}}", get_post)
    r.add_delete(f"{API}/posts/{{post_id}}", delete_post)
    r.add_put(f"{API}/posts/{{post_id}}/patch", patch_post)
    r.add_get(f"{API}/posts/{{post_id}}/thread", get_thread)
    r.add_post(f"{API}/posts/{{post_id}}/pin", pin)
    r.add_post(f"{API}/posts/{{post_id}}/unpin", unpin)
    r.add_get(f"{API}/posts/{{post_id}}/reactions", get_reactions)
    r.add_get(f"{API}/channels/{{channel_id}}/posts", get_channel_posts)
    r.add_post(f"{API}/reactions", save_reaction)
    r.add_delete(f"{API}/users/{{user_id}}/posts/{{post_id}}/reactions/{{emoji_name}}", delete_reaction)
