"""Entry points: `optimize` finds the best split, `evaluate` scores any split.

Pipeline: compile and check feasibility (named conflicts) -> exact grid DP (`reference.py`); when group
rules span several columns also an exact mixed-integer programme (`mixed_integer.py`), falling back to a
priced DP (`lagrange.py`) if the MIP hits its time limit -> repair onto the constraints if grid rounding
left a gap -> polish on a local concave surrogate (`polish.py`) ->
keep the better plan after re-checking every constraint ourselves -> certify against the DP value and the
concave-envelope upper bound -> explanations, budget curve, shadow price and baselines.
Whole units, off-or-viable cells and resource rows (`units.py`) go straight to an exact mixed-integer solve
(priced blocks and fixing, `decomposition.py`, else the full programme); no grid, repair or polish could keep
funding on whole units.
"""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy

from allocation.baselines import baseline_plans
from allocation.certificate import envelope_upper_bound
from allocation.constraints import Constraints
from allocation.curves import OutcomeCurve
from allocation.decomposition import Skeleton, skeleton, solve_by_blocks
from allocation.errors import InfeasibleConstraintsError, SolverFailedError
from allocation.evaluation import evaluate_plan
from allocation.explain import MARGINAL_UNIT, active_constraints, marginal_gains, programme_flags
from allocation.feasibility import ensure_feasible, verified
from allocation.lagrange import solve_with_prices
from allocation.mixed_integer import TIME_LIMIT_SECONDS, mixed_integer_status, solve_mixed_integer
from allocation.objectives import Objective, ObjectiveKind
from allocation.polish import MAX_ROUNDS, polish
from allocation.problem import Problem, build_problem, money
from allocation.reference import DEFAULT_GRID_STEPS, GridTables, plan_at_budget, solve_grid
from allocation.result import (
    AllocationResult,
    BudgetPoint,
    OptimalityGap,
    PlanEvaluation,
    ProgrammeAllocation,
    ResourceUse,
    SolverInfo,
)

__all__ = ["InfeasibleConstraintsError", "evaluate", "optimize"]

BUDGET_CURVE_FRACTIONS = (0.8, 0.9, 1.0, 1.1, 1.2)
BUDGET_CURVE_GRID_STEPS = 400
# Whole units on 4,096 cells can take HiGHS seconds to prove; past this it returns its best plan and dual bound.
UNITS_TIME_LIMIT_SECONDS = 20.0
SHADOW_PRICE_FRACTION = 0.01


@dataclass(frozen=True, eq=False)
class _Solved:
    funding: np.ndarray
    value: float
    reference: str
    reference_value: float
    reference_exact: bool
    dual_bound: float | None
    step: float
    rounds: int
    polish_improved: bool
    shadow_price: float | None
    tables: GridTables | None
    blocks: Skeleton | None = None


def _best(problem: Problem, plans: list[np.ndarray | None]) -> np.ndarray | None:
    """Highest-scoring plan among those that pass our own constraint re-check (first wins ties)."""
    best: np.ndarray | None = None
    for plan in plans:
        if plan is not None and (best is None or problem.value(plan) > problem.value(best)):
            best = plan
    return best


def _units_infeasible(problem: Problem) -> InfeasibleConstraintsError:
    rules = []
    if problem.stepped.any():
        rules.append(f"whole units in {int(problem.stepped.sum())} cell(s)")
    if (problem.viable > 0).any():
        rules.append(f"min_viable in {int((problem.viable > 0).sum())} cell(s)")
    rules += [f"resource {row.name} ({row.available:,.1f} available)" for row in problem.resources]
    message = (f"no plan meets {', '.join(rules)} together with the budget of {money(problem.budget)}, "
               "although divisible funding could")
    if problem.mode == "exact" and problem.stepped.all():
        message += "; every cell is funded in whole units, so an exact budget must be a sum of whole units " \
                   "(use budget_mode 'at_most')"
    return InfeasibleConstraintsError([message])


def _solve_units(problem: Problem, time_limit: float, parts: Skeleton | None = None) -> _Solved:
    """Whole units, off-or-viable cells or resource rows: priced blocks and fixing (`decomposition.py`), or the
    full mixed-integer programme when they cannot settle it, certified by a proof of optimality or, when the
    solve stops at ``time_limit``, its dual bound. ``parts``: the blocks (and prices) of this problem at another
    budget, which the budget curve reuses."""
    started = time.perf_counter()
    parts = skeleton(problem) if parts is None else parts
    settled = solve_by_blocks(problem, time_limit, parts)
    if settled is None:
        settled = mixed_integer_status(problem, max(time_limit - (time.perf_counter() - started), 0.1 * time_limit))
    plan, infeasible = settled
    if plan is None:
        if infeasible:
            raise _units_infeasible(problem)
        raise SolverFailedError(f"the mixed-integer programme found no plan within {time_limit:g} s")
    funding = plan.funding if problem.discrete else verified(problem, plan.funding)
    if funding is None or problem.violations(funding):
        broken = problem.violations(plan.funding)
        raise SolverFailedError("the mixed-integer plan failed the constraint re-check: " + "; ".join(broken[:3]))
    value = problem.value(funding)
    return _Solved(funding=funding, value=value, reference="mixed_integer", reference_value=value,
                   reference_exact=plan.proven_optimal, dual_bound=plan.dual_bound, step=0.0, rounds=0,
                   polish_improved=False, shadow_price=None, tables=None, blocks=parts)


def _solve(problem: Problem, step: float | None, steps: int, *, price_budget: bool, polish_rounds: int,
           reach_budget: float | None = None, time_limit: float = UNITS_TIME_LIMIT_SECONDS) -> _Solved:
    """Best verified plan: exact grid DP (or MIP across grouping columns), repaired if needed, polished."""
    if problem.discrete or problem.resources:
        return _solve_units(problem, time_limit)
    extra = max(MARGINAL_UNIT, SHADOW_PRICE_FRACTION * problem.budget) if price_budget else 0.0
    grid = solve_grid(problem, step, steps, extra_money=extra, reach_budget=reach_budget)
    dp_plan = verified(problem, grid.funding)
    plans = [dp_plan]
    reference = "grid_dp"
    reference_value = grid.value if grid.on_grid or dp_plan is None else problem.value(dp_plan)
    reference_exact = grid.exact and grid.on_grid
    dual_bound = None
    if not grid.exact:
        exact_plan = solve_mixed_integer(problem)
        mip_plan = None if exact_plan is None else verified(problem, exact_plan.funding)
        plans.append(mip_plan)
        if exact_plan is not None and mip_plan is not None:
            dual_bound = exact_plan.dual_bound
            if exact_plan.proven_optimal:
                reference, reference_value, reference_exact = "mixed_integer", problem.value(mip_plan), True
        if exact_plan is None or not exact_plan.proven_optimal:
            priced = solve_with_prices(problem, steps)
            plans.append(None if priced is None else verified(problem, priced))
    start = _best(problem, plans)
    if start is None:
        raise SolverFailedError("no candidate plan passed the constraint re-check")
    polished = polish(problem, start, grid.step, max_rounds=polish_rounds) if grid.step > 0 else None
    funding = start if polished is None else polished.funding
    shadow = None
    if grid.extra_gain is not None and grid.extra_money > 0:
        shadow = grid.extra_gain / grid.extra_money * MARGINAL_UNIT
    return _Solved(
        funding=funding,
        value=problem.value(funding),
        reference=reference,
        reference_value=reference_value,
        reference_exact=reference_exact,
        dual_bound=dual_bound,
        step=grid.step,
        rounds=0 if polished is None else polished.rounds,
        polish_improved=polished is not None and polished.improved,
        shadow_price=shadow,
        tables=grid.tables,
    )


def _value_at_budget(problem: Problem, budget: float, tables: GridTables | None,
                     parts: Skeleton | None = None) -> float | None:
    """A budget-curve point: the plan the main DP's tables hold for that budget (they do not depend on it) with
    one polish round; a fresh coarser solve (400 steps, one polish round) only when the tables cannot give a
    plan there (beyond their reach, group rules on several columns, a grid that misses a floor), where the
    exact MIP still runs when group rules span several columns, as the DP alone can be far off. Whole units and
    resource rows reuse the main solve's blocks and prices (``parts``)."""
    other = problem.at_budget(budget)
    plan = None if tables is None else plan_at_budget(other, tables)
    if tables is not None and plan is not None:
        return polish(other, plan, tables.step, max_rounds=1).value
    try:
        ensure_feasible(other, linear=parts is None)
        if parts is not None:
            return _solve_units(other, TIME_LIMIT_SECONDS, parts).value
        return _solve(other, None, BUDGET_CURVE_GRID_STEPS, price_budget=False, polish_rounds=1,
                      time_limit=TIME_LIMIT_SECONDS).value
    except (InfeasibleConstraintsError, SolverFailedError):  # a what-if point never sinks the recommendation
        return None


def _gap(solved: _Solved, envelope_bound: float | None) -> OptimalityGap:
    value = solved.value
    bounds = [b for b in (envelope_bound, solved.dual_bound) if b is not None]
    bound = min(bounds) if bounds else None
    absolute = max(0.0, solved.reference_value - value)
    bound_absolute = None if bound is None else max(0.0, bound - value)
    return OptimalityGap(
        reference=solved.reference,
        reference_value=solved.reference_value,
        reference_exact=solved.reference_exact,
        reference_step=solved.step,
        absolute=absolute,
        relative=absolute / max(abs(solved.reference_value), abs(value), 1e-12),
        upper_bound=bound,
        bound_absolute=bound_absolute,
        bound_relative=None if bound_absolute is None else bound_absolute / max(abs(bound or 0.0), 1e-12),
    )


@functools.lru_cache(maxsize=8)
def _status_quo(curves: tuple[OutcomeCurve, ...], kind: ObjectiveKind, weights: tuple[tuple[str, float], ...],
                quantile_metric: str) -> PlanEvaluation:
    """The status quo's evaluation: the same for every request on the same curves and objective (current funding
    is part of the curves, which are immutable and compared by identity), so it is kept; evaluating it again cost
    ~8 of a 1,024-programme recommendation's ~105 ms. Callers only read it."""
    objective = Objective(kind, dict(weights), quantile_metric)
    return evaluate_plan(curves, {c.program_id: c.current_funding for c in curves}, objective)


def optimize(
    curves: Sequence[OutcomeCurve],
    constraints: Constraints,
    objective: Objective = Objective(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    step: float | None = None,
) -> AllocationResult:
    """Best split of the budget; raises InfeasibleConstraintsError when no split meets the constraints.

    ``step`` is the DP grid in money; by default the free budget is cut into 2,000 steps.
    """
    if step is not None and not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    problem = build_problem(curves, constraints, objective)
    ensure_feasible(problem)
    started = time.perf_counter()
    solved = _solve(problem, step, DEFAULT_GRID_STEPS, price_budget=True, polish_rounds=MAX_ROUNDS,
                    reach_budget=max(BUDGET_CURVE_FRACTIONS) * problem.budget)
    funding, value = solved.funding, solved.value
    # the units solve's own bound holds every rule (units, min_viable, resource rows) and is the tighter one; the
    # envelope LP, which holds none of them, took 3.5 s at 1,024 cells for a bound 3 % looser
    units_bound = (problem.discrete or bool(problem.resources)) and solved.dual_bound is not None
    gap = _gap(solved, None if units_bound else envelope_upper_bound(problem))
    seconds = time.perf_counter() - started

    budget = problem.budget
    curve_points = tuple(
        BudgetPoint(fraction, fraction * budget,
                    value if fraction == 1.0 else _value_at_budget(problem, fraction * budget, solved.tables,
                                                                  solved.blocks))
        for fraction in BUDGET_CURVE_FRACTIONS
    )

    ids = problem.ids
    allocation = dict(zip(ids, (float(x) for x in funding), strict=True))
    plan = evaluate_plan(problem.curves, allocation, objective, scores=problem.scores)
    status_quo = _status_quo(problem.curves, objective.kind, tuple(objective.weights.items()),
                             objective.quantile_metric)
    gains = marginal_gains(problem, funding)
    flags = programme_flags(problem, funding)
    lower, upper = problem.lo.tolist(), problem.hi.tolist()
    units = problem.units(funding)
    rows = []
    for i, curve in enumerate(problem.curves):
        pid = curve.program_id
        recommended = allocation[pid]
        change = recommended - curve.current_funding
        rows.append(
            ProgrammeAllocation(
                program_id=pid,
                current_funding=curve.current_funding,
                recommended_funding=recommended,
                change=change,
                change_pct=change / curve.current_funding if curve.current_funding > 0 else None,
                lower_limit=lower[i],
                upper_limit=upper[i],
                objective_current=status_quo.per_programme[pid]["objective"],
                objective_recommended=plan.per_programme[pid]["objective"],
                metrics_current={k: v for k, v in status_quo.per_programme[pid].items() if k != "objective"},
                metrics_recommended={k: v for k, v in plan.per_programme[pid].items() if k != "objective"},
                marginal_gain_per_1000=gains[i],
                flags=flags[i],
                units=units[i],
                unit=None if units[i] is None else problem.unit_label[i],
            )
        )
    return AllocationResult(
        objective=objective.to_dict(),
        objective_value=value,
        budget=budget,
        budget_mode=problem.mode,
        allocations=tuple(rows),
        totals={"plan": dict(plan.totals), "status_quo": dict(status_quo.totals)},
        unallocated=max(0.0, budget - float(funding.sum())) if problem.mode == "at_most" else 0.0,
        binding_constraints=tuple(active_constraints(problem, funding)),
        shadow_price=solved.shadow_price,
        optimality_gap=gap,
        budget_curve=curve_points,
        baselines=baseline_plans(problem),
        resources=tuple(ResourceUse(row.name, row.used(funding), row.available) for row in problem.resources),
        solver=SolverInfo(
            method=f"{solved.reference}+envelope_polish" if solved.polish_improved else solved.reference,
            iterations=solved.rounds,
            seconds=seconds,
            grid_step=solved.step,
            polish_improved=solved.polish_improved,
            numpy_version=np.__version__,
            scipy_version=scipy.__version__,
            python_version=platform.python_version(),
        ),
    )


def evaluate(
    curves: Sequence[OutcomeCurve],
    allocation: Mapping[str, float],
    objective: Objective = Objective(),  # noqa: B008 - frozen, so a shared default is safe
) -> PlanEvaluation:
    """Score any split (a scenario or the status quo) with the same arithmetic as `optimize`."""
    return evaluate_plan(curves, allocation, objective)
