"""Exact plan for what the grid DP cannot carry: group rules on several columns, whole units, off-or-viable
cells and resource rows. A mixed-integer programme solved by HiGHS.

Piecewise-linear curves are modelled with the incremental formulation: segment fills delta_k in [0, 1]
that must be used in order (delta_{k+1} <= z_k <= delta_k with binary z_k), which represents a
non-concave curve exactly, not an approximation on a grid. Concave stretches need no binaries, since
the solver fills their steepest segment first anyway, so a binary is needed only where a segment is steeper than
the one before it; elsewhere a plain row delta_{k+1} <= delta_k keeps the fills in order (a fill pattern out of
order inside a stretch that never gets steeper is never better than the ordered one with the same money, so the
optimum is a true point of the curve).

A stepped cell's segments join its whole-unit levels (0 or its first level, then one unit apart), each fill is
binary and fills are used in order, so its funding is exactly a whole number of units and its value the curve's
value there. An off-or-viable cell's first segment runs from 0 to min_viable as one binary fill that every later
fill needs. Every linear rule (budget, boxes, any number of grouping columns, resource rows) enters as it is.
HiGHS proves optimality or stops at ``time_limit`` and reports the best plan with its dual bound, which then
serves as the certified upper bound. Matrices are sparse: 4,096 cells give some 10^5 columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from allocation.envelope import section
from allocation.feasibility import linear_rows
from allocation.problem import OFF_FUNDING, Problem

TIME_LIMIT_SECONDS = 2.0
MIP_STATUS_INFEASIBLE = 2


@dataclass(frozen=True, eq=False)
class MixedIntegerPlan:
    funding: np.ndarray
    proven_optimal: bool
    dual_bound: float | None


@dataclass(frozen=True, eq=False)
class _Pieces:
    """One cell's columns: money and score where its fills start, each fill's width and gain, which are binary."""

    start: float
    start_score: float
    widths: np.ndarray
    gains: np.ndarray
    kind: str  # "plain", "stepped" or "viable"


def _pieces(problem: Problem, i: int) -> _Pieces:
    knots, scores = problem.knots[i], problem.scores[i]
    lo, hi, viable = float(problem.lo[i]), float(problem.hi[i]), float(problem.viable[i])
    step = float(problem.unit_step[i])
    if math.isfinite(step):
        first, last = round(lo / step), round(hi / step)  # at most MAX_UNIT_LEVELS apart (`build_problem`)
        levels = np.arange(first, last + 1, dtype=float) * step
        if viable > 0:
            levels = np.concatenate([[0.0], levels[levels >= viable - 1e-9 * viable]])
        values = np.interp(levels, knots, scores)
        return _Pieces(float(levels[0]), float(values[0]), np.diff(levels), np.diff(values), "stepped")
    if viable > 0:
        xs, ys = _merged(*section(knots, scores, viable, hi))
        at_zero = float(np.interp(0.0, knots, scores))
        return _Pieces(0.0, at_zero, np.concatenate([[viable], np.diff(xs)]),
                       np.concatenate([[ys[0] - at_zero], np.diff(ys)]), "viable")
    xs, ys = _merged(*section(knots, scores, lo, hi))
    return _Pieces(float(xs[0]), float(ys[0]), np.diff(xs), np.diff(ys), "plain")


def _merged(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The curve's points without those on a straight line through their neighbours (fewer columns, same curve)."""
    if len(xs) < 3:
        return xs, ys
    dx, dy = np.diff(xs), np.diff(ys)
    bend = np.abs(dy[1:] * dx[:-1] - dy[:-1] * dx[1:]) > 1e-12 * (np.abs(dy[1:] * dx[:-1]) + np.abs(dy[:-1] * dx[1:])
                                                                   + 1e-300)
    keep = np.concatenate([[True], bend, [True]])
    return xs[keep], ys[keep]


class _Rows:
    """Sparse ordering rows (sum of coefficient x column <= 0) collected as coordinates."""

    def __init__(self) -> None:
        self.row: list[int] = []
        self.column: list[int] = []
        self.value: list[float] = []
        self.count = 0

    def at_most(self, larger: int, smaller: int) -> None:
        """column ``larger`` <= column ``smaller``."""
        self.row += [self.count, self.count]
        self.column += [larger, smaller]
        self.value += [1.0, -1.0]
        self.count += 1


def solve_mixed_integer(problem: Problem, time_limit: float = TIME_LIMIT_SECONDS) -> MixedIntegerPlan | None:
    """The best plan HiGHS finds within ``time_limit`` (None when it finds none: see `mixed_integer_status`)."""
    return _solve(problem, time_limit)[0]


def mixed_integer_status(problem: Problem, time_limit: float = TIME_LIMIT_SECONDS) -> tuple[
        MixedIntegerPlan | None, bool]:
    """The plan and whether HiGHS proved that no plan exists (so the caller can say "infeasible", not "failed")."""
    plan, status = _solve(problem, time_limit)
    return plan, status == MIP_STATUS_INFEASIBLE


def _solve(problem: Problem, time_limit: float) -> tuple[MixedIntegerPlan | None, int]:
    n = problem.size
    scale = max(problem.budget, 1.0)
    cells = [_pieces(problem, i) for i in range(n)]
    starts = np.array([c.start for c in cells])
    base_value = float(sum(c.start_score for c in cells))
    lengths = np.array([len(c.widths) for c in cells], dtype=int)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    fills = int(offsets[-1])
    widths = np.concatenate([c.widths for c in cells]) if fills else np.zeros(0)
    gains = np.concatenate([c.gains for c in cells]) if fills else np.zeros(0)
    owner = np.repeat(np.arange(n), lengths)
    integral = np.zeros(fills, dtype=bool)
    order = _Rows()
    binaries: list[tuple[int, int]] = []  # (earlier fill, later fill) pairs ordered through a binary z
    slopes = np.divide(gains, widths, out=np.zeros_like(gains), where=widths > 0)
    for i, cell in enumerate(cells):
        first, count = int(offsets[i]), len(cell.widths)
        if cell.kind == "stepped":
            integral[first : first + count] = True
            for k in range(count - 1):
                order.at_most(first + k + 1, first + k)
            continue
        run_start = first
        if cell.kind == "viable":
            integral[first] = True
            if count > 1:
                order.at_most(first + 1, first)
            run_start = first + 1
        for k in range(run_start, first + count - 1):
            if slopes[k + 1] > slopes[k] + 1e-15:  # steeper after: only a binary keeps the fills in order
                binaries.append((k, k + 1))
            else:  # not steeper: the solver fills the earlier one first anyway, a plain row keeps it in order
                order.at_most(k + 1, k)
    total = fills + len(binaries)
    for b, (earlier, later) in enumerate(binaries):  # delta_later <= z_b <= delta_earlier
        order.at_most(later, fills + b)
        order.at_most(fills + b, earlier)
    blocks = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    if order.count:
        blocks.append(sparse.csr_array((order.value, (order.row, order.column)), shape=(order.count, total)))
        lower.append(np.full(order.count, -np.inf))
        upper.append(np.zeros(order.count))
    # money in cell i = starts_i + sum_k widths_ik * delta_ik; rows are scaled by the budget
    spread = sparse.csr_array((widths / scale, (owner, np.arange(fills))), shape=(n, total))
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    if len(b_ub):
        blocks.append(sparse.csr_array(a_ub) @ spread)
        lower.append(np.full(len(b_ub), -np.inf))
        upper.append((b_ub - a_ub @ starts) / scale)
    if a_eq is not None and b_eq is not None:
        blocks.append(sparse.csr_array(a_eq) @ spread)
        target = (b_eq - a_eq @ starts) / scale
        lower.append(target)
        upper.append(target)
    objective = np.zeros(total)
    objective[:fills] = -gains
    integrality = np.concatenate([integral.astype(float), np.ones(len(binaries))])
    result = milp(
        objective,
        integrality=integrality,
        bounds=Bounds(np.zeros(total), np.ones(total)),
        constraints=LinearConstraint(sparse.vstack(blocks).tocsr(), np.concatenate(lower), np.concatenate(upper))
        if blocks else None,
        options={"time_limit": time_limit, "mip_rel_gap": 1e-7},
    )
    if result.x is None:
        return None, int(result.status)
    delta = np.clip(result.x[:fills], 0.0, 1.0)
    delta[integral] = np.round(delta[integral])
    funding = starts + np.bincount(owner, weights=widths * delta, minlength=n)
    funding = settle(problem, funding)
    dual = getattr(result, "mip_dual_bound", None)
    plan = MixedIntegerPlan(
        funding=funding,
        proven_optimal=bool(result.status == 0),
        dual_bound=None if dual is None or not np.isfinite(dual) else base_value - float(dual),
    )
    return plan, int(result.status)


def settle(problem: Problem, funding: np.ndarray) -> np.ndarray:
    """Move the exact budget's float residue (HiGHS meets rows to ~1e-7 of the budget, more than the plan may miss
    it by) onto cells that take any amount, within their limits and never into an off-or-viable gap; whole-unit
    cells keep their units."""
    x = funding.copy()
    x[problem.stepped] = np.round(x[problem.stepped] / problem.unit_step[problem.stepped]) * problem.unit_step[
        problem.stepped]
    free = ~problem.stepped & ~((problem.viable > 0) & (x <= OFF_FUNDING))
    low = np.where(problem.viable > 0, np.maximum(problem.lo, problem.viable), problem.lo)
    x[free] = np.clip(x[free], low[free], problem.hi[free])
    if problem.mode != "exact" and x.sum() <= problem.budget:
        return x
    for _ in range(3):
        residue = problem.budget - float(x.sum())
        if abs(residue) <= 1e-9 * max(problem.budget, 1.0):
            break
        room = np.where(free, problem.hi - x if residue > 0 else x - low, 0.0)
        total_room = float(room.sum())
        if total_room <= 0:
            break
        x = np.where(free, np.clip(x + np.sign(residue) * room * min(1.0, abs(residue) / total_room), low,
                                   problem.hi), x)
    return x
