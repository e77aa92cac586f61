"""The recommended split of a budget, with its evidence (same request shape as the CLI's constraints file)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from allocation import InfeasibleConstraintsError
from carealloc.recommendation import recommend
from serving.dependencies import LoadedDep
from serving.problems import ProblemError
from serving.schemas import RecommendationCreate, RecommendationPublic
from serving.security import authorize
from serving.state import LoadedBundle

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[Depends(authorize)])


@router.post("/recommendations", response_model=RecommendationPublic, summary="Recommend a budget allocation",
             responses={404: {"description": "Unknown programme"},
                        422: {"description": "Invalid or infeasible constraints (the conflicts are named)"}})
def create_recommendation(*, body: RecommendationCreate, loaded: LoadedDep) -> dict[str, Any]:
    try:
        result = loaded.run(_recommend, body)
    except InfeasibleConstraintsError:
        raise  # its own handler names the conflicts
    except ValueError as exc:  # constraints the optimizer cannot apply (e.g. a zero budget)
        raise ProblemError(422, "invalid-constraints", str(exc)) from exc
    return {**result, "model_version": loaded.version}


def _recommend(loaded: LoadedBundle, body: RecommendationCreate) -> dict[str, Any]:
    return recommend(loaded.bundle, body)
