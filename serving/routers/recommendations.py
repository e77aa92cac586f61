"""The recommended split of a budget, with its evidence (the CLI's constraints file, plus payer contracts).

With objective kind money the plan is the money objective's (`usecases.money_plan`): reliable improvements valued
at `value_per_improvement` plus the contracts' expected payments, net of funding. The contracts come from the body
or the data folder's contracts.json, and their populations from the folder's episodes (`serving.department`); the
answer's `money` section states the expected payments under the plan and under the status quo, per contract too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from allocation import InfeasibleConstraintsError
from features.contracts import ContractSet
from records.plans import PlanDocument
from serving.department import contract_data
from serving.dependencies import LoadedDep, PrincipalDep, SettingsDep
from serving.logs import logger
from serving.offload import offload
from serving.problems import ProblemError
from serving.schemas import Detail, RecommendationCreate, RecommendationPublic
from serving.security import authorize
from serving.state import LoadedBundle
from usecases.contract_projection import ContractPopulationError
from usecases.money_plan import recommend_for_money
from usecases.recommendation import recommend

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[Depends(authorize)])


@router.post("/recommendations", response_model=RecommendationPublic, summary="Recommend a budget allocation",
             responses={404: {"description": "Unknown programme"},
                        409: {"description": "Objective kind money, but the service has no data folder with "
                                             "episodes to find the contracts' populations in"},
                        422: {"description": "Invalid or infeasible constraints, invalid contracts (the contract "
                                             "and field are named), or kind money without contracts"}})
async def create_recommendation(*, request: Request, body: RecommendationCreate, loaded: LoadedDep,
                                principal: PrincipalDep, settings: SettingsDep,
                                detail: Annotated[Detail, Query(description=(
                                    "full: each baseline's split per programme too (`baselines[].allocation`); "
                                    "summary: each baseline's value, feasibility and notes, its allocation null. "
                                    "The answer's `detail_level` says which it is."))] = "summary") -> Response:
    if body.objective.kind == "money":
        data = await run_in_threadpool(contract_data, settings, body.contract_set(), required=True)
        assert data is not None  # required: refused with a problem otherwise
        document = await offload(request).compute(_run, loaded, _money_document, body, detail, data.contracts,
                                                  data.episodes)
    else:
        document = await offload(request).compute(_run, loaded, _document, body, detail)
    headers = {}
    try:  # kept so the quarter's review can score it; a plan that could not be stored is still an answer
        plan_id = await run_in_threadpool(request.app.state.outcomes[1].store, document,
                                          body.model_dump(mode="json"), issued_by=f"key:{principal.key_id}")
        headers["Location"] = f"/v1/review/plans/{plan_id}"
    except SQLAlchemyError as exc:
        logger().error("the issued plan was not stored", extra={"event": "plan_not_stored",
                                                                "error_type": type(exc).__name__})
    return Response(document.body, media_type="application/json", headers=headers)


def recommendation_result(loaded: LoadedBundle, body: RecommendationCreate) -> dict[str, Any]:
    """The recommendation as plain data (the allocator page's CSV download builds its table from it)."""
    return _run(loaded, _result, body)


def _run(loaded: LoadedBundle, work: Callable[..., T], body: RecommendationCreate, *more: Any) -> T:
    try:
        return loaded.run(work, body, *more)
    except InfeasibleConstraintsError:
        raise  # its own handler names the conflicts
    except ContractPopulationError as exc:
        raise ProblemError(422, "contract-population-not-found", str(exc)) from exc
    except ValidationError as exc:  # our answer failing its own schema is our fault (500), never the client's
        raise RuntimeError("the recommendation did not match its response schema") from exc
    except ValueError as exc:  # constraints the optimizer cannot apply (e.g. a zero budget)
        raise ProblemError(422, "invalid-constraints", str(exc)) from exc


def _result(loaded: LoadedBundle, body: RecommendationCreate) -> dict[str, Any]:
    return {**recommend(loaded.bundle, body, loaded.curves), "model_version": loaded.version}


def _document(loaded: LoadedBundle, body: RecommendationCreate, detail: Detail) -> PlanDocument:
    """The response document and its plan record, checked against the schema and serialised where the work ran (a
    compute worker when there are any), so the serving process, which every request shares, only stores the text
    and passes it on (at 1,024 programmes parsing and re-serialising it there costs tens of ms a request)."""
    return _checked(_result(loaded, body), detail)


def _money_document(loaded: LoadedBundle, body: RecommendationCreate, detail: Detail, contracts: ContractSet,
                    episodes: pd.DataFrame) -> PlanDocument:
    result = recommend_for_money(loaded.bundle, body, contracts, episodes, loaded.curves)
    return _checked({**result, "model_version": loaded.version}, detail)


def _checked(result: dict[str, Any], detail: Detail) -> PlanDocument:
    """The answer at `detail`; `result` is plain JSON data (allocation.result.plain), so its forecast rows are
    those of the text. A summary leaves out the baselines' per-programme splits: six copies of the allocation's
    size, which no chart or table of the pages reads, 10 % of a 1,024-programme answer."""
    if detail == "summary":
        result = {**result, "baselines": [{**b, "allocation": None} for b in result["baselines"]]}
    result = {**result, "detail_level": detail}
    return PlanDocument.of(result, RecommendationPublic.model_validate(result).model_dump_json())
