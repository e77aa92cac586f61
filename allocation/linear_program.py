"""Linear programmes for the solver (envelope bound, polish, feasibility, repair, the decomposition's fallback
master), solved by HiGHS via highspy.

Why not scipy.optimize.linprog, which runs the same HiGHS: on programmes this small (tens to a few hundred
columns) its input checking, option validation and matrix conversion took two to three times as long as the
solve itself. Presolve is off for the same reason: on these sizes it took longer than it saved (measured 1.8 ->
1.0 ms per solve). The full mixed-integer programme stays on scipy's `milp`; the decomposition's small one
calls highspy itself (`choice_program.py`), for options and a start `milp` cannot pass. With group rules on one
grouping column the envelope problems need no LP at all (`concave_greedy.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

_INF = highspy.kHighsInf


def _rowwise(matrix: np.ndarray | sparse.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(matrix, sparse.csr_array):
        return matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32), matrix.data.astype(float)
    rows, columns = np.nonzero(matrix)
    starts = np.searchsorted(rows, np.arange(matrix.shape[0] + 1)).astype(np.int32)
    return starts, columns.astype(np.int32), matrix[rows, columns].astype(float)


def minimise(
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    a_ub: np.ndarray | sparse.csr_array | None = None,
    b_ub: np.ndarray | None = None,
    a_eq: np.ndarray | sparse.csr_array | None = None,
    b_eq: np.ndarray | None = None,
) -> tuple[np.ndarray, float] | None:
    """argmin cost @ x subject to a_ub x <= b_ub, a_eq x = b_eq, lower <= x <= upper (inf for no bound);
    None unless HiGHS proves an optimum (infeasible, unbounded or stopped). The rows may be sparse (the repair's
    identity blocks at 4,096 cells are 600 MB dense)."""
    n = len(cost)
    parts: list[np.ndarray | sparse.csr_array] = [np.zeros((0, n))]
    row_lower: list[np.ndarray] = [np.zeros(0)]
    row_upper: list[np.ndarray] = [np.zeros(0)]
    if a_ub is not None and b_ub is not None:
        parts.append(a_ub)
        row_lower.append(np.full(len(b_ub), -_INF))
        row_upper.append(np.asarray(b_ub, dtype=float))
    if a_eq is not None and b_eq is not None:
        parts.append(a_eq)
        row_lower.append(np.asarray(b_eq, dtype=float))
        row_upper.append(np.asarray(b_eq, dtype=float))
    matrix = (sparse.csr_array(sparse.vstack(parts)) if any(isinstance(p, sparse.csr_array) for p in parts)
              else np.vstack(parts))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.where(np.isfinite(lower), lower, -_INF).astype(float)
    lp.col_upper_ = np.where(np.isfinite(upper), upper, _INF).astype(float)
    lp.row_lower_ = np.concatenate(row_lower)
    lp.row_upper_ = np.concatenate(row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = _rowwise(matrix)
    solver = highspy.Highs()
    solver.silent()
    solver.setOptionValue("presolve", "off")
    solver.passModel(lp)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.asarray(solver.getSolution().col_value, dtype=float), float(solver.getInfo().objective_function_value)


@dataclass(frozen=True, eq=False)
class PricedOptimum:
    """An optimum and its row duals (d objective / d row bound, as HiGHS reports them for a minimisation)."""

    x: np.ndarray
    objective: float
    row_dual: np.ndarray


def minimise_priced(cost: np.ndarray, upper: np.ndarray, matrix: sparse.csc_array, row_lower: np.ndarray,
                    row_upper: np.ndarray) -> PricedOptimum | bool:
    """argmin cost @ x subject to row_lower <= matrix x <= row_upper, 0 <= x <= upper, with its row duals, for
    the decomposition's master with tens of thousands of columns (sparse, presolve on); True when HiGHS proves
    the rows infeasible, False when it stops for any other reason."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), matrix.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = np.where(np.isfinite(upper), upper, _INF).astype(float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -_INF).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, _INF).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    solver = highspy.Highs()
    solver.silent()
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return True
    if status != highspy.HighsModelStatus.kOptimal:
        return False
    solution = solver.getSolution()
    return PricedOptimum(np.asarray(solution.col_value, dtype=float), float(solver.getInfo().objective_function_value),
                         np.asarray(solution.row_dual, dtype=float))
