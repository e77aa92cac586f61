"""optimize() against exhaustive search on small instances with non-concave (S-shaped and step) curves."""

from __future__ import annotations

import types

import numpy as np
import pytest

from allocation.constraints import Constraints, GroupShare
from allocation.lagrange import solve_with_prices
from allocation.mixed_integer import solve_mixed_integer
from allocation.objectives import Objective
from allocation.problem import build_problem
from allocation.reference import solve_grid
from allocation.solver import optimize

TOLERANCE = 1e-3  # the issue asks for 0.1 % of optimal


def _limits(curves, constraints):
    problem = build_problem(curves, constraints, Objective())
    return problem.lo.tolist(), problem.hi.tolist()


@pytest.mark.parametrize("seed", range(24))
def test_three_programmes_within_tenth_of_a_percent_of_brute_force(seed: int, factories: types.ModuleType) -> None:
    rng = np.random.default_rng(seed)
    curves = [factories.random_curve(rng, f"p{i}") for i in range(3)]
    current = sum(c.current_funding for c in curves)
    constraints = Constraints(
        budget=current * float(rng.uniform(0.6, 1.4)),
        max_change=None if seed % 2 else 0.8,
        budget_mode="exact" if seed % 3 else "at_most",
    )
    lower, upper = _limits(curves, constraints)
    reference = factories.brute_force(
        curves, constraints.budget, lower, upper, cells=1500, exact=constraints.budget_mode == "exact"
    )
    result = optimize(curves, constraints)
    assert result.objective_value >= reference - TOLERANCE * abs(reference) - 1e-9
    # never "better" than the proven envelope bound
    assert result.optimality_gap.upper_bound is not None
    assert result.objective_value <= result.optimality_gap.upper_bound + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_four_programmes_with_group_floor_within_tenth_of_a_percent(seed: int, factories: types.ModuleType) -> None:
    rng = np.random.default_rng(100 + seed)
    regions = ["rural", "rural", "urban", "urban"]
    curves = [factories.random_curve(rng, f"p{i}", {"region": regions[i]}) for i in range(4)]
    budget = sum(c.current_funding for c in curves) * float(rng.uniform(0.7, 1.2))
    constraints = Constraints(budget=budget, groups=(GroupShare("region", "rural", min_share=0.55),))
    lower, upper = _limits(curves, constraints)
    reference = factories.brute_force(
        curves, budget, lower, upper, cells=110, group_members=(0, 1), group_floor=0.55 * budget
    )
    result = optimize(curves, constraints)
    assert result.objective_value >= reference - TOLERANCE * abs(reference) - 1e-9
    rural = sum(a.recommended_funding for a in result.allocations if a.program_id in {"p0", "p1"})
    assert rural >= 0.55 * budget - 0.5


def test_s_curves_where_an_equal_split_is_a_trap(factories: types.ModuleType) -> None:
    """Two S-curves needing 80k each to take off: the best plan funds one fully, not both half-way."""
    curves = [factories.logistic_curve(f"p{i}", 60_000.0, 50.0, 80_000.0, 6_000.0, points=41) for i in range(2)]
    result = optimize(curves, Constraints(budget=120_000.0))
    funded = sorted(a.recommended_funding for a in result.allocations)
    assert funded[1] >= 90_000
    reference = factories.brute_force(curves, 120_000.0, [0.0, 0.0], [120_000.0, 120_000.0], cells=4000)
    assert result.objective_value >= reference * (1 - TOLERANCE)


def test_step_curve_reaches_the_top_of_a_ramp_between_grid_points(factories: types.ModuleType) -> None:
    curves = [
        factories.step_curve("a", 50_000.0, [(61_000.0, 30.0)], points=11),
        factories.step_curve("b", 50_000.0, [(33_000.0, 10.0)], points=13),
    ]
    result = optimize(curves, Constraints(budget=100_000.0))
    reference = factories.brute_force(curves, 100_000.0, [0.0, 0.0], [100_000.0, 100_000.0], cells=20_000)
    assert result.objective_value >= reference * (1 - TOLERANCE)


@pytest.mark.parametrize("seed", range(5))
def test_grid_dp_is_exact_on_its_own_grid(seed: int, factories: types.ModuleType) -> None:
    """The DP equals exhaustive search over the same grid (the part we call exact)."""
    rng = np.random.default_rng(200 + seed)
    curves = [factories.random_curve(rng, f"p{i}", {"region": "r" if i < 2 else "u"}) for i in range(3)]
    budget = sum(c.current_funding for c in curves)
    constraints = Constraints(budget=budget, groups=(GroupShare("region", "r", max_share=0.5),))
    problem = build_problem(curves, constraints, Objective())
    step = budget / 300
    grid = solve_grid(problem, step=step)
    units = [np.arange(int(np.floor((h - lo) / step + 1e-9)) + 1) for lo, h in zip(problem.lo, problem.hi, strict=True)]
    best = -np.inf
    for j0 in units[0]:
        for j1 in units[1]:
            j2 = round((budget - problem.lo.sum()) / step) - j0 - j1
            if not 0 <= j2 < len(units[2]):
                continue
            x = problem.lo + step * np.array([j0, j1, j2])
            if x[0] + x[1] <= 0.5 * budget + 1e-6:
                best = max(best, problem.value(x))
    assert grid.on_grid
    assert grid.value == pytest.approx(best, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_two_grouping_columns_within_tenth_of_a_percent(seed: int, factories: types.ModuleType) -> None:
    """Rules on region AND modality couple the DP's groups; the exact MIP path must still be optimal."""
    rng = np.random.default_rng(500 + seed)
    labels = [("r", "t"), ("r", "i"), ("u", "t"), ("u", "i")]
    curves = [factories.random_curve(rng, f"p{i}", {"region": r, "mod": m}) for i, (r, m) in enumerate(labels)]
    budget = sum(c.current_funding for c in curves) * float(rng.uniform(0.7, 1.2))
    constraints = Constraints(
        budget=budget, groups=(GroupShare("region", "r", min_share=0.5), GroupShare("mod", "t", min_share=0.5))
    )
    problem = build_problem(curves, constraints, Objective())
    grids = [np.linspace(problem.lo[i], problem.hi[i], 111) for i in range(3)]
    x0, x1, x2 = np.meshgrid(*grids, indexing="ij")
    x3 = budget - x0 - x1 - x2
    values = sum(
        np.interp(x, c.funding, c.metrics["reliable_improvements"])
        for x, c in zip((x0, x1, x2, x3), curves, strict=True)
    )
    ok = (x3 >= problem.lo[3]) & (x3 <= problem.hi[3]) & (x0 + x1 >= 0.5 * budget) & (x0 + x2 >= 0.5 * budget)
    reference = float(values[ok].max())
    result = optimize(curves, constraints)
    assert result.objective_value >= reference * (1 - TOLERANCE)
    assert result.optimality_gap.reference == "mixed_integer"
    assert result.optimality_gap.bound_relative is not None and result.optimality_gap.bound_relative < 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_dp_path_matches_the_exact_mixed_integer_optimum_on_larger_instances(
    seed: int, factories: types.ModuleType
) -> None:
    """Brute force stops at four programmes; for twelve, the MIP (exact for piecewise-linear curves) checks us."""
    rng = np.random.default_rng(900 + seed)
    curves = [factories.random_curve(rng, f"p{i:02d}", {"region": ("a", "b", "c")[i % 3]}) for i in range(12)]
    budget = sum(c.current_funding for c in curves)
    constraints = Constraints(
        budget=budget,
        max_change=0.6,
        groups=(GroupShare("region", "a", min_share=0.3), GroupShare("region", "b", max_share=0.3)),
    )
    exact = solve_mixed_integer(build_problem(curves, constraints, Objective()), time_limit=30.0)
    assert exact is not None and exact.proven_optimal
    optimum = build_problem(curves, constraints, Objective()).value(exact.funding)
    result = optimize(curves, constraints)
    assert result.optimality_gap.reference == "grid_dp"
    assert result.objective_value >= optimum * (1 - TOLERANCE)


def test_priced_dp_meets_a_second_column_rule(factories: types.ModuleType) -> None:
    """The Lagrangian fallback (used when the MIP times out) must at least respect the rule it prices."""
    rng = np.random.default_rng(3)
    labels = [("r", "t"), ("r", "i"), ("u", "t"), ("u", "i"), ("u", "i"), ("r", "i")]
    curves = [factories.random_curve(rng, f"p{i}", {"region": r, "mod": m}) for i, (r, m) in enumerate(labels)]
    budget = sum(c.current_funding for c in curves)
    constraints = Constraints(
        budget=budget, groups=(GroupShare("region", "r", min_share=0.4), GroupShare("mod", "t", min_share=0.45))
    )
    problem = build_problem(curves, constraints, Objective())
    plan = solve_with_prices(problem, steps=2000)
    assert plan is not None
    tele = plan[[0, 2]].sum()
    assert tele >= 0.45 * budget - 2 * budget / 2000
