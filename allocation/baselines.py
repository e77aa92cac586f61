"""Simple allocation rules the recommendation is compared with.

Each rule's raw split is moved onto the constraints (scaled to the budget, clipped to programme limits,
then projected onto group rules) so the comparison is about the rule, not about who broke which limit;
whether the raw split was already feasible is reported alongside.
"""

from __future__ import annotations

import numpy as np

from allocation.feasibility import project, tidy
from allocation.problem import Problem
from allocation.result import BaselinePlan


def _scaled_to_budget(problem: Problem, raw: np.ndarray) -> np.ndarray:
    """Clip(s * raw) to the limits, with s found by bisection so the budget is met (or not exceeded)."""
    clipped = np.clip(raw, problem.lo, problem.hi)
    if problem.mode == "at_most" and clipped.sum() <= problem.budget:
        return clipped
    target = problem.budget
    low, high = 0.0, 1.0
    while float(np.clip(high * raw, problem.lo, problem.hi).sum()) < target and high < 1e12:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        if float(np.clip(mid * raw, problem.lo, problem.hi).sum()) < target:
            low = mid
        else:
            high = mid
    return tidy(problem, np.clip(high * raw, problem.lo, problem.hi))


def _plan(problem: Problem, name: str, raw: np.ndarray | None, notes: list[str]) -> BaselinePlan:
    if raw is None:
        return BaselinePlan(name, False, False, None, None, tuple(notes))
    problems = problem.violations(raw)
    fitted: np.ndarray | None = raw
    if problems:
        fitted = _scaled_to_budget(problem, raw)
        if problem.violations(fitted):
            fitted = project(problem, fitted)
    if fitted is None or problem.violations(fitted):
        return BaselinePlan(name, False, bool(problems), None, None, (*notes, "no feasible version found"))
    if problems:
        notes.append(f"raw split broke {len(problems)} constraint(s), e.g. {problems[0]}; moved onto them")
    allocation = {pid: float(x) for pid, x in zip(problem.ids, fitted, strict=True)}
    return BaselinePlan(name, True, bool(problems), problem.value(fitted), allocation, tuple(notes))


def _greedy_cost_per_improvement(problem: Problem) -> np.ndarray:
    """Fill programmes to their upper limit, cheapest current cost per reliable improvement first."""
    costs = []
    for curve in problem.curves:
        gain = float(curve.value("reliable_improvements", curve.current_funding))
        costs.append(curve.current_funding / gain if gain > 0 else np.inf)
    funding = problem.lo.copy()
    left = problem.budget - float(funding.sum())
    for i in np.argsort(np.array(costs), kind="stable"):
        add = min(left, float(problem.hi[i] - funding[i]))
        funding[i] += add
        left -= add
    return funding


def baseline_plans(problem: Problem) -> tuple[BaselinePlan, ...]:
    n = problem.size
    current = np.array([c.current_funding for c in problem.curves])
    referrals = np.array([c.referrals for c in problem.curves])
    proportional = None if referrals.sum() <= 0 else problem.budget * referrals / referrals.sum()
    return (
        _plan(problem, "status_quo", current, ["current funding of every programme"]),
        _plan(problem, "equal_split", np.full(n, problem.budget / n), ["budget split equally"]),
        _plan(
            problem,
            "proportional_to_referrals",
            proportional,
            ["budget split in proportion to next period's referrals"]
            if proportional is not None
            else ["no referral counts were given"],
        ),
        _plan(
            problem,
            "greedy_cost_per_improvement",
            _greedy_cost_per_improvement(problem),
            ["programmes filled to their limit, lowest current cost per reliable improvement first"],
        ),
    )
