"""The bot's HTTP endpoint: health, the /sev1 slash command and interactive button clicks.

``POST /mattermost/command`` takes the form Mattermost sends for a custom slash command, checks the command
token in both the ``token`` field and the ``Authorization: Token`` header, and hands a :class:`CommandRequest`
to the handler. Handlers should ack fast and work later; if one takes longer than ``ack_timeout`` the endpoint
answers "working on it" and posts the handler's answer to the request's ``response_url`` when it is ready.
Only the hook id is taken from ``response_url``: the answer goes to ``<mattermost_url>/hooks/commands/<id>``,
never to a host the bot was not configured with (the server builds ``response_url`` from whatever host the
user's client called). ``user_id`` must look like a Mattermost id (26 lowercase letters and digits); the
fronts take the actor from it, not from ``user_name``.

``POST /mattermost/action`` takes a button click, whose ``context`` must be signed (:mod:`.signing`),
unexpired and not seen before, and whose ``user_id`` must look like a Mattermost id too. Replay protection
is an in-memory, bounded set of nonces: it does not span replicas (that would need the store).

Anyone who can reach the bot can POST here, so a malformed body is always a 400 (never a handler crash),
and rejected requests are logged as one short WARNING per kind at most every :data:`COMPLAINT_EVERY`
seconds, with a count of the ones left out: a flood of garbage cannot fill the log.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sev1bot.background import Background
from sev1bot.config import ACTION_PATH, COMMAND_PATH
from sev1bot.mattermost.signing import Secret, SignatureError, verify

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
ACK_TIMEOUT = 2.5
WORKING_TEXT = "Working on it…"
FAILED_TEXT = "Sorry, sev1bot could not handle that; the error has been logged."
_MENTION_FIELDS = ("user_mentions", "user_mentions_ids", "channel_mentions", "channel_mentions_ids")
_ID_PATTERN = r"^[a-z0-9]{26}$"  # model.NewId(): 26 lowercase letters and digits
_HOOK_PATH = re.compile(r"/hooks/commands/[a-z0-9]{26}$")
COMPLAINT_EVERY = 60.0  # seconds between two warnings about the same kind of rejected request

Readiness = Callable[[], Mapping[str, Any]]


class CommandRequest(BaseModel):
    """A slash command invocation, as Mattermost posts it (minus the token)."""

    model_config = ConfigDict(frozen=True)

    team_id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    user_id: str = Field(pattern=_ID_PATTERN)
    team_domain: str = ""
    channel_name: str = ""
    user_name: str = ""
    command: str = ""
    text: str = ""
    trigger_id: str = ""
    response_url: str = ""
    root_id: str = ""  # set when the command was typed in a thread
    user_mentions: tuple[str, ...] = ()
    user_mentions_ids: tuple[str, ...] = ()
    channel_mentions: tuple[str, ...] = ()
    channel_mentions_ids: tuple[str, ...] = ()


class CommandResponse(BaseModel):
    """The JSON answer to a slash command (also what is posted to ``response_url``)."""

    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    text: str = ""
    username: str | None = None
    icon_url: str | None = None
    props: dict[str, Any] | None = None
    goto_location: str | None = None
    attachments: list[dict[str, Any]] | None = None
    extra_responses: list[dict[str, Any]] | None = None

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ActionRequest(BaseModel):
    """A button click; ``context`` is the verified data the bot signed into the button."""

    model_config = ConfigDict(frozen=True)

    user_id: str = Field(pattern=_ID_PATTERN)
    user_name: str = ""
    channel_id: str = ""
    channel_name: str = ""
    team_id: str = ""
    team_domain: str = ""
    post_id: str = ""
    trigger_id: str = ""
    type: str = ""
    data_source: str = ""
    selected_option: str = ""
    context: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class SlashCommand:
    """A slash command as the bot's fronts see it: who typed what, where."""

    actor_id: str
    actor_name: str
    channel_id: str
    text: str
    trigger_id: str = ""


@dataclass(frozen=True)
class Click:
    """A verified button click as the bot's fronts see it; ``context`` is what the bot signed."""

    actor_id: str
    actor_name: str
    channel_id: str
    post_id: str
    context: dict[str, Any]
    trigger_id: str = ""


class CommandFront(Protocol):
    async def handle(self, invocation: SlashCommand) -> str:
        """The answer, shown only to the person who typed the command."""
        ...


class ActionFront(Protocol):
    async def handle(self, click: Click) -> str | None:
        """The text shown to the person who clicked, or None for nothing."""
        ...


class CommandHandler(Protocol):
    async def handle_command(self, req: CommandRequest) -> CommandResponse:
        """Answer a slash command; return within ``ack_timeout`` or be answered through ``response_url``."""
        ...

    async def handle_action(self, req: ActionRequest) -> dict[str, Any]:
        """Answer a click: ``{update: {message, props}, ephemeral_text, goto_location}`` or ``{}``."""
        ...


class TokenVerifier:
    """The expected command token; settable later (after registration). Compared in constant time."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token.encode() if token else None

    def set_token(self, token: str) -> None:
        if not token:
            raise ValueError("the command token must not be empty")
        self._token = token.encode()

    @property
    def ready(self) -> bool:
        return self._token is not None

    def matches(self, presented: str | None) -> bool:
        expected = self._token or b"\x00not-ready"
        return hmac.compare_digest(expected, (presented or "").encode())


class NonceCache:
    """Nonces of accepted clicks, kept until they expire; at most ``capacity`` (oldest dropped first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, nonce: str, expires_at: int, now: float) -> bool:
        """Record ``nonce``; False if it was already used."""
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = expires_at
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


class Fronts:
    """Mattermost's requests -> the fronts' typed inputs; their answers -> Mattermost's responses."""

    def __init__(self, commands: CommandFront, actions: ActionFront) -> None:
        self.commands = commands
        self.actions = actions

    async def handle_command(self, req: CommandRequest) -> CommandResponse:
        invocation = SlashCommand(req.user_id, req.user_name, req.channel_id, req.text, req.trigger_id)
        return CommandResponse(response_type="ephemeral", text=await self.commands.handle(invocation))

    async def handle_action(self, req: ActionRequest) -> dict[str, Any]:
        click = Click(req.user_id, req.user_name, req.channel_id, req.post_id, req.context, req.trigger_id)
        text = await self.actions.handle(click)
        return {} if text is None else {"ephemeral_text": text}


class Complaints:
    """Rejected requests, logged at WARNING at most once per ``every`` seconds per kind.

    Kinds are a few fixed strings, so this stays small whatever is thrown at the endpoint. The first
    warning after a quiet spell says how many like it were left out.
    """

    def __init__(self, every: float = COMPLAINT_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: object) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += f" (and {skipped} more like it in the last {self.every:g}s)"
        self._last[kind] = now
        log.warning(message, *args)


def parse_json(body: bytes) -> Any:
    """Strict JSON: ValueError for anything else, including NaN/Infinity and nesting deeper than Python's
    recursion limit (which ``json.loads`` reports as RecursionError)."""
    try:
        return json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fields(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]], set[str]]:
    """A slash command's form as (single fields, the mention lists the server repeats, names given twice)."""
    form: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in _MENTION_FIELDS}
    repeated: set[str] = set()
    for key, value in pairs:
        if key in lists:
            lists[key].append(value)
        elif key in form:
            repeated.add(key)
        else:
            form[key] = value
    return form, lists, repeated


def answer_url(response_url: str, mattermost_url: str | None) -> str | None:
    """Where to post a late answer: the hook id of ``response_url`` under ``mattermost_url``, else None.

    ``https://chat.example.com/mm/hooks/commands/<id>`` with ``http://mattermost:8065/mm`` gives
    ``http://mattermost:8065/mm/hooks/commands/<id>``; the scheme, host and anything before
    ``/hooks/commands/`` in ``response_url`` are ignored.
    """
    if not mattermost_url:
        return None
    found = _HOOK_PATH.search(urlsplit(response_url).path)
    return None if found is None else mattermost_url.rstrip("/") + found.group(0)


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status, headers=headers or None)


class _Endpoint:
    def __init__(
        self,
        handler: CommandHandler,
        verifier: TokenVerifier,
        signing_secret: Secret,
        readiness: Readiness | None,
        ack_timeout: float,
        clock: Callable[[], float],
        nonces: NonceCache,
        mattermost_url: str | None,
    ) -> None:
        self.handler = handler
        self.mattermost_url = mattermost_url
        self.verifier = verifier
        self.signing_secret = signing_secret
        self.readiness = readiness
        self.ack_timeout = ack_timeout
        self.clock = clock
        self.nonces = nonces
        self.late_answers = Background("answering a slow command through response_url")
        self.session: aiohttp.ClientSession | None = None
        self.complaints = Complaints()

    # -- health ----------------------------------------------------------------------------------------

    def _ready_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"ready": True}
        if self.readiness is not None:
            try:
                info.update(self.readiness())
            except Exception:
                log.exception("readiness hook failed")
                info = {"ready": False, "error": "readiness hook failed"}
        info["ready"] = bool(info.get("ready", True))
        info["command_token"] = self.verifier.ready
        return info

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: 200 while the process serves HTTP, with the readiness details."""
        return web.json_response({"status": "ok", **self._ready_info()})

    async def readyz(self, request: web.Request) -> web.Response:
        """Readiness: 503 until the app says it is ready (e.g. websocket connected)."""
        info = self._ready_info()
        ready = info["ready"] and info["command_token"]
        return web.json_response(
            {"status": "ok" if ready else "not_ready", **info}, status=200 if ready else 503
        )

    # -- slash command ---------------------------------------------------------------------------------

    async def command(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(415, "unsupported_media_type", "expected an application/x-www-form-urlencoded body")
        try:
            pairs = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=1000
            )
        except (UnicodeDecodeError, ValueError) as exc:
            self.complaints.warn(
                "bad_form", "rejected a slash command that is not a form (%s)", request.remote
            )
            return _error(400, "bad_form", f"cannot parse the form body: {exc.__class__.__name__}")
        form, lists, repeated = _fields(pairs)
        if not self.verifier.ready:
            return _error(503, "not_ready", "the bot is starting: its command token is not known yet")
        scheme, _, header_token = request.headers.get("Authorization", "").partition(" ")
        field_ok = self.verifier.matches(form.get("token"))
        header_ok = self.verifier.matches(header_token.strip() if scheme.lower() == "token" else None)
        if not (field_ok and header_ok):
            self.complaints.warn(
                "command_token",
                "rejected a slash command from %s: wrong or missing command token",
                request.remote,
            )
            return _error(
                401, "unauthorized", "missing or wrong command token", **{"WWW-Authenticate": "Token"}
            )
        form.pop("token", None)
        if repeated:  # the server sends each once: which one to believe is not for the bot to guess
            names = ", ".join(sorted(repeated))
            return _error(400, "bad_command", f"fields given more than once: {names}")
        try:
            req = CommandRequest.model_validate({**form, **lists})
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
            return _error(400, "bad_command", f"missing or invalid fields: {fields}")
        return web.json_response(await self._run_command(req))

    async def _run_command(self, req: CommandRequest) -> dict[str, Any]:
        task = asyncio.ensure_future(self.handler.handle_command(req))
        done, _ = await asyncio.wait({task}, timeout=self.ack_timeout)
        if not done:
            log.info(
                "command %r from %s is slow; acking now, answering via response_url", req.text, req.user_name
            )
            self.late_answers.spawn(self._answer_later(task, req.response_url))
            return CommandResponse(text=WORKING_TEXT).payload()
        try:
            return task.result().payload()
        except Exception:
            log.exception("command handler failed for %r from %s", req.text, req.user_name)
            return CommandResponse(text=FAILED_TEXT).payload()

    async def _answer_later(self, task: asyncio.Future[CommandResponse], response_url: str) -> None:
        try:
            payload = (await task).payload()
        except Exception:
            log.exception("command handler failed after the ack")
            payload = CommandResponse(text=FAILED_TEXT).payload()
        url = answer_url(response_url, self.mattermost_url)
        if url is None:
            why = (
                "no Mattermost URL configured" if not self.mattermost_url else "no /hooks/commands/<id> in it"
            )
            log.warning("unusable response_url (%s): the late answer to a slash command is dropped", why)
            return
        session = self.session or aiohttp.ClientSession()
        try:
            async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                if resp.status >= 300:
                    log.warning("response_url answered HTTP %d to a late command answer", resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot post a late command answer to response_url: %s", exc.__class__.__name__)
        finally:
            if session is not self.session:
                await session.close()

    # -- button clicks ---------------------------------------------------------------------------------

    async def action(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            click = parse_json(body)
        except ValueError:
            self.complaints.warn("bad_json", "rejected a button click that is not JSON (%s)", request.remote)
            return _error(400, "bad_json", "the body is not JSON")
        if not isinstance(click, dict):
            self.complaints.warn("bad_json", "rejected a button click that is not JSON (%s)", request.remote)
            return _error(400, "bad_json", "the body is not a JSON object")
        now = self.clock()
        try:
            verified = verify(click.get("context"), self.signing_secret, now)
        except SignatureError as exc:
            self.complaints.warn(
                f"click_{exc.reason}", "rejected a button click from %s: %s", request.remote, exc.reason
            )
            # A context that is not even shaped like ours is a malformed body (400); a wrong or stale
            # signature is a refusal (403).
            return _error(400 if exc.reason == "malformed" else 403, exc.reason, str(exc))
        try:  # before the nonce is used up: a malformed click must not spend the button's one click
            req = ActionRequest.model_validate({**click, "context": verified.data})
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
            return _error(400, "bad_action", f"missing or invalid fields: {fields}")
        if not self.nonces.first_use(verified.nonce, verified.expires_at, now):
            self.complaints.warn("click_replayed", "rejected a replayed button click from %s", request.remote)
            return _error(403, "replayed", "this button click was already handled")
        try:
            answer = await self.handler.handle_action(req)
        except Exception:
            log.exception("action handler failed for post %s", req.post_id)
            answer = {"ephemeral_text": FAILED_TEXT}
        return web.json_response(answer or {})

    # -- lifecycle -------------------------------------------------------------------------------------

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self.session = aiohttp.ClientSession()
        yield
        await self.late_answers.close(grace=5)
        await self.session.close()
        self.session = None


async def _read_body(request: web.Request) -> bytes | web.Response:
    limit = request.app[_LIMIT]
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "too_large", f"the body is over {limit} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", f"the body is over {limit} bytes")


_LIMIT = web.AppKey("max_body", int)
ENDPOINT = web.AppKey("sev1bot_endpoint", _Endpoint)


def build_http_app(
    handler: CommandHandler,
    verify: TokenVerifier,
    *,
    signing_secret: Secret,
    readiness: Readiness | None = None,
    ack_timeout: float = ACK_TIMEOUT,
    max_body: int = MAX_BODY,
    nonce_capacity: int = 100_000,
    clock: Callable[[], float] = time.time,
    mattermost_url: str | None = None,
) -> web.Application:
    """The aiohttp app: GET /healthz, GET /readyz, POST /mattermost/command, POST /mattermost/action.

    ``readiness`` returns details merged into the health JSON (e.g. ``{"ready": False, "websocket":
    "reconnecting", "role": "follower"}``); its ``ready`` key (default True) and a known command token
    decide /readyz. /healthz answers 200 whenever the process serves HTTP (the Docker healthcheck uses it).
    ``mattermost_url`` (MATTERMOST_URL) is where late answers go; without it they are dropped.
    """
    app = web.Application(client_max_size=max_body)
    endpoint = _Endpoint(
        handler,
        verify,
        signing_secret,
        readiness,
        ack_timeout,
        clock,
        NonceCache(nonce_capacity),
        mattermost_url,
    )
    app[_LIMIT] = max_body
    app[ENDPOINT] = endpoint
    app.router.add_get("/healthz", endpoint.healthz)
    app.router.add_get("/readyz", endpoint.readyz)
    app.router.add_post(COMMAND_PATH, endpoint.command)
    app.router.add_post(ACTION_PATH, endpoint.action)
    app.cleanup_ctx.append(endpoint.lifecycle)
    return app


class _AccessLog(AbstractAccessLogger):
    """One DEBUG line per request: at INFO a flood of garbage would grow the log one line a request."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %s -> %d in %.3fs", request.remote, request.method, request.path, response.status, time
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


@asynccontextmanager
async def serve(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    """Run ``app`` on host:port (0 picks a free port); yield its base URL, e.g. ``http://127.0.0.1:41234``."""
    runner = web.AppRunner(app, access_log_class=_AccessLog)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        log.info("HTTP endpoint listening on %s:%d", shown, bound_port)
        yield f"http://{shown}:{bound_port}"
    finally:
        await runner.cleanup()
