"""The allocation report over HTTP: the recommended plan, payer contracts, cost per outcome and cost-effectiveness,
the charts and the method, as HTML or PDF (`?format=pdf`), from the same renderer as `carealloc report`.

Contracts come in the body (`contracts`, validated like the CLI's contracts file) or, without them, from the
contracts.json of the service's data folder (CAREALLOC_REVIEW_DATA_DIR); either way each contract's population is
found in that folder's episodes, so contracts without the folder's episodes are refused with a 409 saying so. With
objective kind money the plan is the money objective's, as `carealloc report --value-per-improvement` makes it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from allocation import InfeasibleConstraintsError
from serving.department import contract_data
from serving.dependencies import LoadedDep, SettingsDep
from serving.problems import ProblemError
from serving.schemas import RecommendationCreate
from serving.security import authorize
from usecases.contract_projection import ContractPopulationError
from usecases.cost_effectiveness import acceptability_curve
from usecases.money_plan import contract_projections, recommend_for_money
from usecases.recommendation import recommend
from usecases.report import ReportContent, render_html, render_pdf

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(authorize)])


@router.post("/reports", summary="The allocation report for a request (HTML, or PDF with ?format=pdf)",
             response_class=Response,
             responses={200: {"content": {"text/html": {}, "application/pdf": {}}},
                        404: {"description": "Unknown programme"},
                        409: {"description": "Contracts given or asked for, but the service has no data folder "
                                             "with episodes to find their populations in"},
                        422: {"description": "Invalid or infeasible constraints, or invalid contracts (the contract "
                                             "and field are named)"}})
async def create_report(*, request: Request, body: RecommendationCreate, loaded: LoadedDep, settings: SettingsDep,
                        format: Annotated[Literal["html", "pdf"], Query()] = "html") -> Response:
    def build() -> bytes:
        money = body.objective.kind == "money"
        data = contract_data(settings, body.contract_set(), required=money)
        try:
            if money and data is not None:
                result = recommend_for_money(loaded.bundle, body, data.contracts, data.episodes, loaded.curves)
            else:
                result = recommend(loaded.bundle, body, loaded.curves)
            now, planned = ([], []) if data is None else contract_projections(loaded.bundle, data.contracts, result,
                                                                            data.episodes)
        except InfeasibleConstraintsError:
            raise  # its own handler names the conflicts
        except ContractPopulationError as exc:
            raise ProblemError(422, "contract-population-not-found", str(exc)) from exc
        except ValueError as exc:  # constraints the optimizer cannot apply (e.g. a zero budget)
            raise ProblemError(422, "invalid-constraints", str(exc)) from exc
        split = {a["program_id"]: a["recommended_funding"] for a in result["allocations"]}
        html = render_html(ReportContent("Allocation report", result, now, planned,
                                         acceptability=acceptability_curve(loaded.curves, split)))
        return render_pdf(html) if format == "pdf" else html.encode()

    document = await run_in_threadpool(build)
    media = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    disposition = f'attachment; filename="allocation-report.{format}"'
    return Response(document, media_type=media, headers={"Content-Disposition": disposition})
