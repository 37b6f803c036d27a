"""A thin typed async adapter over ``mattermostautodriver.AsyncTypedDriver``: just the calls the bot needs.

Returns small pydantic models, raises the :mod:`sev1bot.mattermost.errors` tree, retries transient failures
with capped backoff (honouring ``Retry-After`` on 429) and counts every HTTP request in ``calls``.

Retries never duplicate work: reads, patches, pins, member additions and direct channels are idempotent;
``create_post`` sends a ``pending_post_id`` that stays the same across retries, which the server dedupes on
(for 30 s: beyond that, a post carries its ``DELIVERY_PROP`` for the caller to look it up by);
``create_channel`` recovers the channel when a retry finds that the first attempt already created it (only a
channel the bot created: anyone can create a channel under any name).
Calls that cannot be replayed (ephemeral posts, command creation) are retried only when the server surely did
not act: a 429, or a connection that never opened. The driver's own retry loop is switched off.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import httpx
from mattermostautodriver import AsyncTypedDriver
from mattermostautodriver import exceptions as driver_errors
from pydantic import BaseModel, ConfigDict, SecretStr

from sev1bot.mattermost.errors import (
    BadRequest,
    Forbidden,
    MattermostError,
    NotFound,
    RateLimited,
    RegistrationError,
    ServerError,
    Unauthorized,
    Unreachable,
    error_for_status,
    internal_host_hint,
    registration_help,
)
from sev1bot.mattermost.events import Post, Reaction
from sev1bot.mattermost.transport import AiohttpClient

log = logging.getLogger(__name__)

CHANNEL_EXISTS = "store.sql_channel.save_channel.exists.app_error"
DUPLICATE_TRIGGER = "api.command.duplicate_trigger.app_error"
_INVALID_BODY_PARAM = "api.context.invalid_body_param.app_error"
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MEMBER_BATCH = 1000
# The server remembers a pending_post_id for 30 s (PendingPostIDsCacheTTL): retry a post only within that.
PENDING_POST_WINDOW = 25.0
# The props key of the bot's posts that names what each post delivers (the server keeps custom props).
DELIVERY_PROP = "sev1bot"
T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    id: str
    username: str
    first_name: str = ""
    last_name: str = ""
    nickname: str = ""
    email: str = ""
    is_bot: bool = False
    delete_at: int = 0  # when the account was deactivated; 0 while it is active

    @property
    def deactivated(self) -> bool:
        return self.delete_at != 0


class Team(_Model):
    id: str
    name: str
    display_name: str = ""


class Channel(_Model):
    id: str
    team_id: str = ""
    name: str
    display_name: str = ""
    type: str
    header: str = ""
    purpose: str = ""
    delete_at: int = 0
    creator_id: str = ""


class Command(BaseModel):
    """A slash command; unknown fields are kept so that an update sends the command back whole."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    token: str = ""
    team_id: str
    trigger: str
    url: str = ""
    method: str = "P"
    creator_id: str = ""
    create_at: int = 0
    delete_at: int = 0
    display_name: str = ""
    description: str = ""
    auto_complete: bool = False
    auto_complete_desc: str = ""
    auto_complete_hint: str = ""


def post_list(data: Any) -> list[Post]:
    """The posts of a PostList (``{order, posts{id: Post}}``), oldest first."""
    posts = (data or {}).get("posts") or {}
    # Posts made in the same millisecond: the server's ``order`` (newest first) says which came first.
    rank = {post_id: n for n, post_id in enumerate(reversed((data or {}).get("order") or []))}
    return sorted(
        (Post.model_validate(p) for p in posts.values()),
        key=lambda p: (p.create_at, rank.get(p.id, -1), p.id),
    )


class MattermostAPI:
    """The bot's view of the Mattermost REST API. Use as ``async with MattermostAPI(url, token) as api``."""

    def __init__(
        self,
        url: str,
        token: str | SecretStr,
        *,
        request_timeout: float = 15.0,
        retries: int = 4,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        verify_tls: bool = True,
        post_retry_window: float = PENDING_POST_WINDOW,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Mattermost URL must be http(s)://host[:port][/path], got {url!r}")
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        default_port = 443 if parts.scheme == "https" else 80
        self._driver = AsyncTypedDriver(
            {
                "scheme": parts.scheme,
                "url": parts.hostname,
                "port": parts.port or default_port,
                "token": secret,
                "request_timeout": request_timeout,
                "max_retries": 0,  # we retry ourselves, knowing which calls are safe to replay
                "verify": verify_tls,
            },
            client_cls=AiohttpClient,  # the driver's requests sent by aiohttp: 1 ms less CPU per call
        )
        # The driver builds scheme://host:port: no path prefix, no IPv6 host. Set the base URL whole.
        self._driver.client._url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._driver.client.token = secret
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._paused_until = 0.0  # monotonic time before which no request is sent (after a 429)
        self._careful_until = 0.0  # until then requests go one at a time
        self._one_at_a_time = asyncio.Lock()
        self._post_retry_window = post_retry_window
        self._batch_members = True
        self._last_pending_ms = 0
        self._me: User | None = None
        self._direct: dict[frozenset[str], Channel] = {}  # a direct channel never changes: asked once
        self.calls = 0
        self.calls_by_op: Counter[str] = Counter()

    async def __aenter__(self) -> MattermostAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._driver.close()

    # -- users and teams -------------------------------------------------------------------------------

    async def me(self) -> User:
        self._me = User.model_validate(await self._call("me", lambda: self._driver.users.get_user("me")))
        return self._me

    async def client_config(self) -> dict[str, str]:
        """The configuration the server gives its clients (every value a string), e.g. ``CollapsedThreads``.
        The server refuses the request without ``format=old`` (501)."""
        path, query = "/api/v4/config/client", {"format": "old"}
        data = await self._call("client_config", lambda: self._driver.client.get(path, params=query))
        if not isinstance(data, dict):
            found = type(data).__name__
            raise MattermostError(f"expected a JSON object, got {found}", operation="client_config")
        return {str(k): str(v) for k, v in data.items()}

    async def team_by_name(self, name: str) -> Team:
        return Team.model_validate(
            await self._call("team_by_name", lambda: self._driver.teams.get_team_by_name(name))
        )

    async def user_by_username(self, username: str) -> User:
        name = username.removeprefix("@")
        return User.model_validate(
            await self._call("user_by_username", lambda: self._driver.users.get_user_by_username(name))
        )

    async def user(self, user_id: str) -> User:
        return User.model_validate(await self._call("user", lambda: self._driver.users.get_user(user_id)))

    async def is_channel_member(self, channel_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is a member of the channel (404 from the server means no)."""
        path = f"/api/v4/channels/{channel_id}/members/{user_id}"
        try:
            await self._call("channel_member", lambda: self._driver.client.get(path))
        except NotFound:
            return False
        return True

    async def users_by_usernames(self, usernames: Iterable[str]) -> list[User]:
        """The users that exist among ``usernames``; unknown names are simply absent from the result."""
        names = list(dict.fromkeys(u.removeprefix("@") for u in usernames))
        if not names:
            return []
        data = await self._call(
            "users_by_usernames", lambda: self._driver.users.get_users_by_usernames(names)
        )
        return [User.model_validate(u) for u in data or []]

    async def users_by_ids(self, user_ids: Iterable[str]) -> list[User]:
        """The users that exist among ``user_ids``; unknown ids are simply absent from the result."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return []
        data = await self._call("users_by_ids", lambda: self._driver.users.get_users_by_ids(ids))
        return [User.model_validate(u) for u in data or []]

    # -- channels --------------------------------------------------------------------------------------

    async def create_channel(
        self,
        team_id: str,
        name: str,
        display_name: str,
        header: str = "",
        purpose: str = "",
        type: Literal["P", "O"] = "P",
    ) -> Channel:
        """Create a channel. If it already existed before this call, raise BadRequest with CHANNEL_EXISTS.

        A retry that finds the name taken returns that channel only if this bot created it (the first attempt
        went through but its answer was lost): anyone on the team can create a channel of any name.
        """
        attempts = 0

        async def send() -> Any:
            nonlocal attempts
            attempts += 1
            return await self._driver.channels.create_channel(
                team_id=team_id,
                name=name,
                display_name=display_name,
                type=type,
                purpose=purpose,
                header=header,
            )

        try:
            return Channel.model_validate(await self._call("create_channel", send))
        except BadRequest as err:
            if attempts == 1 or err.error_id != CHANNEL_EXISTS:
                raise
            found = await self.own_channel(team_id, name)
            if found is None:
                raise
            log.info("create_channel %s: an earlier attempt created it; using that channel", name)
            return found

    async def own_channel(self, team_id: str, name: str) -> Channel | None:
        """The channel of that name if this bot created it; None if someone else did (or the bot cannot see
        it: a private channel it is not in)."""
        try:
            channel = await self.channel_by_name(team_id, name)
        except NotFound:
            return None
        me = self._me or await self.me()
        return channel if channel.creator_id == me.id else None

    async def channel_by_name(self, team_id: str, name: str) -> Channel:
        return Channel.model_validate(
            await self._call(
                "channel_by_name", lambda: self._driver.channels.get_channel_by_name(team_id, name)
            )
        )

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.model_validate(
            await self._call("get_channel", lambda: self._driver.channels.get_channel(channel_id))
        )

    async def patch_channel(
        self,
        channel_id: str,
        *,
        header: str | None = None,
        purpose: str | None = None,
        display_name: str | None = None,
    ) -> Channel:
        patch = {"header": header, "purpose": purpose, "display_name": display_name}
        body = {key: value for key, value in patch.items() if value is not None}
        path = f"/api/v4/channels/{channel_id}/patch"
        return Channel.model_validate(
            await self._call("patch_channel", lambda: self._driver.client.put(path, body))
        )

    async def add_members(self, channel_id: str, user_ids: Iterable[str]) -> None:
        """Add users to a channel (members already in it are fine): in batches, or one by one before 9.10."""
        ids = list(dict.fromkeys(user_ids))
        if ids and self._batch_members:
            try:
                for start in range(0, len(ids), _MEMBER_BATCH):
                    chunk = ids[start : start + _MEMBER_BATCH]
                    await self._call(
                        "add_members",
                        partial(self._driver.channels.add_channel_member, channel_id, user_ids=chunk),
                    )
                return
            except BadRequest as err:
                if err.error_id != _INVALID_BODY_PARAM or not re.search(r"\buser_id\b", err.message):
                    raise
                log.info("server predates batch member adds (9.10): adding channel members one by one")
                self._batch_members = False
        for user_id in ids:
            await self._call(
                "add_member",
                partial(self._driver.channels.add_channel_member, channel_id, user_id=user_id),
            )

    async def direct_channel(self, user_id: str, other_user_id: str) -> Channel:
        """The two users' direct channel (made on first use). Remembered: a direct channel is never replaced,
        and asking again cost a request per direct message."""
        pair = frozenset((user_id, other_user_id))
        known = self._direct.get(pair)
        if known is None:
            known = Channel.model_validate(
                await self._call(
                    "direct_channel",
                    lambda: self._driver.channels.create_direct_channel([user_id, other_user_id]),
                )
            )
            if len(self._direct) >= 10_000:
                self._direct.clear()  # a bound, not a policy
            self._direct[pair] = known
        return known

    # -- posts -----------------------------------------------------------------------------------------

    async def create_post(
        self,
        channel_id: str,
        message: str,
        root_id: str = "",
        props: dict[str, Any] | None = None,
        pending_post_id: str | None = None,
        delivery_key: str | None = None,
    ) -> Post:
        """Create a post, safely retried: every attempt carries the same ``pending_post_id``.

        ``delivery_key`` goes into ``props[DELIVERY_PROP]``: unlike the pending id, which the server forgets
        after 30 s, it stays on the post for as long as the post exists (see ``posts_created_after``)."""
        body: dict[str, Any] = {
            "channel_id": channel_id,
            "message": message,
            "root_id": root_id,
            "pending_post_id": pending_post_id or await self.new_pending_post_id(),
        }
        if delivery_key is not None:
            props = {**(props or {}), DELIVERY_PROP: delivery_key}
        if props:
            body["props"] = props
        return Post.model_validate(
            await self._call(
                "create_post",
                lambda: self._driver.client.post("/api/v4/posts", body),
                window=self._post_retry_window,
            )
        )

    async def new_pending_post_id(self) -> str:
        """``<user_id>:<ms timestamp>`` as the web app makes them, strictly increasing within this process."""
        me = self._me or await self.me()
        self._last_pending_ms = max(int(time.time() * 1000), self._last_pending_ms + 1)
        return f"{me.id}:{self._last_pending_ms}"

    async def patch_post(
        self, post_id: str, message: str | None = None, props: dict[str, Any] | None = None
    ) -> Post:
        """Change a post. Without ``props`` the server keeps the post's props; with them it replaces them
        all, so the post's ``DELIVERY_PROP`` is read first and kept unless ``props`` names one."""
        body: dict[str, Any] = {}
        if message is not None:
            body["message"] = message
        if props is not None:
            body["props"] = props
            if DELIVERY_PROP not in props:
                kept = (await self.get_post(post_id)).props.get(DELIVERY_PROP)
                if kept is not None:
                    body["props"] = {**props, DELIVERY_PROP: kept}
        path = f"/api/v4/posts/{post_id}/patch"
        return Post.model_validate(
            await self._call("patch_post", lambda: self._driver.client.put(path, body))
        )

    async def get_post(self, post_id: str) -> Post:
        return Post.model_validate(await self._call("get_post", lambda: self._driver.posts.get_post(post_id)))

    async def pin(self, post_id: str) -> None:
        await self._call("pin", lambda: self._driver.posts.pin_post(post_id))

    async def ephemeral(self, user_id: str, channel_id: str, message: str) -> Post:
        """A post only ``user_id`` sees. Not deduped by the server: retried only when surely unsent.

        Needs the ``create_post_ephemeral`` permission, which only system admins have by default: a bot
        usually answers ephemerally through its slash command or button responses instead.
        """
        post = {"channel_id": channel_id, "message": message}
        data = await self._call(
            "ephemeral", lambda: self._driver.posts.create_post_ephemeral(user_id, post), replay_safe=False
        )
        return Post.model_validate(data)

    async def reactions(self, post_id: str) -> list[Reaction]:
        data = await self._call("reactions", lambda: self._driver.reactions.get_reactions(post_id))
        return [Reaction.model_validate(r) for r in data or []]

    async def channel_posts(
        self, channel_id: str, since: int | None = None, per_page: int = 200
    ) -> list[Post]:
        """Posts of a channel, oldest first: those changed after ``since`` (ms since epoch), else all."""
        if since is not None:
            data = await self._call(
                "channel_posts", lambda: self._driver.posts.get_posts_for_channel(channel_id, since=since)
            )
            return post_list(data)
        pages: list[list[Post]] = []  # newest page first, each oldest first
        for page in range(1000):
            data = await self._call(
                "channel_posts",
                partial(self._driver.posts.get_posts_for_channel, channel_id, page=page, per_page=per_page),
            )
            pages.append(post_list(data))
            if len(pages[-1]) < per_page:
                break
        oldest_first = {p.id: p for batch in reversed(pages) for p in batch}
        return sorted(oldest_first.values(), key=lambda p: p.create_at)  # stable: ties keep that order

    async def posts_created_after(self, channel_id: str, after: int, per_page: int = 200) -> list[Post]:
        """The channel's posts (replies included) created after ``after`` (ms since epoch), oldest first.

        Pages are read newest first until one reaches back that far: ``since`` would take one request, but
        the server answers it with at most 1000 posts, in no guaranteed order, and only those *changed*."""
        found: dict[str, Post] = {}
        for page in range(1000):
            data = await self._call(
                "channel_posts",
                partial(self._driver.posts.get_posts_for_channel, channel_id, page=page, per_page=per_page),
            )
            order = set((data or {}).get("order") or [])
            listed = [p for p in post_list(data) if p.id in order]  # not the thread roots added to a page
            found.update((p.id, p) for p in listed if p.create_at > after)
            if len(order) < per_page or any(p.create_at <= after for p in listed):
                break
        return sorted(found.values(), key=lambda p: p.create_at)

    async def channel_member_ids(self, channel_id: str, per_page: int = 200) -> list[str]:
        """The user id of every member of a channel, page after page."""
        ids: list[str] = []
        for page in range(1000):
            data = await self._call(
                "channel_members",
                partial(self._driver.channels.get_channel_members, channel_id, page=page, per_page=per_page),
            )
            members = data if isinstance(data, list) else []
            ids += [str(m["user_id"]) for m in members if isinstance(m, dict) and m.get("user_id")]
            if len(members) < per_page:
                break
        return list(dict.fromkeys(ids))

    async def thread(self, post_id: str) -> list[Post]:
        """The root post and all its replies, oldest first."""
        return post_list(await self._call("thread", lambda: self._driver.posts.get_post_thread(post_id)))

    # -- slash commands --------------------------------------------------------------------------------

    async def list_commands(self, team_id: str) -> list[Command]:
        data = await self._call(
            "list_commands", lambda: self._driver.commands.list_commands(team_id=team_id, custom_only=True)
        )
        return [Command.model_validate(c) for c in data or []]

    async def create_command(
        self,
        team_id: str,
        trigger: str,
        url: str,
        *,
        display_name: str = "",
        description: str = "",
        auto_complete: bool = True,
        auto_complete_desc: str = "",
        auto_complete_hint: str = "",
    ) -> Command:
        body = {
            "team_id": team_id,
            "trigger": trigger,
            "url": url,
            "method": "P",
            "display_name": display_name,
            "description": description,
            "auto_complete": auto_complete,
            "auto_complete_desc": auto_complete_desc,
            "auto_complete_hint": auto_complete_hint,
        }
        data = await self._call(
            "create_command", lambda: self._driver.client.post("/api/v4/commands", body), replay_safe=False
        )
        return Command.model_validate(data)

    async def update_command(self, command: Command) -> Command:
        body = command.model_dump()
        data = await self._call(
            "update_command", lambda: self._driver.commands.update_command(command.id, body)
        )
        return Command.model_validate(data)

    async def register_command(
        self,
        team_id: str,
        *,
        url: str,
        trigger: str = "sev1",
        display_name: str = "Sev 1",
        description: str = "Run the Sev 1 incident playbook",
        auto_complete_desc: str = "Start or manage a Sev 1 incident",
        auto_complete_hint: str = "[start <summary> | status | help]",
    ) -> str:
        """Make sure ``/trigger`` on the team posts to ``url``; return the command's token.

        Reuses a custom command with that trigger (updating its URL if it changed), else creates one.
        Raises :class:`RegistrationError` telling the operator what to change when the server refuses.
        """
        try:
            command = await self._ensure_command(
                team_id,
                trigger,
                url,
                display_name=display_name,
                description=description,
                auto_complete_desc=auto_complete_desc,
                auto_complete_hint=auto_complete_hint,
            )
        except (Forbidden, Unauthorized, ServerError) as err:
            if isinstance(err, ServerError) and err.status != 501:
                raise
            raise RegistrationError(registration_help(err, trigger, url)) from err
        if not command.token:
            raise RegistrationError(f"the server returned the /{trigger} command without its token")
        hint = internal_host_hint(url)
        if hint:
            log.warning("%s", hint)
        return command.token

    async def _ensure_command(self, team_id: str, trigger: str, url: str, **fields: Any) -> Command:
        for _ in range(2):
            existing = [
                c for c in await self.list_commands(team_id) if c.trigger == trigger and not c.delete_at
            ]
            existing.sort(key=lambda c: (c.url != url, c.create_at))
            if existing:
                command = existing[0]
                if command.url == url and command.method == "P":
                    return command
                log.info("updating /%s command %s to post to %s", trigger, command.id, url)
                return await self.update_command(command.model_copy(update={"url": url, "method": "P"}))
            log.info("creating /%s command posting to %s", trigger, url)
            try:
                return await self.create_command(team_id, trigger, url, **fields)
            except BadRequest as err:
                if err.error_id != DUPLICATE_TRIGGER:
                    raise
                log.info("another replica created /%s first; using it", trigger)
        raise RegistrationError(f"/{trigger} exists on the team but is not listed: check who owns it")

    # -- plumbing --------------------------------------------------------------------------------------

    async def _call(
        self,
        op: str,
        send: Callable[[], Awaitable[T]],
        *,
        replay_safe: bool = True,
        window: float | None = None,
    ) -> T:
        """Send, retrying transient failures; with ``window`` (s), no retry starts later than that."""
        attempt = 0
        started = time.monotonic()
        while True:
            self.calls += 1
            self.calls_by_op[op] += 1
            try:
                result = await self._send(send)
            except Exception as exc:
                err = translate(exc, op)
                if err is None:
                    raise
                delay = self._retry_delay(err, attempt, replay_safe)
                if delay is not None and window is not None and time.monotonic() + delay - started > window:
                    delay = None
                if delay is None:
                    raise err from exc
                attempt += 1
                if isinstance(err, RateLimited):
                    now = time.monotonic()
                    self._paused_until = max(self._paused_until, now + delay)
                    self._careful_until = now + delay + CAREFUL_AFTER_429
                log.warning("%s failed: %s; retry %d/%d in %.2fs", op, err, attempt, self._retries, delay)
                await asyncio.sleep(delay)
                continue
            if isinstance(result, httpx.Response):  # the driver hands back raw what is not exactly JSON
                if result.headers.get("content-type", "").startswith("application/json"):
                    try:  # e.g. "application/json; charset=utf-8" from a proxy: JSON all the same
                        return cast(T, result.json())
                    except ValueError:
                        pass
                raise MattermostError(
                    f"expected a JSON response, got {result.headers.get('content-type', 'no content type')}",
                    status=result.status_code,
                    operation=op,
                )
            return result

    async def _send(self, send: Callable[[], Awaitable[T]]) -> T:
        """One request. After a 429 every request waits out the pause, not only the refused one, and for
        a while they go one at a time: requests side by side would only empty the bucket at once again."""
        if time.monotonic() >= self._careful_until:
            return await send()
        async with self._one_at_a_time:
            wait = self._paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            return await send()

    def _retry_delay(self, err: MattermostError, attempt: int, replay_safe: bool) -> float | None:
        if attempt >= self._retries:
            return None
        backoff = min(self._max_backoff, self._backoff * 2.0**attempt) * (0.5 + random.random() / 2)
        if isinstance(err, RateLimited):
            if err.retry_after is None:
                return backoff
            return err.retry_after if err.retry_after <= self._max_retry_after else None
        if isinstance(err, Unreachable) and (replay_safe or not err.maybe_sent):
            return backoff
        if isinstance(err, ServerError) and replay_safe and err.status in _RETRY_STATUSES:
            return backoff
        return None


CAREFUL_AFTER_429 = 5.0  # seconds of one request at a time after the server's rate limit refused one


def translate(exc: BaseException, op: str) -> MattermostError | None:
    """Map a driver or httpx exception to our error tree; None for anything else (a bug: let it raise)."""
    if isinstance(exc, driver_errors.TooManyRequests):
        return RateLimited("rate limited by the server", retry_after=exc.retry_after, operation=op)
    if isinstance(exc, driver_errors.MattermostError):
        return error_for_status(
            exc.status_code,
            str(exc),
            error_id=exc.error_id or "",
            request_id=exc.request_id or "",
            operation=op,
        )
    if isinstance(exc, driver_errors.InvalidMattermostError):
        status = exc.status_code
        text = " ".join(str(exc).split())[:200] or "no body"
        if 300 <= status < 400:
            text = "redirected: check MATTERMOST_URL (http vs https, path)"
        return error_for_status(status, f"non-Mattermost error response: {text}", operation=op)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Unreachable(f"cannot connect: {exc.__class__.__name__} {exc}", maybe_sent=False, operation=op)
    if isinstance(exc, httpx.TransportError):
        return Unreachable(f"no response: {exc.__class__.__name__} {exc}", maybe_sent=True, operation=op)
    return None
