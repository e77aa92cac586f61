"""The restricted mixed-integer programme the decomposition hands to HiGHS, in choice form.

Every lone cell and every listed block picks one of its allowed pieces: a point (a whole-unit level, the off
point, a block's combination of levels) or a stretch of one curve segment, with a share along it. A binary per
piece, one per cell or block, and shares no larger than their piece's binary: the linear relaxation of this form
is each cell's (each block's) convex hull, so HiGHS starts from the Lagrangian bound itself, where the
incremental form of `mixed_integer.py` starts from the looser hull of single cells and branches for seconds.
Block rows need no row here (every listed combination meets them); the rows tying blocks are the only rows.
HiGHS stops once its plan is within the decomposition's certified gap of its bound, and starts from a plan a
dive on the relaxation finds (its own heuristics took seconds to find one that close).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from allocation.cell_domains import CellDomains

# The programme starts at the Lagrangian bound and, almost always, from the optimum (the dive's or an earlier
# round's plan), so HiGHS's work is the proof: its primal heuristics (sub-MIPs RINS, RENS and the root
# reduced-cost one, feasibility jump) look for plans it already has, and a restart after root fixing repeats
# presolve and the root cuts on a programme this small; each of them cost more than the branching it saves
# (64 cells: the three proving rounds of a solve took a quarter of the time without them, same nodes).
# Symmetry detection finds nothing to use in priced pieces.
HIGHS_OPTIONS = {
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_effort": 0.0,
    "mip_allow_restart": False,
    "mip_detect_symmetry": False,
}
# Steps (a unit chosen, or a piece left out) the dive may take before giving up.
MAX_DIVE_STEPS = 60
# A dive step that costs the relaxation at most this share of the programme's gap is taken without trying more.
DIVE_STEP_SHARE = 0.1
# A binary at least this close to one counts as taken in the linear relaxation.
WHOLE = 1e-9
FEASIBLE = 2  # HiGHS's primal_solution_status for a feasible point
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
                  upper: np.ndarray, scale: float, time_limit: float, gap: float, known: np.ndarray | None = None
                  ) -> tuple[ChoicePlan | None, bool]:
    """(plan, proven infeasible); HiGHS stops once its plan is within ``gap`` (in value) of its bound. Columns: a
    binary per piece, then a share per segment piece; ``known`` is a plan in them (the best of earlier rounds)."""
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
                  np.concatenate(row_lower), np.concatenate(row_upper), time_limit, gap, pieces.unit,
                  pieces.width > 0, known)
    if isinstance(solved, bool):
        return None, solved
    x, proven, dual = solved
    picked = np.round(x[:count])
    shares = np.clip(x[count:], 0.0, picked[segments])
    funding = money @ np.concatenate([picked, shares])
    return ChoicePlan(funding=funding, proven_optimal=proven, dual_bound=None if dual is None else -dual), False


def _model(cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, integral: np.ndarray | None,
           matrix: sparse.csc_array, row_lower: np.ndarray, row_upper: np.ndarray) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), matrix.shape[0]
    lp.col_cost_ = cost.astype(float)
    lp.col_lower_ = lower.astype(float)
    lp.col_upper_ = upper.astype(float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -highspy.kHighsInf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, highspy.kHighsInf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    if integral is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                           for flag in integral.tolist()]
    return lp


def _run(lp: highspy.HighsLp, time_limit: float, gap: float, start: np.ndarray | None = None) -> highspy.Highs:
    solver = highspy.Highs()
    solver.silent()
    solver.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    solver.setOptionValue("mip_abs_gap", float(gap))
    solver.setOptionValue("mip_rel_gap", 0.0)  # the absolute gap decides; the default 1e-4 would stop far short
    for option, value in HIGHS_OPTIONS.items():
        solver.setOptionValue(option, value)
    solver.passModel(lp)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start.tolist()
        solver.setSolution(solution)
    solver.run()
    return solver


def _most_taken(unit: np.ndarray, taken: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Per unit with a split piece, its most-taken split piece (the first of equals)."""
    pieces = np.flatnonzero(split)
    order = pieces[np.lexsort((-taken[pieces], unit[pieces]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = unit[order[1:]] != unit[order[:-1]]
    return order[first]


def _dive(solver: highspy.Highs, unit: np.ndarray, finite: np.ndarray, lower: np.ndarray,
          upper: np.ndarray, gap: float) -> np.ndarray | None:
    """A plan from the solved relaxation, which it solves again (warm) after each step until no unit is split.
    Units of points (levels, block combinations) the relaxation takes whole keep that point in every step, which
    settles the dive in a few steps. A step first fixes every split unit on its most-taken piece at once (one
    relaxation where thousands of cells would otherwise take one each), while that costs the relaxation at most
    DIVE_STEP_SHARE of ``gap`` per unit. After that, one step is one unit, the most-taken split piece's: it
    takes the split piece that costs the relaxation least, stopping at the first that costs at most
    DIVE_STEP_SHARE of ``gap``; when none is that cheap the units fixed for being whole cannot make up for the
    choice (on a 1,024-cell budget-curve point one such step loses 16 where freeing them loses nothing, and
    HiGHS then spends its time finding what the dive missed), so the pieces are tried again with them freed and
    only the units the dive chose fixed. Curve cells stay free throughout, to absorb what the fixing moves. A unit
    none of whose split pieces leaves the rows meetable loses its most-taken piece and chooses again. None when
    the dive fails."""
    count = len(unit)
    columns = np.arange(len(lower), dtype=np.int32)
    low, high = lower.astype(float).copy(), upper.astype(float).copy()
    chosen_low, chosen_high = low.copy(), high.copy()  # only the units the dive chose (and dropped pieces)
    together = True  # every split unit takes its most-taken piece in one step, until that costs too much
    for _ in range(MAX_DIVE_STEPS):
        if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(solver.getSolution().col_value, dtype=float)
        enough = float(solver.getInfo().objective_function_value) + DIVE_STEP_SHARE * gap
        taken = x[:count]
        split = (taken > WHOLE) & (taken < 1.0 - WHOLE)
        if not split.any():
            return x
        settled = np.zeros(int(unit.max()) + 1, dtype=bool)
        settled[unit[taken >= 1.0 - WHOLE]] = True
        settled &= finite
        first = int(np.flatnonzero(split)[np.argmax(taken[split])])
        own = np.flatnonzero(unit == unit[first])
        candidates = own[split[own]]
        candidates = candidates[np.argsort(-taken[candidates], kind="stable")].tolist()
        fix_settled = np.flatnonzero(settled[unit])
        if together:
            leaders = _most_taken(unit, taken, split)
            trial_low, trial_high = low.copy(), high.copy()
            fix = np.union1d(fix_settled, np.flatnonzero(np.isin(unit, unit[leaders])))
            trial_low[fix] = trial_high[fix] = (taken[fix] >= 1.0 - WHOLE) & ~np.isin(unit[fix], unit[leaders])
            trial_low[leaders] = trial_high[leaders] = 1.0
            solver.changeColsBounds(len(columns), columns, trial_low, trial_high)
            solver.run()
            if (solver.getModelStatus() == highspy.HighsModelStatus.kOptimal
                    and float(solver.getInfo().objective_function_value) <= enough + (len(leaders) - 1)
                    * DIVE_STEP_SHARE * gap):
                low, high = trial_low, trial_high
                mine = np.flatnonzero(np.isin(unit, unit[leaders]))
                chosen_low[mine] = chosen_high[mine] = trial_low[mine]
                continue
            together = False
            solver.changeColsBounds(len(columns), columns, low, high)
            solver.run()
        best: tuple[float, np.ndarray, np.ndarray, int] | None = None
        last = None  # the bounds of the last relaxation solved
        for base_low, base_high, fixed in ((low, high, fix_settled), (chosen_low, chosen_high, None)):
            for piece in candidates:
                trial_low, trial_high = base_low.copy(), base_high.copy()
                fix = own if fixed is None else np.union1d(fixed, own)
                trial_low[fix] = trial_high[fix] = (taken[fix] >= 1.0 - WHOLE) & (unit[fix] != unit[first])
                trial_low[piece] = trial_high[piece] = 1.0
                solver.changeColsBounds(len(columns), columns, trial_low, trial_high)
                solver.run()
                last = trial_low
                if solver.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                    objective = float(solver.getInfo().objective_function_value)
                    if best is None or objective < best[0]:
                        best = (objective, trial_low, trial_high, piece)
                    if objective <= enough:
                        break
            if best is not None and best[0] <= enough:
                break
        if best is not None:
            _, low, high, piece = best
            chosen_low[own] = chosen_high[own] = own == piece
            if last is not low:
                solver.changeColsBounds(len(columns), columns, low, high)
                solver.run()
            continue
        high[first] = chosen_high[first] = 0.0  # this piece cannot be taken: leave it out, the unit chooses again
        solver.changeColsBounds(len(columns), columns, low, high)
        solver.run()
    return None


def _mip(cost: np.ndarray, lower: np.ndarray, integral: np.ndarray, matrix: sparse.csc_array, row_lower: np.ndarray,
         row_upper: np.ndarray, time_limit: float, gap: float, unit: np.ndarray, segment: np.ndarray,
         known: np.ndarray | None = None) -> tuple[np.ndarray, bool, float | None] | bool:
    """min cost @ x over lower <= x <= 1 and the rows, by HiGHS directly (scipy's milp cannot set its options or
    a start): (x, proven optimal, dual bound), or whether HiGHS proved that no x exists.

    HiGHS's own heuristics took seconds to find a plan near the bound on 1,024 cells, so it gets one: the linear
    relaxation takes at most as many units fractionally as there are tying rows; every other unit keeps the piece
    it takes whole and a tiny programme over the fractional ones (shares stay free) gives the start, unless the
    ``known`` plan of an earlier round is better: that one is usually the optimum, which leaves HiGHS only the
    proof (the certifying round at 64 cells: 1.3 s from the dive's start, 0.26 s from the known plan). When the
    start is already within ``gap`` of the relaxation, it is the answer, proven by the relaxation's bound.
    """
    started = time.perf_counter()
    upper = np.ones(len(cost))
    relaxed = _run(_model(cost, lower, upper, None, matrix, row_lower, row_upper), time_limit, gap)
    status = relaxed.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return True
    start = None
    if status == highspy.HighsModelStatus.kOptimal:
        bound = float(relaxed.getInfo().objective_function_value)
        finite = np.ones(int(unit.max()) + 1, dtype=bool)
        finite[unit[segment]] = False
        start = _dive(relaxed, unit, finite, lower, upper, gap)
        if known is not None and (start is None or float(cost @ known) < float(cost @ start)):
            start = known
        if start is not None and float(cost @ start) <= bound + gap:
            return start, True, bound
    solver = _run(_model(cost, lower, upper, integral, matrix, row_lower, row_upper),
                  time_limit - (time.perf_counter() - started), gap, start)
    status = solver.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return True
    info = solver.getInfo()
    if info.primal_solution_status != FEASIBLE:
        return False
    dual = float(info.mip_dual_bound)
    return (np.asarray(solver.getSolution().col_value, dtype=float), status == highspy.HighsModelStatus.kOptimal,
            dual if np.isfinite(dual) else None)
