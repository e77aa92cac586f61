"""Exact reference: dynamic programming over programmes on a money grid (a separable knapsack).

Why a DP: forecast curves are step-shaped (trees) or S-shaped (dose-response), so a gradient method from an
equal split stalls on a plateau. The DP needs no concavity at all.

What is exact: for a grid of ``step`` money units above every programme's lower limit, the DP returns the
best plan among all grid plans that meet the budget (exact or at most), every programme's limits and the
group share rules of ONE grouping column (each group of that column is solved as its own knapsack, then
the budget is split across the groups by a second max-plus convolution, restricted to each group's
floor..cap). Group rules on further columns are not part of the DP: the solver either projects the DP
plan onto them or prices them into the DP (`lagrange.py`), keeps the better, marks the reference as not
exact, and the certificate then rests on the concave-envelope bound alone (see `certificate.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from allocation.problem import Problem

DEFAULT_GRID_STEPS = 2000
MAX_EXTRA_STEPS = DEFAULT_GRID_STEPS // 10
MAX_GRID_STEPS = 200_000  # memory guard against a caller-supplied step that is far too fine
_DENSE_LIMIT = 3_000_000  # above this many cells a 2-D window would be wasteful; loop instead


@dataclass(frozen=True, eq=False)
class GridSolution:
    funding: np.ndarray
    value: float
    step: float
    exact: bool  # every constraint was inside the DP (at most one grouping column)
    on_grid: bool  # the DP found a plan that meets every rule without repair
    extra_money: float  # the budget increase the DP also priced (0 when not asked)
    extra_gain: float | None  # best grid value with ``extra_money`` more minus without; None if infeasible


def _maxplus(prev: np.ndarray, values: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """new[t] = max_j prev[t - j] + values[j] for t <= cap, with the maximising j for backtracking.

    Only the finite stretches of both tables take part: a group's table is -inf below its floor and above its
    cap, and convolving those stretches away was most of the cost of combining groups.
    """
    top = min(cap, len(prev) - 1 + len(values) - 1)
    new = np.full(top + 1, -np.inf)
    arg = np.zeros(top + 1, dtype=np.int64)
    finite_prev = np.flatnonzero(np.isfinite(prev[: top + 1]))
    finite_values = np.flatnonzero(np.isfinite(values[: top + 1]))
    if not len(finite_prev) or not len(finite_values):
        return new, arg
    p0, j0 = int(finite_prev[0]), int(finite_values[0])
    if p0 + j0 > top:
        return new, arg
    inner, inner_arg = _maxplus_dense(prev[p0 : finite_prev[-1] + 1], values[j0 : finite_values[-1] + 1],
                                      top - p0 - j0)
    new[p0 + j0 : p0 + j0 + len(inner)] = inner
    arg[p0 + j0 : p0 + j0 + len(inner)] = inner_arg + j0
    return new, arg


def _maxplus_dense(prev: np.ndarray, values: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    span = len(values) - 1
    top = min(cap, len(prev) - 1 + span)
    kept = prev[: top + 1]
    if (top + 1) * (span + 1) <= _DENSE_LIMIT:
        padded = np.full(top + 1 + span, -np.inf)
        padded[span : span + len(kept)] = kept
        windows = sliding_window_view(padded, span + 1)[: top + 1] + values[::-1]
        best = np.argmax(windows, axis=1)
        return windows[np.arange(top + 1), best], span - best
    new = np.full(top + 1, -np.inf)
    arg = np.zeros(top + 1, dtype=np.int64)
    for j in np.flatnonzero(np.isfinite(values)).tolist():
        stop: int = min(top + 1, j + len(kept))
        if stop <= j:
            continue
        candidate = kept[: stop - j] + values[j]
        better = candidate > new[j:stop]
        new[j:stop] = np.where(better, candidate, new[j:stop])
        arg[j:stop] = np.where(better, j, arg[j:stop])
    return new, arg


def _maxplus_at(prev: np.ndarray, values: np.ndarray, targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """`_maxplus` at a few totals only: O(len) each instead of O(len^2) for the whole table.

    The last convolution of an exact-budget DP is read at the budget (and the budget plus the priced extra)
    and nowhere else, so computing its other entries was a third of the DP's work.
    """
    best = np.full(len(targets), -np.inf)
    arg = np.zeros(len(targets), dtype=np.int64)
    for k, t in enumerate(targets):
        low, high = max(0, t - (len(prev) - 1)), min(len(values) - 1, t)
        if low > high:
            continue
        candidates = prev[t - high : t - low + 1][::-1] + values[low : high + 1]
        pick = int(np.argmax(candidates))
        best[k], arg[k] = candidates[pick], low + pick
    return best, arg


def primary_column(problem: Problem) -> str | None:
    """The grouping column handled exactly: the one with the most share rules (ties: alphabetical)."""
    counts: dict[str, int] = {}
    for group in problem.groups:
        counts[group.column] = counts.get(group.column, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda column: (-counts[column], column))


@dataclass
class _Cell:
    members: list[int]
    floor: float | None
    cap: float | None


def _cells(problem: Problem, column: str | None) -> list[_Cell]:
    cells: dict[str, _Cell] = {}
    for group in problem.groups:
        if group.column != column:
            continue
        cell = cells.setdefault(group.value, _Cell(list(np.flatnonzero(group.members)), None, None))
        if group.floor is not None:
            cell.floor = group.floor if cell.floor is None else max(cell.floor, group.floor)
        if group.cap is not None:
            cell.cap = group.cap if cell.cap is None else min(cell.cap, group.cap)
    ordered = [cells[value] for value in sorted(cells)]
    grouped = {i for cell in ordered for i in cell.members}
    rest = [i for i in range(problem.size) if i not in grouped]
    if rest or not ordered:
        ordered.append(_Cell(rest, None, None))
    return ordered


def _solve(
    problem: Problem, step: float, units: int, extra: int, conservative: bool
) -> tuple[np.ndarray, float | None] | None:
    """Grid plan for ``units`` steps above the lower limits, and the gain from ``extra`` more steps."""
    column = primary_column(problem)
    # a programme can never use more steps than the budget has, however wide its own range
    capacity = np.minimum(np.floor((problem.hi - problem.lo) / step + 1e-9), units + extra).astype(np.int64)
    tables: list[np.ndarray] = []
    choices: list[list[np.ndarray]] = []
    cells = _cells(problem, column)
    for cell in cells:
        table = np.zeros(1)
        picks: list[np.ndarray] = []
        for i in cell.members:
            grid = problem.lo[i] + step * np.arange(capacity[i] + 1)
            table, pick = _maxplus(table, np.interp(grid, problem.knots[i], problem.scores[i]), units + extra)
            picks.append(pick)
        base = float(problem.lo[cell.members].sum())
        round_floor, round_cap = (math.ceil, math.floor) if conservative else (math.floor, math.ceil)
        if cell.floor is not None:
            table[: max(0, min(len(table), round_floor((cell.floor - base) / step - 1e-9)))] = -np.inf
        if cell.cap is not None:
            table[max(0, round_cap((cell.cap - base) / step + 1e-9)) + 1 :] = -np.inf
        tables.append(table)
        choices.append(picks)

    total = tables[0]
    splits: list[np.ndarray] = []
    for c, table in enumerate(tables[1:], start=1):
        if c == len(tables) - 1 and problem.mode == "exact":
            targets = [units, units + extra]
            at, at_split = _maxplus_at(total, table, targets)
            if np.isfinite(at[0]):  # else the grid misses the budget: the whole table is needed to repair from
                total, split = np.full(units + extra + 1, -np.inf), np.zeros(units + extra + 1, dtype=np.int64)
                total[targets], split[targets] = at, at_split
                splits.append(split)
                break
        total, split = _maxplus(total, table, units + extra)
        splits.append(split)
    reachable = total[: units + 1]
    if not np.isfinite(reachable).any():
        return None
    if problem.mode == "exact" and len(reachable) > units and np.isfinite(reachable[units]):
        used = units
    else:
        used = int(np.argmax(reachable))  # at_most, or the grid cannot reach the exact budget: repair later
    gain = None
    if extra > 0:
        more = total[units + extra] if problem.mode == "exact" and len(total) > units + extra else -np.inf
        if problem.mode == "at_most":
            more = float(np.max(total))
        if np.isfinite(more):
            gain = float(more - reachable[used])

    spend = [0] * len(cells)
    for c in range(len(cells) - 1, 0, -1):
        spend[c] = int(splits[c - 1][used])
        used -= spend[c]
    spend[0] = used
    funding = problem.lo.copy()
    for cell, picks, amount in zip(cells, choices, spend, strict=True):
        left = amount
        for i, pick in zip(reversed(cell.members), reversed(picks), strict=True):
            j = int(pick[left])
            funding[i] += j * step
            left -= j
    return funding, gain


def grid_step(problem: Problem, steps: int = DEFAULT_GRID_STEPS) -> float:
    """Money per grid unit: the spendable room above the lower limits split into ``steps`` units."""
    room = problem.budget - float(problem.lo.sum())
    if problem.mode == "at_most":
        room = min(room, float((problem.hi - problem.lo).sum()))
    return max(room, 0.0) / steps


def solve_grid(
    problem: Problem, step: float | None = None, steps: int = DEFAULT_GRID_STEPS, extra_money: float = 0.0
) -> GridSolution:
    """Best grid plan; the caller must still repair (`feasibility.verified`) when ``on_grid`` is False.

    ``extra_money`` also prices a larger budget from the same tables (the best value with the budget and with
    ``extra_money`` more; an exact-budget DP computes its last table at just those two spends), holding group
    money limits fixed: that is the budget row's shadow price.
    """
    step = grid_step(problem, steps) if step is None else float(step)
    exact = len({g.column for g in problem.groups}) <= 1
    room = max(problem.budget - float(problem.lo.sum()), 0.0)
    if problem.mode == "at_most":  # money beyond every programme's upper limit cannot be spent anyway
        room = min(room, float((problem.hi - problem.lo).sum()))
    if step <= 0:
        if extra_money <= 0:
            funding = problem.lo.copy()
            feasible = not problem.violations(funding)
            return GridSolution(funding, problem.value(funding), 0.0, exact, feasible, 0.0, None)
        step = extra_money / DEFAULT_GRID_STEPS  # nothing to share out now; the grid only prices more budget
    units = math.floor(room / step + 1e-9)
    if units > MAX_GRID_STEPS:
        raise ValueError(
            f"step {step:,.2f} would cut the budget into {units:,} grid steps; use a step of at least "
            f"{room / MAX_GRID_STEPS:,.2f}"
        )
    # price at most a tenth of the grid's length more, so a tiny budget cannot blow the tables up
    extra = min(math.ceil(extra_money / step - 1e-9), MAX_EXTRA_STEPS) if extra_money > 0 else 0
    solved = _solve(problem, step, units, extra, conservative=True)
    on_grid = solved is not None
    if solved is None:
        solved = _solve(problem, step, units, extra, conservative=False)
    funding, gain = (problem.lo.copy(), None) if solved is None else solved
    on_grid = on_grid and not problem.violations(funding)
    return GridSolution(funding, problem.value(funding), step, exact, on_grid, extra * step, gain)
