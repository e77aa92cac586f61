"""Which access rule a request falls under, known from its method and path before the app runs, so the request
guard can authenticate before it reads a body (refusals are then attributed, and anonymous callers are refused
with 401 before they can make the service parse anything).

The rules are serving/security.py's; this only finds a request's route the way the router will. Routes of the
app that are not API routes (documentation, static files) are public.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from serving.security import api_routes, route_rules, rule_name


@dataclass(frozen=True)
class RouteRule:
    template: str | None
    """The route template, or None when no route matches (the router will answer 404 or 405)."""
    protected: bool
    """A key (or session) is needed: an access rule names roles, or no public route matches."""


class RouteTable:
    def __init__(self, routes: Sequence[BaseRoute]):
        rules = route_rules(routes)
        self._api: list[tuple[re.Pattern[str], str, str, bool]] = [
            (route.path_regex, method, route.path, rules[rule_name(method, route.path)] is not None)
            for route in api_routes(routes) for method in sorted(route.methods or ())]
        self._other = [r for r in routes if type(r).__name__ != "_IncludedRouter" and not _is_api(r)]

    def lookup(self, scope: Scope) -> RouteRule:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = scope.get("path", "")
        for regex, route_method, template, protected in self._api:
            if route_method == method and regex.match(path):
                return RouteRule(template, protected)
        for route in self._other:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return RouteRule(getattr(route, "path", None), False)
        return RouteRule(None, True)


def _is_api(route: BaseRoute) -> bool:
    from fastapi.routing import APIRoute

    return isinstance(route, APIRoute)
