"""Properties that must hold for any feasible input (hypothesis-generated small instances)."""

from __future__ import annotations

import dataclasses
import json
import math
import types
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.constraints import Constraints, GroupShare, ProgramBounds
from allocation.curves import OutcomeCurve
from allocation.errors import InfeasibleConstraintsError
from allocation.result import AllocationResult
from allocation.solver import optimize

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
REL = 1e-3


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 6))
    return {
        "n": n,
        "seed": draw(st.integers(0, 10_000)),
        "budget_factor": draw(st.floats(0.5, 1.5)),
        "mode": draw(st.sampled_from(["exact", "at_most"])),
        "max_change": draw(st.one_of(st.none(), st.floats(0.1, 1.0))),
        "locked": draw(st.one_of(st.none(), st.integers(0, n - 1))),
        "no_decrease": draw(st.one_of(st.none(), st.integers(0, n - 1))),
        "explicit": draw(
            st.one_of(st.none(), st.tuples(st.integers(0, n - 1), st.floats(0.2, 0.9), st.floats(1.0, 1.8)))
        ),
        "floor": draw(st.one_of(st.none(), st.floats(0.05, 0.6))),
        "cap": draw(st.one_of(st.none(), st.floats(0.3, 0.95))),
        "observed": draw(st.booleans()),
    }


def _build(spec: dict[str, Any], factories: types.ModuleType) -> tuple[list[OutcomeCurve], Constraints]:
    rng = np.random.default_rng(spec["seed"])
    curves = [
        factories.random_curve(rng, f"p{i}", {"region": "rural" if i % 2 == 0 else "urban"}) for i in range(spec["n"])
    ]
    programs: dict[str, ProgramBounds] = {}
    if spec["explicit"] is not None:
        i, low, high = spec["explicit"]
        current = curves[i].current_funding
        programs[f"p{i}"] = ProgramBounds(min=low * current, max=high * current)
    if spec["no_decrease"] is not None:
        pid = f"p{spec['no_decrease']}"
        old = programs.get(pid, ProgramBounds())
        programs[pid] = dataclasses.replace(old, no_decrease=True)
    if spec["locked"] is not None:
        programs[f"p{spec['locked']}"] = ProgramBounds(locked=True)
    groups = []
    if spec["floor"] is not None:
        groups.append(GroupShare("region", "rural", min_share=spec["floor"]))
    if spec["cap"] is not None:
        groups.append(GroupShare("region", "urban", max_share=spec["cap"]))
    budget = spec["budget_factor"] * sum(c.current_funding for c in curves)
    return curves, Constraints(
        budget=budget,
        budget_mode=spec["mode"],
        max_change=spec["max_change"],
        programs=programs,
        groups=tuple(groups),
        within_observed_range=spec["observed"],
    )


def _solve(curves: list[OutcomeCurve], constraints: Constraints) -> AllocationResult | None:
    try:
        return optimize(curves, constraints)
    except InfeasibleConstraintsError as error:
        assert error.conflicts and all(isinstance(c, str) and c for c in error.conflicts)
        return None


def _expected_limits(curve: OutcomeCurve, constraints: Constraints) -> tuple[float, float]:
    """Limits recomputed from the rules themselves, independently of the solver's compilation."""
    bounds = constraints.programs.get(curve.program_id, ProgramBounds())
    current = curve.current_funding
    if bounds.locked:
        return current, current
    lows = [curve.funding_min]
    highs = [curve.funding_max]
    if bounds.min is not None:
        lows.append(bounds.min)
    if bounds.max is not None:
        highs.append(bounds.max)
    if constraints.max_change is not None:
        lows.append(current * (1 - constraints.max_change))
        highs.append(current * (1 + constraints.max_change))
    if constraints.within_observed_range:
        lows.append(curve.observed_min)
        highs.append(curve.observed_max)
    if bounds.no_decrease:
        lows.append(current)
    return max(lows), min(highs)


@SETTINGS
@given(spec=instances())
def test_budget_and_every_rule_hold(spec: dict[str, Any], factories: types.ModuleType) -> None:
    curves, constraints = _build(spec, factories)
    result = _solve(curves, constraints)
    if result is None:
        return
    allocation = result.allocation
    spent = sum(allocation.values())
    if constraints.budget_mode == "exact":
        assert abs(spent - constraints.budget) <= 1.0
        assert result.unallocated == 0.0
    else:
        assert spent <= constraints.budget + 1.0
        assert abs(result.unallocated - (constraints.budget - spent)) <= 1.0
    for curve in curves:
        low, high = _expected_limits(curve, constraints)
        x = allocation[curve.program_id]
        assert low - 1e-6 * max(1.0, low) <= x <= high + 1e-6 * max(1.0, high), (curve.program_id, low, x, high)
    for rule in constraints.groups:
        amount = sum(allocation[c.program_id] for c in curves if c.groups.get(rule.column) == rule.value)
        if rule.min_share is not None:
            assert amount >= rule.min_share * constraints.budget - 1.0
        if rule.max_share is not None:
            assert amount <= rule.max_share * constraints.budget + 1.0


def _finite_everywhere(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


@SETTINGS
@given(spec=instances())
def test_to_dict_is_plain_json_without_nan_or_inf(spec: dict[str, Any], factories: types.ModuleType) -> None:
    result = _solve(*_build(spec, factories))
    if result is None:
        return
    payload = result.to_dict()
    assert _finite_everywhere(payload)
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


@SETTINGS
@given(spec=instances(), growth=st.floats(0.02, 0.5))
def test_larger_budget_never_lowers_the_optimum(
    spec: dict[str, Any], growth: float, factories: types.ModuleType
) -> None:
    """at_most mode. Group floors are left out: they are shares of the budget, so a larger budget raises
    the money a floor demands and can make it unreachable, which is a different rule, not a looser one."""
    curves, constraints = _build({**spec, "mode": "at_most", "floor": None}, factories)
    small = _solve(curves, constraints)
    if small is None:
        return
    large = _solve(curves, dataclasses.replace(constraints, budget=constraints.budget * (1 + growth)))
    assert large is not None
    assert large.objective_value >= small.objective_value - REL * abs(small.objective_value) - 1e-9


@SETTINGS
@given(spec=instances(), dropped=st.sampled_from(["max_change", "programs", "groups", "observed", "mode"]))
def test_removing_a_constraint_never_lowers_the_optimum(
    spec: dict[str, Any], dropped: str, factories: types.ModuleType
) -> None:
    curves, constraints = _build(spec, factories)
    tight = _solve(curves, constraints)
    if tight is None:
        return
    relaxed_constraints = {
        "max_change": dataclasses.replace(constraints, max_change=None),
        "programs": dataclasses.replace(constraints, programs={}),
        "groups": dataclasses.replace(constraints, groups=()),
        "observed": dataclasses.replace(constraints, within_observed_range=False),
        "mode": dataclasses.replace(constraints, budget_mode="at_most"),
    }[dropped]
    relaxed = _solve(curves, relaxed_constraints)
    assert relaxed is not None
    assert relaxed.objective_value >= tight.objective_value - REL * abs(tight.objective_value) - 1e-9


@SETTINGS
@given(spec=instances(), scale=st.sampled_from([1e-300, 1e-12, 1e-6, 1e-2, 3.0, 1e3, 1e9, 1e13]))
def test_extreme_budgets_give_a_finite_answer_or_a_named_infeasibility(
    spec: dict[str, Any], scale: float, factories: types.ModuleType
) -> None:
    """Budgets far from anything the curves cover: never NaN or inf, never an unnamed failure."""
    curves, constraints = _build(spec, factories)
    constraints = dataclasses.replace(constraints, budget=constraints.budget * scale)
    result = _solve(curves, constraints)
    if result is None:
        return
    payload = result.to_dict()
    assert _finite_everywhere(payload)
    spent = sum(result.allocation.values())
    assert spent <= constraints.budget + 1.0
    if constraints.budget_mode == "exact":
        assert abs(spent - constraints.budget) <= 1.0


@SETTINGS
@given(spec=instances())
def test_infeasibility_is_reported_exactly_when_the_limits_cannot_meet_the_budget(
    spec: dict[str, Any], factories: types.ModuleType
) -> None:
    """Without group rules, feasibility is arithmetic on the per-programme limits (recomputed independently):
    an impossible budget must raise InfeasibleConstraintsError naming conflicts, a possible one must be solved."""
    curves, constraints = _build({**spec, "floor": None, "cap": None}, factories)
    limits = [_expected_limits(c, constraints) for c in curves]
    low, high = sum(lo for lo, _ in limits), sum(hi for _, hi in limits)
    empty_range = any(lo > hi + 1e-6 * max(1.0, hi) for lo, hi in limits)
    budget = constraints.budget
    impossible = empty_range or low > budget * (1 + 1e-6) or (constraints.budget_mode == "exact" and
                                                                high < budget * (1 - 1e-6))
    clearly_possible = not any(lo > hi - 1e-6 * max(1.0, hi) for lo, hi in limits) and (
        low < budget * (1 - 1e-6)) and (constraints.budget_mode == "at_most" or high > budget * (1 + 1e-6))
    result = _solve(curves, constraints)
    if impossible:
        assert result is None, (low, high, budget)
    if clearly_possible:
        assert result is not None, (low, high, budget)
