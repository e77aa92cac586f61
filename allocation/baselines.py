"""Simple allocation rules the recommendation is compared with.

Each rule's raw split is moved onto the constraints (scaled to the budget, clipped to programme limits,
then projected onto group rules) so the comparison is about the rule, not about who broke which limit;
whether the raw split was already feasible is reported alongside.
"""

from __future__ import annotations

import numpy as np

from allocation.curves import REQUIRED_METRIC, GridPositions
from allocation.feasibility import project, tidy
from allocation.problem import Problem
from allocation.result import BaselinePlan


def _scaled_to_budget(problem: Problem, raw: np.ndarray) -> np.ndarray:
    """Clip(s * raw) to the limits, with s found by bisection so the budget is met (or not exceeded).

    The bisection stops once a step leaves its bracket unchanged (every later step would too), which gives
    the s of all 100 steps in about half of them; each step clips with two ufuncs, the same arithmetic as
    np.clip without its Python-level overhead.
    """
    lo, hi = problem.lo, problem.hi
    clipped = np.clip(raw, lo, hi)
    if problem.mode == "at_most" and clipped.sum() <= problem.budget:
        return clipped

    def spent(scale: float) -> float:
        return float(np.minimum(np.maximum(scale * raw, lo), hi).sum())

    target = problem.budget
    low, high = 0.0, 1.0
    while spent(high) < target and high < 1e12:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        bracket = (mid, high) if spent(mid) < target else (low, mid)
        if bracket == (low, high):
            break
        low, high = bracket
    return tidy(problem, np.clip(high * raw, lo, hi))


def _plan(problem: Problem, name: str, raw: np.ndarray | None, notes: list[str]) -> BaselinePlan:
    """The rule's split, moved onto the constraints if it breaks any; each candidate is re-checked once."""
    if raw is None:
        return BaselinePlan(name, False, False, None, None, tuple(notes))
    problems = problem.violations(raw)
    fitted: np.ndarray | None = raw
    if problems:
        fitted = _scaled_to_budget(problem, raw)
        if problem.violations(fitted):
            fitted = project(problem, fitted)
            if fitted is not None and problem.violations(fitted):
                fitted = None
    if fitted is None:
        return BaselinePlan(name, False, bool(problems), None, None, (*notes, "no feasible version found"))
    if problems:
        notes.append(f"raw split broke {len(problems)} constraint(s), e.g. {problems[0]}; moved onto them")
    allocation = {pid: float(x) for pid, x in zip(problem.ids, fitted, strict=True)}
    return BaselinePlan(name, True, bool(problems), problem.value(fitted), allocation, tuple(notes))


def _greedy_cost_per_improvement(problem: Problem) -> np.ndarray:
    """Fill programmes to their upper limit, cheapest current cost per reliable improvement first."""
    current = np.array([c.current_funding for c in problem.curves])
    gains = GridPositions(problem.knots, current).values([c.metrics[REQUIRED_METRIC] for c in problem.curves])
    costs = np.divide(current, gains, out=np.full(problem.size, np.inf), where=gains > 0)
    funding = problem.lo.copy()
    left = problem.budget - float(funding.sum())
    for i in np.argsort(costs, kind="stable"):
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
