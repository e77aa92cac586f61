"""Security headers on every response, added by the request guard so no route (or error path) can forget them.

Pages and API answers load nothing from other origins (`default-src 'self'`), may not be framed, give other
origins no referrer and are not stored by browsers or proxies (they can hold patient risk). The referrer policy is
`same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with a form's POST, and the
sign-in form's Origin must be checked (serving/origin.py). The /docs and /redoc pages load
Swagger UI / ReDoc from this service too (serving/api_docs.py); they alone may use inline styles. No CORS headers
are sent at all: other origins cannot read responses.
"""

from __future__ import annotations

from collections.abc import Sequence

CSP = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
DOCS_CSP = (b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
            b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
"""/docs and /redoc (serving/api_docs.py): every script and asset from this service; Swagger UI and ReDoc set
styles at run time, so only these two pages, which show the schema and never data, allow inline styles."""
DOCS_PAGES = frozenset({"/docs", "/redoc"})
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
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
