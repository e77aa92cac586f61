"""Exact plan when group rules span several grouping columns: a mixed-integer programme (HiGHS).

Piecewise-linear curves are modelled with the incremental formulation: segment fills delta_k in [0, 1]
that must be used in order (delta_{k+1} <= z_k <= delta_k with binary z_k), which represents a
non-concave curve exactly, not an approximation on a grid. Concave stretches need no binaries, since
the solver fills their steepest segment first anyway. Every linear rule (budget, boxes, any number of
grouping columns) enters as it is. HiGHS proves optimality or stops at ``time_limit`` and reports the
best plan with its dual bound, which then serves as the certified upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from allocation.envelope import section
from allocation.feasibility import linear_rows
from allocation.problem import Problem

TIME_LIMIT_SECONDS = 2.0


@dataclass(frozen=True, eq=False)
class MixedIntegerPlan:
    funding: np.ndarray
    proven_optimal: bool
    dual_bound: float | None


def solve_mixed_integer(problem: Problem, time_limit: float = TIME_LIMIT_SECONDS) -> MixedIntegerPlan | None:
    n = problem.size
    scale = max(problem.budget, 1.0)
    starts = np.zeros(n)
    widths: list[np.ndarray] = []
    gains: list[np.ndarray] = []
    base_value = 0.0
    for i in range(n):
        xs, ys = section(problem.knots[i], problem.scores[i], float(problem.lo[i]), float(problem.hi[i]))
        starts[i] = xs[0]
        base_value += float(ys[0])
        widths.append(np.diff(xs))
        gains.append(np.diff(ys))
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in widths])]).astype(int)
    fills = int(offsets[-1])
    # binaries only where a later segment is steeper than an earlier one (non-concave stretch)
    needs_order = [len(w) > 1 and bool(np.any(np.diff(g / w) > 1e-15)) for w, g in zip(widths, gains, strict=True)]
    binary_index: list[tuple[int, int]] = [
        (i, k) for i in range(n) if needs_order[i] for k in range(len(widths[i]) - 1)
    ]
    total = fills + len(binary_index)
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    for b, (i, k) in enumerate(binary_index):
        first = offsets[i] + k
        row = np.zeros(total)  # delta_{k+1} - z_k <= 0
        row[first + 1] = 1.0
        row[fills + b] = -1.0
        rows.append(row)
        lower.append(-np.inf)
        upper.append(0.0)
        row = np.zeros(total)  # z_k - delta_k <= 0
        row[fills + b] = 1.0
        row[first] = -1.0
        rows.append(row)
        lower.append(-np.inf)
        upper.append(0.0)
    # money in programme i = starts_i + sum_k widths_ik * delta_ik; rows are scaled by the budget
    spread = np.zeros((n, total))
    for i in range(n):
        spread[i, offsets[i] : offsets[i + 1]] = widths[i] / scale
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    for a, b in zip(a_ub, b_ub, strict=True):
        rows.append(a @ spread)
        lower.append(-np.inf)
        upper.append((b - a @ starts) / scale)
    if a_eq is not None and b_eq is not None:
        for a, b in zip(a_eq, b_eq, strict=True):
            rows.append(a @ spread)
            target = (b - a @ starts) / scale
            lower.append(target)
            upper.append(target)
    objective = np.zeros(total)
    objective[:fills] = -np.concatenate(gains) if fills else np.zeros(0)
    integrality = np.concatenate([np.zeros(fills), np.ones(len(binary_index))])
    result = milp(
        objective,
        integrality=integrality,
        bounds=Bounds(np.zeros(total), np.ones(total)),
        constraints=LinearConstraint(np.array(rows).reshape(len(rows), total), lower, upper) if rows else None,
        options={"time_limit": time_limit, "mip_rel_gap": 1e-7},
    )
    if result.x is None:
        return None
    funding = starts + spread[:, :fills] @ result.x[:fills] * scale
    dual = getattr(result, "mip_dual_bound", None)
    return MixedIntegerPlan(
        funding=funding,
        proven_optimal=bool(result.status == 0),
        dual_bound=None if dual is None or not np.isfinite(dual) else base_value - float(dual),
    )
