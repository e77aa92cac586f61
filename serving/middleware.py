"""The guard every HTTP request passes: body size limit, strict JSON numbers, audit, metrics and the access log.

Order of work for one request:
1. write the audit row (store down -> 503 before anything else happens);
2. read the body up to `max_body_bytes` (413 beyond), hash it, refuse NaN/Infinity/overflowing numbers (422);
3. run the app, holding its response back; an unexpected exception becomes a 500 problem without details;
4. complete the audit row, and only then send the response (store down -> 503 instead of the answer), with the
   security headers of serving/headers.py;
5. count it in /metrics and write one JSON log line (route template, status, timing, key id; no body).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.audit import AuditUnavailableError, Outcome
from serving.context import SCOPE_KEY, RequestContext
from serving.headers import with_security_headers
from serving.logs import logger
from serving.problems import MEDIA_TYPE, field_path, problem_body

VERSION_HEADER = b"carealloc-model-version"
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


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
    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope["app"].state
        context = RequestContext(request_id=secrets.token_hex(16))  # 128 random bits, as a uuid4 has
        scope[SCOPE_KEY] = context
        method = scope["method"]
        try:
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
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = Outcome(endpoint, status, context.key_id, context.role, version, digest, len(body), duration_ms)
        try:
            await state.offload.audit(state.audit.finish, row_id, outcome)
        except AuditUnavailableError as exc:
            await self._refuse_unaudited(scope, send, context, started, exc)
            return
        headers = [*messages[0].get("headers", []), (VERSION_HEADER, (version or "none").encode()),
                   (b"x-request-id", context.request_id.encode())]
        messages[0]["headers"] = with_security_headers(headers, scope.get("path", ""))
        for message in messages:
            await send(message)
        self._record(state, context, method, endpoint, status, version, started)

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
        logger().error("audit store unavailable; request refused", extra={
            "request_id": context.request_id, "error_type": str(exc), "event": "audit_unavailable"})
        body = problem_body(503, "audit-unavailable", "Service Unavailable",
                            "the request could not be recorded in the audit store, so it was not served")
        messages = _problem_messages(body, retry_after=True)
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


def _problem_messages(body: dict[str, Any], retry_after: bool = False) -> list[Message]:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"5"))
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
