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


def _improvements_at_current(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Current funding and the reliable improvements it buys (the forecast at current funding: the figure a
    planner's spreadsheet holds for last year)."""
    current = np.array([c.current_funding for c in problem.curves])
    gains = GridPositions(problem.knots, current).values([c.metrics[REQUIRED_METRIC] for c in problem.curves])
    return current, gains


def _lowest_cost_per_improvement_first(problem: Problem) -> np.ndarray:
    """Fill programmes to their upper limit, cheapest current cost per reliable improvement first."""
    current, gains = _improvements_at_current(problem)
    costs = np.divide(current, gains, out=np.full(problem.size, np.inf), where=gains > 0)
    funding = problem.lo.copy()
    left = problem.budget - float(funding.sum())
    for i in np.argsort(costs, kind="stable"):
        add = min(left, float(problem.hi[i] - funding[i]))
        funding[i] += add
        left -= add
    return funding


def _equal_percentage_change(problem: Problem) -> np.ndarray | None:
    """Every programme changed by the same percentage so the budget is met (across-the-board rise or cut)."""
    current = np.array([c.current_funding for c in problem.curves])
    total = float(current.sum())
    return None if total <= 0 else current * (problem.budget / total)


def _spreadsheet_rule(problem: Problem) -> np.ndarray | None:
    """Start from an equal percentage change, then move money from the programme with the fewest reliable
    improvements per dollar last year to the one with the most, each as far as its change limit allows,
    pairing the next-worst with the next-best until the two ends meet. Programmes without last year's figure
    are ranked by the forecast at current funding."""
    start = _equal_percentage_change(problem)
    if start is None:
        return None
    current, gains = _improvements_at_current(problem)
    forecast = np.divide(gains, current, out=np.zeros(problem.size), where=current > 0)
    observed = [c.last_year_improvements_per_dollar for c in problem.curves]
    per_dollar = np.array([f if o is None else o for f, o in zip(forecast, observed, strict=True)])
    order = np.argsort(-per_dollar, kind="stable")  # best first
    funding = np.clip(start, problem.lo, problem.hi)
    best, worst = 0, problem.size - 1
    while best < worst:
        i, j = order[best], order[worst]
        room, spare = float(problem.hi[i] - funding[i]), float(funding[j] - problem.lo[j])
        amount = min(room, spare)
        funding[i] += amount
        funding[j] -= amount
        if room <= spare:
            best += 1
        if spare <= room:
            worst -= 1
    return funding


BASELINE_NAMES = ("status_quo", "equal_split", "proportional_to_referrals", "equal_percentage_change",
                  "spreadsheet_rule", "lowest_cost_per_improvement_first")
"""The rules of thumb every recommendation is compared with, in the order they are reported."""


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
        _plan(problem, "equal_percentage_change", _equal_percentage_change(problem),
              ["every programme's funding changed by the same percentage to meet the budget"]),
        _plan(problem, "spreadsheet_rule", _spreadsheet_rule(problem),
              ["money moved from the fewest reliable improvements per dollar last year to the most, "
               "each programme as far as its change limit allows"]),
        _plan(
            problem,
            "lowest_cost_per_improvement_first",
            _lowest_cost_per_improvement_first(problem),
            ["programmes filled to their limit, lowest current cost per reliable improvement first"],
        ),
    )
