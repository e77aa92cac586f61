"""Security headers on every response, added by the request guard so no route (or error path) can forget them.

Pages and API answers load nothing from other origins (`default-src 'self'`), may not be framed, leak no referrer
and are not stored by browsers or proxies (they can hold patient risk). FastAPI's /docs and /redoc pages pull
Swagger UI / ReDoc from their CDN with an inline start-up script, so those two paths alone get a policy that
allows exactly that CDN; they show the schema, never data. No CORS headers are sent at all: other origins cannot
read responses.
"""

from __future__ import annotations

from collections.abc import Sequence

CSP = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; style-src 'self' 'unsafe-inline' "
            f"{DOCS_CDN} https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com; worker-src 'self' blob:; frame-ancestors 'none'; "
            "base-uri 'none'; object-src 'none'").encode()
DOCS_PAGES = frozenset({"/docs", "/redoc"})
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
DEFAULTS: tuple[tuple[bytes, bytes], ...] = ((b"cache-control", b"no-store"),)
"""Added only when the response did not set its own (static files may choose to be cached)."""


def with_security_headers(headers: Sequence[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """`headers` with the policy headers replacing any the app set, and the defaults where it set none."""
    policy = {name for name, _ in ALWAYS} | {b"content-security-policy"}
    kept = [(name, value) for name, value in headers if name.lower() not in policy]
    present = {name.lower() for name, _ in kept}
    csp = DOCS_CSP if path in DOCS_PAGES else CSP
    return [*kept, *ALWAYS, (b"content-security-policy", csp),
            *((name, value) for name, value in DEFAULTS if name not in present)]
