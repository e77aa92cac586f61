"""/docs (Swagger UI) and /redoc (ReDoc) from assets shipped in the `fastapi-offline` wheel, so they work without
internet and load nothing from another origin.

FastAPI's own pages pull both from a CDN and start them with an inline script, which the service's policy
(`default-src 'self'`) forbids; these pages load the bundles from /docs-assets and start them from
/static/api-docs.js, reading the schema URL from a data attribute. The pages show the schema, never data.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
STARTER = "/static/api-docs.js"


def _page(title: str, root: str, openapi_url: str, body: str, head: str = "") -> HTMLResponse:
    return HTMLResponse(f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="{root}{ASSETS_URL}/favicon.png">
{head}
</head>
<body data-openapi-url="{html.escape(root + openapi_url)}">
{body}
<script src="{root}{STARTER}"></script>
</body>
</html>
""")


def install(app: FastAPI) -> None:
    """Serve the bundles and the two pages on `app` (built with docs_url=None, redoc_url=None)."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(f"{app.title} - API", root, openapi_url,
                     f'<div id="swagger-ui"></div>\n<script src="{root}{ASSETS_URL}/swagger-ui-bundle.js"></script>',
                     f'<link rel="stylesheet" href="{root}{ASSETS_URL}/swagger-ui.css">')

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(f"{app.title} - API reference", root, openapi_url,
                     f'<div id="redoc"></div>\n<script src="{root}{ASSETS_URL}/redoc.standalone.js"></script>')

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
