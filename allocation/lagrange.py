"""Group rules on a second (third, ...) grouping column, priced into the DP with Lagrange multipliers.

The DP handles the share rules of one column exactly (`reference.py`). A rule on another column couples
programmes across the DP's groups, so it is moved into the objective instead: members of a group below its
floor get a bonus of ``mu`` per unit of money (a group above its cap a penalty), and ``mu`` is found by
bisection as the smallest price at which the DP plan meets the rule. Any multiplier gives a plan that is
optimal for its own priced problem; with non-concave curves there can still be a duality gap, so this
path is a heuristic whose quality is certified only by the envelope bound (reported as not exact).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from allocation.problem import BUDGET_TOLERANCE, GroupRow, Problem
from allocation.reference import solve_grid

SEARCH_GRID_STEPS = 400
BISECTION_STEPS = 10
SWEEPS = 2


def _priced(problem: Problem, rows: list[GroupRow], prices: np.ndarray) -> Problem:
    """The problem with secondary rules dropped and their prices folded into members' scores."""
    bonus = np.zeros(problem.size)
    for row, price in zip(rows, prices, strict=True):
        bonus[row.members] += price
    scores = tuple(s + b * k for s, b, k in zip(problem.scores, bonus, problem.knots, strict=True))
    kept = tuple(g for g in problem.groups if g not in rows)
    return dataclasses.replace(problem, scores=scores, groups=kept)


def _shortfall(row: GroupRow, funding: np.ndarray, slack: float) -> int:
    """+1 if the row's floor is missed, -1 if its cap is exceeded, 0 if it holds (within ``slack``)."""
    amount = float(funding[row.members].sum())
    if row.floor is not None and amount < row.floor - slack:
        return 1
    if row.cap is not None and amount > row.cap + slack:
        return -1
    return 0


def solve_with_prices(problem: Problem, steps: int) -> np.ndarray | None:
    """DP plan for the priced problem, with prices searched on a coarse grid; None if there is nothing to price."""
    column = problem.primary_column
    rows = [g for g in problem.groups if g.column != column]
    if not rows:
        return None
    slopes = [
        np.abs(np.diff(s) / np.diff(k)).max(initial=0.0) for s, k in zip(problem.scores, problem.knots, strict=True)
    ]
    ceiling = 2.0 * float(max(slopes)) + 1e-12
    prices = np.zeros(len(rows))

    def plan(grid_steps: int) -> tuple[np.ndarray, float]:
        grid = solve_grid(_priced(problem, rows, prices), steps=grid_steps)
        return grid.funding, max(grid.step, BUDGET_TOLERANCE)

    for _ in range(SWEEPS):
        changed = False
        for r, row in enumerate(rows):
            funding, step = plan(SEARCH_GRID_STEPS)
            direction = _shortfall(row, funding, step)
            if direction == 0:
                continue
            low, high = prices[r], prices[r] + direction * ceiling
            prices[r] = high
            if _shortfall(row, plan(SEARCH_GRID_STEPS)[0], step) != 0:
                continue  # even a price above every slope does not meet it; projection will have to
            for _ in range(BISECTION_STEPS):
                prices[r] = 0.5 * (low + high)
                if _shortfall(row, plan(SEARCH_GRID_STEPS)[0], step) == 0:
                    high = prices[r]
                else:
                    low = prices[r]
            prices[r] = high
            changed = True
        if not changed:
            break
    return plan(steps)[0]
