"""Did an unsafe request come from this service's own pages? The check against login CSRF and cross-site posts.

A browser names the page that sent a POST: `Sec-Fetch-Site` (cross-site / same-site / same-origin / none),
`Origin` (on every POST of current browsers; `null` from sandboxed frames, `file:` pages, and forms on pages with
`Referrer-Policy: no-referrer`, which is why the service sends `same-origin` instead) and `Referer`. The rule:
- `Sec-Fetch-Site: cross-site` or `same-site` is refused (a sibling subdomain is another site's page too);
- an `Origin` must be this service's own, scheme, host and port (`null` is refused: it hides where it came from);
- without `Origin`, a `Referer` must be on this service's own origin;
- with none of them, the request is allowed: browsers always send Origin or Sec-Fetch-Site on a cross-site POST,
  so a request without them is not a browser riding on a user's cookie but a script (curl, httpx), which must
  present its own key or cookie and which refusing would not stop (it could send any header it liked).
The service's own origin is `public_origin` when set (a reverse proxy that rewrites Host or terminates TLS),
else the request's scheme (https behind a proxy when uvicorn trusts its X-Forwarded-Proto) and Host header.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]
"""scheme, lower-case host, port (the default port filled in)"""


def parse_origin(url: str) -> Origin | None:
    """The origin of an absolute http(s) URL, None for anything else (`null`, other schemes, malformed)."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port out of range or not a number, a malformed IPv6 literal
        return None


def own_origin(scheme: str, host_header: str | None, public_origin: str | None = None) -> Origin | None:
    if public_origin:
        return parse_origin(public_origin)
    return parse_origin(f"{scheme}://{host_header}") if host_header else None


def cross_origin_reason(headers: Mapping[str, str], own: Origin | None) -> str | None:
    """Why this unsafe request looks sent by another site's page, or None when it does not (see the module)."""
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return f"your browser says it was sent from another site's page (Sec-Fetch-Site: {fetch_site})"
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value is not None:
            sent = parse_origin(value)
            if sent is None or sent != own:
                return f"its {name.capitalize()} header names another site, not this service"
            return None
    return None


def request_cross_origin_reason(request: Request) -> str | None:
    """`cross_origin_reason` for a request of this app (its settings say whether a public origin is set)."""
    public_origin = getattr(request.app.state.settings, "public_origin", None)
    return cross_origin_reason(request.headers, own_origin(request.url.scheme, request.headers.get("host"),
                                                           public_origin))
