"""Named allocations scored side by side with the status quo."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from serving.dependencies import LoadedDep
from serving.offload import offload
from serving.problems import ProblemError
from serving.schemas import ScenariosCreate, ScenariosPublic
from serving.security import authorize
from serving.state import LoadedBundle
from usecases.recommendation import score_scenarios

router = APIRouter(prefix="/v1", tags=["scenarios"], dependencies=[Depends(authorize)])


@router.post("/scenarios", response_model=ScenariosPublic, summary="Score named allocations against the status quo",
             responses={404: {"description": "Unknown programme"}})
async def compare_scenarios(*, request: Request, body: ScenariosCreate, loaded: LoadedDep) -> Response:
    try:
        document = await offload(request).compute(loaded.run, _score, body)
    except ValidationError as exc:  # our answer failing its own schema is our fault (500), never the client's
        raise RuntimeError("the scenarios did not match their response schema") from exc
    except ValueError as exc:
        raise ProblemError(422, "invalid-scenario", str(exc)) from exc
    return Response(document, media_type="application/json")


def _score(loaded: LoadedBundle, body: ScenariosCreate) -> bytes:
    """Checked and serialised where the work ran, as recommendations are (serving/routers/recommendations.py)."""
    scored = score_scenarios(loaded.bundle, body.scenarios, body.objective, loaded.curves)
    result = {**scored, "model_version": loaded.version}
    return ScenariosPublic.model_validate(result).model_dump_json().encode()
