"""The money objective: contract payments move the plan where they pay, outcomes dominate when valued highly."""

from __future__ import annotations

from typing import Any

import pytest

from allocation import Constraints
from features.contracts import parse_contracts
from usecases.contract_objective import contract_value_plan
from usecases.curves import outcome_curves

RETENTION_PER_POINT = {"contracts": [{
    "contract_id": "MCD-KEEP", "payer": "Medicaid", "population": {"payer": "medicaid"}, "metric": "retention",
    "target": 0.0, "tiers": [{"threshold": 0.0, "per_point": 200_000}], "min_sample": 1}]}


def _constraints(bundle: Any) -> Constraints:
    budget = sum(s.current_funding for s in bundle.programs.values())
    return Constraints(budget=budget, budget_mode="exact", max_change=0.3)


def test_a_rich_retention_contract_buys_retention_the_outcomes_plan_does_not(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    bundle = trained[2]
    curves = outcome_curves(bundle)
    constraints = _constraints(bundle)
    plan = contract_value_plan(bundle, curves, constraints, parse_contracts(RETENTION_PER_POINT), episodes,
                               value_per_improvement=0.0)
    by_name = {c.plan: c for c in plan.candidates}
    outcomes_only = by_name["outcomes only"]
    assert plan.best.plan.startswith("linearisation")
    assert plan.best.expected_payments > outcomes_only.expected_payments + 1_000
    assert plan.best.contracts[0].value > outcomes_only.contracts[0].value
    assert sum(plan.best.allocation.values()) == pytest.approx(constraints.budget, rel=1e-6)
    for program, state in bundle.programs.items():
        assert abs(plan.best.allocation[program] / state.current_funding - 1) <= 0.3 + 1e-6
    assert "locally, not globally, optimal" in plan.method


def test_outcomes_valued_far_above_the_payments_give_the_outcomes_plan(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    bundle = trained[2]
    small = {"contracts": [{**RETENTION_PER_POINT["contracts"][0], "tiers": [{"threshold": 0.0, "per_point": 1}]}]}
    plan = contract_value_plan(bundle, outcome_curves(bundle), _constraints(bundle), parse_contracts(small),
                               episodes, value_per_improvement=1e7)
    outcomes_only = {c.plan: c for c in plan.candidates}["outcomes only"]
    assert plan.best.reliable_improvements == pytest.approx(outcomes_only.reliable_improvements, rel=1e-4)


def test_a_negative_value_per_improvement_is_refused(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    bundle = trained[2]
    with pytest.raises(ValueError, match="value_per_improvement must be a finite amount >= 0"):
        contract_value_plan(bundle, outcome_curves(bundle), _constraints(bundle),
                            parse_contracts(RETENTION_PER_POINT), episodes, value_per_improvement=-1.0)
