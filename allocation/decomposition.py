"""The mixed-integer plan for whole units, off-or-viable cells and resource rows, solved by pricing and fixing
instead of one big MILP: exact, with the same certificate, in a fraction of the time.

1. Master: prices on the budget, the group rules and the wide resource rows that minimise the Lagrangian bound
   over every lone cell's convex hull (its domain's points, `cell_domains.py`) and every listed block's
   (`blocks.py`), found by cutting planes (`dual_prices.py`); the same linear programme solved by HiGHS only
   when the cutting planes do not close (the rows may be out of reach, which the LP then proves).
2. Lagrangian bound: with the rows that tie blocks together priced (`blocks.py`), each block's best response is
   cheap, and L = prices x right-hand sides + the blocks' best priced scores bounds every plan from above, for any
   prices (so an inexact LP can weaken the bound, never make it wrong).
3. Fixing: a plan's value is L minus each block's loss against its best response minus priced slack, so a plan
   worth more than L - gamma uses, in every block, only choices whose loss is within gamma. Those choices go to
   a choice-form programme (`choice_program.py`) whose relaxation is the blocks' hulls, so it starts at L.
4. Certificate: the restricted plan V is optimal once L - V <= gamma + the tolerance (any plan better by more
   would have been inside); otherwise gamma widens (to L - V - the tolerance at most) and another round settles
   it. The dual bound reported is the larger of the restricted programme's and L - gamma (every plan outside the
   restriction is worth less), and proven_optimal means within CERTIFIED_SHARE of the achievable uplift of that
   bound.

`solve_by_blocks` returns None when it cannot settle the problem in a few rounds; the caller then runs the full
programme, which stays the reference (and the tests compare the two).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy import sparse

from allocation.blocks import BlockGroup, Combinations, combinations, find_blocks, priced_best
from allocation.cell_domains import TIE_TOLERANCE, CellDomains, cell_domains, priced_scores
from allocation.choice_program import Pieces, lone_pieces, solve_choices
from allocation.dual_prices import Columns, minimise_bound
from allocation.envelope import drop_points_under_chords
from allocation.feasibility import resource_usage, sparse_rows
from allocation.linear_program import PricedOptimum, minimise_priced
from allocation.mixed_integer import MixedIntegerPlan, settle
from allocation.problem import Problem

# A plan within this share of the achievable uplift (the bound less the all-at-lower-limits value) of the bound
# counts as proven optimal: a tenth of the 0.1 % of uplift the service promises, and the reported dual bound
# says how close it really is.
CERTIFIED_SHARE = 1e-4
# The first restriction keeps choices within this many tolerances of their best, or this share of the bound if
# less: the tolerance grows with the cells, the duality gap does not (2.5 at 64 cells, 0.02 at 1,024), and at
# 4,096 cells twice the tolerance let 69,000 choices through. Each round widens it by GROWTH at most.
FIRST_WIDTH = 2.0
FIRST_SHARE = 2e-6
GROWTH = 100.0
MAX_ROUNDS = 5
# Prices carried from another budget of the curve start the price search in a box this share of their size wide
# (the default box, as wide as the bound itself, spent the evaluations a warm start saves).
WARM_RADIUS = 0.25


@dataclasses.dataclass(eq=False)
class Skeleton:
    """What does not depend on the budget (cell domains, blocks and their combinations, resource usage), built
    once for a problem and every `Problem.at_budget` of it (the budget curve), and the tying rows' prices the
    first solve ended on (at ``budget``), which start the price search at the other budgets."""

    domains: CellDomains
    blocks: list[BlockGroup]
    combos: list[Combinations]
    usage: sparse.csr_array
    budget: float = 0.0
    duals: np.ndarray | None = None

    def start(self, structure: _Structure, budget: float) -> np.ndarray | None:
        """The stored duals carried to ``budget`` (None before the first solve): a resource row's price per
        money does not depend on the budget (its row is scaled by it), the budget's and the groups' rows' prices
        per money would, so theirs scale with it."""
        if self.duals is None or len(self.duals) != len(structure.upper):
            return None
        return np.where(structure.resource, self.duals, self.duals * budget / max(self.budget, 1.0))


def skeleton(problem: Problem) -> Skeleton:
    domains = cell_domains(problem)
    usage = resource_usage(problem)
    blocks = find_blocks(problem, domains, usage)
    return Skeleton(domains=domains, blocks=blocks, combos=[combinations(problem, domains, g) for g in blocks],
                    usage=usage)


@dataclasses.dataclass(frozen=True, eq=False)
class _Structure:
    """The problem cut into listed blocks and lone cells, and the rows that tie them (budget, groups, resource
    rows not met inside a block) as ``lower <= rows @ funding <= upper`` in money, which the master prices
    (``resource`` marks the resource rows among them)."""

    domains: CellDomains
    blocks: list[BlockGroup]
    combos: list[Combinations]
    alone: np.ndarray
    rows: sparse.csr_array
    lower: np.ndarray
    upper: np.ndarray
    resource: np.ndarray


def _structure(problem: Problem, parts: Skeleton | None = None) -> _Structure:
    parts = skeleton(problem) if parts is None else parts
    a_ub, b_ub, a_eq, b_eq, first_resource = sparse_rows(problem, parts.usage)
    priced = np.ones(a_ub.shape[0], dtype=bool)
    alone = np.ones(problem.size, dtype=bool)
    for group in parts.blocks:
        priced[first_resource + group.rows.ravel()] = False
        alone[group.cells.ravel()] = False
    resource = [(np.arange(a_ub.shape[0]) >= first_resource)[priced]]
    rows, lower, upper = [a_ub[priced]], [np.full(int(priced.sum()), -np.inf)], [b_ub[priced]]
    if a_eq is not None and b_eq is not None:
        rows.append(a_eq)
        lower.append(b_eq)
        upper.append(b_eq)
        resource.append(np.zeros(len(b_eq), dtype=bool))
    return _Structure(domains=parts.domains, blocks=parts.blocks, combos=parts.combos, alone=alone,
                      rows=sparse.vstack(rows).tocsr(), lower=np.concatenate(lower), upper=np.concatenate(upper),
                      resource=np.concatenate(resource))


def _block_columns(structure: _Structure, group: BlockGroup, combos: Combinations, scale: float) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """A group's combinations the master needs: (block, combination) pairs and each one's footprint on the tying
    rows. Where every cell of a block weighs the same in every tying row (a clinic's staffing and training both
    spend budget and count for its tier) a combination acts only through its total money, so only the upper
    concave hull of score over total money matters; otherwise every allowed combination is kept."""
    blocks, _, size = combos.money.shape
    weights = structure.rows[:, group.cells.ravel()].toarray().reshape(-1, blocks, size)  # rows x blocks x cells
    keep = combos.ok.copy()
    same = np.flatnonzero((weights == weights[:, :, :1]).all(axis=(0, 2)))
    if len(same):
        total = combos.money[same].sum(axis=2)
        ok = combos.ok[same]
        score = np.where(ok, combos.score[same], -np.inf)
        width = total.shape[1]
        # per block: allowed combinations first, by total money, the best score last among equal totals (two
        # stable sorts: a lexsort over every block's combinations at once took 0.2 s at 4,096 cells)
        by_score = np.argsort(score, axis=1, kind="stable")
        key = np.take_along_axis(np.where(ok, total, np.inf), by_score, axis=1)
        ranked = np.take_along_axis(by_score, np.argsort(key, axis=1, kind="stable"), axis=1)
        ranked = ranked[:, : max(int(ok.sum(axis=1).max()), 1)]
        count = len(same)
        total_sorted = np.take_along_axis(total, ranked, axis=1)
        score_sorted = np.take_along_axis(score, ranked, axis=1)
        real = np.isfinite(score_sorted)
        # same money: the best score is last (an unallowed neighbour does not count)
        real[:, :-1] &= ~((total_sorted[:, :-1] == total_sorted[:, 1:]) & real[:, 1:])
        real = drop_points_under_chords(total_sorted, np.where(real, score_sorted, 0.0), real)
        hull = np.zeros((count, width), dtype=bool)
        np.put_along_axis(hull, ranked, real, axis=1)
        keep[same] = hull
    block, combo = np.nonzero(keep)
    footprint = np.einsum("rks,ks->kr", weights[:, block, :], combos.money[block, combo]) / scale
    return block, combo, footprint


def _master(problem: Problem, structure: _Structure) -> PricedOptimum | bool:
    """The Dantzig-Wolfe master: a weight per hull point of a lone cell and per useful combination of a block,
    weights summing to one per cell or block, and the tying rows; its duals are the best prices for the bound."""
    scale = max(problem.budget, 1.0)
    domains = structure.domains
    lone = np.flatnonzero(structure.alone)
    keep = drop_points_under_chords(domains.money, domains.score, domains.real) & structure.alone[:, None]
    owner, point = np.nonzero(keep)
    convexity = [np.searchsorted(lone, owner)]
    costs = [-domains.score[owner, point]]
    money = sparse.csr_array((domains.money[owner, point] / scale, (owner, np.arange(len(owner)))),
                             shape=(problem.size, len(owner)))
    footprints = [sparse.csc_array(structure.rows @ money)]
    next_unit = len(lone)
    for group, combos in zip(structure.blocks, structure.combos, strict=True):
        block, combo, footprint = _block_columns(structure, group, combos, scale)
        convexity.append(next_unit + block)
        costs.append(-combos.score[block, combo])
        footprints.append(sparse.csc_array(footprint.T))
        next_unit += group.cells.shape[0]
    columns = sum(len(c) for c in costs)
    units = sparse.csc_array((np.ones(columns), (np.concatenate(convexity), np.arange(columns))),
                             shape=(next_unit, columns))
    matrix = sparse.csc_array(sparse.vstack([units, sparse.hstack(footprints)]))
    return minimise_priced(np.concatenate(costs), np.full(columns, np.inf), matrix,
                           np.concatenate([np.ones(next_unit), structure.lower / scale]),
                           np.concatenate([np.ones(next_unit), structure.upper / scale]))


@dataclasses.dataclass(frozen=True, eq=False)
class _Prices:
    """The Lagrangian at the master's prices: the bound, every cell point's and block combination's priced
    score."""

    bound: float
    priced: np.ndarray
    block_priced: list[np.ndarray]


def _columns(problem: Problem, structure: _Structure) -> Columns:
    """The master's columns for `dual_prices`: lone cells' hull points, then blocks' useful combinations."""
    scale = max(problem.budget, 1.0)
    domains = structure.domains
    lone = np.flatnonzero(structure.alone)
    owner, point = np.nonzero(domains.real & structure.alone[:, None])  # hull pruning cost more than it saved
    weights = structure.rows.T.toarray() if structure.rows.shape[0] else np.zeros((problem.size, 0))
    units = [np.searchsorted(lone, owner)]
    scores = [domains.score[owner, point]]
    footprints = [weights[owner] * (domains.money[owner, point] / scale)[:, None]]
    next_unit = len(lone)
    for group, combos in zip(structure.blocks, structure.combos, strict=True):
        block, combo, footprint = _block_columns(structure, group, combos, scale)
        units.append(next_unit + block)
        scores.append(combos.score[block, combo])
        footprints.append(footprint)
        next_unit += group.cells.shape[0]
    return Columns(unit=np.concatenate(units), score=np.concatenate(scores), footprint=np.vstack(footprints),
                   units=next_unit)


def _master_duals(optimum: PricedOptimum, structure: _Structure) -> np.ndarray:
    units = len(optimum.row_dual) - len(structure.upper)
    return -optimum.row_dual[units:]  # a maximisation's prices


def _prices(problem: Problem, structure: _Structure, duals: np.ndarray) -> _Prices:
    """The Lagrangian at ``duals`` (inequality rows' clipped to >= 0, which only float rounding breaks)."""
    scale = max(problem.budget, 1.0)
    duals = np.where(np.isfinite(structure.lower), duals, np.maximum(duals, 0.0))
    prices = structure.rows.T @ duals / scale
    priced = priced_scores(structure.domains, prices)
    block_priced = [priced_best(c, prices, g.cells) for g, c in zip(structure.blocks, structure.combos, strict=True)]
    bound = float(duals @ structure.upper) / scale + float(priced.max(axis=1)[structure.alone].sum())
    bound += sum(float(b.max(axis=1).sum()) for b in block_priced)
    return _Prices(bound=bound, priced=priced, block_priced=block_priced)


def _dual_prices(problem: Problem, structure: _Structure, start: np.ndarray | None = None) -> tuple[
        np.ndarray, bool]:
    scale = max(problem.budget, 1.0)
    signed = np.isfinite(structure.lower)  # equality rows (the exact budget) take prices of either sign
    if start is None:
        return minimise_bound(_columns(problem, structure), structure.upper / scale, signed,
                              np.zeros(len(structure.upper)))
    return minimise_bound(_columns(problem, structure), structure.upper / scale, signed, start,
                          WARM_RADIUS * max(float(np.abs(start).max(initial=0.0)), 1.0))


def _pieces(problem: Problem, structure: _Structure, lagrangian: _Prices, slack: float,
            incumbent: np.ndarray | None = None) -> tuple[Pieces, int, np.ndarray | None]:
    """Every choice within ``slack`` of its cell's or block's best, as the choice programme's pieces, and the
    ``incumbent`` plan (funding) as a point of that programme (None when some unit's choice is not among them)."""
    domains = structure.domains
    lone = np.flatnonzero(structure.alone)
    unit_of = np.full(problem.size, -1)
    unit_of[lone] = np.arange(len(lone))
    loss = lagrangian.priced.max(axis=1)[:, None] - lagrangian.priced
    unit, cell, money, score, width, gain = lone_pieces(domains, loss, structure.alone, slack, unit_of)
    funding = np.zeros(problem.size) if incumbent is None else incumbent
    near = 1e-6 * np.maximum(1.0, np.abs(funding))
    along = funding[cell] - money
    holds = [(along >= -near[cell]) & (along <= width + near[cell])]
    entries = [(cell, np.arange(len(cell)), money)]
    units, columns = len(lone), len(cell)
    unit_parts, score_parts = [unit], [score]
    for group, combos, priced in zip(structure.blocks, structure.combos, lagrangian.block_priced, strict=True):
        block, combo = np.nonzero(priced >= (priced.max(axis=1) - slack)[:, None])
        size = group.cells.shape[1]
        column = columns + np.arange(len(block))
        entries.append((group.cells[block].ravel(), np.repeat(column, size), combos.money[block, combo].ravel()))
        cells = group.cells[block]
        holds.append((np.abs(combos.money[block, combo] - funding[cells]) <= near[cells]).all(axis=1))
        unit_parts.append(units + block)
        score_parts.append(combos.score[block, combo])
        units += group.cells.shape[0]
        columns += len(block)
    owner, column_of, values = (np.concatenate(parts) for parts in zip(*entries, strict=True))
    extra = columns - len(cell)
    pieces = Pieces(unit=np.concatenate(unit_parts), start_score=np.concatenate(score_parts),
                    start=sparse.csc_array((values, (owner, column_of)), shape=(problem.size, columns)),
                    width=np.concatenate([width, np.zeros(extra)]), gain=np.concatenate([gain, np.zeros(extra)]),
                    cell=np.concatenate([cell, np.full(extra, -1)]))
    if incumbent is None:
        return pieces, units, None
    held = np.flatnonzero(np.concatenate(holds))
    taken_units, first = np.unique(pieces.unit[held], return_index=True)
    if len(taken_units) < units:
        return pieces, units, None
    taken = held[first]
    segments = np.flatnonzero(pieces.width > 0)
    x = np.zeros(columns + len(segments))
    x[taken] = 1.0
    lone_taken = taken[(taken < len(cell)) & (pieces.width[taken] > 0)]
    x[columns + np.searchsorted(segments, lone_taken)] = np.clip(along[lone_taken] / width[lone_taken], 0.0, 1.0)
    return pieces, units, x


def solve_by_blocks(problem: Problem, time_limit: float, parts: Skeleton | None = None) -> tuple[
        MixedIntegerPlan | None, bool] | None:
    """(plan, proven infeasible) as `mixed_integer_status` gives them, or None when the rounds do not settle it.
    ``parts``: the `skeleton` of this problem at some budget; its first solve leaves its prices in it."""
    started = time.perf_counter()
    structure = _structure(problem, parts)
    if any(not c.ok.any(axis=1).all() for c in structure.combos):  # a block cannot meet its own rows
        return None, True
    duals, converged = _dual_prices(problem, structure,
                                    None if parts is None else parts.start(structure, problem.budget))
    if not converged:  # the rows may be out of reach: the master LP says for sure
        optimum = _master(problem, structure)
        if optimum is True:  # even the convex hulls cannot meet the rows
            return None, True
        if optimum is False:
            return None
        assert isinstance(optimum, PricedOptimum)
        duals = _master_duals(optimum, structure)
    if parts is not None and parts.duals is None:
        parts.budget, parts.duals = problem.budget, duals
    lagrangian = _prices(problem, structure, duals)
    bound = lagrangian.bound
    uplift = bound - problem.value(problem.lo)  # at most this much is there to gain over the lowest plan
    tolerance = max(CERTIFIED_SHARE * uplift, TIE_TOLERANCE * max(1.0, abs(bound)))
    gamma = min(FIRST_WIDTH * tolerance, FIRST_SHARE * max(1.0, abs(bound)))
    scale = max(problem.budget, 1.0)
    best: np.ndarray | None = None
    best_value = -np.inf
    outside = bound  # every plan outside the last restriction is worth less than this
    inside: float | None = None  # the last restricted programme's dual bound
    for _ in range(MAX_ROUNDS):
        left = time_limit - (time.perf_counter() - started)
        if left <= 0:
            break
        pieces, units, known = _pieces(problem, structure, lagrangian, gamma + TIE_TOLERANCE * max(1.0, abs(bound)),
                                       best)
        plan, _ = solve_choices(pieces, units, problem.size, structure.rows, structure.lower, structure.upper, scale,
                                left, tolerance, known)
        outside, inside = bound - gamma, None if plan is None else plan.dual_bound
        if plan is not None:
            funding = settle(problem, plan.funding)
            value = problem.value(funding)
            if value > best_value:
                best, best_value = funding, value
            proven = plan.proven_optimal
        else:
            proven = False
        if best is not None and bound - best_value <= gamma + tolerance and proven:
            certified = min(bound, max(best_value if inside is None else inside, outside))
            return MixedIntegerPlan(best, True, certified), False
        # a plan outside the next restriction is worth at most L - gamma, which need only be within the
        # tolerance of the best plan so far, not at or below it: the tolerance's worth of choices stays out
        gamma = max(gamma, min(bound - best_value - tolerance, GROWTH * gamma)) if best is not None \
            else GROWTH * gamma
    if best is None:
        return None
    return MixedIntegerPlan(best, False, min(bound, max(bound if inside is None else inside, outside))), False
