"""Exact concave-envelope maximisation without a linear programme, for group rules on at most one column.

Why: the envelope problem (`envelope.maximise_envelope`) is solved up to five times per recommendation, and as
an LP it cost 5-7 ms each (half of it building matrices), too much for a ~30 ms request. When every group rule
is on one grouping column its groups are disjoint cells, and the problem is a separable concave resource
allocation with a box [floor, cap] on each cell's total, which a greedy on slopes solves exactly.

Why the greedy is optimal: a cell's best value as a function of its total is concave, its slopes being the
members' envelope pieces merged in slope order; so any optimum can be exchanged, piece by piece, into one that
(1) spends each cell's floor on that cell's steepest pieces and (2) spends the rest of the budget on the
remaining pieces in global slope order, a cell dropping out at its cap: one budget multiplier prices every
cell (KKT), a cell's total is its demand at that price clipped to [floor, cap]. With an exact budget all the
money goes out, down negative slopes if need be; with "at most" the price never goes below zero.
The tests compare it with the LP on random problems of every curve shape.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression

from allocation.problem import FEASIBILITY_TOLERANCE, Problem


def envelope_pieces(xs: np.ndarray, ys: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The upper concave envelope of each row's real points (x strictly increasing along a row), as pieces:
    owner row, length in money and slope, rows in order and each row's pieces left to right.

    The envelope's slopes are the decreasing isotonic regression of the segment slopes weighted by segment
    length (the least concave majorant of a polyline; Grenander), so scipy's pool-adjacent-violators finds
    which segments merge into one envelope piece in one compiled call for all rows at once. Each row's slopes
    are first mapped into its own band (divided by the row's largest |slope|, plus 4 per row from the end),
    which keeps rows from merging and changes nothing within a row (the regression commutes with positive
    affine maps); each piece's slope is then recomputed from its end points, so only a rounding-level tie can
    depend on the mapping. A pure-numpy hull (all pairwise slopes, or repeated chord tests) cost 0.5-1 ms.
    """
    money, score = xs[real], ys[real]
    owner = np.repeat(np.arange(len(xs)), real.sum(axis=1))
    same = owner[1:] == owner[:-1]
    rows = owner[1:][same]
    dx, dy = (money[1:] - money[:-1])[same], (score[1:] - score[:-1])[same]
    if not len(rows):
        return rows, dx, dy
    steep = np.zeros(len(xs))
    np.maximum.at(steep, rows, np.abs(dy) / dx)
    steep[steep == 0] = 1.0
    banded = dy / dx / steep[rows] + 4.0 * (len(xs) - rows)
    starts = isotonic_regression(banded, weights=dx, increasing=False).blocks[:-1]
    length, rise = np.add.reduceat(dx, starts), np.add.reduceat(dy, starts)
    return rows[starts], length, rise / length


def cell_of(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Programme -> cell index, and each cell's floor and cap (-inf / inf when absent); None when group rules
    span two or more columns (then cells overlap and only the LP is exact).

    Several rules on one group combine to the largest floor and the smallest cap, as the DP does; programmes in
    no group form one more cell without limits (the cells themselves are computed once per problem).
    """
    if not problem.one_column:
        return None
    cells = problem.cells
    owner = np.zeros(problem.size, dtype=np.int64)
    for index, cell in enumerate(cells):
        owner[cell.members] = index
    floor = np.array([-np.inf if cell.floor is None else cell.floor for cell in cells])
    cap = np.array([np.inf if cell.cap is None else cell.cap for cell in cells])
    return owner, floor, cap


def maximise_pieces(
    problem: Problem,
    lower: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray],
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    room: float,
) -> tuple[np.ndarray, float] | None:
    """Money on top of ``lower`` per programme maximising the pieces' total, and that total (None: infeasible).

    ``room`` is the budget minus sum(lower). Each cell's total is clipped to [its floor, its cap] and to what
    its members can hold; the budget multiplier is found by walking pieces in slope order while the clipped
    totals add up to less than the money to spend.
    """
    rows, length, slope = pieces
    owner, floor, cap = cells
    count = len(floor)
    base = np.bincount(owner, weights=lower, minlength=count)  # money cells hold before any piece
    room_cell = np.bincount(owner[rows], weights=length, minlength=count)
    least = np.maximum(floor - base, 0.0)  # money each cell must take on top of ``lower``
    most = np.minimum(cap - base, room_cell)
    tolerance = FEASIBILITY_TOLERANCE * max(problem.budget, 1.0)
    if np.any(least > most + tolerance):
        return None
    least = np.minimum(least, most)
    order = np.argsort(-slope, kind="stable")
    rows, length, slope = rows[order], length[order], slope[order]
    cell = owner[rows]
    # spent[p, c]: money cell c holds after the first p pieces in slope order, before clipping
    taken = np.zeros((len(rows) + 1, count))
    taken[np.arange(1, len(rows) + 1), cell] = length
    spent = np.cumsum(taken, axis=0)
    totals = np.minimum(np.maximum(spent, least), most).sum(axis=1)
    if totals[0] > room + tolerance:
        return None
    if problem.mode == "exact":
        if totals[-1] < room - tolerance:
            return None
        target = min(max(room, totals[0]), totals[-1])
    else:  # at most: stop where slopes stop being positive (floors may still take a cell's flat pieces)
        target = min(room, totals[int(np.count_nonzero(slope > 0))])
    p = int(np.searchsorted(totals, target, side="left"))
    if p == 0:
        amount = least.copy()
    else:
        amount = np.minimum(np.maximum(spent[p - 1], least), most)
        last = cell[p - 1]
        amount[last] = min(amount[last] + target - totals[p - 1], most[last])
    share = np.minimum(np.maximum(amount[cell] - spent[np.arange(len(rows)), cell], 0.0), length)
    extra = np.bincount(rows, weights=share, minlength=problem.size)
    return extra, float(share @ slope)
