"""Dropout and non-response risk per episode, with the top factors in words (clinicians only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from serving.dependencies import LoadedDep, PrincipalDep
from serving.problems import ProblemError
from serving.risk_batching import RiskBatcher
from serving.schemas import RiskCreate, RiskPublic
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["patients"], dependencies=[Depends(authorize)])


@router.post("/patients/risk", response_model=RiskPublic, summary="Risk and its reasons for up to 1,000 episodes",
             responses={403: {"description": "Role or programme not allowed"},
                        404: {"description": "Unknown programme"},
                        422: {"description": "Invalid episode (field path only, values never echoed)"}})
async def score_risk(*, request: Request, body: RiskCreate, principal: PrincipalDep, loaded: LoadedDep) -> Response:
    refused = principal.may_score(e.program_id for e in body.episodes)
    if refused:
        raise ProblemError(403, "programme-not-allowed",
                           f"this key may only score patients of its own programmes; not: {', '.join(refused)}")
    # in-process (cheaper than a trip to a compute worker), with requests arriving meanwhile (serving/risk_batching.py);
    # serialised there: a returned Response skips FastAPI's second validation of the model
    batcher: RiskBatcher = request.app.state.risk_batcher
    return Response(await batcher.score(loaded, body), media_type="application/json")
