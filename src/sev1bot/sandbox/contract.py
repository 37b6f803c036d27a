"""Contract checking: every API request and response validated against the official OpenAPI v4 spec.

An optional middleware of the sandbox (tests turn it on). It records ``Violation``s instead of failing
requests, so the test that caused one can fail with a clear message. The spec is large (3 s to load):
``load_contract`` caches it per file for the life of the process.

Where the server and the spec disagree the server wins, so these are not checked:
- security requirements: the spec demands a bearer token everywhere, the server also takes the
  MMAUTHTOKEN cookie and ``access_token`` and has public routes such as ``/system/ping``;
- response statuses the spec does not list for an operation (e.g. 404 on GetPost): only the body is
  checked, and it must be an AppError;
- the rate limiter's plain-text 429, which the spec documents in prose only;
- ``/api/v4/websocket`` (no HTTP operation), ``/hooks/...`` (not API v4) and ``/sandbox/admin``.

The spec says which fields are required for almost no schema; ``required.REQUIRED`` adds, for responses,
the fields the server always writes. Every websocket frame the sandbox sends is checked too (see
``frames``), and every error id must be one of ``error_ids.ERROR_IDS``.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, ClassVar

import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from jsonschema_path import SchemaPath
from multidict import CIMultiDict
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.datatypes import TemplateResult
from openapi_core.templating.paths.datatypes import Path
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.paths.iterators import TemplatePathsIterator
from openapi_core.templating.paths.parsers import PathParser
from openapi_core.templating.paths.util import template_path_len
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.validators import V30RequestValidator

from sev1bot.sandbox.error_ids import ERROR_IDS
from sev1bot.sandbox.errors import INJECTED_DETAIL
from sev1bot.sandbox.frames import FrameChecker
from sev1bot.sandbox.required import REQUIRED

log = logging.getLogger(__name__)

SPEC_HOST = "http://localhost:8065"  # the default of the spec's server variable
_EXEMPT_PREFIXES = ("/api/v4/websocket", "/sandbox/admin")


class IndexedPathsIterator(TemplatePathsIterator):
    """openapi-core's path matching, with the spec's ~400 paths and their parsers listed once per spec.

    Same order and results as ``TemplatePathsIterator``: concrete paths first, then templates with the
    fewest variables; re-walking the spec on every request cost ~3 ms per lookup.
    """

    _indexes: ClassVar[dict[int, list[tuple[str, SchemaPath, PathParser]]]] = {}

    def __call__(self, name: str, spec: SchemaPath, base_url: str | None = None) -> Iterator[Path]:
        key = id(spec.accessor)
        if key not in self._indexes:
            paths = spec / self.paths_part
            self._indexes[key] = [
                (pattern, path, PathParser(pattern, post_expression="$"))
                for pattern, path in paths.str_items()
            ]
        templated: list[Path] = []
        for pattern, path, parser in self._indexes[key]:
            if name.endswith(pattern):
                yield Path(path, TemplateResult(pattern, {}))
            elif result := parser.search(name):
                templated.append(Path(path, TemplateResult(pattern, result.named)))
        yield from sorted(templated, key=template_path_len)


class IndexedPathFinder(APICallPathFinder):
    paths_iterator = IndexedPathsIterator("paths")


class _NoSecurityRequestValidator(V30RequestValidator):
    """The server accepts cookies, query tokens and anonymous routes the spec's global bearerAuth forbids."""

    def _get_security(self, parameters: Any, operation: Any) -> dict[str, str] | None:
        return None


@dataclass
class Violation:
    side: str  # "request", "response" or "frame" (websocket)
    method: str
    path: str
    status: int | None
    problem: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.side} {self.method} {self.path}{status}: {self.problem}"


@dataclass
class _Request:
    """openapi-core's Request protocol."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters
    host_url: str = SPEC_HOST


@dataclass
class _Response:
    """openapi-core's Response protocol."""

    data: bytes
    status_code: int
    content_type: str
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)


_REQUEST_COPY = "{}_AsSent"  # the spec's own schema, kept for request bodies
_SPEC_DATA: dict[int, dict[str, Any]] = {}  # id(OpenAPI) -> the spec it was built from, overlay applied


def with_required(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with ``REQUIRED`` added to its response schemas; request bodies keep the spec's schemas."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    missing = sorted(set(REQUIRED) - set(schemas))
    if missing:
        raise ValueError(f"required.REQUIRED names schemas the spec does not have: {', '.join(missing)}")
    for name in REQUIRED:
        schemas[_REQUEST_COPY.format(name)] = copy.deepcopy(schemas[name])
    refs = {
        f"#/components/schemas/{name}": f"#/components/schemas/{_REQUEST_COPY.format(name)}"
        for name in REQUIRED
    }
    for operations in spec["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                _retarget(operation["requestBody"], refs)
    for name, required in REQUIRED.items():
        schemas[name]["required"] = sorted({*schemas[name].get("required", ()), *required.fields})
    return spec


def _retarget(node: Any, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        if node.get("$ref") in refs:
            node["$ref"] = refs[node["$ref"]]
        for value in node.values():
            _retarget(value, refs)
    elif isinstance(node, list):
        for value in node:
            _retarget(value, refs)


@functools.cache
def load_contract(spec_path: FilePath) -> OpenAPI:
    """Parse and index the spec, with the ``required`` overlay, once per process (it is ~800 KB)."""
    with spec_path.open(encoding="utf-8") as handle:
        data = with_required(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    config = Config(request_validator_cls=_NoSecurityRequestValidator, path_finder_cls=IndexedPathFinder)
    openapi = OpenAPI.from_dict(data, config=config)
    _SPEC_DATA[id(openapi)] = data
    return openapi


def _describe(exc: BaseException) -> str:
    """openapi-core wraps the useful part (the JSON-schema messages) in a chain of causes."""
    messages: list[str] = []
    chain: list[str] = []
    node: BaseException | None = exc
    while node is not None:
        chain.append(str(node))
        messages += [getattr(e, "message", str(e)) for e in getattr(node, "schema_errors", None) or []]
        node = node.__cause__
    if messages:
        return f"{chain[0]}: {'; '.join(dict.fromkeys(messages))}"
    return "; ".join(dict.fromkeys(part for part in chain if part))


def spec_of(openapi: OpenAPI) -> dict[str, Any]:
    """The spec (``required`` overlay applied) that ``load_contract`` built ``openapi`` from."""
    return _SPEC_DATA[id(openapi)]


class ContractChecker:
    def __init__(self, openapi: OpenAPI) -> None:
        self.openapi = openapi
        self.violations: list[Violation] = []
        self.frames = FrameChecker(_SPEC_DATA[id(openapi)]) if id(openapi) in _SPEC_DATA else None

    def check_frame(self, text: str) -> None:
        """A websocket frame the sandbox is about to send: its envelope and its event's data."""
        if self.frames is None:
            return
        try:
            problems = list(self.frames.problems(text))
        except Exception as exc:  # never let a checker bug stop the sandbox's writer: report it instead
            problems = [f"the frame checker failed on {text[:200]!r}: {exc!r}"]
        for problem in problems:
            self._record("frame", "WS", "/api/v4/websocket", None, problem)

    @staticmethod
    def exempt(path: str) -> bool:
        return not path.startswith("/api/v4/") or path.startswith(_EXEMPT_PREFIXES)

    def check_request(self, request: web.Request, body: bytes) -> _Request | None:
        """Record what is wrong with the request; None when the spec has no such operation."""
        checked = _Request(
            method=request.method.lower(),
            path=request.path,
            body=body or None,
            content_type=request.headers.get("Content-Type", ""),
            parameters=RequestParameters(
                query=request.query,
                header=request.headers,
                cookie=request.cookies,
            ),
        )
        known = True
        for error in self.openapi.iter_request_errors(checked):
            known = known and not isinstance(error, PathError)
            self._record("request", request.method, request.path, None, _describe(error))
        return checked if known else None

    def check_response(self, request: web.Request, checked: _Request, response: web.Response) -> None:
        status = response.status
        content_type = response.headers.get("Content-Type", "")
        if status == 429 and content_type.startswith("text/plain"):
            return
        raw = response.body if isinstance(response.body, bytes) else b""
        answer = _Response(raw, status, content_type.split(";")[0].strip(), CIMultiDict(response.headers))
        for error in self.openapi.iter_response_errors(checked, answer):
            if isinstance(error, ResponseNotFound) and status >= 400:
                self._check_app_error(request, status, content_type, raw)
            else:
                self._record("response", request.method, request.path, status, _describe(error))
        if status >= 400:
            self._check_error_id(request, status, raw)

    def _check_error_id(self, request: web.Request, status: int, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return  # not an AppError: reported above
        if not isinstance(body, dict) or body.get("detailed_error") == INJECTED_DETAIL:
            return  # a failure a test injected, with whatever id it chose
        error_id = body.get("id")
        if isinstance(error_id, str) and error_id not in ERROR_IDS:
            problem = f"error id {error_id!r} is not in error_ids.ERROR_IDS (ids the server really uses)"
            self._record("response", request.method, request.path, status, problem)

    def _check_app_error(self, request: web.Request, status: int, content_type: str, raw: bytes) -> None:
        """An error status the spec does not list: the body must still be the server's AppError."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        ok = (
            content_type == "application/json"
            and isinstance(body, dict)
            and all(isinstance(body.get(k), str) for k in ("id", "message", "request_id"))
            and body.get("status_code") == status
        )
        if not ok:
            self._record("response", request.method, request.path, status, f"not an AppError: {raw[:200]!r}")

    def _record(self, side: str, method: str, path: str, status: int | None, problem: str) -> None:
        violation = Violation(side, method, path, status, problem)
        log.warning("contract violation: %s", violation)
        self.violations.append(violation)


def contract_middleware(checker: ContractChecker) -> Middleware:
    @web.middleware
    async def contract(request: web.Request, handler: Handler) -> web.StreamResponse:
        if checker.exempt(request.path):
            return await handler(request)
        checked = checker.check_request(request, await request.read())
        response = await handler(request)
        if checked is not None and isinstance(response, web.Response):
            checker.check_response(request, checked, response)
        return response

    return contract
