"""Whole-unit steps, off-or-min_viable cells and resource rows: plans a manager can execute, found exactly."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

from allocation import (
    Constraints,
    DecisionUnit,
    GroupShare,
    InfeasibleConstraintsError,
    OutcomeCurve,
    ProgramBounds,
    ResourceLimit,
    optimize,
)
from allocation.objectives import Objective
from allocation.problem import build_problem


def _cells(factories: types.ModuleType, seed: int, count: int) -> list[OutcomeCurve]:
    rng = np.random.default_rng(seed)
    return [factories.random_curve(rng, f"c{i}", groups={"clinic": f"k{i % 2}"}) for i in range(count)]


def _value(curve: OutcomeCurve, x: float) -> float:
    return float(np.interp(x, curve.funding, curve.metrics["reliable_improvements"]))


def test_stepped_cells_come_out_in_whole_units(factories: types.ModuleType) -> None:
    curves = _cells(factories, 3, 6)
    step = 17_500.0
    units = {c.program_id: DecisionUnit(step=step, unit="FTE") for c in curves[:4]}
    budget = sum(c.current_funding for c in curves)
    result = optimize(curves, Constraints(budget=budget, units=units))
    for row in result.allocations:
        if row.program_id in units:
            assert row.unit == "FTE" and row.units is not None
            assert row.recommended_funding == pytest.approx(row.units * step, abs=1e-6)
        else:
            assert row.units is None and row.unit is None
    assert sum(result.allocation.values()) == pytest.approx(budget, abs=0.5)
    assert result.optimality_gap.reference_exact
    assert result.optimality_gap.upper_bound is not None
    assert result.objective_value <= result.optimality_gap.upper_bound + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_exact_against_brute_force_with_every_unit_rule(seed: int, factories: types.ModuleType) -> None:
    """Three stepped cells (one off-or-viable), one cell taking the rest of an exact budget (off-or-viable too),
    an hours row over two stepped cells and a clinic floor: every plan enumerated."""
    curves = _cells(factories, 100 + seed, 4)
    by_id = {c.program_id: c for c in curves}
    steps = {"c0": 25_000.0, "c1": 30_000.0, "c2": 20_000.0}
    viable = {"c2": 60_000.0, "c3": 50_000.0}
    units = {pid: DecisionUnit(step=s, unit="FTE", min_viable=viable.get(pid)) for pid, s in steps.items()}
    units["c3"] = DecisionUnit(min_viable=viable["c3"])
    hours = ResourceLimit("hours-k0", available=9 * 1_600.0, per_unit={"c0": 1_600.0, "c2": 1_600.0})
    budget = 0.9 * sum(c.current_funding for c in curves)
    constraints = Constraints(budget=budget, units=units, resources=(hours,),
                              groups=(GroupShare("clinic", "k1", min_share=0.3),))
    result = optimize(curves, constraints)

    best = -np.inf
    levels = {pid: np.arange(0, by_id[pid].funding_max + 1e-9, s) for pid, s in steps.items()}
    for x0, x1, x2 in itertools.product(levels["c0"], levels["c1"], levels["c2"]):
        x3 = budget - x0 - x1 - x2
        if not 0 <= x3 <= by_id["c3"].funding_max or 0 < x3 < viable["c3"] or 0 < x2 < viable["c2"]:
            continue
        if 1_600.0 * (x0 / steps["c0"] + x2 / steps["c2"]) > hours.available + 1e-9:
            continue
        if x1 + x3 < 0.3 * budget:  # clinic k1 holds c1 and c3
            continue
        best = max(best, sum(_value(by_id[p], x) for p, x in zip(("c0", "c1", "c2", "c3"), (x0, x1, x2, x3),
                                                                  strict=True)))
    assert np.isfinite(best)
    assert result.objective_value == pytest.approx(best, rel=1e-7, abs=1e-7)
    plan = result.allocation
    assert plan["c3"] == 0 or plan["c3"] >= viable["c3"] - 1e-6
    assert result.resources[0].used <= hours.available + 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_at_most_budget_all_stepped_against_brute_force(seed: int, factories: types.ModuleType) -> None:
    curves = _cells(factories, 200 + seed, 3)
    step = 40_000.0
    units = {c.program_id: DecisionUnit(step=step, unit="licence pack") for c in curves}
    budget = 0.8 * sum(c.current_funding for c in curves)
    result = optimize(curves, Constraints(budget=budget, budget_mode="at_most", units=units))
    best = max(
        sum(_value(c, x) for c, x in zip(curves, combo, strict=True))
        for combo in itertools.product(*(np.arange(0, c.funding_max + 1e-9, step) for c in curves))
        if sum(combo) <= budget + 1e-9
    )
    assert result.objective_value == pytest.approx(best, rel=1e-7, abs=1e-7)
    assert all(a.units is not None and a.recommended_funding == pytest.approx(a.units * step) for a in
               result.allocations)


def test_min_viable_turns_a_thin_spread_into_off_or_viable(factories: types.ModuleType) -> None:
    """Concave curves want a little everywhere; with min_viable each cell is off or at least the threshold."""
    curves = [factories.concave_curve(f"c{i}", 100_000.0, 40.0) for i in range(4)]
    budget = 200_000.0
    free = optimize(curves, Constraints(budget=budget))
    assert all(0 < x < 90_000 for x in free.allocation.values())  # without the rule: four thin cells
    threshold = 90_000.0
    units = {c.program_id: DecisionUnit(min_viable=threshold) for c in curves}
    result = optimize(curves, Constraints(budget=budget, units=units))
    funded = [x for x in result.allocation.values() if x > 0.5]
    assert funded and all(x >= threshold - 1e-6 for x in funded)
    assert len(funded) < 4
    assert any("off" in a.flags for a in result.allocations)


def test_resource_rows_hold_staff_hours_and_a_supervisor_ratio(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"t{i}", 120_000.0, 60.0 + 10 * i) for i in range(3)]
    curves.append(factories.concave_curve("sup", 60_000.0, 5.0))
    salary = 30_000.0
    units = {c.program_id: DecisionUnit(step=salary, unit="FTE") for c in curves}
    budget = 400_000.0
    free = optimize(curves, Constraints(budget=budget, budget_mode="at_most", units=units))
    therapists = sum(a.units or 0 for a in free.allocations if a.program_id != "sup")
    supervisors = next(a.units or 0 for a in free.allocations if a.program_id == "sup")
    assert therapists > 4 * supervisors  # the unconstrained plan breaks the ratio the next call sets

    hours = ResourceLimit("therapist-hours", 8 * 1_600.0, per_unit={f"t{i}": 1_600.0 for i in range(3)})
    ratio = ResourceLimit("supervisor-ratio", 0.0, per_unit={"t0": 1.0, "t1": 1.0, "t2": 1.0, "sup": -4.0})
    result = optimize(curves, Constraints(budget=budget, budget_mode="at_most", units=units,
                                          resources=(hours, ratio)))
    counts = {a.program_id: a.units or 0 for a in result.allocations}
    therapists = counts["t0"] + counts["t1"] + counts["t2"]
    assert 1_600.0 * therapists <= hours.available
    assert therapists <= 4 * counts["sup"]
    assert {r.name for r in result.resources} == {"therapist-hours", "supervisor-ratio"}
    assert result.optimality_gap.reference_exact


def test_the_re_check_refuses_plans_off_the_rules(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"c{i}", 100_000.0, 40.0) for i in range(2)]
    constraints = Constraints(budget=200_000.0, units={"c0": DecisionUnit(step=30_000.0, unit="FTE"),
                                                       "c1": DecisionUnit(min_viable=80_000.0)},
                              resources=(ResourceLimit("hours", 3_000.0, per_unit={"c0": 1_600.0}),))
    problem = build_problem(curves, constraints, Objective())
    problems = problem.violations(np.array([130_000.0, 70_000.0]))
    assert any("not a whole number of FTE" in p for p in problems)
    assert any("min_viable" in p for p in problems)
    assert any("resource hours" in p for p in problems)  # 130,000 / 30,000 = 4.33 FTE x 1,600 h > 3,000 h
    assert not problem.violations(np.array([120_000.0 - 90_000.0, 170_000.0]))


@pytest.mark.parametrize(("units", "resources", "words"), [
    ({"c0": DecisionUnit(step=250_000.0, unit="FTE")}, (), "larger than its range"),
    ({"c0": DecisionUnit(min_viable=300_000.0)}, (), "min_viable 300,000 is above its upper limit"),
    ({}, (ResourceLimit("hours", 100.0, per_money={"c0": 0.01}),), "resource hours"),
])
def test_conflicts_are_named(units: dict[str, DecisionUnit], resources: tuple[ResourceLimit, ...], words: str,
                             factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"c{i}", 100_000.0, 40.0) for i in range(2)]
    constraints = Constraints(budget=200_000.0, max_change=0.5, units=units, resources=resources,
                              programs={"c1": ProgramBounds(max=150_000.0)})
    with pytest.raises(InfeasibleConstraintsError) as caught:
        optimize(curves, constraints)
    assert any(words in c for c in caught.value.conflicts), caught.value.conflicts


def test_an_exact_budget_off_the_unit_lattice_says_to_use_at_most(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"c{i}", 100_000.0, 40.0) for i in range(2)]
    units = {c.program_id: DecisionUnit(step=30_000.0, unit="FTE") for c in curves}
    with pytest.raises(InfeasibleConstraintsError) as caught:
        optimize(curves, Constraints(budget=200_000.0, units=units))
    assert "at_most" in caught.value.conflicts[0]
    assert optimize(curves, Constraints(budget=210_000.0, units=units)).objective_value > 0


def test_a_step_too_fine_to_be_a_decision_unit_is_a_named_conflict(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve(f"c{i}", 100_000.0, 40.0) for i in range(2)]
    with pytest.raises(InfeasibleConstraintsError) as caught:
        optimize(curves, Constraints(budget=200_000.0, units={"c0": DecisionUnit(step=1e-300)}))
    assert "use a step of at least" in caught.value.conflicts[0]
