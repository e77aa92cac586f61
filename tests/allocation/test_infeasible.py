"""Contradictory constraints raise InfeasibleConstraintsError naming the rules and the numbers."""

from __future__ import annotations

import types

import pytest

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.errors import InfeasibleConstraintsError
from allocation.solver import optimize


@pytest.fixture
def curves(factories: types.ModuleType) -> list[OutcomeCurve]:
    """Four programmes at 250,000 each (grids 0..500,000), two rural and two urban."""
    return [
        factories.concave_curve(f"p{i}", 250_000.0, 40.0, groups={"region": "rural" if i < 2 else "urban"})
        for i in range(4)
    ]


def _raises(curves: list[OutcomeCurve], constraints: Constraints) -> str:
    with pytest.raises(InfeasibleConstraintsError) as caught:
        optimize(curves, constraints)
    assert caught.value.conflicts
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


def test_minimums_above_budget(curves: list[OutcomeCurve]) -> None:
    bounds = {f"p{i}": ProgramBounds(min=300_000.0) for i in range(4)}
    message = _raises(curves, Constraints(budget=1_000_000.0, programs=bounds))
    assert "programme minimums add up to 1,200,000 but the budget is 1,000,000" in message


def test_maximums_below_exact_budget(curves: list[OutcomeCurve]) -> None:
    message = _raises(curves, Constraints(budget=1_200_000.0, max_change=0.1))
    assert "programme maximums add up to 1,100,000 but the budget is 1,200,000" in message


def test_maximums_below_budget_is_fine_when_at_most(curves: list[OutcomeCurve]) -> None:
    result = optimize(curves, Constraints(budget=2_000_000.0, budget_mode="at_most", max_change=0.1))
    assert result.unallocated == pytest.approx(2_000_000.0 - 1_100_000.0, abs=1.0)


def test_locked_amounts_exceed_budget(curves: list[OutcomeCurve]) -> None:
    locked = {f"p{i}": ProgramBounds(locked=True) for i in range(3)}
    message = _raises(curves, Constraints(budget=600_000.0, programs=locked))
    assert "locked programmes' current funding adds up to 750,000 but the budget is 600,000" in message


def test_group_floor_beyond_member_maxima(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(
        budget=1_000_000.0, max_change=0.2, groups=(GroupShare("region", "rural", min_share=0.7),)
    )
    message = _raises(curves, constraints)
    assert "group region=rural floor of 70% of the budget (700,000)" in message
    assert "maximums add up to 600,000" in message


def test_group_floor_without_members(curves: list[OutcomeCurve]) -> None:
    message = _raises(curves, Constraints(budget=1_000_000.0, groups=(GroupShare("region", "remote", min_share=0.1),)))
    assert "no programme has region=remote" in message


def test_group_cap_below_member_minimums(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(
        budget=1_000_000.0,
        programs={"p0": ProgramBounds(no_decrease=True), "p1": ProgramBounds(min=200_000.0)},
        groups=(GroupShare("region", "rural", max_share=0.4),),
    )
    message = _raises(curves, constraints)
    assert "cap of 40% of the budget (400,000)" in message
    assert "450,000" in message


def test_programme_min_above_max_after_combining_rules(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(budget=1_000_000.0, max_change=0.2, programs={"p2": ProgramBounds(min=320_000.0)})
    message = _raises(curves, constraints)
    assert "programme p2: lower limit 320,000 (its minimum) exceeds upper limit 300,000" in message
    assert "max_change 20% above current 250,000" in message


def test_locked_programme_outside_its_explicit_bounds(curves: list[OutcomeCurve]) -> None:
    message = _raises(
        curves, Constraints(budget=1_000_000.0, programs={"p1": ProgramBounds(max=200_000.0, locked=True)})
    )
    assert "programme p1 is locked at 250,000 but its maximum is 200,000" in message


def test_several_conflicts_are_all_reported(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(
        budget=1_000_000.0,
        programs={"p0": ProgramBounds(min=600_000.0), "p3": ProgramBounds(min=600_000.0)},
    )
    with pytest.raises(InfeasibleConstraintsError) as caught:
        optimize(curves, constraints)
    text = " | ".join(caught.value.conflicts)
    assert "programme p0: lower limit 600,000 (its minimum) exceeds upper limit 500,000" in text
    assert "programme p3" in text


def test_combination_only_the_lp_check_catches(curves: list[OutcomeCurve]) -> None:
    """Each rule alone is satisfiable, but the two group caps leave only 950,000 for an exact 1,000,000."""
    constraints = Constraints(
        budget=1_000_000.0,
        max_change=0.2,
        groups=(GroupShare("region", "rural", max_share=0.5), GroupShare("region", "urban", max_share=0.45)),
    )
    message = _raises(curves, constraints)
    assert "no split satisfies all constraints together" in message


def test_invalid_inputs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="min 5 exceeds"):
        ProgramBounds(min=5, max=1)
    with pytest.raises(ValueError, match="min_share 60% exceeds max_share 50%"):
        GroupShare("region", "rural", min_share=0.6, max_share=0.5)
    with pytest.raises(ValueError, match="budget must be"):
        Constraints(budget=-1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        GroupShare("region", "rural", min_share=1.5)


@pytest.mark.parametrize("seed", range(4))
def test_one_column_feasibility_without_an_lp_agrees_with_the_lp(factories: types.ModuleType, seed: int) -> None:
    """`cells_feasible` (disjoint cells, no LP) and the LP decide alike on random one-column rules."""
    import numpy as np

    from allocation.feasibility import cells_feasible, lp_feasible
    from allocation.objectives import Objective
    from allocation.problem import build_problem

    rng = np.random.default_rng(seed)
    regions = ("rural", "urban", "remote")
    decided = []
    for _ in range(60):
        curves = [factories.random_curve(rng, f"p{i}", {"region": regions[int(rng.integers(3))]}) for i in range(6)]
        current = sum(c.current_funding for c in curves)
        groups = []
        for value in regions:
            floor, cap = float(rng.uniform(0, 0.5)), float(rng.uniform(0.2, 0.8))
            kind = int(rng.integers(4))  # none, floor, cap, both
            if kind == 1 or (kind == 3 and floor > cap):
                groups.append(GroupShare("region", value, min_share=floor))
            elif kind == 2:
                groups.append(GroupShare("region", value, max_share=cap))
            elif kind == 3:
                groups.append(GroupShare("region", value, min_share=floor, max_share=cap))
        constraints = Constraints(budget=float(rng.uniform(0.5, 1.5)) * current,
                                  budget_mode="exact" if rng.random() < 0.6 else "at_most",
                                  max_change=float(rng.uniform(0.1, 0.9)) if rng.random() < 0.7 else None,
                                  groups=tuple(groups))
        problem = build_problem(curves, constraints, Objective())
        assert problem.one_column
        answer = cells_feasible(problem)
        assert answer == lp_feasible(problem)
        decided.append(answer)
    assert any(decided) and not all(decided)  # both outcomes occur
