"""The restricted mixed-integer programme the decomposition hands to HiGHS, in choice form.

Every lone cell and every listed block picks one of its allowed pieces: a point (a whole-unit level, the off
point, a block's combination of levels) or a stretch of one curve segment, with a share along it. A binary per
piece, one per cell or block, and shares no larger than their piece's binary: the linear relaxation of this form
is each cell's (each block's) convex hull, so HiGHS starts from the Lagrangian bound itself, where the
incremental form of `mixed_integer.py` starts from the looser hull of single cells and branches for seconds.
Block rows need no row here (every listed combination meets them); the rows tying blocks are the only rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from allocation.cell_domains import CellDomains

MIP_RELATIVE_GAP = 1e-7
# Two thirds of HiGHS's time on these small programmes went to its sub-MIP heuristics (RINS, RENS), which the
# tight root bound does not need (measured 0.45 s, 0.31 s of it in 13 sub-MIPs, on 64 cells).
HIGHS_OPTIONS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False}
# Footprints below this (products of tiny usages and prices) are float noise, which HiGHS warns about.
COEFFICIENT_FLOOR = 1e-12


@dataclass(frozen=True, eq=False)
class Pieces:
    """Allowed pieces as columns: the unit (lone cell or block) each belongs to, its score at its start, and
    its money per cell at its start (``start``, cells x pieces); segments add a width and a gain (zero for points)
    on one cell."""

    unit: np.ndarray
    start_score: np.ndarray
    start: sparse.csc_array
    width: np.ndarray
    gain: np.ndarray
    cell: np.ndarray  # the segment's cell (-1 for points)


def lone_pieces(domains: CellDomains, loss: np.ndarray, alone: np.ndarray, slack: float, unit_of: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces of lone cells: (unit, cell, start money, start score, width, gain) arrays. A segment is a piece
    where part of it is within ``slack`` (only that part); an allowed point is one only where no segment joins
    it (else a segment holds it)."""
    xs, ys = domains.money, domains.score
    l0, l1 = loss[:, :-1], loss[:, 1:]
    x0, x1, y0, y1 = xs[:, :-1], xs[:, 1:], ys[:, :-1], ys[:, 1:]
    segment = domains.joined & (np.minimum(l0, l1) <= slack) & alone[:, None]
    dx = x1 - x0
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(l0 <= slack, x0, x1 - (slack - l1) / (l0 - l1) * dx)
        v = np.where(l1 <= slack, x1, x0 + (slack - l0) / (l1 - l0) * dx)
        slope = np.divide(y1 - y0, dx, out=np.zeros_like(dx), where=dx > 0)
    u, v = np.clip(u, x0, x1), np.clip(v, x0, x1)
    joined_either = np.zeros(xs.shape, dtype=bool)
    joined_either[:, :-1] |= domains.joined
    joined_either[:, 1:] |= domains.joined
    point = domains.real & (loss <= slack) & ~joined_either & alone[:, None]
    pc, pk = np.nonzero(point)
    sc, sk = np.nonzero(segment)
    cells = np.concatenate([pc, sc])
    money = np.concatenate([xs[pc, pk], u[sc, sk]])
    score = np.concatenate([ys[pc, pk], y0[sc, sk] + slope[sc, sk] * (u[sc, sk] - x0[sc, sk])])
    width = np.concatenate([np.zeros(len(pc)), v[sc, sk] - u[sc, sk]])
    gain = np.concatenate([np.zeros(len(pc)), slope[sc, sk] * (v[sc, sk] - u[sc, sk])])
    return unit_of[cells], cells, money, score, width, gain


@dataclass(frozen=True, eq=False)
class ChoicePlan:
    funding: np.ndarray
    proven_optimal: bool
    dual_bound: float | None


def solve_choices(pieces: Pieces, units: int, cells: int, rows: sparse.csr_array, lower: np.ndarray,
                  upper: np.ndarray, scale: float, time_limit: float) -> tuple[ChoicePlan | None, bool]:
    """(plan, proven infeasible). Columns: a binary per piece, then a share per segment piece."""
    count = len(pieces.unit)
    segments = np.flatnonzero(pieces.width > 0)
    share_money = sparse.csc_array((pieces.width[segments], (pieces.cell[segments], np.arange(len(segments)))),
                                   shape=(cells, len(segments)))
    money = sparse.hstack([pieces.start, share_money]).tocsc()
    total = count + len(segments)
    one_each = sparse.csr_array((np.ones(count), (pieces.unit, np.arange(count))), shape=(units, total))
    share_rows = np.tile(np.arange(len(segments)), 2)
    share_columns = np.concatenate([segments, count + np.arange(len(segments))])
    within = sparse.csr_array((np.concatenate([-np.ones(len(segments)), np.ones(len(segments))]),
                               (share_rows, share_columns)), shape=(len(segments), total))  # share <= binary
    blocks = [one_each, within]
    row_lower = [np.ones(units), np.full(len(segments), -np.inf)]
    row_upper = [np.ones(units), np.zeros(len(segments))]
    if rows.shape[0]:
        blocks.append(sparse.csr_array(rows @ money) / scale)
        row_lower.append(lower / scale)
        row_upper.append(upper / scale)
    single = np.bincount(pieces.unit, minlength=units) == 1
    low = np.zeros(total)
    low[:count] = single[pieces.unit]  # a unit's only piece is taken
    cost = -np.concatenate([pieces.start_score, pieces.gain[segments]])
    matrix = sparse.csc_array(sparse.vstack(blocks))
    matrix.data[np.abs(matrix.data) < COEFFICIENT_FLOOR] = 0.0
    matrix.eliminate_zeros()
    solved = _mip(cost, low, np.concatenate([np.ones(count), np.zeros(len(segments))]), matrix,
                  np.concatenate(row_lower), np.concatenate(row_upper), time_limit)
    if isinstance(solved, bool):
        return None, solved
    x, proven, dual = solved
    picked = np.round(x[:count])
    shares = np.clip(x[count:], 0.0, picked[segments])
    funding = money @ np.concatenate([picked, shares])
    return ChoicePlan(funding=funding, proven_optimal=proven, dual_bound=None if dual is None else -dual), False


def _mip(cost: np.ndarray, lower: np.ndarray, integral: np.ndarray, matrix: sparse.csc_array, row_lower: np.ndarray,
         row_upper: np.ndarray, time_limit: float) -> tuple[np.ndarray, bool, float | None] | bool:
    """min cost @ x over 0/lower <= x <= 1 and the rows, by HiGHS directly (scipy's milp cannot set the
    heuristic effort): (x, proven optimal, dual bound), or whether HiGHS proved that no x exists."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), matrix.shape[0]
    lp.col_cost_ = cost.astype(float)
    lp.col_lower_ = lower.astype(float)
    lp.col_upper_ = np.ones(len(cost))
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -highspy.kHighsInf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, highspy.kHighsInf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                       for flag in integral.tolist()]
    solver = highspy.Highs()
    solver.silent()
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("mip_rel_gap", MIP_RELATIVE_GAP)
    for option, value in HIGHS_OPTIONS.items():
        solver.setOptionValue(option, value)
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return True
    info = solver.getInfo()
    if info.primal_solution_status != 2:  # no feasible solution found
        return False
    dual = float(info.mip_dual_bound)
    return (np.asarray(solver.getSolution().col_value, dtype=float), status == highspy.HighsModelStatus.kOptimal,
            dual if np.isfinite(dual) else None)
