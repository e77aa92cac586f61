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

from allocation.maxplus import Chain
from allocation.problem import GroupCell, Problem

DEFAULT_GRID_STEPS = 2000
MAX_EXTRA_STEPS = DEFAULT_GRID_STEPS // 10
MAX_GRID_STEPS = 200_000  # memory guard against a caller-supplied step that is far too fine
# money per grid unit never goes below this: a budget near the float floor would otherwise make a subnormal
# step whose ratios to ordinary amounts overflow to infinity
MIN_GRID_STEP = 1e-6


@dataclass(frozen=True, eq=False)
class GridSolution:
    funding: np.ndarray
    value: float
    step: float
    exact: bool  # every constraint was inside the DP (at most one grouping column)
    on_grid: bool  # the DP found a plan that meets every rule without repair
    extra_money: float  # the budget increase the DP also priced (0 when not asked)
    extra_gain: float | None  # best grid value with ``extra_money`` more minus without; None if infeasible
    tables: GridTables | None = None  # for reading other budgets (one grouping column at most)


@dataclass(frozen=True, eq=False)
class GridTables:
    """Each cell's DP chain (its running tables, from which plans are backtracked) on one grid, before any group
    floor or cap is applied.

    Nothing in them depends on the budget (programme limits do not, group floors and caps are applied when
    the cells are combined), so the budget curve reads other budgets from the same tables instead of solving
    again; they reach ``reach`` steps above the lower limits.
    """

    step: float
    reach: int
    cells: tuple[GroupCell, ...]
    chains: tuple[Chain, ...]  # one per cell, over its members in order


def _grid_tables(problem: Problem, step: float, reach: int) -> GridTables:
    cells = problem.cells
    # a programme can never use more steps than the tables reach, however wide its own range
    capacity = np.minimum(np.floor((problem.hi - problem.lo) / step + 1e-9), reach).astype(np.int64)
    chains = []
    for cell in cells:
        values = [np.interp(problem.lo[i] + step * np.arange(capacity[i] + 1), problem.knots[i], problem.scores[i])
                  for i in cell.members]
        chains.append(Chain(values, reach))
    return GridTables(step, reach, tuple(cells), tuple(chains))


def _restricted(problem: Problem, grid: GridTables, conservative: bool) -> list[np.ndarray]:
    """The cell tables with each cell's floor and cap for this problem's budget (-inf outside them)."""
    step = grid.step
    round_floor, round_cap = (math.ceil, math.floor) if conservative else (math.floor, math.ceil)
    restricted = []
    for cell, chain in zip(problem.cells, grid.chains, strict=True):
        base = float(problem.lo[cell.members].sum())
        table = chain.table
        if cell.floor is not None or cell.cap is not None:
            table = table.copy()
        if cell.floor is not None:
            table[: max(0, min(len(table), round_floor((cell.floor - base) / step - 1e-9)))] = -np.inf
        if cell.cap is not None:
            table[max(0, round_cap((cell.cap - base) / step + 1e-9)) + 1 :] = -np.inf
        restricted.append(table)
    return restricted


def _at_totals(head: np.ndarray, last: np.ndarray, totals: list[int]) -> list[tuple[float, int]]:
    """max_j head[t - j] + last[j] at a few totals t only, with the largest maximising j (as `Chain` picks):
    O(len) each where the whole convolution is O(len^2), and an exact budget is read at one or two totals."""
    found = []
    for t in totals:
        low, high = max(0, t - (len(head) - 1)), min(len(last) - 1, t)
        if low > high:
            found.append((-np.inf, 0))
            continue
        candidates = head[t - high : t - low + 1][::-1] + last[low : high + 1]
        pick = len(candidates) - 1 - int(np.argmax(candidates[::-1]))
        found.append((float(candidates[pick]), low + pick))
    return found


def _combine(
    problem: Problem, grid: GridTables, units: int, extra: int, conservative: bool
) -> tuple[np.ndarray, float | None] | None:
    """Grid plan for ``units`` steps above the lower limits, and the gain from ``extra`` more steps."""
    cap = units + extra
    tables = [table[: cap + 1] for table in _restricted(problem, grid, conservative)]
    spend: np.ndarray | None = None
    if problem.mode == "exact" and len(tables) > 1:  # the last group joins only at the totals that are read
        head = Chain(tables[:-1], cap)
        (value, split), (more, _) = _at_totals(head.table, tables[-1], [units, cap])
        if np.isfinite(value):  # else the grid misses the budget: the whole table is needed to repair from
            used, best = units, value
            spend = np.append(head.steps(units - split), split)
    if spend is None:
        across = Chain(tables, cap)
        total = across.table
        reachable = total[: units + 1]
        if not np.isfinite(reachable).any():
            return None
        if problem.mode == "exact" and len(reachable) > units and np.isfinite(reachable[units]):
            used = units
        else:
            used = int(np.argmax(reachable))  # at_most, or the grid cannot reach the exact budget: repair later
        best = float(reachable[used])
        more = total[cap] if problem.mode == "exact" and len(total) > cap else -np.inf
        if problem.mode == "at_most":
            more = float(np.max(total))
        spend = across.steps(used)
    gain = float(more - best) if extra > 0 and np.isfinite(more) else None
    funding = problem.lo.copy()
    for cell, chain, amount in zip(grid.cells, grid.chains, spend, strict=True):
        funding[cell.members] += chain.steps(int(amount)) * grid.step
    return funding, gain


def _room(problem: Problem) -> float:
    """Money the grid shares out above the lower limits (never more than the upper limits can take)."""
    room = max(problem.budget - float(problem.lo.sum()), 0.0)
    if problem.mode == "at_most":  # money beyond every programme's upper limit cannot be spent anyway
        room = min(room, float((problem.hi - problem.lo).sum()))
    return room


def grid_step(problem: Problem, steps: int = DEFAULT_GRID_STEPS) -> float:
    """Money per grid unit: the spendable room above the lower limits split into ``steps`` units."""
    return _room(problem) / steps


def solve_grid(
    problem: Problem,
    step: float | None = None,
    steps: int = DEFAULT_GRID_STEPS,
    extra_money: float = 0.0,
    reach_budget: float | None = None,
) -> GridSolution:
    """Best grid plan; the caller must still repair (`feasibility.verified`) when ``on_grid`` is False.

    ``extra_money`` also prices a larger budget from the same tables (the best value with the budget and with
    ``extra_money`` more), holding group money limits fixed: that is the budget row's shadow price.
    ``reach_budget`` builds the tables far enough for `plan_at_budget` to read budgets up to it (up to four
    times the grid's length; beyond that the tables only reach this budget).
    """
    step = grid_step(problem, steps) if step is None else float(step)
    exact = problem.one_column
    room = _room(problem)
    if step <= 0:
        if extra_money <= 0:
            funding = problem.lo.copy()
            feasible = not problem.violations(funding)
            return GridSolution(funding, problem.value(funding), 0.0, exact, feasible, 0.0, None)
        step = extra_money / DEFAULT_GRID_STEPS  # nothing to share out now; the grid only prices more budget
    step = max(step, MIN_GRID_STEP)
    units = math.floor(room / step + 1e-9)
    if units > MAX_GRID_STEPS:
        raise ValueError(
            f"step {step:,.2f} would cut the budget into {units:,} grid steps; use a step of at least "
            f"{room / MAX_GRID_STEPS:,.2f}"
        )
    # price at most a tenth of the grid's length more, so a tiny budget cannot blow the tables up
    extra = min(math.ceil(extra_money / step - 1e-9), MAX_EXTRA_STEPS) if extra_money > 0 else 0
    reach = units + extra
    if reach_budget is not None and exact:
        wanted = math.floor(max(reach_budget - float(problem.lo.sum()), 0.0) / step + 1e-9)
        if wanted <= 4 * max(reach, 1):
            reach = max(reach, wanted)
    tables = _grid_tables(problem, step, reach)
    solved = _combine(problem, tables, units, extra, conservative=True)
    on_grid = solved is not None
    if solved is None:
        solved = _combine(problem, tables, units, extra, conservative=False)
    funding, gain = (problem.lo.copy(), None) if solved is None else solved
    on_grid = on_grid and not problem.violations(funding)
    return GridSolution(funding, problem.value(funding), step, exact, on_grid, extra * step, gain,
                        tables if exact else None)


def plan_at_budget(problem: Problem, tables: GridTables) -> np.ndarray | None:
    """A plan for ``problem`` (the tables' problem at another budget) read from the tables, or None when the
    tables cannot give one that meets every rule (beyond their reach, a grid that misses the floors): the
    caller then solves that budget afresh.

    An exact budget rarely falls on the grid, so the money left below the next grid point (under one step)
    goes to the programme it helps most among those it keeps within every limit.
    """
    units = math.floor(_room(problem) / tables.step + 1e-9)
    if units > tables.reach:
        return None
    solved = _combine(problem, tables, units, 0, conservative=True)
    if solved is None:
        return None
    funding = solved[0]
    left = problem.budget - float(funding.sum())
    if problem.mode == "exact" and left > 0:
        gains = problem.value_parts(funding + left) - problem.value_parts(funding)
        for i in np.argsort(-gains, kind="stable")[:8]:
            candidate = funding.copy()
            candidate[i] += left
            if not problem.violations(candidate):
                return candidate
        return None
    return None if problem.violations(funding) else funding
