"""Local polish of the grid plan with SLSQP on a smooth, concave surrogate around it.

The DP is only as fine as its grid; the polish moves each programme within a few grid steps of the DP
plan to pick up what lies between grid points (a ramp's end, the exact budget remainder). Inside that
window each curve is replaced by its concave envelope, smoothed with a soft minimum over the envelope's
pieces so SLSQP gets an analytic gradient. SLSQP's answer is only a candidate: the solver re-checks every
constraint and keeps it only if the true (unsmoothed) objective improves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from allocation.envelope import section, upper_hull_lines
from allocation.feasibility import linear_rows
from allocation.problem import Problem

_PAD = 1e30


@dataclass(frozen=True, eq=False)
class PolishOutcome:
    funding: np.ndarray
    iterations: int
    success: bool


def polish(problem: Problem, start: np.ndarray, width: float) -> PolishOutcome:
    lower = np.maximum(problem.lo, start - width)
    upper = np.minimum(problem.hi, start + width)
    span = upper - lower
    free = np.flatnonzero(span > 1e-9 * np.maximum(1.0, upper))
    if free.size == 0:
        return PolishOutcome(start.copy(), 0, True)

    pieces = []
    for i in free:
        xs, ys = section(problem.knots[i], problem.scores[i], float(lower[i]), float(upper[i]))
        slopes, anchors = upper_hull_lines(xs, ys)
        pieces.append((anchors, slopes * span[i]))  # in terms of z in [0, 1]
    width_k = max(len(a) for a, _ in pieces)
    alpha = np.full((free.size, width_k), _PAD)
    beta = np.zeros((free.size, width_k))
    for row, (anchors, slopes) in enumerate(pieces):
        alpha[row, : len(anchors)] = anchors
        beta[row, : len(slopes)] = slopes
    ends = np.stack([np.min(alpha, axis=1), np.min(alpha + beta, axis=1)], axis=1)
    variation = np.abs(ends[:, 1] - ends[:, 0]) + np.abs(beta).max(axis=1)
    tau = 1e-3 * variation + 1e-12
    norm = float(variation.sum()) + 1e-12

    def smoothed(z: np.ndarray) -> tuple[float, np.ndarray]:
        lines = alpha + beta * z[:, None]
        low = lines.min(axis=1)
        weights = np.exp(-(lines - low[:, None]) / tau[:, None])
        total = weights.sum(axis=1)
        value = low - tau * np.log(total)
        gradient = (weights * beta).sum(axis=1) / total
        return -float(value.sum()) / norm, -gradient / norm

    scale = max(problem.budget, 1.0)
    fixed = start.copy()
    fixed[free] = lower[free]
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    constraints = []
    if a_ub.size:
        coef = a_ub[:, free] * span[free] / scale
        offset = (b_ub - a_ub @ fixed) / scale
        constraints.append({"type": "ineq", "fun": lambda z: offset - coef @ z, "jac": lambda z: -coef})
    if a_eq is not None and b_eq is not None:
        coef_eq = a_eq[:, free] * span[free] / scale
        offset_eq = (b_eq - a_eq @ fixed) / scale
        constraints.append({"type": "eq", "fun": lambda z: coef_eq @ z - offset_eq, "jac": lambda z: coef_eq})
    z0 = (start[free] - lower[free]) / span[free]
    result = minimize(
        smoothed,
        np.clip(z0, 0.0, 1.0),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * free.size,
        constraints=constraints,
        options={"maxiter": 200, "ftol": 1e-12},
    )
    funding = fixed.copy()
    funding[free] = lower[free] + span[free] * np.clip(result.x, 0.0, 1.0)
    return PolishOutcome(funding, int(result.nit), bool(result.success))
