"""Upper concave envelopes of piecewise-linear curves, and the linear programme they lead to.

A concave envelope turns a step- or S-shaped curve into something a convex method can solve exactly: it
never under-states the curve, so maximising it over the whole allowed range gives an upper bound
(`certificate.py`), and over a small window around a plan it gives the local surrogate the polish step
solves (`polish.py`). Either way the problem is "maximise a sum of concave piecewise-linear functions
under linear constraints", which is a linear programme in epigraph form; HiGHS solves it exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from allocation.feasibility import linear_rows
from allocation.problem import Problem


def section(knots: np.ndarray, scores: np.ndarray, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """The piecewise-linear curve restricted to [start, stop], as its own knots and values."""
    if not stop > start:
        return np.array([start]), np.interp([start], knots, scores)
    # knots strictly inside (start, stop); they are sorted, so two bisections replace two full comparisons
    inside = knots[np.searchsorted(knots, start, side="right") : np.searchsorted(knots, stop, side="left")]
    xs = np.concatenate([[start], inside, [stop]])
    return xs, np.interp(xs, knots, scores)


def upper_hull_lines(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and values at ``xs[0]`` of the concave envelope's pieces; their minimum is the hull.

    Plain Python on purpose: a polish window holds a handful of points, where numpy's per-call overhead is most
    of the cost, and this runs once per programme for every linear programme solved.
    """
    hx: list[float] = []
    hy: list[float] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        while len(hx) >= 2 and (hx[-1] - hx[-2]) * (y - hy[-2]) - (hy[-1] - hy[-2]) * (x - hx[-2]) >= 0:
            hx.pop()
            hy.pop()
        hx.append(x)
        hy.append(y)
    if len(hx) == 1:
        return np.zeros(1), np.array([hy[0]])
    start = hx[0]
    slopes = [(hy[k + 1] - hy[k]) / (hx[k + 1] - hx[k]) for k in range(len(hx) - 1)]
    anchors = [hy[k] + slope * (start - hx[k]) for k, slope in enumerate(slopes)]
    return np.array(slopes), np.array(anchors)


def maximise_envelope(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Plan maximising the sum of concave envelopes taken over [lower, upper], and that envelope value.

    Variables are z_i = (x_i - lower_i) / scale and an epigraph t_i per programme, with t_i below every
    envelope piece; money is scaled by the budget so HiGHS sees numbers near one.
    """
    n = problem.size
    scale = max(problem.budget, 1.0)
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    for i in range(n):
        xs, ys = section(problem.knots[i], problem.scores[i], float(lower[i]), float(upper[i]))
        slopes, anchors = upper_hull_lines(xs, ys)
        block = np.zeros((len(slopes), 2 * n))
        block[:, i] = -slopes * scale
        block[:, n + i] = 1.0
        rows.append(block)
        rhs.extend(anchors.tolist())
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    if a_ub.size:
        rows.append(np.hstack([a_ub, np.zeros_like(a_ub)]))
        rhs.extend(((b_ub - a_ub @ lower) / scale).tolist())
    result = linprog(
        np.concatenate([np.zeros(n), -np.ones(n)]),
        A_ub=np.vstack(rows),
        b_ub=np.array(rhs),
        A_eq=None if a_eq is None else np.hstack([a_eq, np.zeros_like(a_eq)]),
        b_eq=None if a_eq is None or b_eq is None else (b_eq - a_eq @ lower) / scale,
        bounds=[*((0.0, (b - a) / scale) for a, b in zip(lower, upper, strict=True)), *([(None, None)] * n)],
        method="highs",
    )
    if result.status != 0:
        return None
    return lower + scale * np.asarray(result.x[:n]), float(-result.fun)
