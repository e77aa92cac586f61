"""Saved and shared recommendation requests: an allocator keeps a set of constraints under a name, lists its own
and the shared ones, loads one back into the allocator page, and shares, unshares or deletes its own.

Scenarios belong to the API key that saved it (a person signed in to the pages uses their key); another key's
unshared scenario answers 404, as if it did not exist, and a shared one it may read but not change (403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from records.saved_scenarios import NotOwnerError, SavedScenario, SavedScenarioLimitError, SavedScenarioStore
from serving.dependencies import SettingsDep
from serving.problems import ProblemError, validation_errors
from serving.saved_scenario_schemas import (
    SavedScenarioCreate,
    SavedScenarioPublic,
    SavedScenariosPublic,
    SavedScenarioSummary,
    SavedScenarioUpdate,
)
from serving.security import PrincipalDep, authorize
from usecases.recommendation import RecommendationRequest

router = APIRouter(prefix="/v1/saved-scenarios", tags=["saved scenarios"], dependencies=[Depends(authorize)])
ScenarioId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$")]
_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such scenario, or another key's that is not shared"},
    409: {"description": "Saved before the request format changed; it no longer validates (delete it)"}}


def store(request: Request) -> SavedScenarioStore:
    saved: SavedScenarioStore = request.app.state.saved_scenarios
    return saved


def _public(scenario: SavedScenario, viewer: str) -> SavedScenarioPublic:
    """A request saved before the request format changed may no longer validate: that is a 409 naming the
    scenario's state, not a 500 (the owner can still delete it)."""
    try:
        request = RecommendationRequest.model_validate(scenario.request)
    except ValidationError as exc:
        fields = ", ".join(dict.fromkeys(e["field"] for e in validation_errors(exc.errors())[:5]))
        raise ProblemError(409, "saved-scenario-outdated", f"saved scenario {scenario.scenario_id!r} no longer "
                           f"matches the recommendation request at: {fields}; save it again") from None
    return SavedScenarioPublic(scenario_id=scenario.scenario_id, name=scenario.name, shared=scenario.shared,
                               saved_at=scenario.saved_at, mine=scenario.owner == viewer, request=request)


def _unknown(scenario_id: str) -> ProblemError:
    return ProblemError(404, "unknown-saved-scenario", f"no saved scenario with id {scenario_id!r} for this key")


def _not_owner() -> ProblemError:
    return ProblemError(403, "not-scenario-owner", "only the key that saved a scenario may change or delete it")


@router.post("", response_model=SavedScenarioPublic, status_code=201, summary="Save a recommendation request",
             responses={409: {"description": "The key already keeps max_saved_scenarios_per_key scenarios"}})
async def save_scenario(*, request: Request, body: SavedScenarioCreate, principal: PrincipalDep,
                        settings: SettingsDep) -> Response:
    limit = settings.max_saved_scenarios_per_key
    try:
        saved = await run_in_threadpool(store(request).save, principal.key_id, body.name,
                                        body.request.model_dump(mode="json"),
                                        shared=body.shared, limit=limit)
    except SavedScenarioLimitError:
        raise ProblemError(409, "saved-scenario-limit", f"this key already keeps {limit} saved scenarios, the "
                           f"max_saved_scenarios_per_key limit; delete one first", limit=limit) from None
    public = _public(saved, principal.key_id)
    return Response(public.model_dump_json(), status_code=201, media_type="application/json",
                    headers={"Location": f"/v1/saved-scenarios/{saved.scenario_id}"})


@router.get("", response_model=SavedScenariosPublic, summary="The caller's saved scenarios and the shared ones")
async def list_scenarios(*, request: Request, principal: PrincipalDep, settings: SettingsDep) -> SavedScenariosPublic:
    listing = await run_in_threadpool(store(request).listing, principal.key_id)
    return SavedScenariosPublic(limit=settings.max_saved_scenarios_per_key, scenarios=[
        SavedScenarioSummary(scenario_id=s.scenario_id, name=s.name, shared=s.shared, saved_at=s.saved_at,
                             mine=s.owner == principal.key_id) for s in listing])


@router.get("/{scenario_id}", response_model=SavedScenarioPublic, summary="One saved scenario with its request",
            responses=_UNKNOWN)
async def get_scenario(*, request: Request, scenario_id: ScenarioId, principal: PrincipalDep) -> SavedScenarioPublic:
    try:
        scenario = await run_in_threadpool(store(request).get, scenario_id, principal.key_id)
    except KeyError:
        raise _unknown(scenario_id) from None
    return _public(scenario, principal.key_id)


@router.patch("/{scenario_id}", response_model=SavedScenarioPublic, summary="Share or unshare one's own scenario",
              responses={**_UNKNOWN, 403: {"description": "Shared by another key"}})
async def update_scenario(*, request: Request, scenario_id: ScenarioId, body: SavedScenarioUpdate,
                          principal: PrincipalDep) -> SavedScenarioPublic:
    saved = store(request)

    def share() -> SavedScenario:
        _public(saved.get(scenario_id, principal.key_id), principal.key_id)  # an outdated one is refused unchanged
        return saved.set_shared(scenario_id, principal.key_id, body.shared)

    try:
        scenario = await run_in_threadpool(share)
    except KeyError:
        raise _unknown(scenario_id) from None
    except NotOwnerError:
        raise _not_owner() from None
    return _public(scenario, principal.key_id)


@router.delete("/{scenario_id}", status_code=204, response_class=Response, summary="Delete one's own scenario",
               responses={**_UNKNOWN, 403: {"description": "Shared by another key"}})
async def delete_scenario(*, request: Request, scenario_id: ScenarioId, principal: PrincipalDep) -> Response:
    try:
        await run_in_threadpool(store(request).delete, scenario_id, principal.key_id)
    except KeyError:
        raise _unknown(scenario_id) from None
    except NotOwnerError:
        raise _not_owner() from None
    return Response(status_code=204)
