"""Programmes the loaded bundle can forecast and allocate between (aggregates only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serving.dependencies import LoadedDep
from serving.schemas import ProgramPublic, ProgramsPublic
from serving.security import authorize

router = APIRouter(prefix="/v1", tags=["programs"], dependencies=[Depends(authorize)])


@router.get("/programs", response_model=ProgramsPublic, summary="Programmes with funding, demand and ranges")
def list_programs(*, loaded: LoadedDep) -> ProgramsPublic:
    bundle = loaded.bundle
    top = bundle.max_funding
    return ProgramsPublic(model_version=loaded.version, forecast_period=bundle.next_period, programs=[
        ProgramPublic(program_id=s.program_id, modality=s.modality, groups=dict(s.groups),
                      current_funding=s.current_funding, next_referrals=s.next_referrals,
                      observed_min_funding=s.observed_min, observed_max_funding=s.observed_max,
                      max_forecast_funding=top[pid])
        for pid, s in sorted(bundle.programs.items())])
