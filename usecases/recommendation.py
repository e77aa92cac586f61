"""The recommendation use case shared by `carealloc recommend` and `POST /v1/recommendations`.

The request shape is one pydantic model, so the CLI's constraints file and the HTTP body validate identically
(field limits included); the answer is the optimizer's result plus what an allocator needs to trust it: intervals
per programme, the chance the plan beats the status quo, and which models and data it came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator, model_validator

from allocation import (
    Constraints,
    DecisionUnit,
    GroupShare,
    Objective,
    OutcomeCurve,
    ProgramBounds,
    ResourceLimit,
    evaluate,
)
from core.identifiers import Identifier
from core.numbers import Number
from models.bundle import CareAllocBundle
from usecases.confidence import probability_beats_status_quo
from usecases.curves import outcome_curves
from usecases.joint_plan import optimize_joint

Money = Annotated[Number, Field(ge=0, le=1e13)]


class ProgramLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: Money | None = None
    max: Money | None = None
    locked: StrictBool = False
    no_decrease: StrictBool = False
    step: Annotated[Number, Field(gt=0, le=1e13)] | None = Field(
        None, description="Fund this cell in whole units of this much money (one FTE at its loaded salary, a "
                          "licence pack, a training cohort): funding = units x step, units counted from zero.")
    unit: Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[A-Za-z][A-Za-z0-9 ._/-]*$")] = Field(
        "unit", description="What one step is called in the answer, e.g. FTE.")
    min_viable: Money | None = Field(
        None, description="The cell is either off (0) or funded at least this much (a plain minimum where other "
                          "limits keep it above 0).")

    @field_validator("max")
    @classmethod
    def _not_below_min(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Checked here, on the field, so the error names its path (programs.P001.max) rather than the solver's
        internal ProgramBounds."""
        low = info.data.get("min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max {value:,.0f} is below min {low:,.0f}; expected max >= min")
        return value

    @field_validator("step")
    @classmethod
    def _step_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        low, high = info.data.get("min"), info.data.get("max")
        if value is not None and high is not None and value > high - (low or 0.0) and not info.data.get("locked"):
            raise ValueError(f"step {value:,.0f} is larger than the cell's range {low or 0:,.0f} to {high:,.0f} "
                             "(min to max); expected a step no larger than max - min")
        return value

    @field_validator("min_viable")
    @classmethod
    def _viable_below_max(cls, value: float | None, info: ValidationInfo) -> float | None:
        high = info.data.get("max")
        if value is not None and high is not None and value > high:
            raise ValueError(f"min_viable {value:,.0f} is above max {high:,.0f}; expected min_viable <= max")
        return value

    def decision_unit(self) -> DecisionUnit | None:
        if self.step is None and self.min_viable is None:
            return None
        return DecisionUnit(step=self.step, unit=self.unit, min_viable=self.min_viable)


Usage = Annotated[Number, Field(ge=-1e9, le=1e9)]


class ResourceSpec(BaseModel):
    """A limit shared by cells: sum of per_unit x units + per_money x funding <= available (usages may be
    negative, so a supervisor ratio is therapists - 6 x supervisors <= 0)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "therapist-hours-clinic-01", "available": 12000, "per_unit": {"C01-staffing": 1600}}]})
    name: Identifier = Field(max_length=100)
    available: Annotated[Number, Field(ge=-1e13, le=1e13)]
    per_unit: dict[Identifier, Usage] = Field(default_factory=dict, max_length=10_000,
                                              description="Use per whole unit of a cell with a step.")
    per_money: dict[Identifier, Usage] = Field(default_factory=dict, max_length=10_000,
                                               description="Use per unit of money in a cell.")

    @model_validator(mode="after")
    def _some_usage(self) -> ResourceSpec:
        if not self.per_unit and not self.per_money:
            raise ValueError(f"resource {self.name}: give per_unit or per_money usage for at least one cell")
        return self

    def to_limit(self) -> ResourceLimit:
        return ResourceLimit(self.name, self.available, dict(self.per_unit), dict(self.per_money))


class GroupLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: Identifier
    value: Identifier
    min_share: Annotated[Number, Field(ge=0, le=1)] | None = None
    max_share: Annotated[Number, Field(ge=0, le=1)] | None = None

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


class MoneyObjectiveError(ValueError):
    """The money objective reached a caller that has no payer contracts or episodes to count it with."""


class ObjectiveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["reliable_improvements", "weighted", "risk_averse", "money"] = Field(
        "reliable_improvements", description="money: reliable improvements valued at value_per_improvement, plus "
        "the payer contracts' expected payments, net of funding (usecases.contract_objective; needs contracts).")
    weights: dict[Literal["reliable_improvements", "dropouts", "qalys", "episodes"],
                  Annotated[Number, Field(ge=-1e6, le=1e6)]] = Field(default_factory=dict)
    value_per_improvement: Money | None = Field(
        None, description="kind money only: what one reliable improvement is worth in money (0 counts contract "
                          "payments and cost only).")

    @model_validator(mode="after")
    def _value_with_money(self) -> ObjectiveSpec:
        if self.kind == "money" and self.value_per_improvement is None:
            raise ValueError("value_per_improvement: the money objective needs what one reliable improvement is "
                             "worth in money (0 counts contract payments and cost only)")
        if self.kind != "money" and self.value_per_improvement is not None:
            raise ValueError(f"value_per_improvement applies to kind 'money' only, not {self.kind!r}")
        return self

    def to_objective(self) -> Objective:
        if self.kind == "money":
            raise MoneyObjectiveError("objective kind 'money' counts payer contracts' payments, which need the "
                                      "contracts and the department's episodes; POST /v1/recommendations takes "
                                      "them, as does `carealloc report --contracts --value-per-improvement`")
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
    max_change: Annotated[Number, Field(gt=0, le=10)] | None = None
    programs: dict[Identifier, ProgramLimits] = Field(default_factory=dict, max_length=10_000)
    groups: list[GroupLimit] = Field(default_factory=list, max_length=100)
    within_observed_range: StrictBool = False
    resources: list[ResourceSpec] = Field(
        default_factory=list, max_length=1_000,
        description="Limits shared by cells (staff hours per clinic, supervisor ratios); see ResourceSpec.")
    scenarios: dict[Identifier, dict[Identifier, Money]] = Field(
        default_factory=dict, max_length=20,
        description="Named allocations to score beside the recommendation (unnamed programmes keep current funding).")

    @model_validator(mode="after")
    def _units_match_resources(self) -> RecommendationRequest:
        """per_unit usage needs the cell's step (units are counted in it); duplicate names would be ambiguous."""
        names = [r.name for r in self.resources]
        repeated = sorted(n for n, count in Counter(names).items() if count > 1)
        if repeated:
            raise ValueError(f"resources: name(s) {', '.join(repeated)} given more than once; expected unique names")
        for index, resource in enumerate(self.resources):
            for pid in resource.per_unit:
                limits = self.programs.get(pid)
                if limits is None or limits.step is None:
                    raise ValueError(f"resources[{index}].per_unit.{pid}: programme {pid} has no step "
                                     f"(set programs.{pid}.step, or give its use per_money)")
        return self

    def cell_names(self) -> set[str]:
        """Every programme the request names (limits, resource usage, scenarios)."""
        names = set(self.programs).union(*self.scenarios.values())
        for resource in self.resources:
            names |= set(resource.per_unit) | set(resource.per_money)
        return names

    def constraints(self, current_total: float) -> Constraints:
        return Constraints(
            budget=current_total if self.budget is None else self.budget, budget_mode=self.budget_mode,
            max_change=self.max_change,
            programs={p: ProgramBounds(min=v.min, max=v.max, locked=v.locked, no_decrease=v.no_decrease)
                      for p, v in self.programs.items()},
            groups=tuple(GroupShare(g.column, g.value, g.min_share, g.max_share) for g in self.groups),
            within_observed_range=self.within_observed_range,
            units={p: unit for p, v in self.programs.items() if (unit := v.decision_unit()) is not None},
            resources=tuple(r.to_limit() for r in self.resources),
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
    _check_programs(bundle, request.cell_names())
    curves = list(outcome_curves(bundle) if curves is None else curves)
    current_total = sum(c.current_funding for c in curves)
    # a bundle with the joint clinic model plans on curves re-centred on the plan (usecases.joint_plan)
    result, solved_on = optimize_joint(bundle, request.constraints(current_total), request.allocation_objective(),
                                       curves)
    body = result.to_dict()
    for row in body["allocations"]:
        recommended = row["metrics_recommended"]
        row["expected_reliable_improvements"] = {
            "value": recommended.get("reliable_improvements"),
            "lower": recommended.get("reliable_improvements_lower"),
            "upper": recommended.get("reliable_improvements_upper")}
        if row.get("units") is not None:
            row["units_label"] = f"{row['units']} {row['unit']}"
    for totals in body["totals"].values():
        improvements = totals.get("reliable_improvements") or 0.0
        totals["cost_per_reliable_improvement"] = totals["funding"] / improvements if improvements > 0 else None
    if request.scenarios:
        body["scenarios"] = score_scenarios(bundle, request.scenarios, request.objective, curves)["scenarios"]
    body["probability_beats_status_quo"] = probability_beats_status_quo(solved_on, result.allocation)
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
