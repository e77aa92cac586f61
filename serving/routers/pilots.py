"""Pilot evaluation over aggregates: did the budget change work? (needs no model, so it works without a champion)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends

from pilots import PilotInputError, evaluate_pilot
from serving.pilot_schemas import PilotEvaluationCreate, PilotEvaluationPublic
from serving.problems import ProblemError
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["pilots"], dependencies=[Depends(authorize)])


@router.post("/pilots/evaluate", response_model=PilotEvaluationPublic,
             summary="Evaluate a pilot: pre-post and difference-in-differences against controls",
             responses={422: {"description": "Invalid spec or aggregates (the field is named)"}})
def evaluate(*, body: PilotEvaluationCreate) -> dict[str, Any]:
    frame = pd.DataFrame([row.model_dump() for row in body.aggregates])
    try:
        result = evaluate_pilot(body.spec, frame)
    except PilotInputError as exc:
        field = exc.field if exc.field.startswith("aggregates") else f"spec.{exc.field}"
        raise ProblemError(422, "invalid-pilot", f"{field}: {exc.message}",
                           errors=[{"field": f"body.{field}", "message": exc.message, "type": "pilot"}]) from exc
    return result.to_dict()
