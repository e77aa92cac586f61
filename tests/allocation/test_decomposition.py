"""The decomposition (priced blocks, fixing, a small choice programme) against the full mixed-integer programme
it replaces: the same value, the same infeasibility answer, and a bound that really bounds the plan."""

from __future__ import annotations

import types

import numpy as np
import pytest
from scipy import sparse

from allocation import Constraints, DecisionUnit, GroupShare, ResourceLimit, decomposition
from allocation.decomposition import CERTIFIED_SHARE, solve_by_blocks
from allocation.linear_program import PricedOptimum
from allocation.mixed_integer import MixedIntegerPlan, mixed_integer_status
from allocation.objectives import Objective
from allocation.problem import Problem, build_problem


def _problem(factories: types.ModuleType, seed: int, *, tight: bool = False) -> Problem:
    """Two-cell clinics (a stepped staffing cell and a stepped or off-or-viable second cell) sharing an hours
    row (and on some seeds a ratio row too), a lone off-or-viable cell, a lone divisible cell, a network row over
    the second cells, and a group share on some seeds; ``tight`` makes the rows hard or impossible to meet."""
    rng = np.random.default_rng(seed)
    clinics = int(rng.integers(1, 4))
    curves = []
    units: dict[str, DecisionUnit] = {}
    resources = []
    network: dict[str, float] = {}
    for k in range(clinics):
        staff, other = (factories.random_curve(rng, f"k{k}-{kind}", groups={"tier": "AB"[k % 2]})
                        for kind in ("staff", "other"))
        curves += [staff, other]
        step = round(float(rng.uniform(0.15, 0.4)) * staff.current_funding, -2)
        units[staff.program_id] = DecisionUnit(step=step, unit="FTE")
        if rng.random() < 0.5:
            units[other.program_id] = DecisionUnit(step=round(0.2 * other.current_funding, -2), unit="cohort",
                                                   min_viable=0.6 * other.current_funding if rng.random() < 0.5
                                                   else None)
            per_unit = {staff.program_id: 1_600.0, other.program_id: 120.0}
            available = float(rng.uniform(2, 6)) * 1_600.0 + 240.0
        else:
            units[other.program_id] = DecisionUnit(step=round(0.25 * other.current_funding, -2), unit="pack")
            per_unit = {staff.program_id: 1_600.0, other.program_id: 400.0}
            available = float(rng.uniform(2, 6)) * 1_600.0
        if tight:
            available *= 0.2
        resources.append(ResourceLimit(f"hours-k{k}", available=available, per_unit=per_unit))
        if seed % 4 == 1:  # a second row on the same clinic (a supervisor ratio, negative usage): one block
            resources.append(ResourceLimit(f"ratio-k{k}", available=1.0,
                                           per_unit={staff.program_id: 1.0, other.program_id: -1.0}))
        network[other.program_id] = 0.01
    viable = factories.random_curve(rng, "lone-viable", groups={"tier": "A"})
    plain = factories.random_curve(rng, "lone-plain", groups={"tier": "B"})
    curves += [viable, plain]
    units[viable.program_id] = DecisionUnit(min_viable=0.7 * viable.current_funding)
    network[viable.program_id] = 0.01
    budget = float(rng.uniform(0.6, 1.1)) * sum(c.current_funding for c in curves)
    resources.append(ResourceLimit("network", available=0.01 * float(rng.uniform(0.3, 1.0)) * budget,
                                   per_money=network))
    groups = (GroupShare("tier", "A", min_share=float(rng.uniform(0.2, 0.5))),) if seed % 2 else ()
    mode = "exact" if seed % 3 == 0 else "at_most"
    constraints = Constraints(budget=budget, budget_mode=mode, units=units, resources=tuple(resources), groups=groups)
    return build_problem(curves, constraints, Objective())


@pytest.mark.parametrize("seed", range(24))
def test_same_value_as_the_full_programme(seed: int, factories: types.ModuleType) -> None:
    problem = _problem(factories, seed)
    full, full_infeasible = mixed_integer_status(problem, 20.0)
    settled = solve_by_blocks(problem, 20.0)
    if settled is None:  # the caller falls back to the full programme; nothing to compare
        pytest.skip("decomposition handed over to the full programme")
    plan, infeasible = settled
    assert infeasible == full_infeasible
    assert (plan is None) == (full is None)
    if plan is None or full is None:
        return
    assert not problem.violations(plan.funding)
    assert full.proven_optimal and plan.proven_optimal
    _same_value(problem, plan, full)


def _same_value(problem: Problem, plan: MixedIntegerPlan, full: MixedIntegerPlan) -> None:
    """Within the certified share of the uplift below the full programme's optimum, never above it (beyond
    rounding), and a dual bound that bounds that optimum too."""
    best = problem.value(full.funding)
    rounding = 1e-7 * max(1.0, abs(best))
    value = problem.value(plan.funding)
    assert plan.dual_bound is not None
    assert plan.dual_bound >= best - rounding
    assert value <= best + rounding
    assert value >= best - CERTIFIED_SHARE * (plan.dual_bound - problem.value(problem.lo)) - rounding


@pytest.mark.parametrize("seed", range(12))
def test_same_infeasibility_answer_on_tight_rows(seed: int, factories: types.ModuleType) -> None:
    problem = _problem(factories, 1000 + seed, tight=True)
    full, full_infeasible = mixed_integer_status(problem, 20.0)
    settled = solve_by_blocks(problem, 20.0)
    if settled is None:
        pytest.skip("decomposition handed over to the full programme")
    plan, infeasible = settled
    assert infeasible == full_infeasible
    if plan is not None and full is not None:
        _same_value(problem, plan, full)


def test_an_exact_budget_no_lattice_meets_is_infeasible(factories: types.ModuleType) -> None:
    """Every cell in whole units of 10,000 and an exact budget off that lattice: the convex hulls meet the budget,
    only the integer answer says no, and the decomposition must not say otherwise."""
    rng = np.random.default_rng(5)
    curves = [factories.random_curve(rng, f"c{i}") for i in range(4)]
    units = {c.program_id: DecisionUnit(step=10_000.0) for c in curves}
    budget = 10_000.0 * round(sum(c.current_funding for c in curves) / 10_000.0) + 5_000.0
    problem = build_problem(curves, Constraints(budget=budget, units=units), Objective())
    settled = solve_by_blocks(problem, 20.0)
    full, full_infeasible = mixed_integer_status(problem, 20.0)
    assert full is None and full_infeasible
    assert settled is None or (settled[0] is None and settled[1])


@pytest.mark.parametrize("seed", range(6))
def test_cutting_planes_reach_the_master_bound(seed: int, factories: types.ModuleType) -> None:
    """The prices found by cutting planes give the Lagrangian bound the Dantzig-Wolfe master LP gives (both are
    its minimum over prices), and never less: any prices bound every plan."""
    problem = _problem(factories, seed)
    structure = decomposition._structure(problem)
    prices, converged = decomposition._dual_prices(problem, structure)
    optimum = decomposition._master(problem, structure)
    assert converged and isinstance(optimum, PricedOptimum)
    bound = decomposition._prices(problem, structure, prices).bound
    assert bound == pytest.approx(-optimum.objective, rel=1e-6)
    assert bound >= -optimum.objective - 1e-7 * abs(optimum.objective)


@pytest.mark.parametrize("seed", range(8))
def test_budget_curve_reuses_blocks_and_prices(seed: int, factories: types.ModuleType) -> None:
    """The budget curve solves `Problem.at_budget` with the first solve's blocks and prices: at every other
    budget it still gives the full programme's value there and the same infeasibility answer."""
    problem = _problem(factories, seed)
    parts = decomposition.skeleton(problem)
    solve_by_blocks(problem, 20.0, parts)
    for fraction in (0.8, 0.9, 1.1, 1.2):
        other = problem.at_budget(fraction * problem.budget)
        full, full_infeasible = mixed_integer_status(other, 20.0)
        settled = solve_by_blocks(other, 20.0, parts)
        if settled is None:
            continue
        plan, infeasible = settled
        assert infeasible == full_infeasible
        assert (plan is None) == (full is None)
        if plan is not None and full is not None:
            assert not other.violations(plan.funding)
            _same_value(other, plan, full)


@pytest.mark.parametrize("seed", range(8))
def test_a_known_plan_maps_onto_the_restricted_programme(seed: int, factories: types.ModuleType) -> None:
    """The best plan of earlier rounds starts the next: with every choice within L - V of its best kept, the
    full programme's optimum (worth V) is a point of the choice programme with the same funding and value."""
    problem = _problem(factories, seed)
    full, _ = mixed_integer_status(problem, 20.0)
    if full is None:
        pytest.skip("no plan")
    structure = decomposition._structure(problem)
    prices, _ = decomposition._dual_prices(problem, structure)
    lagrangian = decomposition._prices(problem, structure, prices)
    slack = lagrangian.bound - problem.value(full.funding) + 1e-6 * max(1.0, abs(lagrangian.bound))
    pieces, _, known = decomposition._pieces(problem, structure, lagrangian, slack, full.funding)
    assert known is not None
    count = len(pieces.unit)
    segments = np.flatnonzero(pieces.width > 0)
    funding = pieces.start @ known[:count] + np.bincount(pieces.cell[segments], weights=pieces.width[segments]
                                                         * known[count:], minlength=problem.size)
    np.testing.assert_allclose(funding, full.funding, rtol=1e-6, atol=1e-3)
    value = pieces.start_score @ known[:count] + pieces.gain[segments] @ known[count:]
    assert value == pytest.approx(problem.value(full.funding), rel=1e-7)


@pytest.mark.parametrize("seed", range(6))
def test_budget_curve_points_with_units_have_no_value_exactly_where_no_plan_exists(
        seed: int, factories: types.ModuleType) -> None:
    """The curve's units points skip the LP feasibility check (the decomposition proves infeasibility itself):
    no value exactly where the full programme finds no plan, down to budgets no plan can meet."""
    from allocation import solver

    problem = _problem(factories, seed)
    parts = decomposition.skeleton(problem)
    solve_by_blocks(problem, 20.0, parts)
    for fraction in (0.2, 0.4, 0.6, 0.8, 1.2):
        other = problem.at_budget(fraction * problem.budget)
        full, _ = mixed_integer_status(other, 20.0)
        value = solver._value_at_budget(problem, other.budget, None, parts)
        assert (value is None) == (full is None)
        if value is not None and full is not None:
            best = other.value(full.funding)
            assert value == pytest.approx(best, abs=CERTIFIED_SHARE * abs(best) + 1e-6)


def test_budget_curve_point_off_the_lattice_has_no_value(factories: types.ModuleType) -> None:
    """Every cell in whole units of 10,000 and exact budgets: a curve point on the lattice has the full
    programme's value, one off it none (the LP check the curve leaves out would have passed it anyway)."""
    from allocation import solver

    rng = np.random.default_rng(5)
    curves = [factories.random_curve(rng, f"c{i}") for i in range(4)]
    units = {c.program_id: DecisionUnit(step=10_000.0) for c in curves}
    budget = 10_000.0 * round(sum(c.current_funding for c in curves) / 10_000.0)
    problem = build_problem(curves, Constraints(budget=budget, units=units), Objective())
    parts = decomposition.skeleton(problem)
    solve_by_blocks(problem, 20.0, parts)
    for offset in (-20_000.0, -15_000.0, 5_000.0, 10_000.0):
        other = problem.at_budget(budget + offset)
        full, _ = mixed_integer_status(other, 20.0)
        value = solver._value_at_budget(problem, other.budget, None, parts)
        assert (value is None) == (full is None) == (offset % 10_000.0 != 0.0)


@pytest.mark.parametrize("step_share", [0.0, 0.1, np.inf])
@pytest.mark.parametrize("seed", range(8))
def test_the_dive_ends_on_a_point_of_the_choice_programme(seed: int, step_share: float, factories: types.ModuleType,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """However many split pieces a dive step tries (share 0: all of them and, when none is free, again with the
    fixed units freed; infinite: only the most-taken one), its plan takes one whole piece per unit, stays in the
    bounds it was given and meets every row, so HiGHS can start from it."""
    from allocation import choice_program

    dives: list[tuple[np.ndarray, np.ndarray, np.ndarray, object]] = []
    dive = choice_program._dive

    def recorded(solver, unit, finite, lower, upper, gap):  # type: ignore[no-untyped-def]
        lp = solver.getLp()
        x = dive(solver, unit, finite, lower, upper, gap)
        dives.append((unit, lower, upper, (lp, x)))
        return x

    monkeypatch.setattr(choice_program, "_dive", recorded)
    monkeypatch.setattr(choice_program, "DIVE_STEP_SHARE", step_share)
    problem = _problem(factories, seed)
    solve_by_blocks(problem, 20.0)
    ended = [(unit, lower, upper, (lp, x)) for unit, lower, upper, (lp, x) in dives if x is not None]
    assert ended, "no dive ended on a plan, so nothing here was checked"
    for unit, lower, upper, (lp, x) in ended:
        count = len(unit)
        taken = x[:count]
        np.testing.assert_allclose(taken, np.round(taken), atol=1e-9)
        np.testing.assert_array_equal(np.bincount(unit, weights=np.round(taken)), np.ones(int(unit.max()) + 1))
        assert np.all(x >= lower - 1e-9) and np.all(x <= upper + 1e-9)
        matrix = sparse.csc_array((np.asarray(lp.a_matrix_.value_), np.asarray(lp.a_matrix_.index_),
                                   np.asarray(lp.a_matrix_.start_)), shape=(lp.num_row_, lp.num_col_))
        activity = matrix @ x
        assert np.all(activity >= np.asarray(lp.row_lower_) - 1e-7)
        assert np.all(activity <= np.asarray(lp.row_upper_) + 1e-7)
