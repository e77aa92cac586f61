"""Why the plan looks the way it does: which rules hold it in place and what one more 1,000 would buy."""

from __future__ import annotations

import numpy as np

from allocation.curves import GridPositions
from allocation.problem import BUDGET_TOLERANCE, Problem, money

MARGINAL_UNIT = 1000.0


def marginal_gains(problem: Problem, funding: np.ndarray) -> list[float | None]:
    """Objective gained by giving each programme 1,000 more, on its own forecast curve (all programmes at once)."""
    x = np.asarray(funding, dtype=float)
    before = GridPositions(problem.knots, x).values(problem.scores)
    after = GridPositions(problem.knots, x + MARGINAL_UNIT).values(problem.scores)
    room = x + MARGINAL_UNIT <= np.array([c.funding_max for c in problem.curves]) + 1e-9
    return [gain if fits else None for gain, fits in zip((after - before).tolist(), room.tolist(), strict=True)]


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= max(BUDGET_TOLERANCE, 1e-7 * abs(b))


def programme_flags(problem: Problem, funding: np.ndarray) -> list[tuple[str, ...]]:
    flags: list[tuple[str, ...]] = []
    for i, curve in enumerate(problem.curves):
        x = float(funding[i])
        own: list[str] = []
        if x < curve.observed_min - BUDGET_TOLERANCE or x > curve.observed_max + BUDGET_TOLERANCE:
            own.append("outside_observed_range")
        if problem.viable[i] > 0 and x <= BUDGET_TOLERANCE:
            own.append("off")
        if problem.locked[i]:
            own.append("locked")
        else:
            if _near(x, float(problem.lo[i])):
                own.append("at_lower_limit")
            if _near(x, float(problem.hi[i])):
                own.append("at_upper_limit")
        flags.append(tuple(own))
    return flags


def active_constraints(problem: Problem, funding: np.ndarray) -> list[str]:
    """Every rule the plan sits exactly on, named and with its numbers (the constraints worth relaxing)."""
    notes: list[str] = []
    spent = float(funding.sum())
    if problem.mode == "exact":
        notes.append(f"budget (exact): all {money(problem.budget)} allocated")
    elif _near(spent, problem.budget):
        notes.append(f"budget (at_most): the limit of {money(problem.budget)} is fully used")
    for i, pid in enumerate(problem.ids):
        x = float(funding[i])
        if problem.locked[i]:
            notes.append(f"programme {pid}: locked at current funding {money(x)}")
            continue
        if _near(x, float(problem.lo[i])):
            notes.append(f"programme {pid}: at lower limit {money(problem.lo[i])} ({problem.lo_source[i]})")
        if _near(x, float(problem.hi[i])) and problem.hi[i] > problem.lo[i]:
            notes.append(f"programme {pid}: at upper limit {money(problem.hi[i])} ({problem.hi_source[i]})")
    for group in problem.groups:
        amount = float(funding[group.members].sum())
        if group.floor is not None and _near(amount, group.floor):
            notes.append(f"group share {group.label}: at its floor of {group.min_share:.0%} ({money(group.floor)})")
        if group.cap is not None and _near(amount, group.cap):
            notes.append(f"group share {group.label}: at its cap of {group.max_share:.0%} ({money(group.cap)})")
    for row in problem.resources:
        if row.used(funding) >= row.available - 1e-6 * row.scale:
            notes.append(f"resource {row.name}: all {row.available:,.1f} available used")
    return notes
