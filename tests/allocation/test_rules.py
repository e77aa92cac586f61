"""Each kind of rule shapes the plan the way an allocator would expect."""

from __future__ import annotations

import types

import numpy as np
import pytest

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.solver import optimize


@pytest.fixture
def curves(factories: types.ModuleType) -> list[OutcomeCurve]:
    """Urban programmes respond far better to money, so an unconstrained plan starves rural ones."""
    rural = [factories.concave_curve(f"r{i}", 100_000.0, 10.0, groups={"region": "rural"}) for i in range(2)]
    urban = [factories.concave_curve(f"u{i}", 100_000.0, 60.0, groups={"region": "urban"}) for i in range(2)]
    return rural + urban


def _rural(result_allocation: dict[str, float]) -> float:
    return sum(v for k, v in result_allocation.items() if k.startswith("r"))


def test_group_floor_is_respected_and_reported_binding(curves: list[OutcomeCurve]) -> None:
    free = optimize(curves, Constraints(budget=400_000.0))
    assert _rural(free.allocation) < 0.4 * 400_000.0
    floored = optimize(curves, Constraints(budget=400_000.0, groups=(GroupShare("region", "rural", min_share=0.4),)))
    assert _rural(floored.allocation) >= 160_000.0 - 0.5
    assert any(note.startswith("group share region=rural: at its floor of 40%") for note in floored.binding_constraints)
    assert floored.objective_value <= free.objective_value + 1e-9


def test_group_cap_is_respected(curves: list[OutcomeCurve]) -> None:
    result = optimize(curves, Constraints(budget=400_000.0, groups=(GroupShare("region", "urban", max_share=0.6),)))
    assert 400_000.0 - _rural(result.allocation) <= 240_000.0 + 0.5


def test_two_grouping_columns_are_both_enforced(factories: types.ModuleType) -> None:
    curves = [
        factories.concave_curve(
            f"p{i}",
            100_000.0,
            10.0 + 15.0 * i,
            groups={"region": "rural" if i % 2 else "urban", "modality": "tele" if i < 2 else "inperson"},
        )
        for i in range(4)
    ]
    constraints = Constraints(
        budget=400_000.0,
        groups=(GroupShare("region", "rural", min_share=0.45), GroupShare("modality", "tele", min_share=0.4)),
    )
    result = optimize(curves, constraints)
    allocation = result.allocation
    assert allocation["p1"] + allocation["p3"] >= 180_000.0 - 0.5
    assert allocation["p0"] + allocation["p1"] >= 160_000.0 - 0.5
    assert result.optimality_gap.reference == "mixed_integer" and result.optimality_gap.reference_exact
    curve = [p.objective_value for p in result.budget_curve]
    assert all(v is not None for v in curve) and curve == sorted(curve)
    assert result.optimality_gap.bound_relative is not None and result.optimality_gap.bound_relative < 1e-3


def test_locked_and_no_decrease(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(
        budget=400_000.0, programs={"r0": ProgramBounds(locked=True), "r1": ProgramBounds(no_decrease=True)}
    )
    result = optimize(curves, constraints)
    rows = {a.program_id: a for a in result.allocations}
    assert rows["r0"].recommended_funding == pytest.approx(100_000.0, abs=1e-6)
    assert "locked" in rows["r0"].flags
    assert rows["r1"].recommended_funding >= 100_000.0 - 1e-6
    assert any("r0: locked at current funding 100,000" in note for note in result.binding_constraints)


def test_explicit_bounds_and_max_change(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(
        budget=400_000.0,
        max_change=0.25,
        programs={"u0": ProgramBounds(max=110_000.0), "r0": ProgramBounds(min=90_000.0)},
    )
    result = optimize(curves, constraints)
    allocation = result.allocation
    assert allocation["u0"] <= 110_000.0 + 1e-6
    assert allocation["r0"] >= 90_000.0 - 1e-6
    assert all(75_000.0 - 1e-6 <= x <= 125_000.0 + 1e-6 for x in allocation.values())
    assert any("u0: at upper limit 110,000 (its maximum)" in note for note in result.binding_constraints)


def test_at_most_reports_unallocated_money(factories: types.ModuleType) -> None:
    """Step curves saturate: money beyond the last jump buys nothing, so it is left unallocated."""
    curves = [factories.step_curve(f"s{i}", 100_000.0, [(60_000.0, 10.0)]) for i in range(3)]
    result = optimize(curves, Constraints(budget=500_000.0, budget_mode="at_most"))
    spent = sum(result.allocation.values())
    assert result.unallocated == pytest.approx(500_000.0 - spent, abs=1.0)
    assert result.unallocated >= 300_000.0
    assert result.objective_value == pytest.approx(30.0)


def test_within_observed_range_and_its_flag(factories: types.ModuleType) -> None:
    curves = [
        factories.concave_curve("strong", 100_000.0, 200.0),
        factories.concave_curve("weak", 100_000.0, 5.0),
    ]
    loose = optimize(curves, Constraints(budget=200_000.0))
    strong = next(a for a in loose.allocations if a.program_id == "strong")
    assert strong.recommended_funding > 130_000.0
    assert "outside_observed_range" in strong.flags
    bounded = optimize(curves, Constraints(budget=200_000.0, within_observed_range=True))
    assert bounded.allocation["strong"] <= 130_000.0 + 1e-6
    assert all("outside_observed_range" not in a.flags for a in bounded.allocations)


def test_input_order_does_not_change_the_answer(curves: list[OutcomeCurve]) -> None:
    constraints = Constraints(budget=380_000.0, max_change=0.5, groups=(GroupShare("region", "rural", min_share=0.3),))
    first = optimize(curves, constraints)
    shuffled = [curves[i] for i in np.random.default_rng(7).permutation(len(curves))]
    second = optimize(shuffled, constraints)
    assert first.allocation == second.allocation
    assert [a.program_id for a in second.allocations] == sorted(c.program_id for c in curves)


def test_unknown_programme_in_bounds_is_rejected(curves: list[OutcomeCurve]) -> None:
    with pytest.raises(ValueError, match="unknown programme"):
        optimize(curves, Constraints(budget=400_000.0, programs={"nope": ProgramBounds(min=1.0)}))


def test_curve_validation() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        OutcomeCurve("a", np.array([0.0, 2.0, 1.0]), {"reliable_improvements": np.zeros(3)}, 1.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="'reliable_improvements' is required"):
        OutcomeCurve("a", np.array([0.0, 1.0]), {"qalys": np.zeros(2)}, 1.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        OutcomeCurve("a", np.array([0.0, 1.0]), {"reliable_improvements": np.array([0.0, np.nan])}, 1.0, 0.0, 2.0)
    curve = OutcomeCurve("a", np.array([0.0, 10.0]), {"reliable_improvements": np.array([0.0, 5.0])}, 4.0, 0.0, 8.0)
    assert curve.value("reliable_improvements", 4.0) == pytest.approx(2.0)
    assert curve.value("reliable_improvements", 99.0) == pytest.approx(5.0)


def test_edge_budgets(factories: types.ModuleType) -> None:
    curves = [factories.concave_curve("a", 100_000.0, 20.0), factories.step_curve("b", 100_000.0, [(50_000.0, 5.0)])]
    tiny = optimize(curves, Constraints(budget=1.0))
    assert sum(tiny.allocation.values()) == pytest.approx(1.0, abs=1e-9)
    minimums = {"a": ProgramBounds(min=100_000.0), "b": ProgramBounds(min=100_000.0)}
    tight = optimize(curves, Constraints(budget=200_000.0, programs=minimums))
    assert tight.allocation == {"a": 100_000.0, "b": 100_000.0}
    assert tight.shadow_price is not None and tight.shadow_price > 0
    huge = optimize(curves, Constraints(budget=1e9, budget_mode="at_most"))
    assert huge.allocation["a"] == pytest.approx(200_000.0)
    assert huge.unallocated == pytest.approx(1e9 - sum(huge.allocation.values()))


def test_caller_step_is_used_and_guarded(curves: list[OutcomeCurve]) -> None:
    coarse = optimize(curves, Constraints(budget=400_000.0), step=5_000.0)
    assert coarse.solver.grid_step == 5_000.0
    assert sum(coarse.allocation.values()) == pytest.approx(400_000.0, abs=1.0)
    with pytest.raises(ValueError, match="step must be > 0"):
        optimize(curves, Constraints(budget=400_000.0), step=0.0)
    with pytest.raises(ValueError, match="grid steps; use a step of at least"):
        optimize(curves, Constraints(budget=400_000.0), step=0.01)
