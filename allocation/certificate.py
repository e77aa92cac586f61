"""An upper bound on the best achievable objective, so the reported optimality gap is a certificate.

Replacing every programme's curve by its concave envelope over its allowed range can only raise the best
value, and the envelope problem is a linear programme (HiGHS solves it exactly) with every constraint,
including group rules on any number of columns. The bound is loose by at most the non-concavity of a few
programmes (one per linear constraint that binds, by the Shapley-Folkman argument), so with S-shaped
curves a gap of a percent or so can be the bound's slack rather than a worse plan.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from allocation.envelope import section, upper_hull_lines
from allocation.feasibility import linear_rows
from allocation.problem import Problem


def envelope_upper_bound(problem: Problem) -> float | None:
    n = problem.size
    scale = max(problem.budget, 1.0)
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    for i in range(n):
        xs, ys = section(problem.knots[i], problem.scores[i], float(problem.lo[i]), float(problem.hi[i]))
        slopes, anchors = upper_hull_lines(xs, ys)
        for slope, anchor in zip(slopes, anchors, strict=True):
            # t_i - slope * scale * z_i <= anchor, with x_i = lo_i + scale * z_i
            row = np.zeros(2 * n)
            row[i] = -slope * scale
            row[n + i] = 1.0
            rows.append(row)
            rhs.append(float(anchor))
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    if a_ub.size:
        rows.extend(np.hstack([a_ub, np.zeros_like(a_ub)]))
        rhs.extend(((b_ub - a_ub @ problem.lo) / scale).tolist())
    result = linprog(
        np.concatenate([np.zeros(n), -np.ones(n)]),
        A_ub=np.vstack(rows),
        b_ub=np.array(rhs),
        A_eq=None if a_eq is None else np.hstack([a_eq, np.zeros_like(a_eq)]),
        b_eq=None if b_eq is None or a_eq is None else (b_eq - a_eq @ problem.lo) / scale,
        bounds=[*((0.0, (h - lo) / scale) for lo, h in zip(problem.lo, problem.hi, strict=True)), *([(None, None)] * n)],
        method="highs",
    )
    if result.status != 0:
        return None
    return float(-result.fun)
