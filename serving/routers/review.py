"""The quarterly cycle over HTTP: the KPI history, the plans the service issued (read), each plan scored against
the period it forecast once that period's KPIs are in the history (`carealloc review` loads them), and the latest
review's alerts and proposal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from core.identifiers import Identifier
from features.contract import ContractError
from features.drift import Alert
from features.kpi import KPI_NAMES
from records.kpi_history import KpiHistory, PeriodConflictError
from records.plans import PlanStore
from records.reviews import ReviewLog
from serving.dependencies import LoadedDep, SettingsDep
from serving.problems import ProblemError
from serving.security import PrincipalDep, authorize
from usecases.plan_scoring import score_plan
from usecases.recommendation import RecommendationRequest
from usecases.review import run_review

router = APIRouter(prefix="/v1/review", tags=["review"], dependencies=[Depends(authorize)])


class KpiRow(BaseModel):
    program_id: str
    period: str
    kpi: str
    value: float | None
    lower: float | None
    upper: float | None
    n: int


class ReviewPublic(BaseModel):
    review_id: str
    reviewed_at: str
    period: str
    model_version: str
    figures: dict[str, float] = Field(description="Alert counts, plan coverage and gain, as /metrics shows them.")
    alerts: list[Alert] = Field(description="What moved, by how much, since when and what to do.")
    proposal_plan_id: str | None = Field(None, description="The plan proposed for the next quarter, if any.")


class ReviewCreate(BaseModel):
    period: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_-]+$",
                                 description="The quarter to review, as written in the data (e.g. 2025-Q4).")]
    correction: bool = Field(False, description="Replace figures already stored for a period (kept as replaced).")
    next_quarter: RecommendationRequest = Field(default_factory=lambda: RecommendationRequest(max_change=0.3),
                                                description="Constraints of the proposal for the next quarter.")


class KpiHistoryPublic(BaseModel):
    kpis: list[KpiRow]
    loads: list[dict[str, Any]] = Field(description="Every load that wrote figures, with how many it replaced.")


class PlanSummary(BaseModel):
    plan_id: str
    issued_at: str
    issued_by: str
    model_version: str
    forecast_period: str


class PlanPublic(PlanSummary):
    request: dict[str, Any]
    forecasts: list[dict[str, Any]]
    score: dict[str, Any] | None = Field(None, description="Forecast vs actual, once the period's KPIs are stored.")


def stores(request: Request) -> tuple[KpiHistory, PlanStore]:
    outcomes: tuple[KpiHistory, PlanStore] = request.app.state.outcomes
    return outcomes


def _none(value: Any) -> Any:
    """JSON has no NaN or NA: an undefined figure is null."""
    return None if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)) \
        or value is pd.NA else value


@router.get("/kpis", response_model=KpiHistoryPublic, summary="KPI history per programme and period")
async def kpi_history(request: Request, program_id: Annotated[Identifier | None, Query()] = None,
                      kpi: Annotated[str | None, Query(max_length=64)] = None) -> KpiHistoryPublic:
    if kpi is not None and kpi not in KPI_NAMES:
        raise ProblemError(422, "unknown-kpi", f"query.kpi: expected one of {', '.join(KPI_NAMES)}, got {kpi!r}",
                           errors=[{"field": "query.kpi", "message": f"expected one of {list(KPI_NAMES)}",
                                    "type": "enum"}])
    history, _ = stores(request)
    frame, loads = await run_in_threadpool(lambda: (history.values(program_id=program_id, kpi=kpi),
                                                    history.loads()))
    rows = [KpiRow.model_validate({str(k): _none(v) for k, v in r.items() if k != "load_id"})
            for r in frame.to_dict("records")]
    return KpiHistoryPublic(kpis=rows, loads=loads.to_dict("records"))


@router.get("/plans", response_model=list[PlanSummary], summary="Plans the service and the CLI issued, newest first")
async def list_plans(request: Request) -> list[PlanSummary]:
    _, plans = stores(request)
    listing = await run_in_threadpool(plans.listing)
    return [PlanSummary.model_validate(r) for r in listing.to_dict("records")]


@router.get("/plans/{plan_id}", response_model=PlanPublic, summary="One issued plan, scored when its period is in",
            responses={404: {"description": "No such plan"}})
async def get_plan(request: Request, plan_id: Annotated[str, Field(max_length=36)]) -> PlanPublic:
    history, plans = stores(request)

    def load() -> PlanPublic:
        try:
            plan = plans.get(plan_id)
        except KeyError:
            raise ProblemError(404, "unknown-plan", f"no issued plan with id {plan_id!r}") from None
        kpis = history.values()
        score = None
        if (kpis["period"] == plan.forecast_period).any():
            period = kpis[kpis["period"] == plan.forecast_period]
            spent = period[period["kpi"] == "funding"]
            result = score_plan(plan, period, spent.set_index("program_id")["value"])
            score = {"coverage": result.coverage, "totals": {k: {m: _none(v) for m, v in t.items()}
                                                             for k, t in result.totals.items()},
                     "attribution": result.attribution,
                     "programmes": [{k: _none(v) for k, v in r.items()}
                                    for r in result.programmes.astype(object).to_dict("records")]}
        return PlanPublic(plan_id=plan.plan_id, issued_at=plan.issued_at, issued_by=plan.issued_by,
                          model_version=plan.model_version, forecast_period=plan.forecast_period,
                          request=plan.request,
                          forecasts=[{k: _none(v) for k, v in r.items()} for r in plan.forecasts.to_dict("records")],
                          score=score)

    return await run_in_threadpool(load)


@router.get("/latest", response_model=ReviewPublic, summary="The latest quarterly review: figures, alerts, proposal",
            responses={404: {"description": "No review has run yet"}})
async def latest_review(request: Request) -> ReviewPublic:
    reviews: ReviewLog = request.app.state.reviews
    latest = await run_in_threadpool(reviews.latest)
    if latest is None:
        raise ProblemError(404, "no-review", "no review has run yet: `carealloc review --data DIR --period P` runs one")
    return ReviewPublic(review_id=latest.review_id, reviewed_at=latest.reviewed_at.isoformat(), period=latest.period,
                        model_version=latest.model_version, figures=latest.figures,
                        alerts=[Alert(**a) for a in latest.alerts],
                        proposal_plan_id=latest.proposal_plan_id)


@router.post("", summary="Review a quarter from the service's data folder, as `carealloc review` does",
             status_code=201, responses={409: {"description": "No data folder set, or the period's stored figures "
                                                               "differ (nothing stored)"},
                                         422: {"description": "The data breaks the input contract, or the period "
                                                              "is not in it"}})
async def create_review(request: Request, body: ReviewCreate, loaded: LoadedDep,
                        settings: SettingsDep, principal: PrincipalDep) -> dict[str, Any]:
    """Loads every period up to the quarter into the KPI history, scores the plan issued for it, raises the alerts
    and stores a proposal for the next quarter, with the loaded champion. Retraining stays with `carealloc review
    --retrain` (a training job, not a request). The review is kept for the outcomes page, /metrics and MLflow."""
    folder = settings.review_data_dir
    if folder is None:
        raise ProblemError(409, "review-data-not-configured", "the service has no data folder to review: set "
                           "CAREALLOC_REVIEW_DATA_DIR, or run `carealloc review --data DIR --period P`")
    history, plans = stores(request)
    reviews: ReviewLog = request.app.state.reviews
    started_by = f"key:{principal.key_id}"
    return await run_in_threadpool(_review, folder, body, loaded.bundle, history, plans, reviews, settings,
                                   started_by)


def _review(folder: Any, body: ReviewCreate, bundle: Any, history: KpiHistory, plans: PlanStore,
            reviews: ReviewLog, settings: Any, started_by: str) -> dict[str, Any]:
    from features.tables import load_tables
    from tracking.reviews import log_review

    try:
        tables = load_tables(folder)
    except ContractError as exc:
        errors = [{"field": problem.column or "file", "message": str(problem), "type": "contract"}
                  for problem in exc.problems[:20]]
        raise ProblemError(422, "invalid-review-data", f"the data folder breaks the input contract in "
                           f"{len(exc.problems)} way(s); see errors", errors=errors) from exc
    try:
        review = run_review(bundle, tables.programs, tables.episodes, body.period, history=history, plans=plans,
                            source=str(folder), issued_by=started_by, next_request=body.next_quarter,
                            correction=body.correction)
    except PeriodConflictError as exc:
        raise ProblemError(409, "period-conflict", f"nothing stored: {exc}") from exc
    except ValueError as exc:
        raise ProblemError(422, "invalid-review", str(exc)) from exc
    document = review.to_dict()
    reviews.save(review.period, review.model_version, review.figures(), review.alert_rows(), review.proposal_plan_id)
    try:
        log_review(settings, review.period, review.model_version, review.figures(), document, started_by)
    except Exception as exc:  # the review is stored; an unreachable tracking server must not lose the answer
        document["notes"] = [*document["notes"], f"not logged to MLflow ({type(exc).__name__})"]
    return json.loads(json.dumps(document, default=float))
