"""The grid DP's compiled chain and the budget curve read from the main solve's tables."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.errors import InfeasibleConstraintsError
from allocation.feasibility import ensure_feasible
from allocation.maxplus import Chain
from allocation.objectives import Objective
from allocation.problem import build_problem
from allocation.reference import plan_at_budget, solve_grid
from allocation.solver import optimize


def _reference_chain(values: list[np.ndarray], cap: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row by row with numpy: every running table and, per total, the largest maximising j."""
    table, out = np.zeros(1), []
    for value in values:
        top = min(cap, len(table) - 1 + len(value) - 1)
        sums = np.full((top + 1, len(value)), -np.inf)
        for j, v in enumerate(value):
            stop = min(top, j + len(table) - 1)
            if stop < j:
                continue
            sums[j : stop + 1, j] = table[: stop + 1 - j] + v
        best = sums.max(axis=1)
        largest_j = len(value) - 1 - np.argmax(sums[:, ::-1] == best[:, None], axis=1)
        out.append((best, largest_j))
        table = best
    return out


@pytest.mark.parametrize("seed", range(6))
def test_chain_matches_a_plain_max_plus_and_backtracks_to_its_totals(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(rng.integers(1, 7))):
        value = np.round(rng.normal(size=int(rng.integers(1, 12))), 1)  # rounding makes ties common
        if rng.random() < 0.4:  # a group table: -inf below its floor and above its cap
            value[: int(rng.integers(0, len(value)))] = -np.inf
            value[len(value) - int(rng.integers(0, 2)) :] = -np.inf
        values.append(value)
    cap = int(rng.integers(3, 40))
    chain = Chain(values, cap)
    reference = _reference_chain(values, cap)
    np.testing.assert_array_equal(chain.table, reference[-1][0])
    for total in np.flatnonzero(np.isfinite(chain.table)):
        steps = chain.steps(int(total))
        assert steps.sum() == total
        assert sum(v[j] for v, j in zip(values, steps, strict=True)) == chain.table[total]
        # ties go to the largest j, item by item from the last, as the numpy DP chose
        left = int(total)
        for i in range(len(values) - 1, -1, -1):
            assert steps[i] == reference[i][1][left]
            left -= int(steps[i])


def test_budget_curve_points_are_verified_plans_close_to_fresh_solves(factories: types.ModuleType) -> None:
    rng = np.random.default_rng(11)
    regions = ("rural", "urban", "remote")
    curves = [factories.random_curve(rng, f"p{i:02d}", {"region": regions[i % 3]}) for i in range(18)]
    budget = sum(c.current_funding for c in curves)
    constraints = Constraints(budget=budget, max_change=0.4, groups=(GroupShare("region", "rural", min_share=0.3),
                                                                      GroupShare("region", "urban", max_share=0.4)))
    result = optimize(curves, constraints)
    problem = build_problem(curves, constraints, Objective())
    tables = solve_grid(problem, reach_budget=1.2 * budget).tables
    assert tables is not None
    for point in result.budget_curve:
        if point.fraction == 1.0:
            assert point.objective_value == result.objective_value
            continue
        other = problem.at_budget(point.budget)
        plan = plan_at_budget(other, tables)
        assert plan is not None and not other.violations(plan)
        fresh = optimize(curves, dataclasses.replace(constraints, budget=point.budget)).objective_value
        assert point.objective_value is not None
        assert point.objective_value == pytest.approx(fresh, rel=2e-3)
        assert point.objective_value >= other.value(plan) - 1e-9  # the polish only ever keeps improvements


def test_budget_curve_reports_no_value_where_the_budget_cannot_be_met(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"p{i}", 100_000.0, 30.0) for i in range(4)]
    result = optimize(curves, Constraints(budget=400_000.0, max_change=0.1))  # minimums take 90 % of the budget
    values = {p.fraction: p.objective_value for p in result.budget_curve}
    assert values[0.8] is None and values[1.2] is None  # below the minimums, above the maximums
    assert values[0.9] is not None and values[1.1] is not None  # exactly at the minimums / maximums


def test_a_budget_met_to_within_rounding_is_not_a_conflict(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"p{i}", 100_000.0 + 7_777.7 * i, 30.0) for i in range(5)]
    current = sum(c.current_funding for c in curves)
    # minimums of 80 % of current funding under a budget of 80 % of it: equal up to float rounding
    ensure_feasible(build_problem(curves, Constraints(budget=0.8 * current, max_change=0.2), Objective()))
    with pytest.raises(InfeasibleConstraintsError, match="programme minimums add up to"):
        ensure_feasible(build_problem(curves, Constraints(budget=0.8 * current - 1.0, max_change=0.2), Objective()))


def _rural_floor_case(factories: types.ModuleType, rural_max: float) -> tuple[list, Constraints]:
    curves = [factories.concave_curve("p0", 15_000.0, 20.0, groups={"region": "rural"}),
              factories.concave_curve("p1", 15_000.0, 20.0, groups={"region": "rural"}),
              factories.concave_curve("p2", 70_000.0, 60.0, groups={"region": "urban"})]
    bounds = {"p0": ProgramBounds(max=rural_max / 2), "p1": ProgramBounds(max=rural_max / 2)}
    rural = GroupShare("region", "rural", min_share=0.3)
    return curves, Constraints(budget=100_000.0, programs=bounds, groups=(rural,))


def test_a_floor_just_beyond_its_programmes_maximums_is_a_named_conflict(factories: types.ModuleType) -> None:
    """Less than a currency unit short is still short: the solvers cannot meet it, so it must be a 422's error."""
    curves, constraints = _rural_floor_case(factories, rural_max=29_999.7)
    with pytest.raises(InfeasibleConstraintsError, match="region=rural floor"):
        optimize(curves, constraints)


def test_a_budget_curve_point_beyond_a_floor_has_no_value_and_the_rest_stands(factories: types.ModuleType) -> None:
    curves, constraints = _rural_floor_case(factories, rural_max=32_999.7)  # the floor grows with the budget
    values = {p.fraction: p.objective_value for p in optimize(curves, constraints).budget_curve}
    assert values[1.1] is None and values[1.2] is None
    assert all(values[f] is not None for f in (0.8, 0.9, 1.0))


def test_chain_refuses_to_backtrack_from_an_unreachable_total() -> None:
    chain = Chain([np.array([0.0, -np.inf, 1.0]), np.array([0.0, -np.inf, 1.0])], 4)
    assert not np.isfinite(chain.table[1])
    with pytest.raises(ArithmeticError, match="not reachable"):
        chain.steps(1)
    assert chain.steps(4).tolist() == [2, 2]
