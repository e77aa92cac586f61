"""Upper concave envelopes of piecewise-linear curves, and the linear programme they lead to.

A concave envelope turns a step- or S-shaped curve into something a convex method can solve exactly: it
never under-states the curve, so maximising it over the whole allowed range gives an upper bound
(`certificate.py`), and over a small window around a plan it gives the local surrogate the polish step
solves (`polish.py`). Either way the problem is "maximise a sum of concave piecewise-linear functions
under linear constraints", which is a linear programme (see `maximise_envelope`); HiGHS solves it exactly.
"""

from __future__ import annotations

import numpy as np

from allocation.feasibility import linear_rows
from allocation.linear_program import minimise
from allocation.problem import Problem


def section(knots: np.ndarray, scores: np.ndarray, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """The piecewise-linear curve restricted to [start, stop], as its own knots and values."""
    if not stop > start:
        return np.array([start]), np.interp([start], knots, scores)
    # knots strictly inside (start, stop); they are sorted, so two bisections replace two full comparisons
    inside = knots[np.searchsorted(knots, start, side="right") : np.searchsorted(knots, stop, side="left")]
    xs = np.concatenate([[start], inside, [stop]])
    return xs, np.interp(xs, knots, scores)


def _window_points(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every programme's curve points inside its window, as padded rows: money, score, and which are real.

    A row holds the window's two ends and the knots strictly between them.
    All programmes at once, because a Python loop over programmes cost more than the linear programme itself.
    """
    knots, scores = problem.curve_table
    xs = np.column_stack([lower, knots, upper])
    ys = np.column_stack([problem.value_parts(lower), scores, problem.value_parts(upper)])
    real = np.column_stack([np.ones(len(lower), bool), (knots > lower[:, None]) & (knots < upper[:, None]),
                            np.ones(len(lower), bool)])
    return xs, ys, real


def _on_upper_hull(xs: list[float], ys: list[float]) -> np.ndarray:
    """Which of these points (sorted by money) are vertices of their upper concave hull: a monotone chain in
    plain Python, since a curve holds a few dozen points, where numpy's per-call overhead would dominate."""
    kept: list[int] = []
    for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
        while len(kept) >= 2:
            a, b = kept[-2], kept[-1]
            if (xs[b] - xs[a]) * (y - ys[a]) - (ys[b] - ys[a]) * (x - xs[a]) < 0:
                break
            kept.pop()
        kept.append(k)
    on = np.zeros(len(xs), dtype=bool)
    on[kept] = True
    return on


def maximise_envelope(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Plan maximising the sum of concave envelopes taken over [lower, upper], and that envelope value.

    Formulated with weights instead of the envelope's pieces: programme i's money is a convex combination
    sum_k w_ik x_ik of its curve points and its score the same combination of their values, so maximising
    picks the best combination, which is the concave envelope, without ever constructing the hull.
    Money is scaled by the budget so HiGHS sees numbers near one.
    """
    n = problem.size
    scale = max(problem.budget, 1.0)
    xs, ys, real = _window_points(problem, lower, upper)
    for i in np.flatnonzero(real.sum(axis=1) > 3):  # points under the hull only slow the LP down
        columns = np.flatnonzero(real[i])
        real[i, columns[~_on_upper_hull(xs[i, columns].tolist(), ys[i, columns].tolist())]] = False
    owner = np.nonzero(real)[0]
    money = xs[real] / scale
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    convexity = np.zeros((n, len(owner)))
    convexity[owner, np.arange(len(owner))] = 1.0
    eq_rows = [convexity] if a_eq is None else [convexity, a_eq[:, owner] * money]
    eq_rhs = [np.ones(n)] if b_eq is None else [np.ones(n), b_eq / scale]
    points = len(owner)
    solved = minimise(
        -ys[real],
        np.zeros(points),
        np.full(points, np.inf),
        a_ub=a_ub[:, owner] * money if a_ub.size else None,
        b_ub=b_ub / scale if a_ub.size else None,
        a_eq=np.vstack(eq_rows),
        b_eq=np.concatenate(eq_rhs),
    )
    if solved is None:
        return None
    weights, objective = solved
    funding = np.bincount(owner, weights=weights * xs[real], minlength=n)
    return np.clip(funding, lower, upper), -objective
