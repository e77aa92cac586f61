"""The recommendation use case shared by `carealloc recommend` and `POST /v1/recommendations`.

The request shape is one pydantic model, so the CLI's constraints file and the HTTP body validate identically
(field limits included); the answer is the optimizer's result plus what an allocator needs to trust it: intervals
per programme, the chance the plan beats the status quo, and which models and data it came from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from allocation import Constraints, GroupShare, Objective, ProgramBounds, evaluate, optimize
from allocation.curves import GridPositions, OutcomeCurve
from carealloc.identifiers import Identifier
from models.allocation_inputs import outcome_curves
from models.bundle import CareAllocBundle

Money = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]
BEAT_STATUS_QUO_DRAWS = 4000


class ProgramLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: Money | None = None
    max: Money | None = None
    locked: bool = False
    no_decrease: bool = False


class GroupLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: Identifier
    value: Identifier
    min_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    max_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None

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
        "budget": 2200000, "budget_mode": "exact", "objective": {"kind": "reliable_improvements"},
        "max_change": 0.3, "programs": {"P001": {"min": 10000, "max": 200000}},
        "groups": [{"column": "region", "value": "rural", "min_share": 0.2}]}]})

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


def probability_beats_status_quo(curves: list[OutcomeCurve], plan: dict[str, float], seed: int = 0) -> float:
    """Share of forecast-error draws in which the plan gives more reliable improvements than the status quo.

    Each programme's realised outcome is its forecast times a log-normal error whose spread comes from its
    interval at that funding (wider outside the observed range); plan and status quo of one programme share
    the draw, since the same programme's forecast is wrong in the same direction at nearby funding levels.

    The forecasts are read off all curves at once and the draws come from a per-process cache; the
    arithmetic per programme and its order are those of the first per-programme loop, so the answer is
    the same number. The exponentials (two per programme and draw) are most of the cost; a programme whose
    spread is the same under plan and status quo (common: many intervals are a fixed ratio) needs one.
    """
    grids = [c.funding for c in curves]
    rows = [[c.metrics[name] for c in curves] for name in _INTERVAL]
    forecasts = []
    for funding in (np.array([plan[c.program_id] for c in curves]), np.array([c.current_funding for c in curves])):
        mid, low, high = GridPositions(grids, funding).values(rows).tolist()
        sigma = [max(math.log(max(h, 1e-9) / max(lo, 1e-9)) / (2 * 1.645), 1e-6)
                 for lo, h in zip(low, high, strict=True)]
        forecasts.append((mid, sigma))
    (plan_mid, plan_sigma), (now_mid, now_sigma) = forecasts
    now_terms = _status_quo_terms(tuple(now_mid), tuple(now_sigma), seed) if len(curves) <= _CACHED_PROGRAMMES \
        else None
    diff = np.zeros(BEAT_STATUS_QUO_DRAWS)
    for i, shock in enumerate(_shock_rows(len(curves), seed)):
        plan_error = np.exp(plan_sigma[i] * shock)
        if now_terms is not None:
            now_term = now_terms[i]
        else:
            now_term = now_mid[i] * (plan_error if now_sigma[i] == plan_sigma[i] else np.exp(now_sigma[i] * shock))
        diff += plan_mid[i] * plan_error - now_term
    return float((diff > 0).mean())


@functools.lru_cache(maxsize=4)
def _status_quo_terms(mid: tuple[float, ...], sigma: tuple[float, ...], seed: int) -> np.ndarray:
    """Each programme's status-quo outcome under every draw: the same for every request on one bundle (current
    funding does not change), and half of the exponentials; the same products as computed per request, so the
    answer does not change."""
    terms = np.array([m * np.exp(s * shock) for m, s, shock in zip(mid, sigma, _cached_shocks(len(mid), seed),
                                                                   strict=True)])
    terms.flags.writeable = False
    return terms


_INTERVAL = ("reliable_improvements", "reliable_improvements_lower", "reliable_improvements_upper")
_CACHED_PROGRAMMES = 256  # keep the draws of up to this many programmes (8 MB) for the next request
_DRAW_BLOCK = 64  # beyond that, programmes whose draws are made together


def _shock_rows(programmes: int, seed: int) -> Iterator[np.ndarray]:
    """Standard normal draws, one row per programme, as one ``standard_normal(draws)`` call per programme
    gives (a Generator's draws do not depend on how the count is split). They depend only on the seed and
    the number of programmes and drawing them was a third of the probability's cost, so for the usual
    sizes they are drawn once per process."""
    if programmes <= _CACHED_PROGRAMMES:
        yield from _cached_shocks(programmes, seed)
        return
    rng = np.random.default_rng(seed)
    for start in range(0, programmes, _DRAW_BLOCK):
        yield from rng.standard_normal((min(_DRAW_BLOCK, programmes - start), BEAT_STATUS_QUO_DRAWS))


@functools.lru_cache(maxsize=4)
def _cached_shocks(programmes: int, seed: int) -> np.ndarray:
    draws = np.random.default_rng(seed).standard_normal((programmes, BEAT_STATUS_QUO_DRAWS))
    draws.flags.writeable = False
    return draws


def provenance(bundle: CareAllocBundle) -> dict[str, Any]:
    return {"model_version": bundle.model_version, "data_snapshot": bundle.snapshot,
            "forecast_period": bundle.next_period}


def recommend(bundle: CareAllocBundle, request: RecommendationRequest) -> dict[str, Any]:
    """The recommended split and its evidence; raises InfeasibleConstraintsError or UnknownProgramsError."""
    _check_programs(bundle, set(request.programs).union(*request.scenarios.values()))
    curves = outcome_curves(bundle)
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
        body["scenarios"] = score_scenarios(bundle, request.scenarios, request.objective)["scenarios"]
    body["probability_beats_status_quo"] = probability_beats_status_quo(curves, result.allocation)
    body["outside_observed_range"] = [a["program_id"] for a in body["allocations"]
                                      if "outside_observed_range" in a["flags"]]
    body["provenance"] = provenance(bundle)
    return body


def score_scenarios(bundle: CareAllocBundle, scenarios: dict[str, dict[str, float]],
                    objective: ObjectiveSpec | None = None) -> dict[str, Any]:
    """Named allocations scored side by side with the status quo (programmes left out keep current funding)."""
    names = set().union(*(set(s) for s in scenarios.values())) if scenarios else set()
    _check_programs(bundle, names)
    curves = outcome_curves(bundle)
    goal = objective.to_objective() if objective else Objective()
    current = {c.program_id: c.current_funding for c in curves}
    scored = {"status_quo": evaluate(curves, current, goal).to_dict()}
    for name, split in scenarios.items():
        scored[name] = evaluate(curves, {**current, **split}, goal).to_dict()
    return {"scenarios": scored, "provenance": provenance(bundle)}
