"""Upper concave envelopes of piecewise-linear curves, and the linear programme they lead to.

A concave envelope turns a step- or S-shaped curve into something a convex method can solve exactly: it
never under-states the curve, so maximising it over the whole allowed range gives an upper bound
(`certificate.py`), and over a small window around a plan it gives the local surrogate the polish step
solves (`polish.py`). Either way the problem is "maximise a sum of concave piecewise-linear functions
under linear constraints": exactly by a greedy on slopes when the group rules are on one column
(`concave_greedy.py`), else as a linear programme solved by HiGHS (see `maximise_envelope`).
"""

from __future__ import annotations

import numpy as np

from allocation.concave_greedy import cell_of, envelope_pieces, maximise_pieces
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


def window_points(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every programme's curve points inside its window, as padded rows: money, score, and which are real.

    A row holds the window's two ends and the knots strictly between them (an empty window: its lower end).
    All programmes at once, because a Python loop over programmes cost more than the linear programme itself;
    the ends are interpolated here rather than by `Problem.value_parts`, reusing the comparisons that find
    the knots inside, which halved this function (it was a third of the greedy path).
    """
    knots, scores = problem.curve_table
    rows, width = knots.shape
    after_lower, before_upper = knots > lower[:, None], knots < upper[:, None]
    # each end on the segment ending at the first knot above it (lower) or at or above it (upper); past the
    # last knot that is a padding segment of zero length, whose score is the last score
    right = np.column_stack([width - after_lower.sum(axis=1), before_upper.sum(axis=1)])
    right = np.maximum(np.minimum(right, width - 1), 1) + (np.arange(rows) * width)[:, None]
    flat_knots, flat_scores = knots.ravel(), scores.ravel()
    x0, x1 = flat_knots[right - 1], flat_knots[right]
    y0, y1 = flat_scores[right - 1], flat_scores[right]
    ends = np.column_stack([lower, upper])
    share = np.divide(ends - x0, x1 - x0, out=np.zeros_like(ends), where=x1 > x0)
    values = y0 + np.minimum(np.maximum(share, 0.0), 1.0) * (y1 - y0)
    xs = np.concatenate([lower[:, None], knots, upper[:, None]], axis=1)
    ys = np.concatenate([values[:, :1], scores, values[:, 1:]], axis=1)
    real = np.concatenate([np.ones((rows, 1), dtype=bool), after_lower & before_upper, (upper > lower)[:, None]],
                          axis=1)
    return xs, ys, real


def drop_points_under_chords(xs: np.ndarray, ys: np.ndarray, real: np.ndarray, passes: int = 4) -> np.ndarray:
    """`real` without points on or under the segment joining their real neighbours, for all rows at once.

    Such a point is never a vertex of the concave envelope, so it only adds a column to the linear programme;
    each pass removes what the last one exposed, and whatever a few passes leave the LP handles anyway.
    """
    width = xs.shape[1]
    position = np.arange(width)
    real = real.copy()
    for _ in range(passes):
        before = np.maximum.accumulate(np.where(real, position, -1), axis=1)
        before = np.concatenate([np.full((len(xs), 1), -1), before[:, :-1]], axis=1)
        after = np.minimum.accumulate(np.where(real, position, width)[:, ::-1], axis=1)[:, ::-1]
        after = np.concatenate([after[:, 1:], np.full((len(xs), 1), width)], axis=1)
        inside = real & (before >= 0) & (after < width)
        left, right = np.clip(before, 0, width - 1), np.clip(after, 0, width - 1)
        x0, y0 = np.take_along_axis(xs, left, axis=1), np.take_along_axis(ys, left, axis=1)
        x1, y1 = np.take_along_axis(xs, right, axis=1), np.take_along_axis(ys, right, axis=1)
        under = inside & ((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) <= 0)
        if not under.any():
            break
        real &= ~under
    return real


def maximise_envelope(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Plan maximising the sum of concave envelopes taken over [lower, upper], and that envelope value; None
    when no plan in the windows meets the rules.

    With group rules on at most one column the groups are disjoint and a greedy on the envelopes' slopes is
    exact and about ten times faster (`concave_greedy.py`); rules on two or more columns need the linear programme.
    """
    cells = cell_of(problem)
    if cells is None:
        return maximise_envelope_lp(problem, lower, upper)
    xs, ys, real = window_points(problem, lower, upper)
    solved = maximise_pieces(problem, lower, envelope_pieces(xs, ys, real), cells, problem.budget - float(lower.sum()))
    if solved is None:
        return None
    extra, gain = solved
    return np.clip(lower + extra, lower, upper), float(ys[:, 0].sum()) + gain


def maximise_envelope_lp(problem: Problem, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float] | None:
    """`maximise_envelope` as a linear programme, for group rules on any number of columns.

    Formulated with weights instead of the envelope's pieces: programme i's money is a convex combination
    sum_k w_ik x_ik of its curve points and its score the same combination of their values, so maximising
    picks the best combination, which is the concave envelope, without ever constructing the hull.
    Money is scaled by the budget so HiGHS sees numbers near one.
    """
    n = problem.size
    scale = max(problem.budget, 1.0)
    xs, ys, real = window_points(problem, lower, upper)
    real = drop_points_under_chords(xs, ys, real)
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
