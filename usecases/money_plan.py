"""The recommendation under the money objective, shared by `carealloc report --value-per-improvement` and
`POST /v1/recommendations` with objective kind money.

`usecases.contract_objective` finds the plan; the recommendation is then run with every programme pinned to it, so
the answer's evidence (intervals, explanations, P(plan beats status quo)) is that plan's, and the answer adds what
the money objective counted: the plan's money value and each contract's expected payment under it and now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from allocation import OutcomeCurve
from features.contracts import ContractSet
from models.bundle import CareAllocBundle
from usecases.contract_objective import ContractValuePlan, contract_value_plan
from usecases.contract_projection import ContractProjection, population_ratios, project_contracts
from usecases.curves import outcome_curves
from usecases.recommendation import ObjectiveSpec, ProgramLimits, RecommendationRequest, recommend


def money_plan(bundle: CareAllocBundle, request: RecommendationRequest, contracts: ContractSet,
               episodes: pd.DataFrame, value_per_improvement: float,
               curves: Sequence[OutcomeCurve] | None = None) -> tuple[RecommendationRequest, ContractValuePlan]:
    """The money objective's plan, and the request pinned to it (the objective left at reliable improvements, which
    a pinned plan does not change)."""
    curves = list(outcome_curves(bundle) if curves is None else curves)
    constraints = request.constraints(sum(c.current_funding for c in curves))
    plan = contract_value_plan(bundle, curves, constraints, contracts, episodes, value_per_improvement)
    pins = {p: ProgramLimits(min=f, max=f) for p, f in plan.best.allocation.items()}
    pinned = request.model_copy(update={"programs": pins, "max_change": None, "objective": ObjectiveSpec()})
    return pinned, plan


def recommend_for_money(bundle: CareAllocBundle, request: RecommendationRequest, contracts: ContractSet,
                        episodes: pd.DataFrame, curves: Sequence[OutcomeCurve] | None = None) -> dict[str, Any]:
    """`recommend`'s answer for a request whose objective is kind money, with a `money` section: the plan's value,
    its expected contract payments (and the status quo's) and each contract's projection."""
    value = request.objective.value_per_improvement
    if request.objective.kind != "money" or value is None:
        raise ValueError("recommend_for_money needs objective kind 'money' with value_per_improvement")
    curves = list(outcome_curves(bundle) if curves is None else curves)
    pinned, plan = money_plan(bundle, request, contracts, episodes, value, curves)
    body = recommend(bundle, pinned, curves)
    best = plan.best
    now = next(c for c in plan.candidates if c.plan == "status quo")
    body["objective"] = {"kind": "money", "value_per_improvement": value}
    body["objective_value"] = best.value
    body["money"] = {
        "value_per_improvement": value, "value": best.value, "reliable_improvements": best.reliable_improvements,
        "expected_payments": best.expected_payments, "expected_payments_status_quo": now.expected_payments,
        "funding": best.funding, "chosen": best.plan, "method": plan.method,
        "contracts": [_projection(p) for p in best.contracts],
        "contracts_status_quo": [_projection(p) for p in now.contracts]}
    return body


def contract_projections(bundle: CareAllocBundle, contracts: ContractSet, body: dict[str, Any],
                         episodes: pd.DataFrame) -> tuple[list[ContractProjection], list[ContractProjection]]:
    """Each contract under the status quo and under the answer's plan (what the report shows)."""
    split = {a["program_id"]: a["recommended_funding"] for a in body["allocations"]}
    ratios = [population_ratios(c, episodes) for c in contracts.contracts]
    return (project_contracts(contracts, bundle, {}, episodes, ratios),
            project_contracts(contracts, bundle, split, episodes, ratios))


def _projection(projection: ContractProjection) -> dict[str, Any]:
    row = asdict(projection)
    row.pop("metric_sd")
    return row
