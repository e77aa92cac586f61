"""RFC 9457 problem details for every error the service returns (``application/problem+json``).

Validation errors name the field path and what was expected, never the submitted value: FastAPI's default
echoes the input back, which on patient endpoints would copy health data into responses and client logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from allocation import InfeasibleConstraintsError
from core.identifiers import safe_identifier
from models.bundle import FundingOutOfRangeError, UnknownProgramError
from usecases.recommendation import UnknownProgramsError

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:carealloc:problem:"


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, slug: str, detail: str, *, title: str | None = None,
                 errors: Sequence[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
                 **extensions: Any):
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors) if errors else None
        self.headers = headers
        self.extensions = extensions

    def __reduce__(self) -> tuple[Any, ...]:
        """Raised in a compute worker, it must reach the serving process whole (serving/compute.py)."""
        return _rebuilt, (self.status, self.slug, self.detail, self.title, self.errors, self.headers, self.extensions)


def _rebuilt(status: int, slug: str, detail: str, title: str, errors: list[dict[str, str]] | None,
             headers: dict[str, str] | None, extensions: dict[str, Any]) -> ProblemError:
    return ProblemError(status, slug, detail, title=title, errors=errors, headers=headers, **extensions)


def problem_body(status: int, slug: str, title: str, detail: str, instance: str | None = None,
                 errors: list[dict[str, str]] | None = None, **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extensions)
    return body


def problem_response(request: Request | None, error: ProblemError) -> JSONResponse:
    """`instance` is the route template, never the raw path: a path can carry identifiers a client put there."""
    route = request.scope.get("route") if request is not None else None
    instance = getattr(route, "path", None)
    body = problem_body(error.status, error.slug, error.title, error.detail, instance, error.errors,
                        **error.extensions)
    return JSONResponse(body, status_code=error.status, media_type=MEDIA_TYPE, headers=error.headers)


def field_path(loc: Sequence[int | str]) -> str:
    """('body', 'episodes', 3, 'payer') -> 'body.episodes[3].payer'.

    A path can hold a client's dictionary keys (scenario and programme names); a key that is not a safe
    identifier (control characters, a formula start) is shown as REFUSED_KEY instead of being echoed back.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + _shown(str(part))
    return text or "body"


REFUSED_KEY = "<refused key>"


def _shown(part: str) -> str:
    try:
        return safe_identifier(part)
    except ValueError:
        return REFUSED_KEY


NAMED_ITEMS = {("body", "contracts"): ("contract", "contract_id")}
"""Lists whose items a client knows by name: an error inside one says which item, as the CLI's file check does
(`contract 'COM-PHQ' tiers[0].lump_sum: ...`), when the name is a safe identifier."""


def validation_errors(errors: Sequence[Any], body: Any = None) -> list[dict[str, str]]:
    """Field path, message and error type per error; the submitted input and its context are dropped (apart from
    the name of a NAMED_ITEMS item, itself an identifier the client gave)."""
    out = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if p != "[key]"]
        message = str(error.get("msg", "invalid value"))
        named = _item_name(loc, body)
        if named is not None:
            label, rest = named
            message = f"{label}{' ' + field_path(rest) if rest else ''}: {message.removeprefix('Value error, ')}"
        out.append({"field": field_path(loc), "message": message, "type": str(error.get("type", "value_error"))})
    return out


def _item_name(loc: list[Any], body: Any) -> tuple[str, list[Any]] | None:
    for path, (kind, key) in NAMED_ITEMS.items():
        where, depth = list(path), len(path)
        if list(loc[:depth]) != where or len(loc) <= depth or not isinstance(loc[depth], int):
            continue
        items: Any = body
        for part in where[1:]:
            items = items.get(part) if isinstance(items, dict) else None
        item = items[loc[depth]] if isinstance(items, list) and loc[depth] < len(items) else None
        name = item.get(key) if isinstance(item, dict) else None
        if isinstance(name, str) and 0 < len(name) <= 100 and _shown(name) == name:
            return f"{kind} {name!r}", loc[depth + 1:]
        return f"{where[-1]}[{loc[depth]}]", loc[depth + 1:]
    return None


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors(), exc.body)
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors[:5]))
    return problem_response(request, ProblemError(
        422, "validation", f"the request does not match the schema at: {fields}", errors=errors))


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}.get(
        exc.status_code, "http")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(request, ProblemError(exc.status_code, slug, detail,
                                                  headers=getattr(exc, "headers", None)))


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc)


def _unknown_programs(request: Request, exc: Exception) -> JSONResponse:
    names = exc.args[0] if exc.args else []
    listed = ", ".join(names) if isinstance(names, list | tuple) else str(names)
    return problem_response(request, ProblemError(
        404, "unknown-programme", f"the loaded model has no programme(s): {listed}; GET /v1/programs lists them",
        programs=list(names) if isinstance(names, list | tuple) else [listed]))


def _infeasible(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InfeasibleConstraintsError)
    return problem_response(request, ProblemError(
        422, "infeasible-constraints", "no allocation meets all constraints: " + "; ".join(exc.conflicts),
        title="Infeasible constraints", conflicts=exc.conflicts))


def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, ProblemError(422, "funding-out-of-range", str(exc)))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(UnknownProgramError, _unknown_programs)
    app.add_exception_handler(UnknownProgramsError, _unknown_programs)
    app.add_exception_handler(InfeasibleConstraintsError, _infeasible)
    app.add_exception_handler(FundingOutOfRangeError, _out_of_range)
