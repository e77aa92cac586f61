"""Liveness and readiness (public: they reveal nothing but whether a model is loaded)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request

from serving.context import request_context
from serving.problems import ProblemError
from serving.schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, summary="The process is alive")
async def healthz() -> HealthPublic:
    return HealthPublic()


@router.get("/readyz", response_model=ReadyPublic,
            summary="A champion bundle is loaded and the audit store takes rows (503 otherwise)",
            responses={503: {"description": "No bundle loaded yet, or the audit store is failing"}})
async def readyz(request: Request) -> ReadyPublic:
    """Answers from memory: the audit store's state is that of its last write, never a write of its own."""
    audit = getattr(request.app.state, "audit", None)
    if audit is not None and not audit.available:
        wait = str(math.ceil(audit.breaker.retry_seconds))
        raise ProblemError(503, "audit-unavailable", "the audit store is failing, so requests are refused: "
                           f"{audit.breaker.reason}", headers={"Retry-After": wait})
    loaded = request.app.state.holder.current
    if loaded is None:
        error = request.app.state.holder.last_error
        raise ProblemError(503, "not-ready", "no champion model is loaded yet" + (f": {error}" if error else ""),
                           headers={"Retry-After": "5"})
    request_context(request).model_version = loaded.version
    return ReadyPublic(model_version=loaded.version, source=loaded.source, stale=loaded.stale, note=loaded.note)
