"""The OpenAPI document describes the errors this service really sends.

FastAPI documents a 422 `HTTPValidationError` ({"detail": [...]}) that this service never returns (errors are RFC
9457 problem documents, serving/problems.py), and leaves out the 401/403/413/429/503 answers the request guard
and the key check give. Clients generated from the schema, and the schema fuzzing in tests/hardening, rely on
this document, so every error answer a route can give is listed here as `application/problem+json`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from serving.problems import MEDIA_TYPE
from serving.schemas import ProblemPublic

REF = "#/components/schemas/{model}"
PROTECTED = {"401": "No API key, or not a valid one", "403": "This key's role may not call this route",
             "429": "This key is over its rate limit (see Retry-After)"}
WITH_BODY = {"413": "The body is larger than the service accepts",
             "422": "The body is not valid (the field path is named; submitted values are never echoed)"}
ALWAYS = {"503": "No model loaded yet, or the request could not be audited (see Retry-After)"}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _document_problems(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemPublic.model_json_schema(ref_template=REF)
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for name in FASTAPI_VALIDATION:
        components.pop(name, None)
    content = {MEDIA_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            added = {**ALWAYS}
            if operation.get("security"):
                added |= PROTECTED
            if "requestBody" in operation:
                added |= WITH_BODY
            for status, description in added.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = content


def install(app: FastAPI) -> None:
    """Replace `app.openapi` by one that documents problem responses (built once, on first request)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_problems(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
