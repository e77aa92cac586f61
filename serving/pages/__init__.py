"""Web pages for allocators, clinicians and data scientists, served by the API's own app (no CDN, no build)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from serving.pages.access import CrossOriginError, PageForbiddenError, SignInRequiredError, redirect_to_sign_in
from serving.pages.router import cross_origin_refused, forbidden_page, router
from serving.pages.throttle import SignInThrottle
from serving.sessions import SessionStore

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, their static files, the in-memory session store and the sign-in limits to `app` (nothing is
    read here)."""
    settings = app.state.settings
    app.state.sessions = SessionStore(settings.session_minutes * 60, settings.max_sessions,
                                      settings.max_sessions_per_key)
    app.state.signin_throttle = SignInThrottle.per_minute(settings.signin_per_minute_per_client,
                                                          settings.signin_per_minute_per_key)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.add_exception_handler(SignInRequiredError, redirect_to_sign_in)
    app.add_exception_handler(PageForbiddenError, forbidden_page)
    app.add_exception_handler(CrossOriginError, cross_origin_refused)
