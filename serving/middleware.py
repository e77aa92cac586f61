"""The guard every HTTP request passes: authentication, body size and time limits, strict JSON numbers, audit,
metrics and the access log.

Order of work for one request:
0. health probes are answered at once and counted per minute (serving/tally.py): they never wait on the store;
1. authenticate from the headers alone (API key or session cookie), before any body is read, so every refusal
   that follows is attributed to its key; an API request without a valid key is refused with 401 here (429 when
   its client address is over the anonymous rate limit) and counted per minute instead of a row each;
2. write the audit row (store down -> 503 with Retry-After before anything else happens);
3. read the body up to `max_body_bytes` (413 beyond) within `body_timeout_seconds` (408 beyond), hash it,
   refuse NaN/Infinity/overflowing numbers (422);
4. run the app, holding its response back; an unexpected exception becomes a 500 problem without details;
5. complete the audit row, and only then send the response (store down -> 503 instead of the answer), with the
   security headers of serving/headers.py;
6. count it in /metrics and write one JSON log line (route template, status, timing, key id; no body).
Role checks, per-key rate limits and CSRF tokens stay in serving/security.authorize, which runs in the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
import time
from typing import Any

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.audit import AuditUnavailableError, Outcome
from serving.context import SCOPE_KEY, RequestContext
from serving.headers import with_security_headers
from serving.logs import logger
from serving.principal import Principal
from serving.problems import MEDIA_TYPE, field_path, problem_body
from serving.route_table import RouteTable
from serving.security import HEADER
from serving.sessions import COOKIE

VERSION_HEADER = b"carealloc-model-version"
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
_KEY_HEADER = HEADER.lower().encode()


class _NonFinite:
    """Stands in for NaN / Infinity / numbers too large for a float while locating them in the body."""


_NON_FINITE = _NonFinite()


def _strict_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _first_non_finite(document: Any) -> str | None:
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(document, ("body",))]
    while stack:
        node, path = stack.pop()
        if node is _NON_FINITE:
            return field_path(path)
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def json_problem(body: bytes) -> dict[str, Any] | None:
    """A 422 problem when the body is not strict JSON (NaN, Infinity, 1e999, nesting too deep...), else None."""
    seen: list[bool] = []

    def constant(_text: str) -> _NonFinite:
        seen.append(True)
        return _NON_FINITE

    def number(text: str) -> float | _NonFinite:
        value = _strict_float(text)
        if value is _NON_FINITE:
            seen.append(True)
        return value

    try:
        document = json.loads(body, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as exc:
        return problem_body(422, "invalid-json", "Unprocessable Content",
                            f"the body is not valid JSON (line {exc.lineno}, column {exc.colno})",
                            errors=[{"field": "body", "message": "invalid JSON", "type": "json_invalid"}])
    except (ValueError, RecursionError, UnicodeDecodeError):
        return problem_body(422, "invalid-json", "Unprocessable Content",
                            "the body is not JSON this service can read (too deeply nested or a number too long)",
                            errors=[{"field": "body", "message": "unreadable JSON", "type": "json_invalid"}])
    if not seen:
        return None
    where = _first_non_finite(document) or "body"
    return problem_body(422, "non-finite-number", "Unprocessable Content",
                        f"{where}: NaN, Infinity and numbers beyond the float range are not valid JSON numbers",
                        errors=[{"field": where, "message": "expected a finite number", "type": "finite_number"}])


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_seconds: float = 30.0):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self._routes: RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope["app"].state
        context = RequestContext(request_id=secrets.token_hex(16))  # 128 random bits, as a uuid4 has
        scope[SCOPE_KEY] = context
        method = scope["method"]
        path = scope.get("path", "")
        if path in HEALTH_PATHS and method in ("GET", "HEAD"):
            await self._answer_counted(scope, send, context, started, await self._run_app(scope, b"", receive,
                                                                                          context))
            return
        if self._routes is None:  # every route is known once the app serves; built on the first request
            self._routes = RouteTable(scope["app"].routes)
        rule = self._routes.lookup(scope)
        principal = _authenticate(state, scope)
        if principal is not None:
            context.key_id, context.role = principal.key_id, principal.role
        else:
            refusal = _anonymous_refusal(state, scope, rule.template, rule.protected and path.startswith("/v1/"))
            if refusal is not None:
                await self._answer_counted(scope, send, context, started, refusal, rule.template)
                return
        try:
            state.audit.admit()  # a store known to fail refuses at once, without queueing behind the writer
            row_id = await state.offload.audit(state.audit.begin, context.request_id, method)
        except AuditUnavailableError as exc:
            await self._refuse_unaudited(scope, send, context, started, exc)
            return

        body, problem = await self._read_body(scope, receive)
        digest = hashlib.sha256(body).hexdigest() if body else None
        messages: list[Message] = []
        if problem is None and body and self._is_json(scope):
            problem = json_problem(body)
        if problem is not None:
            messages = _problem_messages(problem)
        else:
            messages = await self._run_app(scope, body, receive, context)
        status = int(messages[0]["status"])
        version = context.model_version or _loaded_version(state)
        endpoint = _endpoint(scope, status)
        if endpoint == "unmatched" and rule.template:  # refused before the router ran (413, 408, 422 JSON)
            endpoint = rule.template
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = Outcome(endpoint, status, context.key_id, context.role, version, digest, len(body), duration_ms)
        try:
            await state.offload.audit(state.audit.finish, row_id, outcome)
        except AuditUnavailableError as exc:
            await self._refuse_unaudited(scope, send, context, started, exc)
            return
        await self._send(scope, send, context, messages, version)
        self._record(state, context, method, endpoint, status, version, started)

    @staticmethod
    async def _send(scope: Scope, send: Send, context: RequestContext, messages: list[Message],
                    version: str | None) -> None:
        headers = [*messages[0].get("headers", []), (VERSION_HEADER, (version or "none").encode()),
                   (b"x-request-id", context.request_id.encode())]
        messages[0]["headers"] = with_security_headers(headers, scope.get("path", ""))
        for message in messages:
            await send(message)

    async def _answer_counted(self, scope: Scope, send: Send, context: RequestContext, started: float,
                              messages: list[Message], template: str | None = None) -> None:
        """Answer a request that carries no identity and changes nothing, counted in aggregate (no row)."""
        state = scope["app"].state
        status = int(messages[0]["status"])
        endpoint = template or _endpoint(scope, status)
        state.tally.count(scope["method"], endpoint, status)
        version = context.model_version or _loaded_version(state)
        await self._send(scope, send, context, messages, version)
        self._record(state, context, scope["method"], endpoint, status, version, started)

    @staticmethod
    def _is_json(scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                return b"json" in value.lower()
        return True  # FastAPI parses bodies without a content type as JSON too

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, dict[str, Any] | None]:
        too_large = problem_body(413, "body-too-large", "Content Too Large",
                                 f"the body exceeds {self.max_body_bytes:,} bytes; send fewer items per request")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return b"", too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        return b"", too_large
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return b"", problem_body(408, "body-timeout", "Request Timeout",
                                     f"the body did not arrive within {self.body_timeout_seconds:g} s")
        return b"".join(chunks), None

    async def _run_app(self, scope: Scope, body: bytes, receive: Receive, context: RequestContext) -> list[Message]:
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        messages: list[Message] = []

        async def hold(message: Message) -> None:
            if message["type"] != "http.response.debug":  # template introspection for test clients, not a reply
                messages.append(message)

        try:
            await self.app(scope, replay, hold)
        except Exception as exc:  # the last line of defence: no detail of the failure reaches the client
            logger().error("unhandled error", extra={"request_id": context.request_id, "error_type":
                                                     type(exc).__name__, "event": "error"})
            return _problem_messages(problem_body(500, "internal", "Internal Server Error",
                                                  f"an unexpected error occurred (request {context.request_id})"))
        if not messages or messages[0].get("type") != "http.response.start":
            return _problem_messages(problem_body(500, "internal", "Internal Server Error", "no response produced"))
        return messages

    async def _refuse_unaudited(self, scope: Scope, send: Send, context: RequestContext, started: float,
                                exc: Exception) -> None:
        if not getattr(exc, "untried", False):  # one line per failed write; the refusals after it are in the access log
            logger().error("audit store unavailable; requests refused", extra={
                "request_id": context.request_id, "error_type": str(exc), "event": "audit_unavailable"})
        body = problem_body(503, "audit-unavailable", "Service Unavailable",
                            "the request could not be recorded in the audit store, so it was not served")
        retry_after = getattr(exc, "retry_after", 1)
        messages = _problem_messages(body, retry_after=retry_after)
        messages[0]["headers"] = with_security_headers(messages[0]["headers"], scope.get("path", ""))
        for message in messages:
            await send(message)
        state = scope["app"].state
        self._record(state, context, scope["method"], _endpoint(scope, 503), 503, _loaded_version(state), started)

    @staticmethod
    def _record(state: Any, context: RequestContext, method: str, endpoint: str, status: int, version: str | None,
                started: float) -> None:
        seconds = time.perf_counter() - started
        state.metrics.observe(method, endpoint, status, version or "none", seconds)
        log = logger()
        if not log.isEnabledFor(logging.INFO):  # building the line costs more than the check
            return
        log.info("request", extra={
            "event": "request", "request_id": context.request_id, "method": method, "route": endpoint,
            "status": status, "duration_ms": round(seconds * 1000, 2), "key_id": context.key_id,
            "role": context.role, "model_version": version})


def _problem_messages(body: dict[str, Any], retry_after: int | None = None,
                      extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> list[Message]:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode()),
               *extra_headers]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return [{"type": "http.response.start", "status": body["status"], "headers": headers},
            {"type": "http.response.body", "body": payload, "more_body": False}]


def _endpoint(scope: Scope, status: int) -> str:
    """The route template (never the raw path, which a client controls and might fill with identifiers)."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    path = scope.get("path", "")
    return path if path in DOC_PATHS else "unmatched"


def _loaded_version(state: Any) -> str | None:
    holder = getattr(state, "holder", None)
    current = holder.current if holder is not None else None
    return current.version if current is not None else None


def _authenticate(state: Any, scope: Scope) -> Principal | None:
    """The caller from the headers alone: the API key when one is sent, else the session cookie's sign-in."""
    cookie = None
    for name, value in scope.get("headers", ()):
        if name == _KEY_HEADER:
            keyring = getattr(state, "keyring", None)
            return keyring.verify(value.decode("latin-1")) if keyring is not None else None
        if name == b"cookie":
            cookie = value.decode("latin-1")
    sessions = getattr(state, "sessions", None)
    if cookie is None or sessions is None:
        return None
    session = sessions.get(cookie_parser(cookie).get(COOKIE))
    return session.principal if session is not None else None


def _anonymous_refusal(state: Any, scope: Scope, template: str | None, needs_key: bool) -> list[Message] | None:
    """429 when the client address is over the anonymous rate limit; else 401 when the route needs a key."""
    client = scope.get("client")
    wait = state.anonymous_limiter.take(f"client:{client[0] if client else 'unknown'}")
    if wait is not None:
        return _problem_messages(problem_body(429, "rate-limited", "Too Many Requests",
                                              f"too many requests without a valid key; retry in {wait} s",
                                              template),
                                 retry_after=wait)
    if not needs_key:
        return None
    sent_key = any(name == _KEY_HEADER for name, _ in scope.get("headers", ()))
    detail = "the API key is not valid" if sent_key else f"send an API key in the {HEADER} header (or sign in)"
    return _problem_messages(problem_body(401, "unauthenticated", "Unauthorized", detail, template),
                             extra_headers=((b"www-authenticate", b"ApiKey"),))
