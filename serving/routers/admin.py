"""Loading the current @champion without a restart (data scientists only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from serving.context import request_context
from serving.logs import logger
from serving.problems import ProblemError
from serving.registry import BundleRefusedError
from serving.schemas import ReloadPublic
from serving.security import authorize

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(authorize)])


@router.post("/reload", response_model=ReloadPublic, summary="Load the current @champion atomically",
             responses={503: {"description": "Registry unreachable or the new champion refused (corrupted or "
                                                 "incompatible); the loaded bundle keeps serving"}})
def reload_champion(*, request: Request) -> ReloadPublic:
    state = request.app.state
    try:
        previous, new = state.holder.load(state.reload_loader)
    except Exception as exc:
        current = state.holder.current
        serving = f"still serving v{current.version}" if current is not None else "no model loaded"
        if isinstance(exc, BundleRefusedError):
            raise ProblemError(503, "champion-refused", f"{exc}; {serving}") from exc
        raise ProblemError(503, "registry-unavailable",
                           f"could not load the champion ({type(exc).__name__}); {serving}") from exc
    state.metrics.loaded(new.version, new.source)
    request_context(request).model_version = new.version
    logger().info("bundle reloaded", extra={"event": "reload", "model_version": new.version, "source": new.source})
    old = previous.version if previous is not None else None
    return ReloadPublic(model_version=new.version, previous_version=old, changed=old != new.version,
                        source=new.source, loaded_at=new.loaded_at)
