"""Who may open which page: the same ACCESS table as the API, answered the way a browser needs it.

A JSON 401/403 means nothing to a person, so a page asked for without a sign-in redirects to the sign-in form
(remembering where to come back to), and a page for another role renders a readable 403 page. Only page paths
from PAGES are accepted as the place to return to, so the sign-in form cannot be used as an open redirect. Every
unsafe page request, the sign-in form's included, must come from this service's own pages (serving/origin.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from serving.context import request_context
from serving.origin import request_cross_origin_reason
from serving.principal import Principal
from serving.security import ACCESS, current_session, rule_name
from serving.sessions import SAFE_METHODS, Session


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    path: str


PAGES = (Page("allocator", "Allocation", "/pages/allocator"), Page("outcomes", "Outcomes", "/pages/outcomes"),
         Page("clinician", "Patients", "/pages/clinician"), Page("models", "Models", "/pages/models"))
SIGN_IN = "/signin"


class SignInRequiredError(Exception):
    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class CrossOriginError(Exception):
    """An unsafe page request sent by another site's page (serving/origin.py)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PageForbiddenError(Exception):
    def __init__(self, principal: Principal, path: str):
        super().__init__(path)
        self.principal, self.path = principal, path


def pages_for(principal: Principal) -> list[Page]:
    return [page for page in PAGES if principal.role in ACCESS.get(rule_name("GET", page.path), frozenset())]


def home_for(principal: Principal, wanted: str | None = None) -> str:
    """Where a signed-in person lands: the page they asked for if their role may see it, else their first page."""
    offered = pages_for(principal)
    if wanted and any(page.path == wanted for page in offered):
        return wanted
    return offered[0].path if offered else SIGN_IN


def page_session(request: Request) -> Session:
    """The signed-in session for this page, with the request attributed to its key in the audit record."""
    session = current_session(request)
    if session is None:
        raise SignInRequiredError(request.url.path)
    principal = session.principal
    context = request_context(request)
    context.key_id, context.role = principal.key_id, principal.role
    route = request.scope.get("route")
    allowed = ACCESS.get(rule_name(request.method, route.path)) if route is not None else None
    if not allowed or principal.role not in allowed:
        raise PageForbiddenError(principal, request.url.path)
    return session


def same_origin_only(request: Request) -> None:
    """Every unsafe page request, sign-in included, must come from this service's own pages (login CSRF)."""
    if request.method not in SAFE_METHODS:
        reason = request_cross_origin_reason(request)
        if reason is not None:
            raise CrossOriginError(reason)


def redirect_to_sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    known = any(page.path == exc.path for page in PAGES)
    return RedirectResponse(SIGN_IN + (f"?next={quote(exc.path)}" if known else ""), status_code=303)
