"""The result's evidence agrees with itself: totals, evaluate(), baselines, budget curve, certificate."""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.result import AllocationResult
from allocation.solver import evaluate, optimize


@pytest.fixture
def curves(factories: types.ModuleType) -> list[OutcomeCurve]:
    rng = np.random.default_rng(11)
    return [factories.random_curve(rng, f"p{i:02d}", {"region": "rural" if i % 3 == 0 else "urban"}) for i in range(12)]


@pytest.fixture
def result(curves: list[OutcomeCurve]) -> AllocationResult:
    budget = sum(c.current_funding for c in curves)
    constraints = Constraints(
        budget=budget,
        max_change=0.6,
        programs={"p01": ProgramBounds(locked=True), "p02": ProgramBounds(no_decrease=True)},
        groups=(GroupShare("region", "rural", min_share=0.25),),
    )
    return optimize(curves, constraints)


def test_evaluate_of_the_recommendation_equals_plan_totals(
    curves: list[OutcomeCurve], result: AllocationResult
) -> None:
    evaluation = evaluate(curves, result.allocation)
    for metric, total in result.totals["plan"].items():
        assert evaluation.totals[metric] == pytest.approx(total, rel=1e-12, abs=1e-9)
    assert evaluation.objective_value == pytest.approx(result.objective_value, rel=1e-12)
    status_quo = evaluate(curves, {c.program_id: c.current_funding for c in curves})
    assert status_quo.totals == pytest.approx(result.totals["status_quo"])


def test_evaluate_rejects_incomplete_allocations(curves: list[OutcomeCurve]) -> None:
    with pytest.raises(ValueError, match="missing: p00"):
        evaluate(curves, {c.program_id: 1.0 for c in curves[1:]})


def test_programme_rows(result: AllocationResult) -> None:
    for row in result.allocations:
        assert row.change == pytest.approx(row.recommended_funding - row.current_funding)
        assert row.change_pct == pytest.approx(row.change / row.current_funding)
        assert row.lower_limit - 1e-6 <= row.recommended_funding <= row.upper_limit + 1e-6
        assert set(row.metrics_recommended) == set(row.metrics_current) >= {"reliable_improvements"}
    assert sum(r.objective_recommended for r in result.allocations) == pytest.approx(result.objective_value)


def test_plan_beats_or_matches_every_feasible_baseline(result: AllocationResult) -> None:
    names = [b.name for b in result.baselines]
    assert names == ["status_quo", "equal_split", "proportional_to_referrals", "equal_percentage_change",
                     "spreadsheet_rule", "lowest_cost_per_improvement_first"]
    for baseline in result.baselines:
        if baseline.feasible:
            assert baseline.objective_value is not None and baseline.allocation is not None
            assert baseline.objective_value <= result.objective_value + 1e-6
            assert sum(baseline.allocation.values()) == pytest.approx(result.budget, abs=1.0)


def test_baseline_without_referrals_is_reported_infeasible(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"p{i}", 100_000.0, 20.0, referrals=0.0) for i in range(3)]
    result = optimize(curves, Constraints(budget=300_000.0))
    proportional = next(b for b in result.baselines if b.name == "proportional_to_referrals")
    assert not proportional.feasible and proportional.objective_value is None
    assert "no referral counts" in proportional.notes[0]


def test_certificate_and_budget_curve_on_concave_curves(factories: types.ModuleType) -> None:
    """With concave curves the envelope bound is the true optimum, so the certified gap must be tiny."""
    curves = [factories.concave_curve(f"p{i}", 100_000.0 + 20_000.0 * i, 20.0 + 10.0 * i, points=41) for i in range(6)]
    result = optimize(curves, Constraints(budget=sum(c.current_funding for c in curves)))
    gap = result.optimality_gap
    assert gap.relative <= 1e-3
    assert gap.bound_relative is not None and gap.bound_relative < 1e-4
    values = [p.objective_value for p in result.budget_curve]
    assert [p.fraction for p in result.budget_curve] == [0.8, 0.9, 1.0, 1.1, 1.2]
    assert values[2] == result.objective_value
    assert all(v is not None for v in values)
    assert values == sorted(values)
    assert result.shadow_price is not None and result.shadow_price > 0
    funded = [a.marginal_gain_per_1000 for a in result.allocations if "at_lower_limit" not in a.flags]
    # at a concave optimum every funded programme's marginal return is close to the budget's shadow price
    assert all(g is not None and g == pytest.approx(result.shadow_price, rel=0.2) for g in funded)


def test_shadow_price_is_zero_when_money_is_left_over(factories: types.ModuleType) -> None:
    curves = [factories.step_curve(f"s{i}", 100_000.0, [(50_000.0, 5.0)]) for i in range(2)]
    result = optimize(curves, Constraints(budget=400_000.0, budget_mode="at_most"))
    assert result.shadow_price == pytest.approx(0.0, abs=1e-12)


def test_to_dict_is_json_and_names_versions(result: AllocationResult) -> None:
    payload = result.to_dict()
    text = json.dumps(payload, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    assert payload["solver"]["numpy_version"] == np.__version__
    assert payload["solver"]["seconds"] >= 0
    assert payload["objective"]["kind"] == "reliable_improvements"
    assert isinstance(payload["allocations"][0]["flags"], list)
    assert payload["binding_constraints"][0].startswith("budget (exact)")


def test_weighted_objective_value_uses_dropouts_avoided(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve("a", 100_000.0, 20.0)]
    objective = Objective(kind="weighted", weights={"dropouts": 1.0})
    evaluation = evaluate(curves, {"a": 100_000.0}, objective)
    assert evaluation.objective_value == pytest.approx(-float(curves[0].value("dropouts", 100_000.0)))


def test_spreadsheet_rule_moves_money_from_worst_to_best_per_dollar(factories: types.ModuleType) -> None:
    """Four programmes of equal funding whose improvements per dollar rank p3 > p2 > p1 > p0: the rule takes
    p0 and p1 down to their change limit and gives that money to p3 and p2; equal percentage keeps the split."""
    curves = [factories.concave_curve(f"p{i}", 100_000.0, 10.0 + 10.0 * i) for i in range(4)]
    result = optimize(curves, Constraints(budget=400_000.0, max_change=0.3))
    plans = {b.name: b for b in result.baselines}
    spreadsheet = plans["spreadsheet_rule"].allocation
    assert spreadsheet is not None and not plans["spreadsheet_rule"].adjusted
    assert spreadsheet == pytest.approx({"p0": 70_000.0, "p1": 70_000.0, "p2": 130_000.0, "p3": 130_000.0})
    assert plans["equal_percentage_change"].allocation == pytest.approx({f"p{i}": 100_000.0 for i in range(4)})
    cheapest = plans["lowest_cost_per_improvement_first"].allocation
    assert cheapest == pytest.approx({"p0": 70_000.0, "p1": 70_000.0, "p2": 130_000.0, "p3": 130_000.0})


def test_equal_percentage_change_follows_the_budget(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"p{i}", 50_000.0 * (i + 1), 20.0) for i in range(3)]
    result = optimize(curves, Constraints(budget=0.9 * 300_000.0, max_change=0.3))
    plan = next(b for b in result.baselines if b.name == "equal_percentage_change")
    assert plan.allocation == pytest.approx({"p0": 45_000.0, "p1": 90_000.0, "p2": 135_000.0})


def test_spreadsheet_rule_ranks_by_last_years_figures_when_given(factories: types.ModuleType) -> None:
    """Forecasts rank p1 above p0, last year's figures the other way round: the rule follows last year."""
    curves = [factories.concave_curve("p0", 100_000.0, 10.0), factories.concave_curve("p1", 100_000.0, 30.0)]
    curves = [dataclasses.replace(c, last_year_improvements_per_dollar=ratio)
              for c, ratio in zip(curves, (3e-4, 1e-4), strict=True)]
    result = optimize(curves, Constraints(budget=200_000.0, max_change=0.3))
    plans = {b.name: b.allocation for b in result.baselines}
    assert plans["spreadsheet_rule"] == pytest.approx({"p0": 130_000.0, "p1": 70_000.0})
    assert plans["lowest_cost_per_improvement_first"] == pytest.approx({"p0": 70_000.0, "p1": 130_000.0})
    with pytest.raises(ValueError, match="last_year_improvements_per_dollar must be finite"):
        dataclasses.replace(curves[0], last_year_improvements_per_dollar=float("nan"))
