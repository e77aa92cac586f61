"""What one request has revealed about itself so far, filled by dependencies and read by the audit middleware."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

SCOPE_KEY = "carealloc.context"


@dataclass
class RequestContext:
    request_id: str
    key_id: str | None = None
    role: str | None = None
    model_version: str | None = None


def request_context(connection: HTTPConnection) -> RequestContext:
    context = connection.scope.get(SCOPE_KEY)
    if context is None:  # a request that bypassed the middleware (should not happen): record into a throwaway
        context = RequestContext(request_id="unaudited")
        connection.scope[SCOPE_KEY] = context
    return context
