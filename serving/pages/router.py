"""The web pages: sign-in and sign-out, and one page per role drawn in the browser from the /v1 JSON API.

Pages are thin: the server renders a form and the session's CSRF token, the page's own script (from /static,
never inline, so a `default-src 'self'` policy holds) calls the same /v1 endpoints any client calls. The
pages have endpoints of their own only where a browser needs them and the JSON API does not: turning an uploaded
CSV into episodes (with the contract's own checks) and the allocation as a spreadsheet-safe CSV or XLSX.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from serving.context import request_context
from serving.dependencies import LoadedDep, SettingsDep
from serving.pages.access import (
    SIGN_IN,
    CrossOriginError,
    PageForbiddenError,
    home_for,
    page_session,
    pages_for,
    same_origin_only,
)
from serving.pages.export import allocation_csv, with_programmes
from serving.pages.uploads import episodes_from_csv
from serving.pages.workbook import XLSX_MEDIA_TYPE, allocation_xlsx
from serving.problems import ProblemError, problem_response
from serving.routers.recommendations import recommendation_result
from serving.schemas import RecommendationCreate
from serving.security import authorize, current_session
from serving.sessions import COOKIE, CSRF_FIELD, Session, SessionsFullError, SessionStore

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False, dependencies=[Depends(same_origin_only)])
FORM_PATHS = frozenset({SIGN_IN, "/signout"})
"""Posted by the pages' HTML forms, so a refusal is a page; the other unsafe page routes are called by scripts."""
SessionDep = Annotated[Session, Depends(page_session)]


def _render(request: Request, name: str, session: Session | None, status_code: int = 200,
            **context: Any) -> HTMLResponse:
    principal = session.principal if session is not None else None
    return templates.TemplateResponse(request, name, {
        "principal": principal, "csrf_token": session.csrf_token if session is not None else "",
        "pages": pages_for(principal) if principal is not None else [], "csrf_field": CSRF_FIELD,
        "current_path": request.url.path, **context}, status_code=status_code)


def forbidden_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbiddenError)
    return _render(request, "forbidden.html", current_session(request), status_code=403,
                   role=exc.principal.role, path=exc.path)


def cross_origin_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrossOriginError)
    detail = f"This request was refused because {exc.reason}."
    if request.url.path not in FORM_PATHS:
        return problem_response(request, ProblemError(403, "cross-origin", detail))
    session = current_session(request)
    return _render(request, "forbidden.html", session, status_code=403, path=request.url.path,
                   role=session.principal.role if session is not None else "",
                   reason=f"{detail} Open the sign-in page of this service itself and try again there.")


@router.get("/", response_class=RedirectResponse)
def root(*, request: Request) -> RedirectResponse:
    session = current_session(request)
    return RedirectResponse(home_for(session.principal) if session is not None else SIGN_IN, status_code=303)


@router.get("/signin", response_class=HTMLResponse)
def sign_in_form(*, request: Request, next: str | None = None) -> HTMLResponse:
    return _render(request, "signin.html", current_session(request), next=next or "", error=None)


def _sign_in_refused(request: Request, status_code: int, next: str, error: str,
                     retry_after: int | None = None) -> HTMLResponse:
    response = _render(request, "signin.html", None, status_code=status_code, next=next, error=error)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/signin", response_class=HTMLResponse)
def sign_in(*, request: Request, settings: SettingsDep, api_key: Annotated[str, Form(max_length=200)] = "",
            next: Annotated[str, Form(max_length=200)] = "") -> Response:
    principal = request.app.state.keyring.verify(api_key.strip()) if api_key.strip() else None
    if principal is not None:  # attributed in the audit record even when refused below
        context = request_context(request)
        context.key_id, context.role = principal.key_id, principal.role
    wait = request.app.state.signin_throttle.wait(request, principal)
    if wait is not None:
        return _sign_in_refused(request, 429, next, f"Too many sign-in attempts; try again in {wait} s.", wait)
    if principal is None:
        error = "That API key is not valid." if api_key.strip() else "Enter your API key."
        return _sign_in_refused(request, 401, next, error)
    store: SessionStore = request.app.state.sessions
    store.close(request.cookies.get(COOKIE))  # a fresh id on every sign-in (no session fixation)
    try:
        session = store.open(principal)
    except SessionsFullError:
        return _sign_in_refused(request, 503, next, "Too many people are signed in right now; try again in a "
                                "few minutes.", retry_after=60)
    response = RedirectResponse(home_for(principal, next), status_code=303)
    response.set_cookie(COOKIE, session.session_id, max_age=settings.session_minutes * 60, path="/",
                        httponly=True, samesite="strict", secure=settings.session_cookie_secure)
    return response


@router.post("/signout", response_class=RedirectResponse)
def sign_out(*, request: Request, settings: SettingsDep,
             csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = current_session(request)
    if session is not None:
        if not session.csrf_matches(csrf_token):
            return _render(request, "forbidden.html", session, status_code=403, role=session.principal.role,
                           path="/signout", reason="The sign-out form was stale; reload the page and try again.")
        context = request_context(request)
        context.key_id, context.role = session.principal.key_id, session.principal.role
        request.app.state.sessions.close(session.session_id)
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=settings.session_cookie_secure)
    return response


@router.get("/pages/allocator", response_class=HTMLResponse)
def allocator_page(*, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return _render(request, "allocator.html", session, currency=settings.currency)


@router.get("/pages/outcomes", response_class=HTMLResponse)
def outcomes_page(*, request: Request, session: SessionDep) -> HTMLResponse:
    return _render(request, "outcomes.html", session)


@router.get("/pages/clinician", response_class=HTMLResponse)
def clinician_page(*, request: Request, session: SessionDep) -> HTMLResponse:
    programs = sorted(session.principal.programs) if session.principal.programs is not None else None
    return _render(request, "clinician.html", session, allowed_programs=programs)


@router.get("/pages/models", response_class=HTMLResponse)
def models_page(*, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return _render(request, "models.html", session, mlflow_ui_url=settings.mlflow_ui_url)


@router.post("/pages/allocator/allocation.csv", response_class=Response, dependencies=[Depends(authorize)])
def allocation_download(*, body: RecommendationCreate, loaded: LoadedDep) -> Response:
    result = with_programmes(recommendation_result(loaded, body), loaded.bundle.programs)
    table = allocation_csv(result, body.model_dump(mode="json"), datetime.now(UTC).date())
    return Response(table, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="allocation-model-v{loaded.version}.csv"'})


@router.post("/pages/allocator/allocation.xlsx", response_class=Response, dependencies=[Depends(authorize)])
def allocation_workbook(*, body: RecommendationCreate, loaded: LoadedDep) -> Response:
    result = with_programmes(recommendation_result(loaded, body), loaded.bundle.programs)
    book = allocation_xlsx(result, body.model_dump(mode="json"), datetime.now(UTC).date())
    return Response(book, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="allocation-model-v{loaded.version}.xlsx"'})


@router.post("/pages/clinician/episodes", dependencies=[Depends(authorize)])
def upload_episodes(*, file: Annotated[UploadFile, File(description="Episodes in contract form (CSV)")]
                    ) -> dict[str, Any]:
    return episodes_from_csv(file.file.read(), file.filename or "episodes.csv")
