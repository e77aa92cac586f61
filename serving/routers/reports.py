"""The allocation report over HTTP: the recommended plan, cost per outcome, the charts and the method, as HTML or
PDF (`?format=pdf`), from the same renderer as `carealloc report`.

Payer contracts need the department's recent episodes to find each contract's population, which the service does
not hold; reports with contracts come from `carealloc report --contracts` for now."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from allocation import InfeasibleConstraintsError
from serving.dependencies import LoadedDep
from serving.problems import ProblemError
from serving.schemas import RecommendationCreate
from serving.security import authorize
from usecases.cost_effectiveness import acceptability_curve
from usecases.recommendation import recommend
from usecases.report import ReportContent, render_html, render_pdf

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(authorize)])


@router.post("/reports", summary="The allocation report for a request (HTML, or PDF with ?format=pdf)",
             response_class=Response,
             responses={200: {"content": {"text/html": {}, "application/pdf": {}}},
                        404: {"description": "Unknown programme"},
                        422: {"description": "Invalid or infeasible constraints (the conflicts are named)"}})
async def create_report(*, request: Request, body: RecommendationCreate, loaded: LoadedDep,
                        format: Annotated[Literal["html", "pdf"], Query()] = "html") -> Response:
    def build() -> bytes:
        try:
            result = recommend(loaded.bundle, body, loaded.curves)
        except InfeasibleConstraintsError:
            raise  # its own handler names the conflicts
        except ValueError as exc:
            raise ProblemError(422, "invalid-constraints", str(exc)) from exc
        split = {a["program_id"]: a["recommended_funding"] for a in result["allocations"]}
        html = render_html(ReportContent("Allocation report", result,
                                         acceptability=acceptability_curve(loaded.curves, split)))
        return render_pdf(html) if format == "pdf" else html.encode()

    document = await run_in_threadpool(build)
    media = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    disposition = f'attachment; filename="allocation-report.{format}"'
    return Response(document, media_type=media, headers={"Content-Disposition": disposition})
