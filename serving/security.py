"""Who may call what: API keys (hashed, compared in constant time) mapped to roles, and one access table.

The table below is the single source of truth: every route of the app must appear in it (create_app refuses to
build otherwise) and a route without a rule is closed to everyone. Allocators see aggregates only; clinicians
score patients (optionally only for named programmes); data scientists also manage the loaded model.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from starlette.routing import BaseRoute

from serving.context import request_context
from serving.keys import PREFIX, hash_key
from serving.origin import request_cross_origin_reason
from serving.principal import Principal
from serving.problems import ProblemError
from serving.sessions import COOKIE, CSRF_HEADER, SAFE_METHODS, Session, SessionStore
from serving.settings import ROLES, KeyRecord, Role

HEADER = "X-API-Key"
_EVERYONE: frozenset[Role] = frozenset(ROLES)
_PLANNERS: frozenset[Role] = frozenset({"allocator", "data_scientist"})
PUBLIC: frozenset[str] = frozenset({"GET /healthz", "GET /readyz"})
METRICS = "GET /metrics"
"""Public only with the metrics_public setting (create_app then registers it without authorize)."""
ACCESS: dict[str, frozenset[Role]] = {
    METRICS: frozenset({"data_scientist"}),
    "GET /v1/models": _EVERYONE,
    "GET /v1/programs": _EVERYONE,
    "POST /v1/forecasts": _PLANNERS,
    "POST /v1/recommendations": _PLANNERS,
    "POST /v1/scenarios": _PLANNERS,
    "POST /v1/patients/risk": frozenset({"clinician"}),
    "POST /v1/admin/reload": frozenset({"data_scientist"}),
    "POST /v1/pilots/evaluate": _PLANNERS,
    "POST /v1/reports": _PLANNERS,
    "GET /v1/review/kpis": _PLANNERS,
    "GET /v1/review/plans": _PLANNERS,
    "GET /v1/review/plans/{plan_id}": _PLANNERS,
    "GET /v1/review/latest": _PLANNERS,
    "POST /v1/review": _PLANNERS,
    "POST /v1/saved-scenarios": _PLANNERS,
    "GET /v1/saved-scenarios": _PLANNERS,
    "GET /v1/saved-scenarios/{scenario_id}": _PLANNERS,
    "PATCH /v1/saved-scenarios/{scenario_id}": _PLANNERS,
    "DELETE /v1/saved-scenarios/{scenario_id}": _PLANNERS,
    # web pages (serving/pages): signed in with a session cookie; sign-in, sign-out and "/" are public
    "GET /pages/allocator": _PLANNERS,
    "POST /pages/allocator/allocation.csv": _PLANNERS,
    "POST /pages/allocator/allocation.xlsx": _PLANNERS,
    "GET /pages/clinician": frozenset({"clinician"}),
    "POST /pages/clinician/episodes": frozenset({"clinician"}),
    "GET /pages/models": frozenset({"data_scientist"}),
    "GET /pages/outcomes": _PLANNERS,
}
PUBLIC |= frozenset({"GET /", "GET /signin", "POST /signin", "POST /signout"})
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
_api_key_header = APIKeyHeader(name=HEADER, auto_error=False, description="A key issued by `carealloc demo`.")


class Keyring:
    def __init__(self, records: Iterable[KeyRecord]):
        self._by_id = {r.key_id: r for r in records}

    def __len__(self) -> int:
        return len(self._by_id)

    def verify(self, key: str) -> Principal | None:
        parts = key.split("_", 2)
        record = self._by_id.get(parts[1]) if len(parts) == 3 and parts[0] == PREFIX else None
        expected = record.sha256 if record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_key(key), expected)  # same work whether or not the id exists
        if record is None or not matches:
            return None
        programs = frozenset(record.programs) if record.programs is not None else None
        return Principal(record.key_id, record.role, programs)


def rule_name(method: str, path: str) -> str:
    return f"{method} {path}"


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """The app's API routes, including those of included routers (resolved lazily by recent FastAPI versions)."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # FastAPI before lazy router inclusion: app.routes is already flat
        yield from (r for r in routes if isinstance(r, APIRoute))
        return
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


def route_rules(routes: Sequence[BaseRoute]) -> dict[str, frozenset[Role] | None]:
    """Every (method, path) of the app's API routes with its rule (None = public); KeyError for a missing rule.
    A route that does not depend on `authorize` (/metrics with metrics_public) is public, whatever ACCESS says."""
    found: dict[str, frozenset[Role] | None] = {}
    for route in api_routes(routes):
        for method in sorted(route.methods or ()):
            name = rule_name(method, route.path)
            if name in PUBLIC or (name == METRICS and not _authorized(route)):
                found[name] = None
            elif name in ACCESS:
                found[name] = ACCESS[name]
            else:
                raise KeyError(f"route {name} has no access rule in serving.security.ACCESS")
    return found


def _authorized(route: APIRoute) -> bool:
    """Whether the route runs `authorize` (as a parameter or a route dependency)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is authorize:
            return True
        pending.extend(dependency.dependencies)
    return False


def current_session(request: Request) -> Session | None:
    """The live browser session the cookie names, if any (no CSRF check here: callers decide)."""
    store: SessionStore | None = getattr(request.app.state, "sessions", None)
    return store.get(request.cookies.get(COOKIE)) if store is not None else None


def _cookie_principal(request: Request) -> Principal | None:
    """A session cookie authenticates too, but unsafe methods must come from this service's pages (Origin) and
    carry the session's CSRF token."""
    session = current_session(request)
    if session is None:
        return None
    context = request_context(request)  # attributed to the session's key even when refused below
    context.key_id, context.role = session.principal.key_id, session.principal.role
    if request.method in SAFE_METHODS:
        return session.principal
    cross_origin = request_cross_origin_reason(request)
    if cross_origin is not None:
        raise ProblemError(403, "cross-origin", f"a signed-in page's request was refused because {cross_origin}")
    if not session.csrf_matches(request.headers.get(CSRF_HEADER)):
        raise ProblemError(403, "csrf-token-missing", f"requests from a signed-in page must carry the page's "
                           f"{CSRF_HEADER} header; reload the page and try again")
    return session.principal


async def authorize(request: Request, key: Annotated[str | None, Depends(_api_key_header)]) -> Principal:
    """401 without a valid key or session, 429 when the key is over its rate limit, 403 when the role may not call
    this route (or a cookie request lacks its CSRF token).

    Async although it is plain code: it never waits (a hash of a short key, dictionary look-ups, an in-memory
    token bucket), and as a `def` FastAPI would send it to the thread pool, a hop costing more than its work."""
    principal = request.app.state.keyring.verify(key) if key else _cookie_principal(request)
    if principal is None:
        detail = "the API key is not valid" if key else f"send an API key in the {HEADER} header (or sign in)"
        raise ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": "ApiKey"})
    context = request_context(request)
    context.key_id, context.role = principal.key_id, principal.role
    wait = request.app.state.rate_limiter.take(principal.key_id)
    if wait is not None:
        raise ProblemError(429, "rate-limited", f"this key sent too many requests; retry in {wait} s",
                           headers={"Retry-After": str(wait)})
    route = request.scope.get("route")
    allowed = ACCESS.get(rule_name(request.method, route.path)) if route is not None else None
    if not allowed or principal.role not in allowed:
        raise ProblemError(403, "forbidden", f"the {principal.role} role may not call {request.method} "
                           f"{route.path if route is not None else 'this route'}")
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]
