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
    inside = knots[(knots > start) & (knots < stop)]
    xs = np.concatenate([[start], inside, [stop]]) if stop > start else np.array([start])
    return xs, np.interp(xs, knots, scores)


def upper_hull_lines(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and values at ``xs[0]`` of the concave envelope's pieces; their minimum is the hull."""
    hull: list[tuple[float, float]] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        while len(hull) >= 2:
            (x0, y0), (x1, y1) = hull[-2], hull[-1]
            if (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0:
                hull.pop()
            else:
                break
        hull.append((x, y))
    if len(hull) == 1:
        return np.zeros(1), np.array([hull[0][1]])
    px = np.array([p[0] for p in hull])
    py = np.array([p[1] for p in hull])
    slopes = np.diff(py) / np.diff(px)
    anchors = py[:-1] + slopes * (xs[0] - px[:-1])
    return slopes, anchors


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
