"""Why a set of constraints cannot be met, and how to move a nearly-feasible plan onto the feasible set.

The named checks explain the common conflicts in the allocator's terms; a linear-programming feasibility
test then catches any combination the named checks miss, so a plan is never returned for an empty set.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import sparse

from allocation.errors import InfeasibleConstraintsError
from allocation.linear_program import minimise
from allocation.problem import FEASIBILITY_TOLERANCE, Problem, money


def linear_rows(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Budget, group and resource rows as A_ub x <= b_ub and A_eq x = b_eq (in money units; a resource row is
    rescaled to the budget's size, so dividing every row by the budget brings it near one as well): `sparse_rows`
    as dense arrays, for the callers whose problems are small."""
    a_ub, b_ub, a_eq, b_eq, _ = sparse_rows(problem)
    return a_ub.toarray(), b_ub, None if a_eq is None else a_eq.toarray(), b_eq


def resource_usage(problem: Problem) -> sparse.csr_array:
    """The resource rows' usage per money (rows x cells) as one sparse matrix."""
    cells = [np.flatnonzero(row.usage) for row in problem.resources]  # no dense stack: 33 MB at 4,096 cells
    starts = np.concatenate([[0], np.cumsum([len(c) for c in cells])]).astype(np.int64)
    values = (np.concatenate([row.usage[c] for row, c in zip(problem.resources, cells, strict=True)]) if cells
              else np.zeros(0))
    return sparse.csr_array((values, np.concatenate(cells) if cells else np.zeros(0, dtype=int), starts),
                            shape=(len(cells), problem.size))


def sparse_rows(problem: Problem, usage: sparse.csr_array | None = None) -> tuple[
        sparse.csr_array, np.ndarray, sparse.csr_array | None, np.ndarray | None, int]:
    """The budget, group and resource rows of `linear_rows` as sparse matrices (4,096 cells with a staff-hour row
    per clinic make a dense one of some 30 MB), and the index of the first resource row among the inequality rows
    (``usage``: `resource_usage`, if the caller has it already)."""
    n = problem.size
    parts: list[sparse.csr_array] = []
    rhs: list[float] = []
    ones = np.ones((1, n))
    if problem.mode == "at_most":
        parts.append(sparse.csr_array(ones))
        rhs.append(problem.budget)
    for group in problem.groups:
        mask = sparse.csr_array(group.members.astype(float)[None, :])
        if group.floor is not None:
            parts.append(-mask)
            rhs.append(-group.floor)
        if group.cap is not None:
            parts.append(mask)
            rhs.append(group.cap)
    first_resource = len(rhs)
    if problem.resources:
        factor = max(problem.budget, 1.0) / np.array([row.scale for row in problem.resources])
        usage = resource_usage(problem) if usage is None else usage
        parts.append(sparse.csr_array(usage.multiply(factor[:, None])))
        rhs += [row.available * f for row, f in zip(problem.resources, factor, strict=True)]
    a_ub = sparse.vstack(parts).tocsr() if parts else sparse.csr_array((0, n))
    b_ub = np.array(rhs, dtype=float)
    if problem.mode == "exact":
        return a_ub, b_ub, sparse.csr_array(ones), np.array([problem.budget]), first_resource
    return a_ub, b_ub, None, None, first_resource


def _named_conflicts(problem: Problem) -> list[str]:
    """Conflicts beyond float rounding (minimums of 80 % of current funding under a budget of 80 % of it are
    equal, not a conflict, however the two sums round)."""
    slack = FEASIBILITY_TOLERANCE * max(problem.budget, 1.0)
    conflicts = list(problem.program_conflicts)
    budget = problem.budget
    lo_total = float(problem.lo.sum())
    hi_total = float(problem.hi.sum())
    locked_total = float(problem.lo[problem.locked].sum())
    if locked_total > budget + slack:
        conflicts.append(
            f"locked programmes' current funding adds up to {money(locked_total)} but the budget is {money(budget)}"
        )
    elif lo_total > budget + slack:
        detail = f" (locked programmes take {money(locked_total)} of that)" if locked_total > 0 else ""
        conflicts.append(f"programme minimums add up to {money(lo_total)} but the budget is {money(budget)}{detail}")
    if problem.mode == "exact" and hi_total < budget - slack:
        conflicts.append(
            f"programme maximums add up to {money(hi_total)} but the budget is {money(budget)} "
            "and budget_mode is 'exact' (use 'at_most' or raise the limits)"
        )
    floors_by_column: dict[str, float] = defaultdict(float)
    for group in problem.groups:
        members_hi = float(problem.hi[group.members].sum())
        members_lo = float(problem.lo[group.members].sum())
        if group.floor is not None:
            floors_by_column[group.column] += group.floor
            if not group.members.any() and group.floor > 0:
                conflicts.append(
                    f"group {group.label} has a floor of {group.min_share:.0%} ({money(group.floor)}) "
                    f"but no programme has {group.label}"
                )
            elif members_hi < group.floor - slack:
                conflicts.append(
                    f"group {group.label} floor of {group.min_share:.0%} of the budget "
                    f"({money(group.floor)}) "
                    f"cannot be met: its programmes' maximums add up to {money(members_hi)}"
                )
        if group.cap is not None and members_lo > group.cap + slack:
            conflicts.append(
                f"group {group.label} cap of {group.max_share:.0%} of the budget ({money(group.cap)}) "
                f"is below its programmes' minimums, which add up to {money(members_lo)}"
            )
    conflicts.extend(_resource_conflicts(problem))
    for column, floors in sorted(floors_by_column.items()):
        if floors > budget + slack:
            conflicts.append(
                f"group floors on {column} add up to {money(floors)}, more than the budget of {money(budget)}"
            )
    return conflicts


def _resource_conflicts(problem: Problem) -> list[str]:
    """Resource limits that even the least use every cell's limits allow exceeds (cells taken one at a time,
    a cell that may be off counting as 0)."""
    conflicts = []
    for row in problem.resources:
        least = np.minimum(row.usage * problem.lo, row.usage * problem.hi)
        least = np.where(problem.viable > 0, np.minimum(least, 0.0), least)
        needed = float(least.sum())
        if needed > row.available + 1e-6 * row.scale:
            conflicts.append(f"resource {row.name}: the cells' limits need at least {needed:,.1f} of it but only "
                             f"{row.available:,.1f} is available")
    return conflicts


def cells_feasible(problem: Problem) -> bool:
    """Exact feasibility when every group rule is on one column: the cells are disjoint, so a plan exists iff
    each cell's reachable total [max(members' minimums, floor), min(members' maximums, cap)] is not empty and the
    budget lies between the sums of those ends (at most: at or above the lower sum), to within float rounding.
    No linear programme (which cost ~1 ms per recommendation)."""
    slack = FEASIBILITY_TOLERANCE * max(problem.budget, 1.0)
    low_total = high_total = 0.0
    for cell in problem.cells:
        low = max(float(problem.lo[cell.members].sum()), -np.inf if cell.floor is None else cell.floor)
        high = min(float(problem.hi[cell.members].sum()), np.inf if cell.cap is None else cell.cap)
        if low > high + slack:
            return False
        low_total, high_total = low_total + low, high_total + high
    if problem.mode == "exact":
        return low_total <= problem.budget + slack and high_total >= problem.budget - slack
    return low_total <= problem.budget + slack


def lp_feasible(problem: Problem) -> bool:
    a_ub, b_ub, a_eq, b_eq = linear_rows(problem)
    scale = max(problem.budget, 1.0)
    solved = minimise(
        np.zeros(problem.size),
        problem.lo / scale,
        problem.hi / scale,
        a_ub=a_ub if a_ub.size else None,
        b_ub=b_ub / scale if a_ub.size else None,
        a_eq=a_eq,
        b_eq=None if b_eq is None else b_eq / scale,
    )
    return solved is not None


def ensure_feasible(problem: Problem, *, linear: bool = True) -> None:
    """Raise InfeasibleConstraintsError naming every conflict found; return quietly when a plan exists.
    ``linear=False`` leaves out the check of all rows together, for a caller whose own solve proves that (the
    units decomposition's master: the LP took 0.3 s of each 1.3 s budget-curve point at 4,096 cells)."""
    conflicts = _named_conflicts(problem)
    if conflicts:
        raise InfeasibleConstraintsError(conflicts)
    if not linear:
        return
    if not (cells_feasible(problem) if problem.one_column else lp_feasible(problem)):
        raise InfeasibleConstraintsError(
            [
                "no split satisfies all constraints together although each passes on its own "
                f"(budget {money(problem.budget)}, minimums add up to {money(float(problem.lo.sum()))}, "
                f"maximums to {money(float(problem.hi.sum()))}, "
                f"{len(problem.groups)} group share rule(s)); relax the group shares or programme limits"
            ]
        )


def tidy(problem: Problem, funding: np.ndarray) -> np.ndarray:
    """Clip to the boxes and, in exact mode, spread the rounding residue over programmes with room."""
    x = np.clip(np.asarray(funding, dtype=float), problem.lo, problem.hi)
    if problem.mode == "exact" or x.sum() > problem.budget:
        for _ in range(3):
            residue = problem.budget - float(x.sum())
            if abs(residue) <= 1e-9 * max(problem.budget, 1.0):
                break
            room = problem.hi - x if residue > 0 else x - problem.lo
            total_room = float(room.sum())
            if total_room <= 0:
                break
            x = np.clip(x + np.sign(residue) * room * min(1.0, abs(residue) / total_room), problem.lo, problem.hi)
    return x


def project(problem: Problem, funding: np.ndarray) -> np.ndarray | None:
    """Nearest feasible plan in total absolute change (an LP), used to repair rounding and heuristics."""
    n = problem.size
    scale = max(problem.budget, 1.0)
    target = np.asarray(funding, dtype=float) / scale
    a_ub, b_ub, a_eq, b_eq, _ = sparse_rows(problem)
    # variables: x (n), d (n) with d >= |x - target|; sparse, as the identity blocks are 600 MB dense at 4,096
    # cells (the six baselines' repairs took 25 s there)
    eye = sparse.identity(n, format="csr")
    rows = [sparse.hstack([eye, -eye]), sparse.hstack([-eye, -eye])]
    rhs = [target, -target]
    if a_ub.shape[0]:
        rows.append(sparse.hstack([a_ub, sparse.csr_array(a_ub.shape)]))
        rhs.append(b_ub / scale)
    solved = minimise(
        np.concatenate([np.zeros(n), np.ones(n)]),
        np.concatenate([problem.lo / scale, np.zeros(n)]),
        np.concatenate([problem.hi / scale, np.full(n, np.inf)]),
        a_ub=sparse.csr_array(sparse.vstack(rows)),
        b_ub=np.concatenate(rhs),
        a_eq=None if a_eq is None else sparse.csr_array(sparse.hstack([a_eq, sparse.csr_array(a_eq.shape)])),
        b_eq=None if b_eq is None else b_eq / scale,
    )
    if solved is None:
        return None
    return tidy(problem, solved[0][:n] * scale)


def verified(problem: Problem, funding: np.ndarray) -> np.ndarray | None:
    """The plan itself if it passes our re-check, else its nearest feasible repair, else None."""
    candidate = tidy(problem, funding)
    if not problem.violations(candidate):
        return candidate
    repaired = project(problem, candidate)
    return None if repaired is None or problem.violations(repaired) else repaired
