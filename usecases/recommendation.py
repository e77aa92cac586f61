"""The recommendation use case shared by `carealloc recommend` and `POST /v1/recommendations`.

The request shape is one pydantic model, so the CLI's constraints file and the HTTP body validate identically
(field limits included); the answer is the optimizer's result plus what an allocator needs to trust it: intervals
per programme, the chance the plan beats the status quo, and which models and data it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from allocation import Constraints, GroupShare, Objective, OutcomeCurve, ProgramBounds, evaluate, optimize
from core.identifiers import Identifier
from models.bundle import CareAllocBundle
from usecases.confidence import probability_beats_status_quo
from usecases.curves import outcome_curves

Money = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]


class ProgramLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: Money | None = None
    max: Money | None = None
    locked: bool = False
    no_decrease: bool = False

    @field_validator("max")
    @classmethod
    def _not_below_min(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Checked here, on the field, so the error names its path (programs.P001.max) rather than the solver's
        internal ProgramBounds."""
        low = info.data.get("min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max {value:,.0f} is below min {low:,.0f}; expected max >= min")
        return value


class GroupLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: Identifier
    value: Identifier
    min_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    max_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None

    @field_validator("max_share")
    @classmethod
    def _not_below_min_share(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min_share")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max_share {value:g} is below min_share {low:g}; expected max_share >= min_share")
        return value

    @model_validator(mode="after")
    def _one_limit(self) -> GroupLimit:
        if self.min_share is None and self.max_share is None:
            raise ValueError("give min_share, max_share or both")
        return self


class ObjectiveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["reliable_improvements", "weighted", "risk_averse"] = "reliable_improvements"
    weights: dict[Literal["reliable_improvements", "dropouts", "qalys", "episodes"],
                  Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]] = Field(default_factory=dict)

    def to_objective(self) -> Objective:
        return Objective(kind=self.kind, weights={str(k): v for k, v in self.weights.items()})


class RecommendationRequest(BaseModel):
    """Budget, constraints and objective (same shape in the CLI file and the HTTP body)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "budget": 5000000, "budget_mode": "exact", "objective": {"kind": "reliable_improvements"},
        "max_change": 0.3, "programs": {"P001": {"min": 450000, "max": 700000}},
        "groups": [{"column": "region", "value": "rural", "min_share": 0.15}]}]})
    """The example is the README's, feasible on the demo world (tests/test_readme.py checks both agree)."""

    budget: Money | None = Field(None, description="Money to allocate; default: current total spend.")
    budget_mode: Literal["exact", "at_most"] = "exact"
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    max_change: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = None
    programs: dict[Identifier, ProgramLimits] = Field(default_factory=dict, max_length=10_000)
    groups: list[GroupLimit] = Field(default_factory=list, max_length=100)
    within_observed_range: bool = False
    scenarios: dict[Identifier, dict[Identifier, Money]] = Field(
        default_factory=dict, max_length=20,
        description="Named allocations to score beside the recommendation (unnamed programmes keep current funding).")

    def constraints(self, current_total: float) -> Constraints:
        return Constraints(
            budget=current_total if self.budget is None else self.budget, budget_mode=self.budget_mode,
            max_change=self.max_change,
            programs={p: ProgramBounds(min=v.min, max=v.max, locked=v.locked, no_decrease=v.no_decrease)
                      for p, v in self.programs.items()},
            groups=tuple(GroupShare(g.column, g.value, g.min_share, g.max_share) for g in self.groups),
            within_observed_range=self.within_observed_range,
        )

    def allocation_objective(self) -> Objective:
        return self.objective.to_objective()


class UnknownProgramsError(KeyError):
    """The request names programmes the loaded model does not know."""


def _check_programs(bundle: CareAllocBundle, names: set[str]) -> None:
    unknown = sorted(names - set(bundle.programs))
    if unknown:
        raise UnknownProgramsError(unknown)


def provenance(bundle: CareAllocBundle) -> dict[str, Any]:
    return {"model_version": bundle.model_version, "data_snapshot": bundle.snapshot,
            "forecast_period": bundle.next_period}


def recommend(bundle: CareAllocBundle, request: RecommendationRequest,
              curves: Sequence[OutcomeCurve] | None = None) -> dict[str, Any]:
    """The recommended split and its evidence; raises InfeasibleConstraintsError or UnknownProgramsError.
    `curves`: the bundle's `outcome_curves`, when the caller keeps them."""
    _check_programs(bundle, set(request.programs).union(*request.scenarios.values()))
    curves = list(outcome_curves(bundle) if curves is None else curves)
    current_total = sum(c.current_funding for c in curves)
    result = optimize(curves, request.constraints(current_total), request.allocation_objective())
    body = result.to_dict()
    for row in body["allocations"]:
        recommended = row["metrics_recommended"]
        row["expected_reliable_improvements"] = {
            "value": recommended.get("reliable_improvements"),
            "lower": recommended.get("reliable_improvements_lower"),
            "upper": recommended.get("reliable_improvements_upper")}
    for totals in body["totals"].values():
        improvements = totals.get("reliable_improvements") or 0.0
        totals["cost_per_reliable_improvement"] = totals["funding"] / improvements if improvements > 0 else None
    if request.scenarios:
        body["scenarios"] = score_scenarios(bundle, request.scenarios, request.objective, curves)["scenarios"]
    body["probability_beats_status_quo"] = probability_beats_status_quo(curves, result.allocation)
    body["outside_observed_range"] = [a["program_id"] for a in body["allocations"]
                                      if "outside_observed_range" in a["flags"]]
    body["provenance"] = provenance(bundle)
    return body


def score_scenarios(bundle: CareAllocBundle, scenarios: dict[str, dict[str, float]],
                    objective: ObjectiveSpec | None = None,
                    curves: Sequence[OutcomeCurve] | None = None) -> dict[str, Any]:
    """Named allocations scored side by side with the status quo (programmes left out keep current funding)."""
    names = set().union(*(set(s) for s in scenarios.values())) if scenarios else set()
    _check_programs(bundle, names)
    curves = list(outcome_curves(bundle) if curves is None else curves)
    goal = objective.to_objective() if objective else Objective()
    current = {c.program_id: c.current_funding for c in curves}
    scored = {"status_quo": evaluate(curves, current, goal).to_dict()}
    for name, split in scenarios.items():
        scored[name] = evaluate(curves, {**current, **split}, goal).to_dict()
    return {"scenarios": scored, "provenance": provenance(bundle)}
