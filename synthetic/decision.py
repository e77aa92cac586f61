"""Decision quality against the truth: how much of the truly achievable gain a recommendation captures.

captured = (truth(recommendation) - truth(status quo)) / (truth(oracle) - truth(status quo)), with the budget equal
to current total spend and every programme within +/-max_change (30 % unless stated) of its current funding. The
oracle is the truth's own exact-on-a-grid optimum under the same bounds; baselines are scored by the same truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allocation import Constraints, optimize
from features.contract import validate_tables
from models.bundle import CareAllocBundle, make_bundle
from models.forecast import build_forecaster
from models.suite import CLINIC_PARAM, fit_suite
from synthetic.plan import WorldPlan, build_plan
from synthetic.simulate import simulate_episodes
from synthetic.truth import Truth
from usecases.curves import outcome_curves
from usecases.joint_plan import clinic_values, optimize_joint

ORACLE_STEPS = 3000


@dataclass(frozen=True)
class DecisionScore:
    status_quo: float
    recommendation: float
    oracle: float
    baselines: dict[str, float | None]

    def captured(self, value: float | None) -> float | None:
        achievable = self.oracle - self.status_quo
        if value is None or achievable <= 1e-9:
            return None
        return (value - self.status_quo) / achievable

    def to_dict(self) -> dict[str, Any]:
        return {
            "truth_status_quo": self.status_quo, "truth_recommendation": self.recommendation,
            "truth_oracle": self.oracle, "captured_share": self.captured(self.recommendation),
            "baselines_captured_share": {k: self.captured(v) for k, v in self.baselines.items()},
        }


def score_against_truth(bundle: CareAllocBundle, truth: Truth, max_change: float = 0.3) -> DecisionScore:
    current = truth.current_funding
    budget = float(sum(current.values()))
    constraints = Constraints(budget=budget, budget_mode="exact", max_change=max_change)
    result, _ = optimize_joint(bundle, constraints)
    # the rules of thumb read the programme curves, as they did before the joint clinic model, so they compare alike
    rules = result if clinic_values(bundle) is None else optimize(outcome_curves(bundle), constraints)
    bounds = {p: ((1 - max_change) * f, (1 + max_change) * f) for p, f in current.items()}
    _, oracle = truth.oracle_allocation(budget, bounds, step=budget / ORACLE_STEPS)
    baselines = {b.name: truth.value(dict(b.allocation)) if b.feasible and b.allocation else None
                 for b in rules.baselines if b.name != "status_quo"}
    return DecisionScore(truth.value(current), truth.value(result.allocation), oracle, baselines)


def fresh_world_bundle(seed: int, episodes: int = 50_000, preset: str = "mental-health",
                       params: dict[str, Any] | None = None,
                       regime: str = "smooth", joint: bool = True) -> tuple[CareAllocBundle, WorldPlan]:
    """Simulate a world the models never saw and train on its history: (bundle, the world's plan).

    A clinic world's records are booked to categories by spend share per clinic (`site_id`), which its data owner
    would declare: with `joint` the suite then fits the joint clinic model (models.clinic)."""
    plan = build_plan(preset, episodes, seed, regime)
    if joint and plan.clinics is not None:
        params = {**(params or {}), CLINIC_PARAM: "site_id"}
    programs, episode_table = validate_tables(*simulate_episodes(plan))
    suite = fit_suite(programs, episode_table, params, seed)
    forecaster = build_forecaster(programs, episode_table, suite.response, suite.dropout, suite.reach, seed=seed)
    return make_bundle(forecaster, suite, programs, episode_table), plan


def fresh_world_score(seed: int, episodes: int = 50_000, preset: str = "mental-health",
                      params: dict[str, Any] | None = None, regime: str = "smooth",
                      max_change: float = 0.3, cohort_size: int = 3000, joint: bool = True) -> DecisionScore:
    """Simulate a world the models never saw, train on its history, recommend, and score with its truth."""
    bundle, plan = fresh_world_bundle(seed, episodes, preset, params, regime, joint)
    return score_against_truth(bundle, Truth(plan, cohort_size), max_change)
