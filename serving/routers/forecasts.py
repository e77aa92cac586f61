"""Outcome curves at chosen funding levels: what a programme is expected to achieve with more or less money."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends

from models.bundle import FundingOutOfRangeError, UnknownProgramError
from models.forecast import QALY_PER_RELIABLE_IMPROVEMENT
from serving.dependencies import LoadedDep
from serving.problems import ProblemError
from serving.schemas import (
    ForecastCreate,
    ForecastPointPublic,
    ForecastPublic,
    IntervalPublic,
    ProgramForecastPublic,
)
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["forecasts"], dependencies=[Depends(authorize)])


@router.post("/forecasts", response_model=ForecastPublic, summary="Expected outcomes at given funding levels",
             responses={404: {"description": "Unknown programme"}, 422: {"description": "Funding out of range"}})
def forecast(*, body: ForecastCreate, loaded: LoadedDep) -> ForecastPublic:
    bundle = loaded.bundle
    unknown = sorted({item.program_id for item in body.programs} - set(bundle.programs))
    if unknown:
        raise UnknownProgramError(", ".join(unknown))
    out = []
    for index, item in enumerate(body.programs):
        state = bundle.programs[item.program_id]
        levels = (np.asarray(item.funding, dtype=float) if item.funding is not None
                  else np.asarray(item.multiples, dtype=float) * max(state.current_funding, 1.0))
        try:
            curve = bundle.curve(item.program_id, levels)
        except FundingOutOfRangeError as exc:
            field = "funding" if item.funding is not None else "multiples"
            raise ProblemError(422, "funding-out-of-range", str(exc), errors=[
                {"field": f"body.programs[{index}].{field}", "message": str(exc), "type": "out_of_range"}]) from exc
        points = [ForecastPointPublic(
            funding=float(r["funding"]), episodes=float(r["episodes"]), dropouts=float(r["dropouts"]),
            cost=float(r["cost"]),
            reliable_improvements=IntervalPublic(value=float(r["reliable_improvements"]),
                                                 lower=float(r["reliable_improvements_lower"]),
                                                 upper=float(r["reliable_improvements_upper"])),
            qalys=IntervalPublic(value=float(r["qalys"]),
                                 lower=float(r["reliable_improvements_lower"]) * QALY_PER_RELIABLE_IMPROVEMENT,
                                 upper=float(r["reliable_improvements_upper"]) * QALY_PER_RELIABLE_IMPROVEMENT),
            outside_observed_range=bool(r["outside_observed_range"])) for r in curve.to_dict("records")]
        out.append(ProgramForecastPublic(program_id=item.program_id, current_funding=state.current_funding,
                                         observed_min_funding=state.observed_min,
                                         observed_max_funding=state.observed_max, points=points))
    return ForecastPublic(model_version=loaded.version, forecast_period=bundle.next_period, forecasts=out)
