"""Dropout and non-response risk per episode, with the top factors in words (clinicians only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serving import risk
from serving.dependencies import LoadedDep, PrincipalDep
from serving.problems import ProblemError
from serving.schemas import RiskCreate, RiskPublic
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["patients"], dependencies=[Depends(authorize)])


@router.post("/patients/risk", response_model=RiskPublic, summary="Risk and its reasons for up to 1,000 episodes",
             responses={403: {"description": "Role or programme not allowed"},
                        404: {"description": "Unknown programme"},
                        422: {"description": "Invalid episode (field path only, values never echoed)"}})
def score_risk(*, body: RiskCreate, principal: PrincipalDep, loaded: LoadedDep) -> RiskPublic:
    refused = principal.may_score(e.program_id for e in body.episodes)
    if refused:
        raise ProblemError(403, "programme-not-allowed",
                           f"this key may only score patients of its own programmes; not: {', '.join(refused)}")
    return risk.score(loaded, body)  # in-process: cheaper than a trip to a compute worker (serving/compute.py)
