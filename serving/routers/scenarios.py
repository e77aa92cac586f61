"""Named allocations scored side by side with the status quo."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from carealloc.recommendation import score_scenarios
from serving.dependencies import LoadedDep
from serving.problems import ProblemError
from serving.schemas import ScenariosCreate, ScenariosPublic
from serving.security import authorize
from serving.state import LoadedBundle

router = APIRouter(prefix="/v1", tags=["scenarios"], dependencies=[Depends(authorize)])


@router.post("/scenarios", response_model=ScenariosPublic, summary="Score named allocations against the status quo",
             responses={404: {"description": "Unknown programme"}})
def compare_scenarios(*, body: ScenariosCreate, loaded: LoadedDep) -> dict[str, Any]:
    try:
        result = loaded.run(_score, body)
    except ValueError as exc:
        raise ProblemError(422, "invalid-scenario", str(exc)) from exc
    return {**result, "model_version": loaded.version}


def _score(loaded: LoadedBundle, body: ScenariosCreate) -> dict[str, Any]:
    return score_scenarios(loaded.bundle, body.scenarios, body.objective)
